"""ClassicalCostModel: the C N^3 fit, the calibration (with synthetic timings) and its JSON cache."""

import json
from pathlib import Path

import numpy as np
import pytest

import qnewton.cost.classical as classical
from qnewton.cost import (
    Calibration,
    ClassicalCostModel,
    cache_dir,
    calibrate_classical,
    fit_cubic_constant,
    load_calibration,
    measure_cholesky_solve,
    save_calibration,
)
from qnewton.errors import InvalidArgumentError


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache directory: nothing touches ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "qnewton"


class FakeMeasure:
    """Synthetic timings t = C_backend N^3 (x noise); counts calls."""

    def __init__(self, c_scipy=3e-11, c_torch=2e-11, noise=None):
        self.c = {"scipy": c_scipy, "torch": c_torch}
        self.noise = noise or {}
        self.calls = []

    def __call__(self, n, backend, dtype, repeats):
        self.calls.append((n, backend, dtype, repeats))
        return self.c[backend] * n**3 * self.noise.get((n, backend), 1.0)


def test_fit_recovers_exact_constant():
    sizes = [100, 400, 900, 2000]
    c, rms = fit_cubic_constant(sizes, [7.5e-12 * n**3 for n in sizes])
    assert c == pytest.approx(7.5e-12, rel=1e-14) and rms == 0.0


def test_fit_is_the_relative_least_squares_solution(rng):
    sizes = np.array([300, 600, 1200, 2400.0])
    t = 1e-11 * sizes**3 * np.exp(rng.normal(0, 0.1, 4))
    c, rms = fit_cubic_constant(sizes, t)
    # independent: numpy's least squares on t = C n^3
    ref = np.linalg.lstsq((sizes**3)[:, None], t, rcond=None)[0][0]
    assert c == pytest.approx(ref, rel=1e-12)
    assert rms == pytest.approx(np.sqrt(np.mean((c * sizes**3 / t - 1) ** 2)))
    assert 0 < rms < 0.3


@pytest.mark.parametrize(("sizes", "seconds"), [([], []), ([1, 2], [1.0]), ([10], [0.0]), ([10], [np.nan])])
def test_fit_bad_input(sizes, seconds):
    with pytest.raises(InvalidArgumentError):
        fit_cubic_constant(sizes, seconds)


def test_calibration_recovers_c_from_synthetic_timings_and_picks_faster_backend():
    fake = FakeMeasure(noise={(1000, "torch"): 3.0})  # torch slow at 1000: scipy wins there
    cal = calibrate_classical((500, 1000, 2000), "float64", 2, measure=fake)
    assert cal.backends == ("torch", "scipy", "torch")
    expect = [2e-11 * 500**3, 3e-11 * 1000**3, 2e-11 * 2000**3]
    np.testing.assert_allclose(cal.seconds, expect)
    c_ref, _ = fit_cubic_constant((500, 1000, 2000), expect)
    assert cal.c == pytest.approx(c_ref)
    assert len(fake.calls) == 6 and all(call[3] == 2 for call in fake.calls)
    exact = calibrate_classical((500, 1000), measure=FakeMeasure(c_scipy=4e-12, c_torch=5e-12))
    assert exact.c == pytest.approx(4e-12, rel=1e-14) and exact.rel_rms == 0.0


def test_measure_stops_at_the_time_budget():
    ticks = iter([0.0, 3.0, 4.0, 4.1])  # the first run takes 3 s > budget: no second run
    assert measure_cholesky_solve(20, "scipy", repeats=5, timer=lambda: next(ticks)) == pytest.approx(3.0)


def test_measure_uses_the_timer_and_keeps_the_minimum():
    ticks = iter([0.0, 0.5, 1.0, 1.2, 2.0, 2.9])  # three runs: 0.5, 0.2, 0.9 s
    t = measure_cholesky_solve(20, "scipy", repeats=3, timer=lambda: next(ticks))
    assert t == pytest.approx(0.2)
    ticks = iter([0.0, 0.25, 1.0, 1.5])
    assert measure_cholesky_solve(20, "torch", "float32", repeats=2, timer=lambda: next(ticks)) == pytest.approx(0.25)
    with pytest.raises(InvalidArgumentError, match="`backend`"):
        measure_cholesky_solve(20, "lu")


def test_model_calibrates_once_then_reads_the_cache(monkeypatch, tmp_cache):
    fake = FakeMeasure()
    monkeypatch.setattr(classical, "measure_cholesky_solve", fake)
    m = ClassicalCostModel(sizes=(100, 200))
    assert m.constant == pytest.approx(2e-11)
    assert len(fake.calls) == 4
    path = tmp_cache / "classical_cost.json"
    assert path.is_file() and cache_dir() == tmp_cache
    data = json.loads(path.read_text())
    key = classical.calibration_key("float64")
    assert data["entries"][key]["c"] == pytest.approx(2e-11)
    # a new model (a new process would behave the same) reads the cache: no new measurement
    m2 = ClassicalCostModel(sizes=(100, 200))
    est = m2.estimate(1000)
    assert len(fake.calls) == 4
    assert est.seconds == pytest.approx(2e-11 * 1000**3)
    assert est.basis == "calibrated-prediction" and not est.modeled
    assert est.details["extrapolated"] is True and est.details["calibration_key"] == key
    assert "calibrated" in m2.label


