"""`qnewton costs`: the files it writes and crossovers checked against an independent root solve."""

import argparse
import csv
import json
import math

import pytest
import scipy.optimize

from qnewton.cli import costs
from qnewton.cost.queries import JENNINGS_V1_KAPPA_MIN


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
    parser = argparse.ArgumentParser(prog="qnewton")
    costs.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["costs", *argv])


def read(out):
    with open(out / "costs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((out / "crossovers.json").read_text())


def test_writes_files_with_expected_columns_and_crossovers(tmp_path, capsys):
    out = tmp_path / "out"
    n, c = 2000, 1e-11
    gates = ["--gate-time", "ghz", "--gate-time", "1e-6"]
    sweeps = ["--d-fixed", "100", "--kappa-fixed", "1000", "--points", "40"]
    args = parse(["--n", str(n), "--classical-c", str(c), *gates, *sweeps, "--out", str(out)])
    assert args.func is costs.run
    assert args.func(args) == 0
    assert (out / "costs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows, meta = read(out)
    assert tuple(rows[0]) == costs.CSV_COLUMNS
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


def test_tomography_readout_moves_the_crossover(tmp_path):
    base = ["--n", "1000", "--classical-c", "1e-11", "--gate-time", "atto", "--points", "10"]
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
    assert costs.main(["--n", "500", "--d-fixed", "100", "--points", "5", "--out", str(tmp_path)]) == 0
    rows, meta = read(tmp_path)
    assert meta["classical"]["basis"] == "calibrated-prediction"
    assert meta["classical"]["c"] == pytest.approx(2e-11)
    assert {r["gate_time_name"] for r in rows} == {"ibm_sherbrooke", "ghz", "thz", "atto"}
    assert {r["classical_basis"] for r in rows} == {"calibrated-prediction"}


@pytest.mark.parametrize(
    "argv",
    [["--gate-time", "warp"], ["--gate-time", "-1"], ["--query-model", "nope"], ["--readout", "shadow"],
     ["--classical-c", "0"], ["--n", "0"], ["--points", "x"]],
)  # fmt: skip
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_d_above_n_is_a_clear_error(tmp_path, capsys):
    rc = costs.main(["--n", "100", "--classical-c", "1e-11", "--out", str(tmp_path)])  # d-fixed 1000 > 100
    assert rc == 2
    err = capsys.readouterr().err
    assert "N = 100" in err and "--n" in err
    assert not (tmp_path / "costs.csv").exists()
