"""`qnewton costs`, `qsvt-degree` and `inspect` from their validated configs (issue 13): bad input through
the real command line (a subprocess): exit code 2, one line on stderr naming the option as typed, no
traceback; the deprecated spellings still work and warn; every option's help shows its default."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
#: Each case starts a Python process (several seconds on 2 cores): a few in the default suite, the rest slow.
SLOW = pytest.mark.slow


def qnewton(*argv: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XDG_CACHE_HOME": str(cwd / "xdg"), "MPLBACKEND": "Agg"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "qnewton", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["costs", "--qlsa-eps", "2"], "--qlsa-eps"),
        pytest.param(["costs", "--points", "0"], "--points", marks=SLOW),
        pytest.param(["costs", "--n", "0"], "--n", marks=SLOW),
        pytest.param(["costs", "--gate-time", "ghz", "warp"], "--gate-time", marks=SLOW),
        (["costs", "--fault-tolerant", "--decisions", "missing.csv"], "--decisions"),
        pytest.param(["qsvt-degree", "--qlsa-eps", "0"], "--qlsa-eps", marks=SLOW),
        (["qsvt-degree", "--blocks", "9"], "--blocks"),
        (["inspect", "--d-ratios", "2"], "--d-ratios"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(argv, named, tmp_path):
    proc = (
        qnewton(*argv, "--no-progress", "--out", "o", cwd=tmp_path)
        if argv[0] != "inspect"
        else qnewton(*argv, cwd=tmp_path)
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0].startswith(f"qnewton {argv[0]}: error: ")
    assert named in lines[0]
    assert not (tmp_path / "o").exists()  # rejected before anything ran


@pytest.mark.slow
def test_deprecated_eps_still_works_and_warns(tmp_path):
    proc = qnewton("costs", "--eps", "1e-6", "--n", "512", "--d-fixed", "16", "--points", "4", "--gate-time", "ghz",
                   "--classical-c", "1e-11", "--best-classical", "none", "--no-progress", "--out", "o",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning: --eps is deprecated" in proc.stderr and "--qlsa-eps" in proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["config"]["qlsa_eps"] == 1e-6
    assert manifest["environment"]["command"].startswith("python -m qnewton costs --eps 1e-6 ")
    assert json.loads((tmp_path / "o" / "crossovers.json").read_text())["settings"]["eps"] == 1e-6


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]


@pytest.mark.parametrize("command", ["costs", "qsvt-degree", "inspect"])
def test_help_shows_every_default_an_example_and_the_run_time(command):
    from qnewton.cli import build_parser

    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    missing = [a.option_strings[0] for a in _options(sub) if "(default" not in (a.help or "") and a.dest != "help"]
    assert missing in ([], ["--debug"]), missing
    text = sub.format_help()
    assert "example:" in text and "run time on a 2-core machine:" in text and sub.description
    if command == "costs":
        for flag in ("--qlsa-eps", "--gate-time", "--best-classical", "--measure-eps", "--fault-tolerant",
                     "--data-loading", "--hardware", "--decisions"):  # fmt: skip
            assert flag in text, flag
        assert "[--eps" not in text  # the deprecated alias is hidden
