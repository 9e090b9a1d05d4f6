"""The fault-tolerant cost model: data-loading formulas at pinned points, the paper preset against
QuantumCostModel, monotonicity, the Azure Quantum Resource Estimator against closed forms of its
documented surface-code model, the estimator round trip, caching, and typed errors."""

from __future__ import annotations

import itertools
import json
import math
import sys

import numpy as np
import pytest

from qnewton.cost import (
    FT_HARDWARE_PRESETS,
    CostModel,
    FaultTolerantCostModel,
    FTHardware,
    QuantumCostModel,
    find_crossover,
    get_query_model,
)
from qnewton.cost import dataloading as dl
from qnewton.cost import fault_tolerant as ft
from qnewton.cost.encoding import default_ancillas, logical_qubits
from qnewton.errors import EstimatorError, InvalidArgumentError, MissingDependencyError

HAVE_QDK = ft.estimator_available()
needs_qdk = pytest.mark.skipif(not HAVE_QDK, reason="qdk (extra qnewton[ft]) not installed: estimator tests skipped")


# --- data loading: closed forms at pinned points ------------------------------------------------


@pytest.mark.parametrize("L", [1, 2, 7, 1024, 12544 * 1000])
def test_qrom_is_L_minus_one(L):
    assert dl.qrom_toffolis(L) == L - 1
    c = dl.lookup_cost(L, 17, "qrom")
    assert c.toffolis == L - 1 and c.k == 1 and c.ancillas == math.ceil(math.log2(L)) if L > 1 else c.ancillas == 0


@pytest.mark.parametrize(("L", "w", "k", "want"), [(1024, 8, 8, 128 + 56), (1000, 3, 4, 250 + 9), (5, 1, 8, 1 + 7)])
def test_qroam_formula(L, w, k, want):
    assert dl.qroam_toffolis(L, w, k) == want  # ceil(L/k) + w (k - 1)


@pytest.mark.parametrize(("L", "w"), [(1024, 1), (10**6, 32), (12544 * 1000, 65), (3, 5), (2**20, 20)])
def test_qroam_optimal_k_brute_force(L, w):
    ks = [2**j for j in range(0, 40) if 2**j <= 2 * L]
    costs = [math.ceil(L / k) + w * (k - 1) for k in ks]
    best = ks[int(np.argmin(costs))]
    assert dl.qroam_optimal_k(L, w) == best
    assert dl.lookup_cost(L, w, "qroam").toffolis == min(costs)
    # about 2 sqrt(L w) for large tables (Berry et al. 2019, App. A)
    if L * w > 10**6:
        assert 1.5 * math.sqrt(L * w) < min(costs) < 3.0 * math.sqrt(L * w)


def test_auto_takes_the_cheaper_lookup():
    small, big = dl.lookup_cost(4, 64, "auto"), dl.lookup_cost(10**7, 40, "auto")
    assert small.method == "qrom" and small.toffolis == 3
    assert big.method == "qroam" and big.toffolis == dl.lookup_cost(10**7, 40, "qroam").toffolis < 10**7 - 1


def test_assumed_qram_is_log_and_labelled():
    c = dl.lookup_cost(12544 * 1000, 65, "qram-assumed")
    assert c.toffolis == math.ceil(math.log2(12544 * 1000)) == 24
    assert c.assumption and "ASSUMPTION" in c.source


def test_measurement_uncompute():
    L = 2**20
    u = dl.lookup_uncompute_cost(L, 20, "qroam")
    assert u.toffolis == 2 * 2**10 and u.k == 2**10 and u.measurements == 20  # ceil(L/k) + k at k = sqrt(L)
    assert dl.lookup_uncompute_cost(L, 20, "qrom").toffolis == L - 1


@pytest.mark.parametrize(("alpha", "kappa", "eps"), [(1.0, 10.0, 1e-2), (1000.0, 1e4, 1e-12), (3.0, 2633.0, 1e-6)])
def test_entry_bits_closed_form(alpha, kappa, eps):
    b = dl.entry_bits(alpha, kappa, eps)
    assert b == math.ceil(math.log2(math.pi * alpha * kappa / eps))
    # the rounding bound it guarantees: alpha kappa pi 2^-(b+1) <= eps / 2
    assert alpha * kappa * math.pi * 2.0 ** -(b + 1) <= eps / 2


