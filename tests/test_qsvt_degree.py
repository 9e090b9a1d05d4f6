"""`qnewton qsvt-degree`: the QSVT circuit's measured degree against the Chebyshev closed form and
the query models; the circuit at N = 256 against LAPACK; the command's files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from qnewton.cost import get_query_model
from qnewton.experiments.qsvt_degree import QSVTDegreeConfig, _with_amplification, degree_table


def _lowest_degree(kappa: float, eps: float) -> int:
    """Closed form: p of degree 2n - 1 reaches relative error 1 / T_n(q0), q0 = (1 + a^2)/(1 - a^2), a = 1/kappa."""
    a = 1 / kappa
    q0 = (1 + a * a) / (1 - a * a)
    n = 1
    while 1 / math.cosh(n * math.acosh(q0)) > eps:
        n += 1
    return 2 * n - 1


@pytest.fixture(scope="module")
def table():
    cfg = QSVTDegreeConfig(kappas=(2.0, 10.0, 30.0, 1e4), eps_values=(1e-2, 1e-3), angle_cap=301, hessian=False)
    return degree_table(cfg)


def test_measured_degree_is_the_lowest_that_meets_eps(table):
    for r in table:
        want = _lowest_degree(r["kappa"], r["eps"])
        assert r["degree"] == want == r["degree_bound"], r
        assert r["circuit_degree"] == _lowest_degree(r["kappa"], 0.9 * r["eps"]) >= r["degree"]
        if r["degree"] <= 301:
            assert r["measured"] and r["status"].startswith("measured")
            assert r["qsp_relative_error"] <= r["eps"]
            assert r["lower_degree_polynomial_error"] > r["eps"]  # the next lower degree misses eps
            # the QSP response reproduces the polynomial, whose error is the Chebyshev residual 1/T_n(q0)
            a = 1 / r["kappa"]
            q0 = (1 + a * a) / (1 - a * a)
            resid = 1 / math.cosh((r["degree"] + 1) // 2 * math.acosh(q0))
            assert r["polynomial_relative_error"] == pytest.approx(resid, rel=1e-3)
        else:
            assert not r["measured"] and r["status"].startswith("bound only")


def test_comparison_columns_and_amplification(table):
    r = next(x for x in table if x["kappa"] == 10.0 and x["eps"] == 1e-3)
    assert r["costa2023-measured_expected_queries"] == pytest.approx(1.84 * 10 + 10 * math.log(1e3))
    assert r["dalzell2024_expected_queries"] == pytest.approx(56 * 10 + 1.05 * 10 * math.log(1e3))
    assert r["jennings-v1_expected_queries"] == pytest.approx(
        get_query_model("jennings-v1").expected_queries(10.0, 1e-3, 1.0)
    )
    rounds, total = _with_amplification(r["degree"], r["amplitude_min"])
    assert rounds == math.ceil(math.pi / (4 * math.asin(r["amplitude_min"])) - 0.5)
    assert total == r["qsvt_with_amplification_queries"] == r["degree"] * (2 * rounds + 1)
    # the worst-case amplitude is about f(1) = scale / kappa, never above max_abs / kappa
    assert r["amplitude_min"] <= 0.9 / 10 + 1e-12


@pytest.mark.slow
def test_circuit_at_n_256_matches_lapack():
    pytest.importorskip("pennylane")
    from qnewton.solvers import MAX_CIRCUIT_N, QSVTCircuitSolver

    assert MAX_CIRCUIT_N == 256
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((256, 256)))
    h = (q * np.geomspace(1.0, 4.0, 256)) @ q.T
    g = rng.standard_normal(256)
    x, rep = QSVTCircuitSolver(eps=1e-3, resources=False).solve(h, g)
    ref = np.linalg.solve(h, g)
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 2e-3
    assert rep.details["num_wires"] == 10 and rep.details["n_padded"] == 256


def test_cli_without_hessian(tmp_path, capsys):
    from qnewton.cli import qsvt_degree

    out = tmp_path / "out"
    argv = ["--kappas", "2", "20", "--qlsa-eps", "1e-2", "--angle-cap", "201", "--no-hessian", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert qsvt_degree.main(argv) == 0
    for name in ("qsvt_degree.csv", "qsvt_degree.png", "results.json", "report.md", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "qsvt_degree.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["degree"]) for r in rows] == [_lowest_degree(2, 1e-2), _lowest_degree(20, 1e-2)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["eps_values"] == [1e-2]
    assert manifest["config"]["hessian"] is False and manifest["config"]["angle_cap"] == 201
    assert "Counts, not times" in (out / "report.md").read_text()
    assert qsvt_degree.main([*argv[:-2], "--out", str(out), "--qlsa-eps", "-1"]) == 2  # typed error, exit 2
    capsys.readouterr()
    assert qsvt_degree.main([*argv[:-2], "--out", str(out), "--eps", "-1"]) == 2  # old spelling: one more release
    err = capsys.readouterr().err
    assert "warning: --eps is deprecated" in err and "use --qlsa-eps" in err and "--qlsa-eps must be in" in err


def test_quick_preset_and_explicit_options():
    from qnewton.cli import build_parser
    from qnewton.cli._options import config_from_args

    quick = QSVTDegreeConfig.quick()
    assert quick.block_size == 16 and quick.blocks == (0,) and quick.angle_cap == 301
    assert QSVTDegreeConfig.quick(angle_cap=101).angle_cap == 101
    parser = build_parser()
    args = parser.parse_args(["qsvt-degree", "--kappas", "3", "--no-hessian"])
    cfg = config_from_args(QSVTDegreeConfig, args, args._parser)
    assert cfg.kappas == (3.0,) and cfg.hessian is False and cfg.eps_values == QSVTDegreeConfig().eps_values


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"eps_values": (0.0,)}, "eps_values"), ({"kappas": (0.5,)}, "kappas"), ({"block_size": 512}, "block_size"),
     ({"blocks": (4,)}, "blocks"), ({"angle_solver": "x"}, "angle_solver"), ({"kappas": ()}, "kappas"),
     ({"prune_ratios": (1.5,)}, "prune_ratios"), ({"circuit_eps": 0.0}, "circuit_eps"),
     ({"angle_cap": 0}, "angle_cap"), ({"max_abs": 1.0}, "max_abs"), ({"shifts": (-1.0,)}, "shifts"),
     ({"warmup_steps": -1}, "warmup_steps")],
)  # fmt: skip
def test_bad_config(kwargs, match):
    from qnewton.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=match):
        QSVTDegreeConfig(**kwargs)


@pytest.mark.slow
def test_cli_quick_with_real_hessian_blocks(tmp_path):
    pytest.importorskip("pennylane")
    from qnewton.cli import qsvt_degree

    out = tmp_path / "q"
    assert qsvt_degree.main(["--quick", "--no-progress", "--out", str(out)]) == 0
    with open(out / "hessian_blocks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["solver"] for r in rows} == {"qsvt-circuit", "emulated-ideal", "emulated-noisy", "cholesky (LAPACK)"}
    circ = next(r for r in rows if r["solver"] == "qsvt-circuit")
    assert float(circ["cosine_vs_numpy"]) > 0.9999 and int(circ["queries"]) >= 1
    report = (out / "report.md").read_text()
    assert "measured" in report and "modeled" in report
