"""A run folder: manifest (command, versions, machine, config), results, checkpoints, report.

Every experiment writes into one folder::

    <out>/manifest.json    what ran: experiment, config, exact command, versions, machine, status
    <out>/results.json     the numbers (JSON), and CSV/PNG files named by the experiment
    <out>/report.md        a Markdown report: measured and modeled figures kept apart
    <out>/checkpoint.pt    resumable state of a long run (deleted when the run completes)

Files are written atomically (temporary file + rename), so an interrupted run never leaves a
half-written file; rerunning the same command resumes from the checkpoint.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .._machine import describe
from ..errors import CheckpointError

__all__ = ["RunDir", "environment", "jsonable"]


def jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, paths and dataclass-like objects for JSON."""
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return obj


def environment() -> dict[str, Any]:
    """Versions, machine and the exact command, recorded in every manifest and report."""
    return {**describe(), "command": " ".join([_program(), *(shlex.quote(a) for a in sys.argv[1:])])}


def _program() -> str:
    """How the user invoked us: ``qnewton`` or ``python -m qnewton`` (argv[0] is then __main__.py)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py"):
        return "python -m qnewton"
    return "qnewton" if Path(argv0).name == "qnewton" else shlex.quote(argv0)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """The output folder of one experiment run.

    Args:
        out: folder (created if needed).
        experiment: experiment name (stored in the manifest).
        config: the run's settings; a rerun into an existing folder must use the same config, or
            pass ``fresh=True`` to start over.
        fresh: discard a previous checkpoint in ``out``.
    """

    def __init__(self, out: str | os.PathLike, experiment: str, config: Mapping[str, Any], fresh: bool = False):
        self.root = Path(out)
        self.root.mkdir(parents=True, exist_ok=True)
        self.experiment = experiment
        self.config = jsonable(dict(config))
        manifest = self.root / "manifest.json"
        if manifest.exists() and not fresh:
            try:
                old = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise CheckpointError(
                    f"`out` = {self.root} holds an unreadable manifest.json ({exc}); pass --fresh or another --out."
                ) from exc
            if old.get("experiment") != experiment or old.get("config") != self.config:
                raise CheckpointError(
                    f"`out` = {self.root} holds a run of {old.get('experiment')!r} with other settings; pass "
                    f"--fresh to overwrite it or choose another --out."
                )
            self.manifest = old
            self.manifest["resumed"] = self.manifest.get("resumed", 0) + 1
        else:
            if fresh:
                self.checkpoint_path.unlink(missing_ok=True)
            self.manifest = {
                "experiment": experiment,
                "config": self.config,
                "environment": environment(),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "status": "running",
                "files": [],
            }
        self._save_manifest()

    # -- files ------------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.root / name

    def register(self, name: str) -> Path:
        """List ``name`` among the run's files and return its path (for writers of their own)."""
        return self._register(name)

    def _register(self, name: str) -> Path:
        if name not in self.manifest["files"]:
            self.manifest["files"].append(name)
            self._save_manifest()
        return self.path(name)

    def _save_manifest(self) -> None:
        self.manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        _atomic_write(self.root / "manifest.json", json.dumps(jsonable(self.manifest), indent=1).encode())

    def write_json(self, name: str, obj: Any) -> Path:
        path = self._register(name)
        _atomic_write(path, json.dumps(jsonable(obj), indent=1).encode())
        return path

    def write_csv(self, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        rows = list(rows)
        path = self._register(name)
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: jsonable(v) for k, v in r.items()})
        _atomic_write(path, buf.getvalue().encode())
        return path

    def save_figure(self, fig: Any, name: str) -> Path:
        path = self._register(name)
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
        _atomic_write(path, buf.getvalue())
        return path

    def write_report(self, markdown: str) -> Path:
        env = self.manifest["environment"]
        footer = (
            "\n\n---\n"
            f"Command: `{env['command']}`  \n"
            f"qnewton {env['qnewton']}, Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, "
            f"scipy {env['scipy']}  \n"
            f"Machine: {env['cpu']}, {env['cpu_count']} CPUs ({env['platform']}); started {self.manifest['created']}\n"
        )
        path = self._register("report.md")
        _atomic_write(path, (markdown.rstrip() + footer).encode())
        return path

    # -- checkpoints -----------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint.pt"

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        import io

        buf = io.BytesIO()
        torch.save(dict(state), buf)
        _atomic_write(self.checkpoint_path, buf.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        try:
            return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a truncated or foreign file
            raise CheckpointError(f"{self.checkpoint_path} cannot be read ({exc}); delete it or pass --fresh.") from exc

    def complete(self) -> None:
        self.checkpoint_path.unlink(missing_ok=True)
        self.manifest["status"] = "complete"
        self._save_manifest()
