"""Readout costs (REFERENCE.md §4) against hand computation and the BHMT error bound."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnewton.cost import (
    QuantumCostModel,
    amplitude_estimation_calls,
    amplitude_estimation_iterations,
    jennings_expected_queries,
    jennings_queries,
    tomography_copies,
)
from qnewton.errors import InvalidArgumentError


def test_tomography_copies_hand_computed():
    # REFERENCE.md: n = 2^20, delta = 0.1 gives 5e10 runs per stage
    n = 2**20
    per_stage = 36 * n * math.log(n) / 0.1**2
    assert per_stage == pytest.approx(5.2335e10, rel=1e-4)
    assert tomography_copies(n, 0.1, stages=1) == pytest.approx(per_stage, rel=1e-14)
    assert tomography_copies(n, 0.1) == pytest.approx(2 * per_stage, rel=1e-14)
    assert tomography_copies(12544, 0.5) == pytest.approx(2 * 36 * 12544 * math.log(12544) / 0.25)
    assert tomography_copies(1, 0.1) == 0.0


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 0.1), "`n`"), ((10, 0.0), "`delta`"), ((10, 1.5), "`delta`"), ((10, 0.1, 3), "`stages`")],
)
def test_tomography_bad_input(args, match):
    with pytest.raises(InvalidArgumentError, match=match):
        tomography_copies(*args)


def bhmt_error(m: int, a: float) -> float:
    """Theorem 12 of Brassard, Hoyer, Mosca, Tapp (k = 1): the error bound after M iterations."""
    return 2 * math.pi * math.sqrt(a * (1 - a)) / m + math.pi**2 / m**2


@pytest.mark.parametrize(
    ("eps", "a", "expected"),
    [(0.01, 0.0, 32), (0.01, 0.5, 318), (1e-3, 0.5, 3145), (0.1, 1.0, 10)],
)
def test_amplitude_estimation_hand_computed(eps, a, expected):
    # M = ceil(pi / (sqrt(a(1-a) + eps) - sqrt(a(1-a))))
    assert math.ceil(math.pi / (math.sqrt(a * (1 - a) + eps) - math.sqrt(a * (1 - a)))) == expected
    assert amplitude_estimation_iterations(eps, a) == expected
    assert amplitude_estimation_calls(eps, a) == 2 * expected - 1


@settings(max_examples=200, deadline=None)
@given(eps=st.floats(1e-6, 0.5), a=st.floats(0.0, 1.0))
def test_amplitude_estimation_is_the_smallest_m_meeting_the_bound(eps, a):
    m = amplitude_estimation_iterations(eps, a)
    assert bhmt_error(m, a) <= eps * (1 + 1e-9)
    if m > 1:
        assert bhmt_error(m - 1, a) > eps * (1 - 1e-9)
    # a = 1/2 is the worst case
    assert amplitude_estimation_iterations(eps, 0.5) >= m


@pytest.mark.parametrize(("eps", "a"), [(0.0, 0.5), (-1.0, 0.5), (0.1, 1.5), (0.1, -0.1), (float("inf"), 0.5)])
def test_amplitude_estimation_bad_input(eps, a):
    with pytest.raises(InvalidArgumentError):
        amplitude_estimation_iterations(eps, a)


def test_end_to_end_readout_cost_hand_computed():
    n, k, d, eps, tg, delta = 4096, 50.0, 8, 1e-6, 1e-9, 0.2
    none = QuantumCostModel(eps=eps, gate_time=tg).estimate(n, kappa=k, d=d)
    tomo = QuantumCostModel(eps=eps, gate_time=tg, readout="tomography", readout_precision=delta,
                            norm_precision=0.05).estimate(n, kappa=k, d=d)  # fmt: skip
    expected_solve = jennings_expected_queries(k, eps, d)  # alpha = d when only d is given
    copies = 2 * 36 * n * math.log(n) / delta**2
    m = math.ceil(math.pi / (math.sqrt(0.25 + 0.05) - 0.5))
    norm_queries = (2 * m - 1) * jennings_queries(k, eps, d)  # single attempts, run coherently
    assert none.queries == pytest.approx(expected_solve)
    assert none.terms == {"solve": pytest.approx(expected_solve * tg)}
    assert tomo.terms["tomography"] == pytest.approx(copies * expected_solve * tg)
    assert tomo.terms["norm"] == pytest.approx(norm_queries * tg)
    assert tomo.queries == pytest.approx(copies * expected_solve + norm_queries)
    assert tomo.seconds == pytest.approx(sum(tomo.terms.values()))
    assert tomo.details["tomography_copies"] == pytest.approx(copies)
    assert tomo.details["amplitude_estimation_calls"] == 2 * m - 1
    # reading out erases the advantage: the end-to-end cost is ~copies times the paper's
    assert tomo.seconds / none.seconds > copies


def test_norm_precision_defaults_to_readout_precision():
    a = QuantumCostModel(readout="tomography", readout_precision=0.05).estimate(100, kappa=10, d=3)
    b = QuantumCostModel(readout="tomography", readout_precision=0.05, norm_precision=0.05).estimate(100, kappa=10, d=3)
    assert a.seconds == b.seconds and a.details["norm_precision"] == 0.05
