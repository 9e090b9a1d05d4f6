"""`qnewton costs`: the files it writes and crossovers checked against an independent root solve."""

import csv
import json
import math
import os

import pytest
import scipy.optimize

from qnewton.cli import build_parser, costs
from qnewton.cost.queries import JENNINGS_V1_KAPPA_MIN
from qnewton.experiments.costs import CSV_COLUMNS, CostsConfig

#: The study alone: the best classical route is measured in tests/test_costs_best_classical.py.
NONE = ["--best-classical", "none", "--no-progress"]


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def q_star(kappa, eps, alpha):
    L = math.log(2 * kappa + 3)
    t1 = (1741 * alpha * math.e / 500) * math.sqrt(kappa**2 + 1)
    t1 *= (133 / 125 + 4 / (25 * kappa ** (1 / 3))) * math.pi * L + 1
    t2 = (351 / 50) * L**2 * (math.log(451 * L**2 / eps) + 1)
    return t1 + t2 + alpha * kappa * math.log(32 / eps)


def quantum_seconds(kappa, d, eps, tg):
    return q_star(kappa, eps, d) / (0.39 - 0.204 * eps) * tg


def parse(argv):
    return build_parser().parse_args(["costs", *argv])


def exit_code(argv):
    try:
        return costs.main([*argv, *NONE])
    except SystemExit as exc:  # argparse's own errors (a value of the wrong type, a bad choice)
        return exc.code


