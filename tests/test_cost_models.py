"""QuantumCostModel, CostEstimate labels, gate-time presets and the CostModel protocol."""

import dataclasses
import json
import math

import numpy as np
import pytest

from qnewton.cost import (
    BASES,
    GATE_TIME_PRESETS,
    ClassicalCostModel,
    CostEstimate,
    CostModel,
    GateTime,
    QuantumCostModel,
    find_crossover,
    get_query_model,
    jennings_expected_queries,
    jennings_queries,
    logical_qubits,
    resolve_gate_time,
)
from qnewton.cost.gate_times import IBM_SHERBROOKE
from qnewton.errors import ClampedRangeWarning, InvalidArgumentError


def test_paper_defaults():
    m = QuantumCostModel()
    assert m.query_model == "jennings-v1" and m.eps == 1e-12 and m.readout == "none"
    assert m.gate_time_seconds == 1e-18
    est = m.estimate(12544, kappa=1e4, d=1000)
    q = jennings_expected_queries(1e4, 1e-12, 1000.0)
    assert est.queries == pytest.approx(q, rel=1e-14)
    assert est.seconds == pytest.approx(q * 1e-18, rel=1e-14)
    assert est.qubits == logical_qubits(12544) == 37
    assert est.route == "quantum" and est.model == "quantum/jennings-v1"


def test_labels_modeled_vs_predicted():
    q = QuantumCostModel().estimate(100, kappa=10, d=3)
    assert q.modeled and q.basis == "modeled" and not q.is_prediction and not q.measured
    assert q.modeled_seconds == q.seconds and q.predicted_seconds is None and q.measured_seconds is None
    c = ClassicalCostModel(c=2e-11).estimate(100)
    assert not c.modeled and c.basis == "assumed-prediction" and c.is_prediction
    assert c.predicted_seconds == c.seconds and c.modeled_seconds is None and c.measured_seconds is None
    m = CostEstimate(route="classical", model="cholesky", basis="measured", seconds=0.5, n=10)
    assert m.measured and m.measured_seconds == 0.5 and m.modeled_seconds is None
    assert set(BASES) == {"measured", "modeled", "calibrated-prediction", "assumed-prediction"}


def test_both_models_follow_the_protocol():
    for model in (QuantumCostModel(), ClassicalCostModel(c=1e-11)):
        assert isinstance(model, CostModel)
        est = model.estimate(50, kappa=20.0, d=5, alpha=None)
        assert isinstance(est, CostEstimate) and est.n == 50
        assert est.seconds == pytest.approx(sum(est.terms.values()))
    assert QuantumCostModel.route == "quantum" and ClassicalCostModel.route == "classical"


def test_alpha_defaults_to_d_and_can_be_given():
    m = QuantumCostModel(eps=1e-6)
    by_d = m.estimate(500, kappa=100, d=20)
    assert by_d.details["alpha"] == 20.0 and "upper bound" in by_d.details["alpha_source"]
    given = m.estimate(500, kappa=100, d=20, alpha=3.5)
    assert given.queries == pytest.approx(jennings_expected_queries(100, 1e-6, 3.5))
    assert m.estimate(500, kappa=100, alpha=3.5).queries == given.queries  # d not needed with alpha


def test_gate_time_multiplies():
    a = QuantumCostModel(gate_time="ghz").estimate(64, kappa=30, d=4)
    b = QuantumCostModel(gate_time=1e-9).estimate(64, kappa=30, d=4)
    c = QuantumCostModel(gate_time="thz").estimate(64, kappa=30, d=4)
    assert a.seconds == b.seconds == pytest.approx(1000 * c.seconds)
    assert a.queries == c.queries


def test_count_state_prep_adds_twice_the_queries():
    base = QuantumCostModel(eps=1e-8).estimate(256, kappa=40, d=6)
    sp = QuantumCostModel(eps=1e-8, count_state_prep=True).estimate(256, kappa=40, d=6)
    assert sp.queries == pytest.approx(3 * base.queries)
    assert sp.terms["state_prep"] == pytest.approx(2 * base.seconds)
    with pytest.raises(InvalidArgumentError, match="count_state_prep"):
        QuantumCostModel(query_model="dalzell2024", count_state_prep=True)


@pytest.mark.parametrize("name", ["jennings-v1", "jennings-v3", "costa2022", "dalzell2024", "hhl2009"])
def test_every_registered_model_prices_a_block(name):
    est = QuantumCostModel(query_model=name, gate_time="ghz").estimate(1000, kappa=50.0, d=10)
    qm = get_query_model(name)
    expect = qm.expected_queries(50.0, 1e-12, 10.0, n=1000, d=10.0)
    assert est.queries == pytest.approx(expect)
    assert est.details["proven_bound"] == qm.proven_bound and est.details["constants"] == qm.constants


def test_vectorized_estimate_matches_scalar_loop():
    m = QuantumCostModel(readout="tomography", gate_time="ghz", eps=1e-9)
    kappas = np.geomspace(4, 1e7, 7)
    ds = np.array([1, 3, 10, 30, 100, 300, 1000.0])
    est = m.estimate(2048, kappa=kappas, d=ds)
    assert est.seconds.shape == (7,)
    for i in range(7):
        one = m.estimate(2048, kappa=float(kappas[i]), d=float(ds[i]))
        assert isinstance(one.seconds, float)
        assert est.seconds[i] == pytest.approx(one.seconds, rel=1e-14)
        assert est.terms["norm"][i] == pytest.approx(one.terms["norm"], rel=1e-14)
    # one array against a scalar broadcasts
    assert m.estimate(2048, kappa=kappas, d=5).seconds.shape == (7,)