def test_sparse_query_cost_pinned():
    n, d, b = 12544, 1000, 40
    L = n * d
    q = dl.sparse_query_cost(n, d, b, "qrom")
    assert q.data_toffolis == 4 * (L - 1)  # O_c, O_r^dagger, O_A lookups + O_A erasure, each L - 1
    a = default_ancillas(n)
    assert q.qlsa_toffolis == 2 * 4 * math.ceil(math.log2(d)) + b + (a - 1)
    assert q.rotations == 3
    qr = dl.sparse_query_cost(n, d, b, "qram-assumed")
    assert qr.data_toffolis == 4 * math.ceil(math.log2(L)) and qr.assumption
    s = dl.state_prep_cost(n, b, "qrom")
    assert s.toffolis == 4 * 14 + (n - 1) + b + 14  # uniform superposition + lookup + inequality + swap


def test_costa_measured_model_closed_form():
    m = get_query_model("costa2023-measured")
    k, e, a = 200.0, 1e-8, 3.0
    assert m.expected_queries(k, e, a) == pytest.approx(1.84 * a * k + a * k * math.log(1 / e))
    assert m.proven_bound is False and "2312.07690" in m.source
    assert get_query_model("costa-measured") is m
    # ~1250x below the 2305 bound on the adiabatic part
    assert get_query_model("costa2022").expected_queries(1e6, 0.5) > 100 * m.expected_queries(1e6, 0.5)


# --- the paper preset equals today's QuantumCostModel ------------------------------------------


@pytest.mark.parametrize("readout", ["none", "tomography"])
@pytest.mark.parametrize(("n", "kappa", "d"), [(12544, 1e4, 1000), (1024, 10.0, 4), (256, 2633.0, 256)])
def test_paper_preset_agrees_with_quantum_cost_model(n, kappa, d, readout):
    ftm = FaultTolerantCostModel(hardware="paper", readout=readout)
    q = QuantumCostModel(readout=readout).estimate(n, kappa=kappa, d=d)
    e = ftm.estimate(n, kappa=kappa, d=d)
    assert e.seconds == pytest.approx(q.seconds, rel=1e-12)
    assert e.queries == pytest.approx(q.queries, rel=1e-12)
    assert sum(e.terms.values()) == pytest.approx(e.seconds, rel=1e-12)
    assert e.terms["data_loading"] == 0.0 and e.terms["state_prep"] == 0.0
    assert e.basis == "modeled" and e.route == "quantum" and e.modeled_seconds == e.seconds


def test_paper_preset_with_alpha_and_arrays():
    ftm = FaultTolerantCostModel(hardware="paper", query_model="dalzell2024", eps=1e-6)
    qm = QuantumCostModel(query_model="dalzell2024", eps=1e-6)
    kap = np.array([10.0, 100.0, 1e3])
    e = ftm.estimate(4096, kappa=kap, d=64, alpha=3.0)
    np.testing.assert_allclose(e.seconds, qm.estimate(4096, kappa=kap, d=64, alpha=3.0).seconds, rtol=1e-12)
    assert e.seconds.shape == (3,) and len(e.details["points"]) == 3
    np.testing.assert_allclose(sum(e.terms.values()), e.seconds, rtol=1e-12)


def test_protocol_name_label():
    m = FaultTolerantCostModel(hardware="paper", data_loading="qram-assumed")
    assert isinstance(m, CostModel) and m.route == "quantum"
    assert m.name == "quantum-ft/jennings-v1/qram-assumed/paper"
    assert "QRAM ASSUMED" in m.label and "(modeled)" in m.label
    with pytest.raises(AttributeError):
        m.eps = 1.0  # frozen


def test_logical_counts_of_a_solve_attempt():
    m = FaultTolerantCostModel(hardware="paper", data_loading="qrom", eps=1e-3)
    n, kappa, d = 64, 10.0, 8
    (att,) = m.logical_circuits(n, kappa, d)
    lc = att.logical_counts()
    qm = get_query_model("jennings-v1")
    q_att = math.ceil(qm.queries_per_attempt(kappa, 1e-3, float(d)))
    b = dl.entry_bits(float(d), kappa, 1e-3)
    qc = dl.sparse_query_cost(n, d, b, "qrom")
    sp = dl.state_prep_cost(n, b, "qrom")
    sp_calls = math.ceil(2 * qm.queries_per_attempt(kappa, 1e-3, float(d)))
    assert lc["cczCount"] == q_att * qc.toffolis + sp_calls * sp.toffolis
    assert lc["numQubits"] == logical_qubits(n, qc.ancillas) + qc.workspace_qubits + b + sp.qubits
    assert json.loads(m.logical_counts_json(n, kappa, d)) == lc
    with pytest.raises(InvalidArgumentError, match="circuit"):
        m.logical_counts_json(n, kappa, d, circuit="norm_estimation")


