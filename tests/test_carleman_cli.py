"""The `spectrum`, `carleman-error`, `carleman-train` and `carleman-cost` subcommands at --quick size:
the files each writes and the claims its numbers must support."""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import pytest
import torch

from qnewton.cli import carleman as cli


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qnewton")
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(argv: list[str], out) -> dict:
    args = parse([*argv, "--quick", "--out", str(out), "--no-progress"])
    assert args.func(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for name in manifest["files"]:
        assert (out / name).exists(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# ")
    return json.loads((out / "results.json").read_text())


def test_all_subcommands_registered() -> None:
    for name in ("spectrum", "carleman-error", "carleman-train", "carleman-cost"):
        assert callable(parse([name]).func)
    args = parse(["carleman-train", "--K", "3", "--solver", "direct", "--window", "4"])
    assert (args.K, args.solver, args.window) == (3, "direct", 4)
    with pytest.raises(SystemExit):
        parse(["carleman-train", "--solver", "magic"])


def test_spectrum_quick(tmp_path, capsys) -> None:
    res = run(["spectrum"], tmp_path / "s")
    assert "report:" in capsys.readouterr().out
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
    assert (tmp_path / "s" / "spectrum_density.png").exists()


def test_carleman_error_quick(tmp_path) -> None:
    res = run(["carleman-error"], tmp_path / "e")
    ks = [r for r in res["errors"] if r["sweep"] == "K x eta" and r["terms"] == "all eta orders"]
    for eta in {r["eta"] for r in ks}:
        errs = [r["rel_error"] for r in sorted(ks, key=lambda r: r["K"]) if r["eta"] == eta]
        assert all(b < a for a, b in itertools.pairwise(errs)), errs
    solvers = {r["solver"]: r for r in res["solvers"]}
    assert solvers["cholesky"]["max_diff_vs_lu"] < 1e-10
    assert solvers["emulated"]["max_diff_vs_lu"] < 1e-7
    assert solvers["emulated"]["modeled_seconds"] > 0
    real = res["real_model"]["rows"]
    assert real[-1]["abs_error_final"] < real[0]["abs_error_final"]
    kap = res["kappa"]
    assert all(r["kappa"] <= r["bound_almost"] for r in kap if r["regime"] != "not")


def test_carleman_train_quick(tmp_path) -> None:
    res = run(["carleman-train"], tmp_path / "t")
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


def test_carleman_cost_quick(tmp_path) -> None:
    res = run(["carleman-cost", "--Ts", "50"], tmp_path / "c")
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
