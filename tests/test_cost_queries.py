"""QLSA query counts against the closed forms of REFERENCE.md sections 2-3 (written out here
independently with the math module) and the sample values checked against the paper."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnewton.cost import (
    QUERY_MODELS,
    get_query_model,
    jennings_expected_queries,
    jennings_queries,
    jennings_state_prep_queries,
    jennings_success_probability,
    query_model_names,
)
from qnewton.errors import ClampedRangeWarning, InvalidArgumentError, QNewtonError


def q_star(kappa: float, eps: float, alpha: float = 1.0) -> float:
    """arXiv:2305.11352 v1 Theorem 1, transcribed term by term from REFERENCE.md section 2."""
    L = math.log(2 * kappa + 3)
    t1 = (
        (1741 * alpha * math.e / 500)
        * math.sqrt(kappa**2 + 1)
        * ((133 / 125 + 4 / (25 * kappa ** (1 / 3))) * math.pi * L + 1)
    )
    t2 = (351 / 50) * L**2 * (math.log(451 * L**2 / eps) + 1)
    t3 = alpha * kappa * math.log(32 / eps)
    return t1 + t2 + t3


# --- Jennings v1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kappa", "eps", "expected"), [(10, 1e-2, 2.21e3), (100, 1e-6, 2.48e4), (1e4, 1e-10, 3.54e6)])
def test_reference_sample_values(kappa, eps, expected):
    q = jennings_queries(kappa, eps)
    assert isinstance(q, float)
    # REFERENCE.md prints three significant digits
    assert float(f"{q:.3g}") == expected


@pytest.mark.parametrize("kappa", [3.5, 7.0, 42.0, 1e3, 1e6, 1e9])
@pytest.mark.parametrize("eps", [0.2, 1e-3, 1e-12])
@pytest.mark.parametrize("alpha", [1.0, 2.5, 1000.0])
def test_matches_transcribed_formula(kappa, eps, alpha):
    assert jennings_queries(kappa, eps, alpha) == pytest.approx(q_star(kappa, eps, alpha), rel=1e-13)


def test_alpha_enters_linearly_not_quadratically():
    # Q*(alpha) = A alpha + B exactly: the public reference code's alpha^2 would give a non-zero
    # second difference and a much larger Q at alpha = 1000.
    k, e = 1e4, 1e-10
    q1, q2, q3 = (jennings_queries(k, e, a) for a in (1.0, 2.0, 3.0))
    assert q3 - 2 * q2 + q1 == pytest.approx(0.0, abs=1e-9 * q3)
    slope = q2 - q1
    for a in (10.0, 1000.0, 12544.0):
        assert jennings_queries(k, e, a) == pytest.approx(q1 + (a - 1) * slope, rel=1e-12)
    # the alpha terms alone, from the closed form: the only alpha-free term is (351/50) L^2 (...)
    L = math.log(2 * k + 3)
    alpha_free = (351 / 50) * L**2 * (math.log(451 * L**2 / e) + 1)
    per_alpha = q1 - alpha_free
    assert jennings_queries(k, e, 1000.0) == pytest.approx(alpha_free + 1000 * per_alpha, rel=1e-12)
    assert jennings_queries(k, e, 1000.0) < 1001 * q1  # alpha^2 would exceed this by ~1000x


def test_expected_queries_use_0204():
    k, e = 100.0, 0.1
    assert jennings_success_probability(e) == pytest.approx(0.39 - 0.204 * 0.1)
    assert jennings_expected_queries(k, e) == pytest.approx(q_star(k, e) / (0.39 - 0.204 * e), rel=1e-13)
    assert jennings_expected_queries(k, e, 7.0) == pytest.approx(q_star(k, e, 7.0) / 0.3696, rel=1e-13)


def test_state_prep_is_twice_qstar():
    assert jennings_state_prep_queries(50.0, 1e-5, 3.0) == pytest.approx(2 * q_star(50.0, 1e-5, 3.0))


def test_clamps_kappa_with_warning():
    with pytest.warns(ClampedRangeWarning, match=r"`kappa`.*clamped to 3\.4641"):
        q = jennings_queries(1.0, 1e-3)
    assert q == pytest.approx(q_star(math.sqrt(12), 1e-3))


def test_clamps_eps_with_warning():
    with pytest.warns(ClampedRangeWarning, match=r"`eps`.*0\.24"):
        q = jennings_expected_queries(10.0, 0.9)
    assert q == pytest.approx(q_star(10.0, 0.24) / (0.39 - 0.204 * 0.24))


def test_clamping_is_conservative_and_silent_inside_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside = jennings_queries(math.sqrt(12), 0.24)
    with pytest.warns(ClampedRangeWarning):
        outside = jennings_queries(2.0, 0.5)
    assert outside == inside


def test_warning_points_at_caller():
    with pytest.warns(ClampedRangeWarning) as rec:
        jennings_queries(2.0, 1e-3)
    assert rec[0].filename == __file__


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kappa": 0.5, "eps": 1e-3}, "kappa"),
        ({"kappa": float("nan"), "eps": 1e-3}, "kappa"),
        ({"kappa": float("inf"), "eps": 1e-3}, "kappa"),
        ({"kappa": 10.0, "eps": 0.0}, "eps"),
        ({"kappa": 10.0, "eps": -1e-3}, "eps"),
        ({"kappa": 10.0, "eps": float("nan")}, "eps"),
        ({"kappa": 10.0, "eps": 1e-3, "alpha": 0.5}, "alpha"),
        ({"kappa": 10.0, "eps": 1e-3, "alpha": float("inf")}, "alpha"),
        ({"kappa": "ten", "eps": 1e-3}, "kappa"),
        ({"kappa": True, "eps": 1e-3}, "kappa"),
        ({"kappa": [], "eps": 1e-3}, "kappa"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, name):
    for fn in (jennings_queries, jennings_expected_queries, jennings_state_prep_queries):
        with pytest.raises(InvalidArgumentError, match=f"`{name}`") as exc:
            fn(**kwargs)
        assert isinstance(exc.value, (QNewtonError, ValueError))


def test_bad_value_inside_array_reports_index():
    with pytest.raises(InvalidArgumentError, match=r"index \(2,\)"):
        jennings_queries(np.array([10.0, 20.0, 0.1]), 1e-3)


def test_vectorized_matches_scalar_loop(rng):
    kappa = 10 ** rng.uniform(0.6, 8, size=(4, 5))
    eps = 10 ** rng.uniform(-14, -1, size=(4, 5))
    alpha = rng.uniform(1, 500, size=(4, 5))
    for fn in (jennings_queries, jennings_expected_queries, jennings_state_prep_queries):
        got = fn(kappa, eps, alpha)
        assert isinstance(got, np.ndarray) and got.shape == (4, 5)
        loop = np.array([[fn(float(k), float(e), float(a)) for k, e, a in zip(*rows, strict=True)]
                         for rows in zip(kappa, eps, alpha, strict=True)])  # fmt: skip
        np.testing.assert_allclose(got, loop, rtol=1e-15)
    # broadcasting a vector of kappa against scalar eps and alpha
    assert jennings_queries(np.array([10.0, 100.0]), 1e-6).shape == (2,)
    with pytest.raises(InvalidArgumentError, match="broadcast"):
        jennings_queries(np.ones(3) * 10, np.ones(2) * 1e-3)


def test_accepts_torch_tensor():
    torch = pytest.importorskip("torch")
    got = jennings_queries(torch.tensor([10.0, 100.0], dtype=torch.float64), 1e-6)
    np.testing.assert_allclose(got, [q_star(10, 1e-6), q_star(100, 1e-6)], rtol=1e-13)


@settings(max_examples=80, deadline=None)
@given(
    k1=st.floats(3.5, 1e10),
    k2=st.floats(3.5, 1e10),
    e1=st.floats(1e-15, 0.24),
    e2=st.floats(1e-15, 0.24),
    a1=st.floats(1.0, 1e5),
    a2=st.floats(1.0, 1e5),
)
def test_monotone_in_kappa_eps_alpha(k1, k2, e1, e2, a1, a2):
    f = jennings_expected_queries
    lo_k, hi_k = sorted((k1, k2))
    lo_e, hi_e = sorted((e1, e2))
    lo_a, hi_a = sorted((a1, a2))
    assert f(lo_k, e1, a1) <= f(hi_k, e1, a1) * (1 + 1e-12)  # more ill-conditioned: more queries
    # tighter accuracy: more queries per attempt everywhere; the expected count Q*/p is not monotone
    # above eps ~ 3e-3 (large kappa) to 0.1 (kappa near sqrt(12)), where p = 0.39 - 0.204 eps falls
    # faster than Q* (a property of the theorem)
    assert jennings_queries(k1, hi_e, a1) <= jennings_queries(k1, lo_e, a1) * (1 + 1e-12)
    if hi_e <= 1e-3:
        assert f(k1, hi_e, a1) <= f(k1, lo_e, a1) * (1 + 1e-12)
    assert f(k1, e1, lo_a) <= f(k1, e1, hi_a) * (1 + 1e-12)  # larger block-encoding scale: more


# --- comparison models ---------------------------------------------------------------------------


def test_registry_contents_and_documentation():
    assert set(query_model_names()) == {
        "jennings-v1", "jennings-v3", "costa2022", "costa2023-measured", "dalzell2024", "hhl2009"
    }  # fmt: skip
    for name, m in QUERY_MODELS.items():
        assert m.name == name
        assert m.source and m.constants and m.formula
        assert isinstance(m.proven_bound, bool)
    assert QUERY_MODELS["hhl2009"].proven_bound is False
    assert "scaling only" in QUERY_MODELS["hhl2009"].constants
    assert QUERY_MODELS["jennings-v1"].proven_bound is True
    with pytest.raises(TypeError):
        QUERY_MODELS["x"] = QUERY_MODELS["hhl2009"]  # read-only


@pytest.mark.parametrize(
    ("alias", "name"),
    [("JENNINGS", "jennings-v1"), ("jennings_v2", "jennings-v3"), ("Costa", "costa2022"),
     ("dalzell", "dalzell2024"), ("HHL", "hhl2009"), ("costa2022", "costa2022")],
)  # fmt: skip
def test_lookup_by_name_and_alias(alias, name):
    assert get_query_model(alias).name == name
    assert get_query_model(get_query_model(alias)) is get_query_model(name)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InvalidArgumentError, match=r"jennings-v1.*dalzell2024"):
        get_query_model("childs2017")
    with pytest.raises(InvalidArgumentError, match="query_model"):
        get_query_model(3)


def test_jennings_v1_model_equals_functions():
    m = get_query_model("jennings-v1")
    assert m.queries_per_attempt(1e4, 1e-10, 3.0) == pytest.approx(q_star(1e4, 1e-10, 3.0), rel=1e-13)
    assert m.expected_queries(1e4, 1e-10, 3.0) == pytest.approx(jennings_expected_queries(1e4, 1e-10, 3.0))
    assert m.state_prep_factor == 2.0


def test_comparison_models_closed_forms():
    k, e, a = 100.0, 1e-10, 2.0
    ln = math.log(1 / e)
    assert get_query_model("dalzell2024").expected_queries(k, e, a) == pytest.approx(56 * a * k + 1.05 * a * k * ln)
    assert get_query_model("costa2022").expected_queries(k, e, a) == pytest.approx(2305 * a * k + a * k * ln)
    assert get_query_model("jennings-v3").expected_queries(k, 1e-10, a) == pytest.approx(837 * a * k)
    hhl = get_query_model("hhl2009").expected_queries(k, e, a, n=1024, d=8)
    assert hhl == pytest.approx(10 * 64 * k**2 / e)  # log2(1024) d^2 kappa^2 / eps, alpha unused


def test_no_alpha_bounds_use_alpha_times_kappa():
    for name in ("dalzell2024", "costa2022", "jennings-v3"):
        m = get_query_model(name)
        assert m.expected_queries(50.0, 1e-6, 4.0) == pytest.approx(m.expected_queries(200.0, 1e-6, 1.0))


def test_hhl_needs_size_and_sparsity():
    with pytest.raises(InvalidArgumentError, match=r"`n=`.*`d=`"):
        get_query_model("hhl2009").expected_queries(10.0, 1e-3)


def test_comparison_models_vectorized_and_clamped():
    m = get_query_model("dalzell2024")
    ks = np.array([2.0, 20.0, 200.0])
    got = m.expected_queries(ks, 1e-8, 1.5)
    np.testing.assert_allclose(got, [m.expected_queries(float(k), 1e-8, 1.5) for k in ks])
    with pytest.warns(ClampedRangeWarning, match="`eps`"):
        m.expected_queries(10.0, 0.9)
    with pytest.raises(InvalidArgumentError, match="`kappa`"):
        m.expected_queries(0.9, 1e-3)


def test_expected_count_not_monotone_in_eps_at_the_top_of_the_range():
    # documented property of Q*/p, pinned so a change to the formula or to p is noticed
    assert jennings_expected_queries(1e8, 0.2) > jennings_expected_queries(1e8, 0.01)
    assert jennings_queries(1e8, 0.2) < jennings_queries(1e8, 0.01)