# --- monotonicity -------------------------------------------------------------------------------

_HWS = ["paper", "qubit_gate_ns_e4"] if HAVE_QDK else ["paper"]


@pytest.mark.parametrize("hw", _HWS)
@pytest.mark.parametrize("loading", ["qrom", "qroam", "auto", "qram-assumed"])
def test_more_d_larger_n_tighter_eps_never_cheaper(hw, loading):
    m = FaultTolerantCostModel(hardware=hw, data_loading=loading, eps=1e-6)
    ds = [1, 2, 3, 7, 8, 9, 63, 64, 65, 500, 1000, 1023, 1024, 2000]
    s = [m.estimate(4096, kappa=1e3, d=d).seconds for d in ds]
    assert all(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(s)), s
    ns = [1000, 1023, 1024, 1025, 4096, 12544, 10**5, 10**6]
    s = [m.estimate(n, kappa=1e3, d=64).seconds for n in ns]
    assert all(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(s)), s
    eps = [1e-3, 1e-4, 1e-6, 1e-9, 1e-12]
    s = [FaultTolerantCostModel(hardware=hw, data_loading=loading, eps=e).estimate(4096, kappa=1e3, d=64).seconds
         for e in eps]  # fmt: skip
    assert all(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(s)), s


def test_data_loading_order():
    """QROM >= QROAM >= assumed QRAM in time, and the split says where the time goes."""
    m = {x: FaultTolerantCostModel(hardware="paper", data_loading=x) for x in ("qrom", "qroam", "qram-assumed")}
    tof = {x: m[x].estimate(12544, kappa=1e4, d=1000).details["toffolis_per_query"] for x in m}
    assert tof["qrom"] > tof["qroam"] > tof["qram-assumed"]


# --- the Azure Quantum Resource Estimator -------------------------------------------------------

# Published qubit parameters of the estimator's gate-based models (Beverland et al. 2022; the
# estimator's target-parameter docs): gate and measurement times (ns) and the Clifford error rate.
_GATE_MODELS = {
    "qubit_gate_ns_e3": (50.0, 100.0, 1e-3),
    "qubit_gate_ns_e4": (50.0, 100.0, 1e-4),
    "qubit_gate_us_e3": (100e3, 100e3, 1e-3),
    "qubit_gate_us_e4": (100e3, 100e3, 1e-4),
}


def _closed_form(q, ccz, t, meas, rot, rot_depth, budget, t2, tm, p):
    """The estimator's documented surface-code model (Beverland et al. 2022, App. C and D).

    Layout (PSSPC): Q_alg = 2 Q + ceil(sqrt(8 Q)) + 1 logical qubits. Budget: halves for logical and
    T-state errors, thirds when there are rotations. Rotation synthesis: ceil(0.53 log2(R / eps_rot)
    + 5.3) T per rotation. Depth: 3 per CCZ, 1 per T, measurement and rotation, plus T per rotation
    layer. Distance: the smallest odd d with a (p / p*)^((d+1)/2) <= eps_log / (Q_alg D), a = 0.03,
    p* = 0.01. Cycle (4 t_2q + 2 t_meas) d; 2 d^2 physical qubits per logical qubit."""
    q_alg = 2 * q + math.ceil(math.sqrt(8 * q)) + 1
    parts = 3 if rot else 2
    eps_log = budget / parts
    tsr = math.ceil(0.53 * math.log2(rot / (budget / 3)) + 5.3) if rot else 0
    depth = 3 * ccz + t + meas + rot + rot_depth * tsr
    req = eps_log / (q_alg * depth)
    d = 1
    while 0.03 * (p / 0.01) ** ((d + 1) / 2) > req:
        d += 2
    cycle = (4 * t2 + 2 * tm) * d
    return {"q_alg": q_alg, "tsr": tsr, "depth": depth, "d": d, "cycle_ns": cycle, "phys_alg": q_alg * 2 * d * d,
            "runtime_ns": depth * cycle, "t_states": 4 * ccz + t + rot * tsr}  # fmt: skip


