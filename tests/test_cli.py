"""The command line as a user meets it: bad input gives one line on stderr naming the option as typed,
exit code 2 and no traceback; help shows every default; deprecated spellings still work and warn;
train resumes when rerun; a full-block MLP too large for a dense block is still trained matrix-free."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from qnewton.errors import InvalidArgumentError


def qnewton(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qnewton", *args], capture_output=True, text=True, timeout=timeout)


BAD = [
    (["table3", "--eps", "-1"], "--eps must be a number > 0"),
    (["table3", "--newton-steps", "-1"], "--newton-steps must be an integer >= 0"),
    (["table3", "--eval-every", "0"], "--eval-every must be an integer >= 1"),
    (["table3", "--n-train", "0"], "--n-train must be an integer >= 1"),
    (["table3", "--dataset", "cifar10"], "--dataset: invalid choice"),
    (["table3", "--dataset", "mnist"], "--dataset 'mnist' reads IDX files from --data-dir"),
    (["table3", "--d-ratio", "2"], "--d-ratio must be in (0, 1]"),
    (["table3", "--d", "3", "--d-ratio", "0.5"], "--d and --d-ratio both given"),
    (["table3", "--gate-time", "warp"], "--gate-time 'warp' is neither a preset"),
    (["table3", "--eps", "abc"], "--eps: expected a number"),
    (["table3", "--device", "cuda:7"], "--device"),
    (["routes", "--qlsa-eps", "2"], "--qlsa-eps must be in (0, 1)"),
    (["train", "--steps", "-1"], "--steps must be an integer >= 0"),
    (["train", "--policy", "fastest"], "--policy must be hybrid, classical, quantum or the name of an enabled route"),
    (
        ["train", "--resume", "/nonexistent/ckpt.pt", "--out", "{tmp}/r"],
        "checkpoint /nonexistent/ckpt.pt does not exist",
    ),
    (["reproduce", "--only", "table9"], "--only: invalid choice"),
    (["convergence", "--cg-tol", "2"], "--cg-tol must be in (0, 1)"),
    (["convergence", "--quick", "--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["convergence", "--arms", "SGD", "Foo"], "--arms: invalid choice"),
    (["convergence", "--kfac-fisher", "exact"], "--kfac-fisher: invalid choice"),
    (["train", "--routes", "kron-eig", "--policy", "cg"], "--policy must be hybrid, classical, quantum or the name"),
    (["table3", "--newton-budget-min", "0"], "--newton-budget-min must be a number > 0"),
]


def _in_process(argv: list[str], capsys) -> tuple[int, str]:
    from qnewton.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors exit
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    rc, err = _in_process(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("case", [0, 4, 14], ids=["config check", "argparse", "runtime error"])
def test_bad_input_by_subprocess(tmp_path, case):
    """The same, end to end in a fresh interpreter: nothing but the one line reaches stderr."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in BAD[case][0]]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    p = qnewton(*argv)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert BAD[case][1] in lines[0]


def test_debug_shows_the_traceback(tmp_path):
    p = qnewton("table3", "--eps", "-1", "--out", str(tmp_path), "--debug")
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_help_shows_every_default_and_the_run_time():
    p = qnewton("table3", "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "(default: 0.05)" in text and "(default: 40)" in text and "run time:" in text and "example:" in text
    options = [tok for tok in p.stdout.split() if tok.startswith("--") and tok not in ("--help",)]
    assert len(options) > 20


def test_deprecated_spellings_still_work_and_warn(tmp_path):
    from qnewton.cli import build_parser
    from qnewton.cli._options import config_from_args
    from qnewton.experiments.table3 import Table3Config

    parser = build_parser()
    with pytest.warns(FutureWarning, match="--sgd-steps is deprecated.*--sgd-arm-steps"):
        args = parser.parse_args(["table3", "--sgd-steps", "7"])
    assert config_from_args(Table3Config, args, args._parser).sgd_arm_steps == 7
    with pytest.warns(FutureWarning, match="--data is deprecated.*--dataset"):
        args = parser.parse_args(["train", "--data", "digits-784"])
    from qnewton.experiments.train import TrainConfig

    assert config_from_args(TrainConfig, args, args._parser).dataset == "digits-784"


def test_configs_are_validated_at_construction_before_anything_runs():
    from qnewton.experiments.table3 import Table3Config

    with pytest.raises(InvalidArgumentError, match="`eps` must be a number > 0") as info:
        Table3Config(eps=-1)
    assert info.value.argument == "eps"


def test_train_resumes_when_rerun_and_keeps_types(tmp_path, capsys):
    from qnewton.cli import main

    base = ["train", "--dataset", "digits", "--batch-size", "64", "--n-train", "300", "--quiet"]
    base += ["--policy", "classical", "--routes", "cholesky", "--classical-c", "1e-10"]
    out = str(tmp_path / "t")
    assert main([*base, "--steps", "2", "--out", out]) == 0
    capsys.readouterr()
    assert main([*base, "--steps", "3", "--out", out]) == 0
    stdout = capsys.readouterr().out
    assert "resuming from" in stdout and "done: 1 steps" in stdout
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["config"]["batch_size"] == 64 and summary["config"]["line_search"] is True
    ck = torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)  # tensors and plain data only
    assert ck["step"] == 3
    (tmp_path / "t" / "checkpoint.pt").write_bytes(b"torn")
    rc, err = _in_process([*base, "--steps", "4", "--out", out], capsys)
    assert rc == 2 and "cannot be read" in err and "--fresh" in err and len(err.strip().splitlines()) == 1


def test_max_block_size_that_leaves_no_block_is_a_clear_error():
    from qnewton.optim import QNewton

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(InvalidArgumentError, match=r"leaves no block with curvature.*at least 2"):
        QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), max_block_size=1)


def test_a_full_block_too_large_to_form_trains_matrix_free():
    """blocks='full' on a 784-64-10 MLP: the 50890 x 50890 block (10 GiB) is refused by the memory
    guard for the dense routes, with the ways out; CG solves it from products."""
    from qnewton.curvature import CurvatureConfig
    from qnewton.optim import QNewton

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    cfg = CurvatureConfig(dense_budget_bytes=2**30)
    opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), eps=0.1, blocks="full",
                  curvature="ggn", policy="classical", curvature_config=cfg)  # fmt: skip
    opt.step(batch=(x, y))
    (rec,) = opt.decisions
    assert rec.n == 50890 and rec.route == "cg"
    assert not rec.quotes["cholesky"]["applies"] and "memory budget" in rec.quotes["cholesky"]["reason"]
    forced = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), eps=0.1, blocks="full",
                     policy="cholesky", curvature_config=cfg)  # fmt: skip
    from qnewton.scheduler import RouteUnavailableError

    with pytest.raises(RouteUnavailableError, match="cholesky: needs the dense 50890 x 50890 block"):
        forced.step(batch=(x, y))
