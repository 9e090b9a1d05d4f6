"""`qnewton costs --fault-tolerant` and the library functions behind it (maps, "what it would take")."""

from __future__ import annotations

import csv
import json
import math

import pytest

from qnewton.cli import costs
from qnewton.cost import ClassicalCostModel, FaultTolerantCostModel, FTHardware, QuantumCostModel
from qnewton.cost import fault_tolerant as ft
from qnewton.cost import ft_analysis as fa
from qnewton.errors import DataFormatError, InvalidArgumentError
from qnewton.experiments.costs import FT_MAP_COLUMNS, FT_TABLE_COLUMNS

HAVE_QDK = ft.estimator_available()
C = 1e-11


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_maps_match_the_paper_model_closed_form():
    m = FaultTolerantCostModel(hardware="paper")
    res = fa.crossover_maps([m], ClassicalCostModel(c=C), n=4096, kappas=[10.0, 1e6], ds=[1, 64, 4096])
    assert len(res["rows"]) == 6
    tc = C * 4096**3
    wins = 0
    for r in res["rows"]:
        q = QuantumCostModel().estimate(4096, kappa=r["kappa"], d=r["d"]).seconds
        assert r["ratio_vs_cholesky"] == pytest.approx(q / tc, rel=1e-12)
        assert r["best_classical_seconds"] == fa.NOT_MEASURED and r["ratio_vs_best_classical"] is None
        wins += r["ratio_vs_cholesky"] < 1
    assert res["summary"][0]["quantum_wins_vs_cholesky"] == wins
    assert res["summary"][0]["quantum_wins_vs_best_classical"] == fa.NOT_MEASURED


def test_first_winning_n_closed_form_and_required_time():
    # no error correction, no readout: the quantum time does not depend on N, so it first beats
    # C N^3 at N* = (T_q / C)^(1/3)
    slow = FTHardware("slow", seconds_per_query=1e-6)
    m = FaultTolerantCostModel(hardware=slow, eps=1e-6)
    kappa, d = 1000.0, 16.0
    tq = m.estimate(1024, kappa=kappa, d=d).seconds
    (row,) = fa.what_it_would_take([(kappa, d)], [m], ClassicalCostModel(c=C), n=1024, best_classical_seconds=0.01)
    n_star = (tq / C) ** (1 / 3)
    assert n_star < row["first_winning_n"] <= 1.011 * n_star
    assert row["seconds_at_first_winning_n"] == pytest.approx(C * row["first_winning_n"] ** 3)
    tc = C * 1024**3
    assert row["required_time_unit_vs_cholesky_s"] == pytest.approx(1e-6 * tc / tq, rel=1e-12)
    assert row["required_time_unit_vs_best_s"] == pytest.approx(1e-6 * 0.01 / tq, rel=1e-12)
    assert row["time_unit"].startswith("seconds per query")


def test_never_below_the_largest_n():
    slow = FTHardware("very-slow", seconds_per_query=1.0)
    m = FaultTolerantCostModel(hardware=slow, readout="tomography")
    (row,) = fa.what_it_would_take([(1e4, 100.0)], [m], ClassicalCostModel(c=C), n=1024, max_log2_n=20)
    assert row["first_winning_n"] is None and row["first_winning_n_note"] == "never below N = 2^20"


def test_bad_inputs_of_the_analysis(tmp_path):
    m = FaultTolerantCostModel(hardware="paper")
    cl = ClassicalCostModel(c=C)
    with pytest.raises(InvalidArgumentError, match="best_classical_seconds"):
        fa.crossover_maps([m], cl, n=64, kappas=[10.0], ds=[4], best_classical_seconds=-1.0)
    with pytest.raises(InvalidArgumentError, match="ds"):
        fa.crossover_maps([m], cl, n=64, kappas=[10.0], ds=[100])
    with pytest.raises(InvalidArgumentError, match="pairs"):
        fa.what_it_would_take([], [m], cl)
    bad = tmp_path / "bad.csv"
    bad.write_text("kappa,x\n1,2\n")
    with pytest.raises(DataFormatError, match="kappa"):
        fa.read_decisions_csv(bad)
    bad.write_text("kappa,d\n10,abc\n")
    with pytest.raises(DataFormatError, match="line 2"):
        fa.read_decisions_csv(bad)
    bad.write_text("kappa,d\n")
    with pytest.raises(DataFormatError, match="no rows"):
        fa.read_decisions_csv(bad)
    with pytest.raises(DataFormatError, match="cannot read"):
        fa.read_decisions_csv(tmp_path / "missing.csv")