@needs_qdk
@pytest.mark.parametrize("name", sorted(_GATE_MODELS))
@pytest.mark.parametrize(
    ("q", "ccz", "t", "meas", "rot", "rot_depth", "budget"),
    [(40, 10**12, 0, 0, 0, 0, 1e-2), (313, 10**9, 17, 1000, 10**6, 10**6, 1e-3), (100, 10**6, 500, 0, 2000, 100, 1e-4)],
)
def test_estimator_matches_its_documented_surface_code_model(name, q, ccz, t, meas, rot, rot_depth, budget):
    t2, tm, p = _GATE_MODELS[name]
    want = _closed_form(q, ccz, t, meas, rot, rot_depth, budget, t2, tm, p)
    counts = {"numQubits": q, "cczCount": ccz, "tCount": t, "measurementCount": meas, "rotationCount": rot,
              "rotationDepth": rot_depth}  # fmt: skip
    got = ft.estimate_physical(counts, name, budget, digits=19)  # 3e12 cycles: estimated in slices
    assert got.scale == max(1, math.ceil((3 * ccz + t + meas + rot + 60 * rot_depth) / 1e10))
    assert got.algorithmic_logical_qubits == want["q_alg"]
    assert got.code_distance == want["d"]
    assert got.logical_cycle_time_s == pytest.approx(want["cycle_ns"] * 1e-9, rel=1e-12)
    assert got.logical_depth == pytest.approx(want["depth"], rel=1e-9)  # slices round counts up
    assert got.runtime_s == pytest.approx(want["runtime_ns"] * 1e-9, rel=1e-9)
    assert got.physical_qubits_algorithm == want["phys_alg"]
    assert got.physical_qubits == got.physical_qubits_algorithm + got.physical_qubits_factories
    assert got.t_states == pytest.approx(want["t_states"], rel=1e-9)
    assert (got.ts_per_rotation or 0) == want["tsr"]
    # T factories: enough to produce every T state within the run
    raw = json.loads(got.raw)
    tf = raw["tfactory"]
    assert got.t_factories == math.ceil(
        want["t_states"] * tf["runtime"] / (tf["numTstates"] * want["runtime_ns"]) - 1e-9
    )
    # the documented parameters are what the estimator used
    jp = raw["jobParams"]
    assert jp["qecScheme"]["physicalQubitsPerLogicalQubit"] == "2 * codeDistance * codeDistance"
    assert jp["qubitParams"]["twoQubitGateErrorRate"] == p


@needs_qdk
def test_reference_example_of_reference_md():
    """REFERENCE.md section 9: 40 logical qubits and 1e12 CCZ on qubit_gate_ns_e4, budget 1e-2:
    distance 15, 3.8e5 physical qubits, 208 days."""
    got = ft.estimate_physical({"numQubits": 40, "cczCount": 10**12}, "qubit_gate_ns_e4", 1e-2)
    assert got.code_distance == 15
    assert got.physical_qubits == pytest.approx(3.8e5, rel=0.01)
    assert got.runtime_s / 86400 == pytest.approx(208, rel=0.01)


@needs_qdk
@pytest.mark.parametrize("name", ["qubit_gate_ns_e4", "qubit_gate_us_e3", "qubit_maj_ns_e6"])
def test_sliced_estimate_equals_direct(name, monkeypatch):
    counts = {"numQubits": 120, "cczCount": 10**9, "tCount": 10**6, "rotationCount": 10**7,
              "rotationDepth": 10**7, "measurementCount": 10**8}  # fmt: skip
    direct = ft.estimate_physical(counts, name, 1e-3)
    assert direct.scale == 1
    monkeypatch.setattr(ft, "_SAFE_DEPTH", 10**7)
    ft.clear_estimator_cache()
    sliced = ft.estimate_physical(counts, name, 1e-3)
    ft.clear_estimator_cache()
    assert sliced.scale > 100
    for f in ("code_distance", "physical_qubits", "t_factories", "logical_cycle_time_s", "algorithmic_logical_qubits",
              "ts_per_rotation"):  # fmt: skip
        assert getattr(sliced, f) == getattr(direct, f), f
    # each of the 370 slices rounds its counts up by < 1 gate: a few parts per million
    assert sliced.runtime_s == pytest.approx(direct.runtime_s, rel=1e-5)
    assert sliced.runtime_s >= direct.runtime_s
    assert sliced.t_states == pytest.approx(direct.t_states, rel=1e-5)