def test_cache_round_trip(tmp_path):
    cal = calibrate_classical((64, 128), measure=FakeMeasure())
    path = save_calibration(cal, tmp_path)
    assert path == tmp_path / "classical_cost.json"
    back = load_calibration(cal.key, tmp_path)
    assert back == cal
    assert load_calibration("another machine", tmp_path) is None
    other = Calibration.from_dict({**cal.to_dict(), "key": "another machine", "c": 9e-12})
    save_calibration(other, tmp_path)  # keeps the first entry
    assert load_calibration(cal.key, tmp_path) == cal
    assert load_calibration("another machine", tmp_path).c == 9e-12


@pytest.mark.parametrize("content", ["{not json", '{"format": 99, "entries": {}}', "[]", '{"format": 1}'])
def test_corrupt_cache_is_ignored_and_replaced(monkeypatch, tmp_cache, content):
    tmp_cache.mkdir(parents=True)
    (tmp_cache / "classical_cost.json").write_text(content)
    assert load_calibration(classical.calibration_key("float64")) is None
    fake = FakeMeasure()
    monkeypatch.setattr(classical, "measure_cholesky_solve", fake)
    assert ClassicalCostModel(sizes=(100, 200)).constant == pytest.approx(2e-11)
    assert load_calibration(classical.calibration_key("float64")).c == pytest.approx(2e-11)


def test_bad_entry_is_ignored(tmp_cache):
    tmp_cache.mkdir(parents=True)
    key = classical.calibration_key("float64")
    (tmp_cache / "classical_cost.json").write_text(json.dumps({"format": 1, "entries": {key: {"c": -1}}}))
    assert load_calibration(key) is None


def test_recalibrate_and_calibrate_measure_again(monkeypatch):
    fake = FakeMeasure()
    monkeypatch.setattr(classical, "measure_cholesky_solve", fake)
    _ = ClassicalCostModel(sizes=(100, 200)).constant
    assert len(fake.calls) == 4
    fake.c = {"scipy": 8e-11, "torch": 6e-11}  # the machine got slower
    assert ClassicalCostModel(sizes=(100, 200)).constant == pytest.approx(2e-11)  # cached
    assert ClassicalCostModel(sizes=(100, 200), recalibrate=True).constant == pytest.approx(6e-11)
    fake.c = {"scipy": 1e-11, "torch": 5e-12}
    m = ClassicalCostModel(sizes=(100, 200))
    assert m.constant == pytest.approx(6e-11)  # the recalibration was cached
    assert m.calibrate().c == pytest.approx(5e-12)
    assert m.constant == pytest.approx(5e-12)
    assert len(fake.calls) == 12


def test_other_sizes_or_dtype_recalibrate(monkeypatch):
    fake = FakeMeasure()
    monkeypatch.setattr(classical, "measure_cholesky_solve", fake)
    _ = ClassicalCostModel(sizes=(100, 200)).constant
    _ = ClassicalCostModel(sizes=(100, 300)).constant
    _ = ClassicalCostModel(sizes=(100, 300), dtype="float32").constant
    assert len(fake.calls) == 12
    assert all(call[2] == "float32" for call in fake.calls[-4:])


def test_cache_disabled_writes_nothing(monkeypatch, tmp_cache):
    monkeypatch.setattr(classical, "measure_cholesky_solve", FakeMeasure())
    _ = ClassicalCostModel(sizes=(100, 200), cache=False).constant
    assert not (tmp_cache / "classical_cost.json").exists()


def test_fixed_constant_never_measures(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("must not measure")

    monkeypatch.setattr(classical, "measure_cholesky_solve", boom)
    m = ClassicalCostModel(c=3e-11)
    est = m.estimate(12544, kappa=1e4, d=1000)
    assert est.seconds == pytest.approx(3e-11 * 12544**3)
    assert est.basis == "assumed-prediction" and est.details["c_source"] == "given by the caller"
    assert m.calibration is None
    with pytest.raises(InvalidArgumentError, match="fixed `c`"):
        m.calibrate()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"c": 0.0}, "`c`"), ({"c": -1e-11}, "`c`"), ({"c": float("nan")}, "`c`"),
     ({"dtype": "float16"}, "`dtype`"), ({"sizes": ()}, "`sizes`"), ({"sizes": (1,)}, "`sizes`"),
     ({"repeats": 0}, "`repeats`")],
)  # fmt: skip
def test_config_validation(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        ClassicalCostModel(**kwargs)


def test_xdg_cache_home_respected_else_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a" / "qnewton"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says: ignore relative paths
    assert cache_dir() == Path.home() / ".cache" / "qnewton"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "qnewton"


def test_key_names_machine_versions_dtype_threads():
    key = classical.calibration_key("float32")
    for part in ("cpu=", "arch=", "torch=", "scipy=", "dtype=float32", "threads="):
        assert part in key


def test_tiny_real_calibration(tmp_cache):
    # really times LAPACK (tiny sizes, ~0.1 s); checks plumbing, not the machine's speed
    m = ClassicalCostModel(sizes=(40, 80), repeats=1)
    cal = m.calibration
    assert cal is not None and cal.c > 0 and set(cal.backends) <= {"scipy", "torch"}
    assert all(t > 0 for t in cal.seconds) and set(cal.timings) == {"scipy", "torch"}
    assert load_calibration(cal.key) == cal