def test_cli_paper_preset_writes_everything(tmp_path, capsys):
    out = tmp_path / "out"
    dec = tmp_path / "decisions.csv"
    dec.write_text("step,kappa,d,route\n0,120.5,32,quantum\n1,3000,900,classical\n")
    argv = ["--n", "1024", "--classical-c", str(C), "--points", "8", "--gate-time", "ghz", "--fault-tolerant",
            "--hardware", "paper", "--data-loading", "qrom", "qram-assumed", "--map-points", "3",
            "--decisions", str(dec), "--max-log2-n", "16", "--out", str(out), "--best-classical", "none"]  # fmt: skip
    assert costs.main(argv) == 0
    for name in ("costs.csv", "crossovers.json", "costs.png", "ft_maps.csv", "ft_maps.png", "ft_what_it_would_take.csv",
                 "ft.json", "ft_logical_counts.json", "report.md", "manifest.json"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
    assert (out / "ft_maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    maps = _rows(out / "ft_maps.csv")
    assert tuple(maps[0]) == FT_MAP_COLUMNS and len(maps) == 2 * 3 * 3
    table = _rows(out / "ft_what_it_would_take.csv")
    assert tuple(table[0]) == FT_TABLE_COLUMNS and len(table) == 2 * 2
    assert {(float(r["kappa"]), float(r["d"])) for r in table} == {(120.5, 32.0), (3000.0, 900.0)}
    doc = json.loads((out / "ft.json").read_text())
    assert doc["settings"]["pairs_source"].startswith("from ")
    assert doc["settings"]["labels"]["best_classical"] == "not measured"
    assert doc["settings"]["labels"]["quantum"].startswith("modeled")
    report = (out / "report.md").read_text()
    assert "modeled" in report and "ASSUMED" in report and "not measured" in report
    counts = json.loads((out / "ft_logical_counts.json").read_text())
    assert set(counts) == {"note", "qrom", "qram-assumed"} and "64-bit" in counts["note"]
    assert counts["qrom"]["logical_counts"]["solve_attempt"]["cczCount"] > 0
    assert "fault-tolerant (modeled)" in capsys.readouterr().out


def test_cli_bad_decisions_and_missing_extra(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "d.csv"
    bad.write_text("kappa\n10\n")
    argv = ["--n", "256", "--d-fixed", "16", "--classical-c", str(C), "--points", "4", "--fault-tolerant",
            "--hardware", "paper", "--best-classical", "none",
            "--map-points", "2", "--decisions", str(bad), "--out", str(tmp_path / "o")]  # fmt: skip
    assert costs.main(argv) == 2
    assert "`kappa` and `d`" in capsys.readouterr().err
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["status"] == "failed"
    bad.write_text("kappa,d\n10,4\n")  # the retry with a fixed file is never refused
    assert costs.main(argv) == 0
    monkeypatch.setattr(ft, "_estimator_module", _missing)
    argv = ["--n", "256", "--d-fixed", "16", "--classical-c", str(C), "--points", "4", "--fault-tolerant",
            "--best-classical", "none",
            "--hardware", "qubit_gate_ns_e4", "--map-points", "2", "--out", str(tmp_path / "o2")]  # fmt: skip
    assert costs.main(argv) == 2
    assert "qnewton[ft]" in capsys.readouterr().err


def _missing():
    from qnewton.errors import MissingDependencyError

    raise MissingDependencyError("the fault-tolerant cost model needs ... `pip install qnewton[ft]`")


@pytest.mark.skipif(not HAVE_QDK, reason="qdk (extra qnewton[ft]) not installed: estimator CLI run skipped")
def test_cli_with_the_estimator(tmp_path):
    from qdk.estimator import LogicalCounts

    out = tmp_path / "out"
    argv = ["--n", "512", "--d-fixed", "16", "--classical-c", str(C), "--points", "4", "--fault-tolerant",
            "--hardware",
            "qubit_gate_ns_e4", "--data-loading", "qram-assumed", "--map-points", "2", "--best-classical-seconds",
            "0.001", "--max-log2-n", "12", "--out", str(out), "--best-classical", "none"]  # fmt: skip
    assert costs.main(argv) == 0
    maps = _rows(out / "ft_maps.csv")
    assert all(int(r["code_distance"]) >= 3 and int(r["physical_qubits"]) > 0 for r in maps)
    assert all(float(r["ratio_vs_best_classical"]) == pytest.approx(float(r["quantum_modeled_seconds"]) / 0.001)
               for r in maps)  # fmt: skip
    counts = json.loads((out / "ft_logical_counts.json").read_text())["qram-assumed"]["logical_counts"]
    res = dict(LogicalCounts(counts["solve_attempt"]).estimate({"qubitParams": {"name": "qubit_gate_ns_e4"}}))
    assert res["status"] == "success"
    doc = json.loads((out / "ft.json").read_text())
    ex = doc["examples"][0]
    assert ex["details"]["code_distance"] == res["logicalQubit"]["codeDistance"] or ex["details"]["estimator_scale"] > 1
    assert math.isfinite(ex["seconds"])