def test_clamping_reported_in_details_and_warned():
    with pytest.warns(ClampedRangeWarning, match="`kappa`"):
        est = QuantumCostModel().estimate(100, kappa=2.0, d=1)
    assert est.details["kappa"] == 2.0 and est.details["kappa_used"] == pytest.approx(math.sqrt(12))
    assert est.queries == pytest.approx(jennings_expected_queries(math.sqrt(12), 1e-12))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 100, "kappa": None, "d": 3}, "`kappa` is required"),
        ({"n": 100, "kappa": 10}, "pass `d`"),
        ({"n": 100, "kappa": 10, "d": 101}, r"`d` must be <= n = 100"),
        ({"n": 100, "kappa": 10, "d": 0}, "`d`"),
        ({"n": 100, "kappa": 0.5, "d": 3}, "`kappa`"),
        ({"n": 100, "kappa": float("nan"), "d": 3}, "`kappa`"),
        ({"n": 100, "kappa": 10, "d": 3, "alpha": 0.5}, "`alpha`"),
        ({"n": 0, "kappa": 10, "d": 1}, "`n`"),
        ({"n": 10.5, "kappa": 10, "d": 1}, "`n`"),
    ],
)
def test_estimate_bad_input(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        QuantumCostModel().estimate(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "`eps`"),
        ({"eps": -1e-3}, "`eps`"),
        ({"eps": float("inf")}, "`eps`"),
        ({"gate_time": "warp"}, "`gate_time`.*ibm_sherbrooke"),
        ({"gate_time": -1e-9}, "`gate_time`"),
        ({"gate_time": 0}, "`gate_time`"),
        ({"gate_time": None}, "`gate_time`"),
        ({"readout": "shadow"}, "`readout`.*none, tomography"),
        ({"readout_precision": 0.0}, "`readout_precision`"),
        ({"norm_precision": 2.0}, "`norm_precision`"),
        ({"query_model": "nope"}, "`query_model`"),
        ({"ancillas": -2}, "`ancillas`"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        QuantumCostModel(**kwargs)


def test_config_is_frozen_and_normalized():
    m = QuantumCostModel(query_model="Dalzell", gate_time="GHz")
    assert m.query_model == "dalzell2024" and isinstance(m.gate_time, GateTime) and m.gate_time.name == "ghz"
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.eps = 1e-3
    assert m == QuantumCostModel(query_model="dalzell2024", gate_time="ghz")
    assert "modeled" in m.label and "ghz" in m.label


def test_gate_time_presets():
    assert set(GATE_TIME_PRESETS) == {"ibm_sherbrooke", "ghz", "thz", "atto"}
    assert resolve_gate_time("ghz").seconds == 1e-9
    assert resolve_gate_time("THZ").seconds == 1e-12
    assert resolve_gate_time("atto").seconds == 1e-18
    ibm = resolve_gate_time("ibm-sherbrooke")
    assert ibm.seconds == pytest.approx(IBM_SHERBROOKE["ecr"] + IBM_SHERBROOKE["sx"], rel=1e-12)
    assert "idealized" in ibm.note and "ECR" in ibm.source
    for g in GATE_TIME_PRESETS.values():
        assert g.seconds > 0 and g.source
    assert resolve_gate_time(2e-9).name == "custom" and resolve_gate_time("2e-9").seconds == 2e-9
    g = resolve_gate_time("thz")
    assert resolve_gate_time(g) is g
    for bad in ("", "fast", "nan", "-1", True, float("inf")):
        with pytest.raises(InvalidArgumentError, match="`gate_time`"):
            resolve_gate_time(bad)


def test_to_dict_is_json_serializable():
    est = QuantumCostModel(readout="tomography").estimate(64, kappa=np.array([5.0, 50.0]), d=4)
    text = json.dumps(est.to_dict())
    back = json.loads(text)
    assert back["basis"] == "modeled" and len(back["seconds"]) == 2


def test_find_crossover_solves_the_equality():
    q = QuantumCostModel(gate_time="ghz", eps=1e-10)
    c = ClassicalCostModel(c=1e-11)
    n, d = 3000, 50
    cx = find_crossover(q, c, n, vary="kappa", fixed=d, lo=4.0, hi=1e12)
    assert cx.status == "crossover" and cx.quantum_cheaper_below is True
    rc = 1e-11 * n**3
    assert jennings_queries(cx.value, 1e-10, d) / (0.39 - 0.204e-10) * 1e-9 == pytest.approx(rc, rel=1e-10)
    assert cx.seconds == pytest.approx(rc, rel=1e-10)
    none = find_crossover(q, c, n, vary="kappa", fixed=d, lo=4.0, hi=5.0)
    assert none.status == "quantum-cheaper-throughout" and none.value is None
    slow = find_crossover(QuantumCostModel(gate_time=1.0), c, n, vary="d", fixed=1e3, lo=1, hi=n)
    assert slow.status == "classical-cheaper-throughout"
    with pytest.raises(InvalidArgumentError, match="`vary`"):
        find_crossover(q, c, n, vary="eps", fixed=1, lo=1, hi=2)
