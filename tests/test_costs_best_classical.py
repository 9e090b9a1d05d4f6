"""`qnewton costs` with the best classical route measured (issue 12, item 7): the cg and woodbury
routes timed on the paper DNN's fc1 block (the embedded digits at a small batch here), checked
against a dense float64 solve of the same system; CG's calibrated prediction against its closed form;
the measured seconds fed to the fault-tolerant maps; measured, predicted and modeled kept apart."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from qnewton.cli import costs
from qnewton.experiments.costs import BestClassicalOptions, cg_predicted_seconds, measure_best_classical

TINY = ["--dataset", "digits", "--batch-size", "16", "--warmup-steps", "2", "--repeats", "1"]


@pytest.fixture(autouse=True)
def fake_calibrations(tmp_path, monkeypatch):
    """The routes' quotes need calibrated GEMM and Cholesky rates: synthetic ones (no timing noise, no
    minutes of calibration) in a fresh cache."""
    import qnewton.cost.classical as classical
    import qnewton.routes.base as base

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(classical, "measure_cholesky_solve", lambda n, b, dt, r: 2e-11 * n**3)
    monkeypatch.setattr(classical, "measure_gemm", lambda n, b="torch", dt="float32", r=3: 1e-11 * n**3)
    monkeypatch.setattr(base, "_GEMM", {})


def test_cg_prediction_closed_form():
    k = np.array([1.0, 100.0, 1e6])
    want = [max(1, math.ceil(0.5 * math.sqrt(x) * math.log(2 / 1e-3))) * 0.5 for x in k]
    assert cg_predicted_seconds(k, 1e-3, 0.5).tolist() == pytest.approx(want, rel=1e-15)


def test_measured_routes_solve_the_regularized_block():
    import torch

    from qnewton.experiments.costs import _paper_block

    opts = BestClassicalOptions(dataset="digits", batch_size=16, warmup_steps=2, repeats=1, eps=0.05)
    best = measure_best_classical(opts)
    assert best["n"] == 64 * 16 and best["basis"] == "measured" and best["block"] == "fc1.weight"
    wb, cg = best["woodbury"], best["cg"]
    assert wb["applies"] and wb["rank"] <= 10 * 16 and wb["measured_seconds"] > 0
    assert cg["converged"] and 1 <= cg["iterations"] <= opts.cg_maxiter and cg["relative_residual"] <= 1e-3
    assert cg["seconds_per_iteration"] == pytest.approx(cg["measured_seconds"] / cg["iterations"])
    assert best["best_seconds"] == min(cg["measured_seconds"], wb["measured_seconds"])
    assert best["cosine_cg_woodbury"] > 0.9999
    # the same block by a dense float64 Hessian: kappa of H + eps I, and the solve the routes agree with
    res, _, _ = _paper_block(opts)
    blk = res["fc1.weight"]
    H = blk.dense().double()
    lam = torch.linalg.eigvalsh(H)
    kappa = float((lam[-1] + 0.05) / (lam[0].clamp_min(0) + 0.05))
    assert best["kappa"]["value"] == pytest.approx(kappa, rel=0.05)
    assert cg["predicted_iterations_at_block_kappa"] == math.ceil(
        0.5 * math.sqrt(best["kappa"]["value"]) * math.log(2 / 1e-3)
    )


def test_costs_side_by_side_and_fed_to_the_fault_tolerant_maps(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--n", "1024", "--classical-c", "1e-11", "--d-fixed", "100", "--points", "6", "--gate-time", "ghz",
            *TINY, "--fault-tolerant", "--hardware", "paper", "--data-loading", "qrom", "--map-points", "2",
            "--max-log2-n", "12", "--no-progress", "--out", str(out)]  # fmt: skip
    assert costs.main(argv) == 0
    best = json.loads((out / "best_classical.json").read_text())
    cg, wb = best["cg"], best["woodbury"]
    with open(out / "costs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tc = 1e-11 * 1024**3
    for r in rows:
        kappa = float(r["kappa"])  # the d sweep holds kappa at --kappa-fixed
        pred = cg_predicted_seconds(kappa, cg["tol"], cg["seconds_per_iteration"])
        assert float(r["cg_predicted_seconds"]) == pytest.approx(float(pred), rel=1e-12)
        assert float(r["woodbury_measured_seconds"]) == pytest.approx(wb["measured_seconds"], rel=1e-12)
        seconds = {"quantum": float(r["quantum_modeled_seconds"]), "cholesky": tc, "cg": float(pred),
                   "woodbury": wb["measured_seconds"]}  # fmt: skip
        assert r["cheapest"] == min(seconds, key=lambda k: seconds[k])
    doc = json.loads((out / "crossovers.json").read_text())
    assert doc["best_classical_for_fault_tolerant"]["seconds"] == best["best_seconds"]
    for cx in doc["crossovers"]:
        vs = cx["vs_best_classical"]
        if vs["status"] == "crossover":  # the modeled quantum cost equals the best classical route there
            x = vs["value"]
            k = x if vs["vary"] == "kappa" else 1e4
            classical = min(
                tc, wb["measured_seconds"], float(cg_predicted_seconds(k, cg["tol"], cg["seconds_per_iteration"]))
            )
            assert vs["seconds"] == pytest.approx(classical, rel=1e-6)
    with open(out / "ft_maps.csv", newline="") as f:
        maps = list(csv.DictReader(f))
    assert {float(r["best_classical_seconds"]) for r in maps} == {best["best_seconds"]}
    for r in maps:
        assert float(r["ratio_vs_best_classical"]) == pytest.approx(
            float(r["quantum_modeled_seconds"]) / best["best_seconds"]
        )
    ft = json.loads((out / "ft.json").read_text())
    assert ft["settings"]["labels"]["best_classical"].startswith("measured here")
    report = (out / "report.md").read_text()
    assert "| dense Cholesky C N^3 (the paper's classical cost, LU/Cholesky) | 0.01074 | PREDICTED" in report
    (q,) = doc["at_measured_block"]  # one gate time: the quantum route at the measured block's kappa, modeled
    assert q["kappa"] == best["kappa"]["value"] and q["d"] == 100.0
    for text in ("MEASURED", "PREDICTED", "MODELED", "calibrated prediction from the measured product time",
                 "the paper's classical cost", "vs best classical route", "best classical route:"):  # fmt: skip
        assert text in report, text
    manifest = json.loads((out / "manifest.json").read_text())
    assert "best_classical.json" in manifest["files"] and manifest["config"]["best"]["batch_size"] == 16
    printed = capsys.readouterr().out
    assert "best classical route on the fc1 block (N = 1024, measured)" in printed


def test_a_given_number_wins_and_another_n_is_kept_apart(tmp_path):
    out = tmp_path / "out"
    argv = ["--n", "2048", "--classical-c", "1e-11", "--d-fixed", "100", "--points", "4", "--gate-time", "ghz",
            *TINY, "--fault-tolerant", "--hardware", "paper", "--data-loading", "qrom", "--map-points", "2",
            "--max-log2-n", "12", "--best-classical-seconds", "0.5", "--no-progress", "--out", str(out)]  # fmt: skip
    assert costs.main(argv) == 0
    with open(out / "ft_maps.csv", newline="") as f:
        assert {float(r["best_classical_seconds"]) for r in csv.DictReader(f)} == {0.5}
    with open(out / "costs.csv", newline="") as f:  # the measured block has N = 1024, not 2048
        assert {r["cg_predicted_seconds"] for r in csv.DictReader(f)} == {""}
    assert "has N = 1024, not --n 2048" in (out / "report.md").read_text()
