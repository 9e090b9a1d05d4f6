"""A run folder: manifest (command, versions, machine, config), results, checkpoints, report.

Every experiment writes into one folder::

    <out>/manifest.json    what ran: experiment, config, exact command, versions, machine, status
    <out>/results.json     the numbers (JSON), and CSV/PNG files named by the experiment
    <out>/report.md        a Markdown report: measured and modeled figures kept apart
    <out>/checkpoint.pt    resumable state of a long run (deleted when the run completes)

Files are written atomically and durably (temporary file + fsync + rename, mode 0644), so an
interrupted run never leaves a half-written file; rerunning the same command resumes from the
checkpoint. The manifest's ``status`` is ``running``, ``complete``, ``failed`` (with the error) or
``interrupted``; a failed or interrupted run with other settings never blocks a new run in its
folder (its manifest is kept as ``manifest.previous.json``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write, load_torch, save_torch
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
    atomic_write(path, data)


#: Runs of this process that have not completed: the CLI marks them failed on an error.
_ACTIVE: list[RunDir] = []


def mark_active(status: str, error: BaseException | None = None) -> None:
    """Give every run of this process that is still ``running`` the ``status`` (and the error)."""
    for run in list(_ACTIVE):
        run.finish(status, error)


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
                    f"--out {self.root} holds an unreadable manifest.json ({exc}); pass --fresh or another --out."
                ) from exc
            same = old.get("experiment") == experiment and old.get("config") == self.config
            # a run that failed or was interrupted never blocks a new one; a running or complete one does
            if not same and old.get("status") not in ("failed", "interrupted"):
                raise CheckpointError(
                    f"--out {self.root} holds a {old.get('status', '')} run of {old.get('experiment')!r} with other "
                    f"settings; pass --fresh to overwrite it or choose another --out."
                )
        if manifest.exists() and not fresh and same:
            self.manifest = old
            self.manifest["resumed"] = self.manifest.get("resumed", 0) + 1
            self.manifest["status"] = "running"
            self.manifest.pop("error", None)
        else:
            if manifest.exists() and not fresh:  # a failed run with other settings: keep what it left
                _atomic_write(self.root / "manifest.previous.json", manifest.read_bytes())
                if self.checkpoint_path.exists():
                    os.replace(self.checkpoint_path, self.root / "checkpoint.previous.pt")
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
        _ACTIVE.append(self)

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
        save_torch(self.checkpoint_path, dict(state))

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        state = load_torch(self.checkpoint_path, fix="Delete it or pass --fresh to start over.")
        if not isinstance(state, dict):
            raise CheckpointError(f"checkpoint {self.checkpoint_path} is not a run checkpoint; pass --fresh.")
        return state

    def complete(self) -> None:
        self.checkpoint_path.unlink(missing_ok=True)
        self.finish("complete")

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Record the run's final ``status`` (``complete``, ``failed``, ``interrupted``)."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self.manifest["status"] = status
        if error is not None:
            self.manifest["error"] = f"{type(error).__name__}: {error}"
        self._save_manifest()