def read(out):
    with open(out / "costs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((out / "crossovers.json").read_text())


def test_writes_files_with_expected_columns_and_crossovers(tmp_path, capsys):
    out = tmp_path / "out"
    n, c = 2000, 1e-11
    gates = ["--gate-time", "ghz", "1e-6"]
    sweeps = ["--d-fixed", "100", "--kappa-fixed", "1000", "--points", "40"]
    args = parse(["--n", str(n), "--classical-c", str(c), *gates, *sweeps, "--out", str(out), *NONE])
    assert args.func is costs.run
    assert args.func(args) == 0
    assert (out / "costs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows, meta = read(out)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 2 * 40
    assert {r["sweep"] for r in rows} == {"kappa", "d"}
    assert {r["classical_basis"] for r in rows} == {"assumed-prediction"}
    rc = c * n**3
    for r in rows:
        assert float(r["classical_seconds"]) == pytest.approx(rc)
        tg = float(r["gate_time_s"])
        expect = quantum_seconds(float(r["kappa"]), float(r["d"]), 1e-12, tg)
        assert float(r["quantum_modeled_seconds"]) == pytest.approx(expect, rel=1e-12)
        assert float(r["alpha"]) == float(r["d"])
        assert r["cheaper"] == ("quantum" if expect < rc else "classical")
        assert r["cg_predicted_seconds"] == r["woodbury_measured_seconds"] == ""  # --best-classical none
        assert r["cheapest"] == ("quantum" if expect < rc else "cholesky")

    assert meta["settings"]["n"] == n and meta["settings"]["readout"] == "none"
    assert meta["classical"]["basis"] == "assumed-prediction"
    assert len(meta["crossovers"]) == 4
    for cx in meta["crossovers"]:
        tg = cx["gate_time_s"]
        if cx["vary"] == "kappa":
            f = lambda k, tg=tg: quantum_seconds(k, 100.0, 1e-12, tg) - rc  # noqa: E731
            lo, hi = JENNINGS_V1_KAPPA_MIN, 1e16
        else:
            f = lambda d, tg=tg: quantum_seconds(1000.0, d, 1e-12, tg) - rc  # noqa: E731
            lo, hi = 1.0, float(n)
        if f(lo) < 0 < f(hi):
            ref = scipy.optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=500)
            assert cx["status"] == "crossover"
            assert cx["value"] == pytest.approx(ref, rel=1e-8)
            assert cx["quantum_cheaper_below"] is True
            # the `cheaper` column flips between the grid points around the crossover
            sel = [r for r in rows if r["sweep"] == cx["vary"] and float(r["gate_time_s"]) == tg]
            below = [r["cheaper"] for r in sel if float(r[cx["vary"]]) < cx["value"]]
            above = [r["cheaper"] for r in sel if float(r[cx["vary"]]) > cx["value"]]
            assert set(below) == {"quantum"} and set(above) == {"classical"}
        else:
            assert cx["status"] != "crossover" and cx["value"] is None
    # at ghz both sweeps cross in range; the slow gate time makes the d sweep classical throughout
    statuses = {(cx["gate_time_s"], cx["vary"]): cx["status"] for cx in meta["crossovers"]}
    assert statuses[(1e-9, "kappa")] == statuses[(1e-9, "d")] == "crossover"
    assert statuses[(1e-6, "d")] == "classical-cheaper-throughout"
    printed = capsys.readouterr().out
    assert "assumed-prediction" in printed and "kappa* =" in printed
    # the run folder: manifest with the exact command, versions and machine; typed config; report; mode 0644
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"] == "costs" and manifest["status"] == "complete"
    assert {"command", "torch", "numpy", "cpu", "cpu_count"} <= set(manifest["environment"])
    assert manifest["config"]["n"] == n and manifest["config"]["qlsa_eps"] == 1e-12
    assert manifest["config"]["gate_times"] == ["ghz", 1e-6] and manifest["config"]["best"]["best_classical"] == "none"
    assert set(manifest["files"]) == {"costs.csv", "crossovers.json", "costs.png", "report.md"}
    for name in manifest["files"]:
        assert os.stat(out / name).st_mode & 0o777 == 0o644, name
    report = (out / "report.md").read_text()
    assert "modeled" in report and "not measured (`--best-classical none`)" in report and "Command:" in report


def test_tomography_readout_moves_the_crossover(tmp_path):
    base = ["--n", "1000", "--classical-c", "1e-11", "--gate-time", "atto", "--points", "10", *NONE]
    assert costs.main([*base, "--out", str(tmp_path / "a")]) == 0
    assert costs.main([*base, "--readout", "tomography", "--readout-precision", "0.2",
                       "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    (_, a), (rows_b, b) = read(tmp_path / "a"), read(tmp_path / "b")
    ka = next(cx for cx in a["crossovers"] if cx["vary"] == "kappa")
    kb = next(cx for cx in b["crossovers"] if cx["vary"] == "kappa")
    assert kb["value"] < ka["value"] / 1e3  # reading x out costs ~1e6 solves here
    assert b["settings"]["readout"] == "tomography" and b["settings"]["readout_precision"] == 0.2
    assert {r["readout"] for r in rows_b} == {"tomography"}


def test_default_calibrates_and_labels_calibrated(tmp_path, monkeypatch):
    import qnewton.cost.classical as classical

    monkeypatch.setattr(classical, "measure_cholesky_solve", lambda n, b, dt, r: 2e-11 * n**3)
    assert costs.main(["--n", "500", "--d-fixed", "100", "--points", "5", "--out", str(tmp_path), *NONE]) == 0
    rows, meta = read(tmp_path)
    assert meta["classical"]["basis"] == "calibrated-prediction"
    assert meta["classical"]["c"] == pytest.approx(2e-11)
    assert {r["gate_time_name"] for r in rows} == {"ibm_sherbrooke", "ghz", "thz", "atto"}
    assert {r["classical_basis"] for r in rows} == {"calibrated-prediction"}


@pytest.mark.parametrize(
    ("argv", "named"),
    [(["--gate-time", "warp"], "--gate-time"), (["--gate-time", "-1"], "--gate-time"),
     (["--query-model", "nope"], "--query-model"), (["--readout", "shadow"], "--readout"),
     (["--classical-c", "0"], "--classical-c"), (["--n", "0"], "--n"), (["--points", "x"], "--points"),
     (["--qlsa-eps", "2"], "--qlsa-eps"), (["--kappa-range", "10"], "--kappa-range"),
     (["--kappa-range", "10", "5"], "--kappa-range"), (["--measure-eps", "0"], "--measure-eps"),
     (["--map-kappa-range", "0.5", "10"], "--map-kappa-range"), (["--hardware", "nope"], "--hardware")],
)  # fmt: skip
def test_bad_options_are_usage_errors(argv, named, tmp_path, capsys):
    assert exit_code([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "error" in err and named in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # rejected before anything ran


def test_d_above_n_is_a_clear_error(tmp_path, capsys):
    rc = costs.main(["--n", "100", "--classical-c", "1e-11", "--out", str(tmp_path / "o"), *NONE])  # d-fixed 1000
    assert rc == 2
    err = capsys.readouterr().err
    assert "N = 100" in err and "--n" in err and "--d-fixed" in err
    assert not (tmp_path / "o").exists()


def test_config_is_typed_and_checked():
    cfg = CostsConfig(gate_times=("ghz", 1e-9), qlsa_eps=1e-6)
    assert cfg.gate_times == ("ghz", 1e-9) and cfg.best.best_classical == "measure"
    assert not cfg.fault_tolerant.enabled and cfg.fault_tolerant.best_classical_seconds is None
    from qnewton.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="gate_times"):
        CostsConfig(gate_times=("warp",))
    with pytest.raises(InvalidArgumentError, match="qlsa_eps"):
        CostsConfig(qlsa_eps=0.0)
    with pytest.raises(InvalidArgumentError, match="d_range"):
        CostsConfig(n=100, d_fixed=10.0, d_range=(1.0, 200.0))