@needs_qdk
def test_round_trip_through_the_estimator_json():
    from qdk.estimator import LogicalCounts

    m = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="qrom", eps=1e-3, digits=19)
    n, kappa, d = 64, 10.0, 8
    est = m.estimate(n, kappa=kappa, d=d)
    assert est.details["estimator_scale"] == 1
    text = m.logical_counts_json(n, kappa, d)
    res = dict(LogicalCounts(json.loads(text)).estimate({"qubitParams": {"name": "qubit_gate_ns_e4"},
                                                         "errorBudget": 1e-3}))  # fmt: skip
    assert res["logicalQubit"]["codeDistance"] == est.details["code_distance"]
    assert res["physicalCounts"]["physicalQubits"] == est.details["physical_qubits"]
    assert res["physicalCounts"]["runtime"] * 1e-9 == pytest.approx(est.details["runtime_per_attempt_s"], rel=1e-12)
    p = est.details["success_probability"]
    assert est.seconds == pytest.approx(res["physicalCounts"]["runtime"] * 1e-9 / p, rel=1e-12)
    assert sum(est.terms.values()) == pytest.approx(est.seconds, rel=1e-12)
    assert est.details["logical_depth_split_check"] == pytest.approx(1.0, rel=1e-12)


@needs_qdk
def test_ft_details_and_terms():
    m = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="qroam")
    e = m.estimate(12544, kappa=1e4, d=1000)
    for k in ("logical_qubits", "toffolis_per_attempt", "t_count_per_attempt", "code_distance", "physical_qubits",
              "t_factories", "time_split", "logical_cycle_time_s", "logical_counts", "estimator"):  # fmt: skip
        assert k in e.details, k
    assert set(e.terms) == set(ft.TIME_TERMS)
    assert sum(e.terms.values()) == pytest.approx(e.seconds, rel=1e-12)
    assert e.terms["data_loading"] > e.terms["qlsa"]  # loading a 1.25e7-entry table dominates
    assert e.details["logical_depth_split_check"] == pytest.approx(1.0, abs=1e-3)  # counts rounded to 4 digits
    json.dumps(e.to_dict())  # serializable
    paper = FaultTolerantCostModel(hardware="paper").estimate(12544, kappa=1e4, d=1000)
    assert e.seconds > 1e6 * paper.seconds


@needs_qdk
def test_tomography_readout_dominates():
    m = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="qram-assumed", readout="tomography")
    e = m.estimate(1024, kappa=100.0, d=32)
    copies = e.details["tomography_copies"]
    solve = sum(e.terms[k] for k in ("data_loading", "qlsa", "state_prep"))
    assert e.terms["readout"] > (copies - 1) * solve * (1 - 1e-12)
    assert "norm_estimation" in e.details["logical_counts"]


@needs_qdk
def test_smaller_error_budget_never_smaller_distance():
    counts = {"numQubits": 100, "cczCount": 10**10, "rotationCount": 10**6, "rotationDepth": 10**6}
    for name in ("qubit_gate_ns_e3", "qubit_gate_us_e4", "qubit_maj_ns_e4"):
        ds = [ft.estimate_physical(counts, name, b).code_distance for b in (0.5, 1e-1, 1e-2, 1e-3, 1e-5, 1e-8)]
        assert ds == sorted(ds), (name, ds)
    m = [FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="qram-assumed", error_budget=b)
         for b in (0.3, 1e-3, 1e-9)]  # fmt: skip
    ds = [x.estimate(4096, kappa=100.0, d=16).details["code_distance"] for x in m]
    assert ds == sorted(ds) and ds[0] < ds[-1]


@needs_qdk
def test_estimates_are_cached():
    ft.clear_estimator_cache()
    m = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="auto")
    m.estimate(2048, kappa=500.0, d=64)
    before = ft._estimate_cached.cache_info()
    m2 = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="auto", readout_precision=0.2)
    m2.estimate(2048, kappa=500.0, d=64)  # another model, the same circuit: served by the estimator cache
    after = ft._estimate_cached.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses


@needs_qdk
def test_crossover_search_accepts_the_model():
    from qnewton.cost import ClassicalCostModel

    q = FaultTolerantCostModel(hardware="qubit_gate_ns_e4", data_loading="qram-assumed")
    cx = find_crossover(q, ClassicalCostModel(c=1e-11), 12544, vary="kappa", fixed=10.0, lo=4.0, hi=1e8, grid=16)
    assert cx.status in ("crossover", "classical-cheaper-throughout", "quantum-cheaper-throughout")


