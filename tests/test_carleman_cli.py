"""The `spectrum`, `carleman-error`, `carleman-train` and `carleman-cost` subcommands through
``qnewton.cli.main``: at --quick size the files each writes and the claims its numbers must support;
bad input as one line on stderr naming the option as typed (exit code 2, no traceback, no run
folder); deprecated spellings; --help with defaults, an example and the run time."""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qnewton.cli import build_parser, main
from qnewton.cli.carleman import COMMANDS

SRC = str(Path(__file__).parents[1] / "src")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def files_ok(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["environment"]["command"]
    for name in manifest["files"]:
        assert (out / name).exists(), name
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# ")
    assert not (out / "checkpoint.pt").exists()
    return json.loads((out / "results.json").read_text())


def run(argv: list[str], out: Path, capsys) -> dict:
    assert main([*argv, "--quick", "--out", str(out), "--no-progress"]) == 0
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    return files_ok(out)


# --- the studies at --quick size -------------------------------------------------------------------


def test_spectrum_quick(tmp_path, capsys) -> None:
    res = run(["spectrum"], tmp_path / "s", capsys)
    assert res["config"]["model"] == "mlp" and res["config"]["checkpoints"] == [0, 60]  # quick()'s sizes
    rows = res["rows"]
    assert {r["model"] for r in rows} == {"full", "pruned"}
    for r in rows:
        assert r["verdict"] in ("fully dissipative", "almost dissipative", "not dissipative")
        # SLQ agrees with the dense spectrum of the same Hessian
        assert r["lambda_min_abs_error"] < 1e-6 * max(abs(r["lambda_max"]), 1.0)
        assert r["density_l1"] < 0.5
        assert r["negative_mass"] + r["flat_mass"] + r["positive_mass"] == pytest.approx(1.0)
    pruned = [r for r in rows if r["model"] == "pruned"]
    full = [r for r in rows if r["model"] == "full"]
    assert all(p["n"] < f["n"] for p, f in zip(pruned, full))
    assert isinstance(rows[0]["n"], int) and isinstance(rows[0]["step"], int)  # JSON keeps types


def test_carleman_error_quick(tmp_path, capsys) -> None:
    res = run(["carleman-error", "--no-circuit"], tmp_path / "e", capsys)
    ks = [r for r in res["errors"] if r["sweep"] == "K x eta" and r["terms"] == "all eta orders"]
    for eta in {r["eta"] for r in ks}:
        errs = [r["rel_error"] for r in sorted(ks, key=lambda r: r["K"]) if r["eta"] == eta]
        assert all(b < a for a, b in itertools.pairwise(errs)), errs
    solvers = {r["solver"]: r for r in res["solvers"]}
    assert "circuit" not in solvers
    assert solvers["cholesky"]["max_diff_vs_lu"] < 1e-10
    assert solvers["emulated"]["max_diff_vs_lu"] < 1e-7
    assert solvers["emulated"]["modeled_seconds"] > 0
    real = res["real_model"]["rows"]
    assert real[-1]["abs_error_final"] < real[0]["abs_error_final"]
    kap = res["kappa"]
    assert all(r["kappa"] <= r["bound_almost"] for r in kap if r["regime"] != "not")


def test_carleman_train_quick(tmp_path, capsys) -> None:
    res = run(["carleman-train", "--gate-time", "1e-9"], tmp_path / "t", capsys)
    assert res["config"]["gate_time"] == 1e-9 and res["config"]["model"] == "linear"
    s = res["summary"]
    # the scheme tracks exact gradient descent: same accuracy, small parameter deviation
    assert abs(s["scheme_final"]["test_accuracy"] - s["gd_final"]["test_accuracy"]) <= 0.05
    assert s["final_parameter_deviation_from_gd"] < 0.05
    assert s["scheme_final"]["train_loss"] < res["model"]["pruned_train_loss_before_training"]
    for w in res["windows"]:
        assert w["in_window_error"][0] == pytest.approx(0.0, abs=1e-8)
        assert w["modeled_seconds_end_to_end"] > w["modeled_seconds_solve"] > 0
    long = res["long_window"]
    for r in long:
        e = np.asarray(r["abs_error_by_step"])
        assert e[-1] > e[len(e) // 3]  # the truncation error grows inside one long window


def test_carleman_cost_quick_and_the_deprecated_eps(tmp_path, capsys) -> None:
    out = tmp_path / "c"
    assert main(["carleman-cost", "--quick", "--Ts", "50", "--eps", "0.01", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "--eps is deprecated" in err and "--qlsa-eps" in err  # the old spelling works, and says so
    res = files_ok(out)
    assert res["config"]["qlsa_eps"] == 0.01 and "eps" not in res["config"]
    assert json.loads((out / "manifest.json").read_text())["config"]["Ts"] == [50]
    assert res["classical_calibration"]["c"] > 0
    rows = res["rows"]
    assert {r["T"] for r in rows} == {50}
    sparse = [r for r in rows if r["variant"] == "full, sparse gradient"]
    assert len({r["queries"] for r in sparse}) == 1  # independent of n (only qubits grow)
    dense = [r for r in rows if r["variant"] == "full, dense gradient"]
    assert dense[-1]["queries"] > 1e3 * dense[0]["queries"]
    for c in res["model_checks"]:
        assert c["d_measured"] <= c["d_model_bound"]
        assert c["kappa_measured"] <= c["kappa_model_full"]


def test_a_failed_run_is_marked_failed_and_a_retry_is_not_refused(tmp_path, capsys, monkeypatch) -> None:
    from qnewton.carleman import studies
    from qnewton.errors import InvalidArgumentError

    def broken(*a, **k):
        raise InvalidArgumentError("`calibration_sizes` broke on purpose.")

    out = tmp_path / "c"
    with monkeypatch.context() as m:
        m.setattr(studies, "calibrate_sparse_gradient", broken)
        assert main(["carleman-cost", "--quick", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "qnewton carleman-cost: error: `calibration_sizes` broke on purpose."
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "broke on purpose" in manifest["error"]
    assert main(["carleman-cost", "--quick", "--Ts", "20", "--out", str(out), "--no-progress"]) == 0  # other settings
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


# --- bad input ----------------------------------------------------------------------------------

BAD = [
    (["carleman-train", "--window", "0"], "--window must be an integer >= 1, got 0"),
    (["carleman-train", "--qlsa-eps", "2"], "--qlsa-eps must be in (0, 1)"),
    (["carleman-train", "--width", "16"], "--width applies to the model-scale study (--model resnet<depth>) only"),
    (["carleman-train", "--K", "9"], "--K must be an integer in [1, 8], got 9"),
    (["carleman-train", "--positive", "9"], "--positive and --negative are both 9"),
    (["carleman-train", "--gate-time", "warp"], "--gate-time must be a preset"),
    (["carleman-train", "--model", "resnet8", "--density", "1.5"], "--density must be in (0, 1], got 1.5"),
    (["carleman-train", "--model", "resnet8", "--window", "0"], "--window must be an integer >= 1"),
    (["carleman-train", "--model", "resnet8", "--eta", "0.1"], "--eta applies to the linear-network study"),
    (["carleman-train", "--model", "resnet8", "--window-sweep", "5000"], "longer than --steps = 1500"),
    (["carleman-train", "--model", "resnet8", "--solver", "emulated"], "`--solver proxy`"),
    (["carleman-train", "--model", "resnet7"], "--model must be resnet<depth>"),
    (["carleman-train", "--model", "mlp"], "--model must be linear or resnet<depth>"),
    (["carleman-train", "--stop-after", "2"], "--stop-after applies to the model-scale runs"),
    (["spectrum", "--model", "resnet8", "--prune-density", "-0.1"], "--prune-density must be in (0, 1]"),
    (["spectrum", "--model", "resnet8", "--horizon", "0"], "--horizon must be an integer >= 1"),
    (["spectrum", "--model", "resnet8", "--dataset", "mnist"], "pass --data-dir PATH"),
    (["spectrum", "--model", "resnet8", "--hidden", "8"], "--hidden applies to the digits MLP study"),
    (["spectrum", "--width", "4"], "--width applies to the model-scale study"),
    (["spectrum", "--widths", "2", "4"], "--widths applies to the SLQ cost scaling (--cost-scaling) only"),
    (["spectrum", "--hidden", "0"], "--hidden must be an integer >= 1, got 0"),
    (["spectrum", "--checkpoints", "-1"], "--checkpoints must be an integer >= 0, got -1"),
    (["spectrum", "--cost-scaling", "--widths", "4"], "--widths needs at least two widths"),
    (["spectrum", "--model", "resnet8", "--stop-after", "0"], "--stop-after: expected an integer >= 1"),
    (["carleman-error", "--Ks", "0", "2"], "--Ks must be an integer in [1, 8], got 0"),
    (["carleman-error", "--T", "abc"], "argument --T: expected an integer, got 'abc'"),
    (["carleman-error", "--solvers", "magic"], "invalid choice: 'magic'"),
    (["carleman-cost", "--n-min-log10", "5", "--n-max-log10", "3"], "--n-max-log10 = 3.0 must exceed"),
    (["carleman-cost", "--quantum-model", "paper"], "--quantum-model applies to pricing a run (--from-run DIR) only"),
    (["carleman-cost", "--qlsa-eps", "2"], "--qlsa-eps must be in (0, 1)"),
    (["carleman-cost", "--from-run", "no/such/run"], "--from-run 'no/such/run' has no results.json"),
    (["carleman-cost", "--hardware", "qubit_gate_us_e3"], "--hardware applies to pricing a run (--from-run DIR)"),
    (["carleman-cost", "--data-loading", "magic"], "invalid choice: 'magic'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_naming_the_option(tmp_path, capsys, argv, message) -> None:
    out = tmp_path / "run"
    try:
        rc = main([*argv, "--out", str(out), "--no-progress"])
    except SystemExit as exc:  # argparse's own errors (types, choices)
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"qnewton {argv[0]}: error: ")
    assert message in lines[0], lines[0]
    assert not out.exists()  # checked before anything ran


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["carleman-train", "--model", "resnet8", "--density", "1.5"], "--density must be in (0, 1], got 1.5"),
        (["carleman-cost", "--qlsa-eps", "2"], "--qlsa-eps must be in (0, 1)"),
        (["spectrum", "--model", "resnet8", "--hidden", "8"], "--hidden applies to the digits MLP study"),
    ],
)
def test_bad_input_by_subprocess(tmp_path, argv, message) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "qnewton", *argv, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message in lines[0]
    assert not out.exists()


# --- help ---------------------------------------------------------------------------------------


@functools.cache
def _subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_every_default_an_example_and_the_run_time(name, capsys) -> None:
    p = _subparser(name)
    for action in p._actions:
        if action.option_strings and action.help != "==SUPPRESS==" and action.dest not in ("help", "debug"):
            assert action.help and "default" in action.help, action.option_strings
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert f"qnewton {name} " in text.split("examples:")[1]
    assert "run time at the defaults on a 2-core machine" in text
    if name == "spectrum":  # one option, each study's default
        assert "(default: 0 10 50 200 1000 3000; resnet: 0 100 300 1000 2000)" in " ".join(text.split())
    if name == "carleman-train":
        assert "(default: 10; resnet: 100)" in " ".join(text.split())


def test_every_option_is_a_config_field_and_shared_names_mean_one_thing() -> None:
    run_options = {"help", "out", "fresh", "no_progress", "debug", "quick", "cost_scaling", "stop_after", "no_circuit"}
    for name, cmd in COMMANDS.items():
        p = _subparser(name)
        fields = {f for m in cmd.modes for f in m.config_class().__dataclass_fields__}
        dests = {a.dest for a in p._actions if a.option_strings}
        assert dests - fields <= run_options, (name, dests - fields - run_options)
    # --eps is the regularization elsewhere: here it survives only as the hidden old spelling of --qlsa-eps
    for name in ("carleman-train", "carleman-cost"):
        p = _subparser(name)
        assert p._option_string_actions["--eps"].dest == "qlsa_eps"
        assert p._option_string_actions["--eps"].help == "==SUPPRESS=="