@needs_qdk
def test_custom_hardware_and_estimator_failure_is_typed():
    hw = FTHardware("tight", qubit_params={"name": "qubit_gate_ns_e3"}, qec_scheme={"name": "surface_code",
                                                                                   "maxCodeDistance": 5})  # fmt: skip
    m = FaultTolerantCostModel(hardware=hw, data_loading="qrom")
    with pytest.raises(EstimatorError, match="maximum allowed code distance is 5"):
        m.estimate(4096, kappa=100.0, d=16)
    bad = FTHardware("nope", qubit_params={"name": "no_such_model"})
    with pytest.raises(EstimatorError, match="instructionSet"):
        FaultTolerantCostModel(hardware=bad).estimate(64, kappa=10.0, d=4)
    ten_us = {"oneQubitGateTime": "10 us", "twoQubitGateTime": "10 us", "oneQubitMeasurementTime": "10 us"}
    own = FTHardware("fast-ions", qubit_params={"name": "qubit_gate_us_e4", **ten_us})
    base = FaultTolerantCostModel(hardware="qubit_gate_us_e4", data_loading="qram-assumed")
    fast = FaultTolerantCostModel(hardware=own, data_loading="qram-assumed").estimate(64, kappa=10.0, d=4)
    base = base.estimate(64, kappa=10.0, d=4)
    assert fast.details["logical_cycle_time_s"] == pytest.approx(base.details["logical_cycle_time_s"] / 10, rel=1e-9)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0, 0.0, 1, 1.0, 1.5, -1e-3, float("nan"), float("inf"), "1e-3", True])
def test_error_budget_outside_unit_interval(budget):
    with pytest.raises(InvalidArgumentError, match="error_budget"):
        FaultTolerantCostModel(hardware="paper", error_budget=budget)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"hardware": "qubit_gate_ps_e9"}, "hardware.*qubit_gate_ns_e4"), ({"hardware": 3}, "hardware"),
     ({"data_loading": "ram"}, "data_loading"), ({"readout": "all"}, "readout"), ({"eps": 0.0}, "eps"),
     ({"eps": float("nan")}, "eps"), ({"query_model": "childs"}, "query_model"),
     ({"readout_precision": 2.0}, "readout_precision"), ({"entry_bits": 0}, "entry_bits"),
     ({"state_prep_per_query": -1.0}, "state_prep_per_query")],
)  # fmt: skip
def test_bad_construction(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        FaultTolerantCostModel(**{"hardware": "paper", **kwargs})


@pytest.mark.parametrize(
    ("n", "kappa", "d", "match"),
    [(1, 10.0, 1, "`n`"), (2**61, 10.0, 1, "`n`"), (100, 10.0, 101, "`d`"), (100, 10.0, 0, "`d`"),
     (100, float("inf"), 4, "`kappa`"), (100, float("nan"), 4, "`kappa`"), (100, 0.5, 4, "`kappa`"),
     (100, None, 4, "kappa"), (100, 10.0, None, "`d`"), (100.5, 10.0, 4, "`n`")],
)  # fmt: skip
def test_bad_estimate_arguments(n, kappa, d, match):
    m = FaultTolerantCostModel(hardware="paper")
    with pytest.raises(InvalidArgumentError, match=match):
        m.estimate(n, kappa, d)


def test_bad_hardware_objects():
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        FTHardware("x")
    with pytest.raises(InvalidArgumentError, match="seconds_per_query"):
        FTHardware("x", seconds_per_query=0.0)
    assert set(FT_HARDWARE_PRESETS) == {"paper", "qubit_gate_ns_e3", "qubit_gate_ns_e4", "qubit_gate_us_e3",
                                        "qubit_gate_us_e4", "qubit_maj_ns_e4", "qubit_maj_ns_e6"}  # fmt: skip
    for h in FT_HARDWARE_PRESETS.values():
        assert h.source and h.note


def test_missing_qdk_raises_naming_the_extra(monkeypatch):
    ft._estimator_module.cache_clear()
    monkeypatch.setitem(sys.modules, "qdk", None)
    monkeypatch.setitem(sys.modules, "qdk.estimator", None)
    try:
        with pytest.raises(MissingDependencyError, match=r"qnewton\[ft\]"):
            FaultTolerantCostModel(hardware="qubit_gate_ns_e4")
        with pytest.raises(MissingDependencyError, match=r"qnewton\[ft\]"):
            ft.estimate_physical({"numQubits": 4, "cczCount": 10}, "qubit_gate_ns_e4")
        assert not ft.estimator_available()
        # the paper's model needs no estimator
        assert FaultTolerantCostModel(hardware="paper").estimate(1024, kappa=10.0, d=8).seconds > 0
    finally:
        ft._estimator_module.cache_clear()
