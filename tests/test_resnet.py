"""The Carleman paper's numerics at model scale (issue 16): the ResNet family, the .npz loader, SLQ
of a ResNet Hessian against its dense spectrum, the linearization proxy against the exact order-1
Carleman error of a polynomial model, the windowed scheme against plain SGD, resume after an
interruption, the cost at scale, and the typed errors for bad input."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from qnewton.carleman import carleman_map, gradient_descent
from qnewton.carleman.proxy import (
    LinearizationProxy,
    carleman_gradient_of,
    proxy_window,
    require_polynomial_gradient,
)
from qnewton.carleman.scale import (
    ImageTask,
    batch_indices,
    get_flat,
    hessian_column_nnz,
    hvp_config,
    masked_sgd_step,
    prune_model,
    split_mask,
)
from qnewton.carleman.scale_cost import price_window, resolve_cost_model
from qnewton.carleman.sparse import ArmSpec, ScaleTrainConfig, _new_arm_state, run_arm, run_scale_train
from qnewton.cli import main
from qnewton.cost import CostModel, QuantumCostModel
from qnewton.data import load_image_dataset
from qnewton.errors import DataFormatError, InvalidArgumentError, NotPolynomialError
from qnewton.models import ResNetConfig, curvature_mode, resnet, resnet_config
from qnewton.spectrum import dense_hessian, hessian_slq, slq
from qnewton.spectrum.hessian import hessian_operator
from qnewton.spectrum.scale import ScaleSpectrumConfig, SlqCostConfig, run_scale_spectrum, run_slq_cost

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_task(n: int = 64, side: int = 8, classes: int = 3, channels: int = 1, seed: int = 0) -> ImageTask:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, side, side, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return ImageTask(
        name="synthetic",
        source="torch.randn",
        x_train=x,
        y_train=y,
        x_test=x[: n // 2].clone(),
        y_test=y[: n // 2].clone(),
        eval_train=torch.arange(n // 2),
        eval_test=torch.arange(n // 4),
        num_classes=classes,
        channels=channels,
        image_size=side,
    )


# --- the model -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"depth": 8, "width": 3},
        {"depth": 14, "width": 2, "in_channels": 3, "num_classes": 100},
        {"depth": 8, "width": 4, "norm": "batch"},
        {"depth": 20, "width": 2, "residual_scale": 0.5},
    ],
)
def test_parameter_count_formula_matches_the_built_model(kw: dict) -> None:
    cfg = ResNetConfig(**kw)
    model = resnet(cfg)
    assert cfg.num_parameters() == sum(p.numel() for p in model.parameters())
    side = 32 if cfg.in_channels == 3 else 28
    assert model(torch.zeros(2, cfg.in_channels, side, side)).shape == (2, cfg.num_classes)


def test_resnet_is_seeded_and_norm_free_by_default() -> None:
    a, b = resnet(ResNetConfig(depth=8, width=2), seed=3), resnet(ResNetConfig(depth=8, width=2), seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in a.modules())
    gains = [p for n, p in a.named_parameters() if n.endswith("gain")]
    assert len(gains) == 3 and all(float(g) == pytest.approx(1 / math.sqrt(3)) for g in gains)


def test_bad_architecture_options_name_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="`depth` must be 6 m \\+ 2"):
        ResNetConfig(depth=10)
    with pytest.raises(InvalidArgumentError, match="`norm`"):
        ResNetConfig(norm="layer")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="resnet<depth>"):
        resnet_config("vgg11")


def test_curvature_mode_freezes_batchnorm_statistics() -> None:
    net = resnet(ResNetConfig(depth=8, width=2, norm="batch")).train()
    x = torch.randn(8, 1, 8, 8)
    before = [b.clone() for b in net.buffers()]
    with curvature_mode(net):
        net(x)
    assert all(torch.equal(a, b) for a, b in zip(before, net.buffers()))
    assert net.training


# --- data ------------------------------------------------------------------------------------


def test_npz_loader_channels_last_and_own_split(tmp_path) -> None:
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", x_train=xtr, y_train=np.arange(30) % 5, x_test=xtr[:10], y_test=np.arange(10) % 5)
    ds = load_image_dataset("npz", tmp_path, flatten=False)
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.channels == 3 and ds.num_classes == 5
    np.testing.assert_allclose(ds.x_train[4, 2], xtr[4, :, :, 2] / 255.0, rtol=1e-6)
    assert load_image_dataset("npz", tmp_path / "c.npz").x_train.shape == (30, 3072)


def test_npz_loader_single_set_is_split_and_bad_files_are_typed_errors(tmp_path) -> None:
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "a.npz", images=rng.random((40, 6, 6)), labels=np.arange(40) % 4)
    ds = load_image_dataset("npz", tmp_path / "a.npz", test_fraction=0.25)
    assert len(ds.y_train) == 30 and len(ds.y_test) == 10 and ds.channels == 1
    np.savez(tmp_path / "b.npz", foo=np.zeros(3))
    with pytest.raises(DataFormatError, match="x_train"):
        load_image_dataset("npz", tmp_path / "b.npz")
    with pytest.raises(InvalidArgumentError, match=r"2 \.npz files"):
        load_image_dataset("npz", tmp_path)


# --- SLQ of a ResNet against its exact spectrum -----------------------------------------------


def _tiny_resnet64(norm: str = "none") -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    model = resnet(ResNetConfig(depth=8, width=1, num_classes=3, norm=norm), seed=1, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(2)
    batch = (torch.randn(12, 1, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (12,), generator=g))
    return model, batch


@pytest.fixture(scope="module")
def dense_ref() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], np.ndarray]:
    """The tiny ResNet, its batch and its dense float64 Hessian (formed once: a few seconds)."""
    model, batch = _tiny_resnet64()
    return model, batch, _dense(model, batch)


def _dense(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
    # dense_hessian's symmetry scan runs numba's parallel (OpenMP) kernel, which resets torch's thread
    # count to the core count; on the shared 2-core machine two threads make later HVPs ~50x slower
    H = dense_hessian(model, batch)
    torch.set_num_threads(1)
    return H


def test_slq_of_a_resnet_matches_its_dense_hessian(dense_ref) -> None:
    """HVP-based SLQ of the full ResNet Hessian = SLQ of the dense Hessian with the same probes (the same
    Krylov spaces, so the same Gauss nodes to rounding); its top Ritz value converges to lambda_max."""
    model, batch, H = dense_ref
    lam = np.linalg.eigvalsh(H)
    assert lam.size == sum(p.numel() for p in model.parameters())
    res = hessian_slq(model, batch, num_probes=2, steps=20, seed=0, config=hvp_config())
    ref = slq(H, num_probes=2, steps=20, seed=0)
    np.testing.assert_allclose(res.nodes, ref.nodes, rtol=1e-7, atol=1e-10 * abs(lam).max())
    np.testing.assert_allclose(res.weights, ref.weights, rtol=1e-6, atol=1e-10)
    assert res.lambda_max == pytest.approx(lam[-1], rel=1e-6)
    assert lam[0] - 1e-9 <= res.lambda_min and res.lambda_max <= lam[-1] + 1e-9  # Ritz values lie inside
    assert lam[0] < 0  # a real network Hessian: indefinite, so the check covers both signs


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["none", "batch"])
def test_full_lanczos_on_a_resnet_recovers_every_eigenvalue(norm: str) -> None:
    model, batch = _tiny_resnet64(norm)
    lam = np.linalg.eigvalsh(_dense(model, batch))
    full = hessian_slq(
        model, batch, num_probes=1, steps=lam.size, seed=0, config=hvp_config()
    )  # k = n: Ritz values = eigenvalues
    kept = full.weights[0] > 1e-12
    nodes = np.sort(full.nodes[0][kept])
    assert nodes[0] == pytest.approx(lam[0], abs=1e-7 * abs(lam).max())
    assert nodes[-1] == pytest.approx(lam[-1], rel=1e-8)
    # every Ritz value is an eigenvalue
    assert np.abs(nodes[:, None] - lam[None, :]).min(axis=1).max() < 1e-6 * abs(lam).max()


def test_pruned_resnet_spectrum_is_the_restricted_dense_block() -> None:
    model, batch = _tiny_resnet64()
    mask = prune_model(model, 0.3).numpy()
    H = hessian_operator(model, batch, config=hvp_config()).to_dense().numpy()
    idx = np.flatnonzero(mask)
    block = H[np.ix_(idx, idx)]
    res = hessian_slq(model, batch, mask=mask, num_probes=1, steps=15, seed=3, config=hvp_config())
    ref = slq(block, num_probes=1, steps=15, seed=3)
    assert res.n == idx.size < H.shape[0]
    np.testing.assert_allclose(res.nodes, ref.nodes, rtol=1e-7, atol=1e-10 * abs(block).max())
    assert res.lambda_max == pytest.approx(np.linalg.eigvalsh(block)[-1], rel=1e-6)


def test_hessian_column_nnz_counts_the_dense_columns(dense_ref) -> None:
    model, batch, H = dense_ref
    got = hessian_column_nnz(model, batch, columns=3, seed=5)
    cols = np.random.default_rng(5).choice(H.shape[0], size=3, replace=False)
    assert got["nnz_exact"] == pytest.approx(np.mean([np.count_nonzero(H[:, i]) for i in cols]))


# --- the proxy ---------------------------------------------------------------------------------


def _linear_net() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 1)).double()
    g = torch.Generator().manual_seed(1)
    batch = (torch.randn(20, 4, generator=g, dtype=torch.float64), torch.randn(20, 1, generator=g, dtype=torch.float64))
    return model, batch


def test_proxy_is_the_exact_order1_carleman_error_of_a_polynomial_model() -> None:
    model, batch = _linear_net()
    poly = carleman_gradient_of(model, batch, nn.MSELoss())
    theta0, eta, T = poly.center.copy(), 0.1, 15
    exact_err = np.linalg.norm(
        carleman_map(poly, eta, 1).iterate(theta0, T) - gradient_descent(poly, theta0, eta, T), axis=1
    )
    trace = proxy_window(model, [batch] * T, eta, criterion=nn.MSELoss())
    np.testing.assert_allclose(trace.abs_error, exact_err[1:], rtol=1e-10, atol=1e-14)
    assert trace.abs_error[-1] > 1e-3  # the model is nonlinear: a real error, not a trivial zero


def test_masked_proxy_follows_the_projected_linear_recursion() -> None:
    model, batch = _linear_net()
    poly = carleman_gradient_of(model, batch, nn.MSELoss())
    mask = np.array([True, False] * 6 + [True, True, True, True])[: poly.n]
    eta, T = 0.1, 8
    F0, F1 = poly.term(0).toarray().reshape(-1), poly.term(1).toarray()
    delta = np.zeros(poly.n)
    proxy = LinearizationProxy(model, eta, mask=mask, criterion=nn.MSELoss())
    for _ in range(T):
        proxy.advance(batch)
        delta = delta - eta * mask * (F0 + F1 @ delta)
    np.testing.assert_allclose(proxy.delta.numpy(), delta, rtol=1e-10, atol=1e-14)


def test_actual_carleman_solve_of_a_resnet_is_a_typed_error_pointing_to_the_proxy() -> None:
    with pytest.raises(NotPolynomialError, match="Only the error proxy is available"):
        require_polynomial_gradient(resnet(ResNetConfig(depth=8, width=1)), nn.CrossEntropyLoss())
    with pytest.raises(NotPolynomialError, match="not the squared loss"):
        require_polynomial_gradient(nn.Linear(3, 2), nn.CrossEntropyLoss())
    with pytest.raises(NotPolynomialError, match="--solver direct"):
        ScaleTrainConfig(solver="direct")
    require_polynomial_gradient(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)), nn.MSELoss())


# --- the windowed scheme ---------------------------------------------------------------------


def _arm_cfg(**kw) -> ScaleTrainConfig:
    base = dict(width=1, steps=8, window=4, window_sweep=(), delta_sweep=(), qram=False, batch_size=8,
                eval_every=2, spectrum_every=0, proxy_every=1, pretrain_steps=0)  # fmt: skip
    return ScaleTrainConfig(**{**base, **kw})


def _run_arms(cfg: ScaleTrainConfig, arms: list[ArmSpec]) -> dict[str, dict]:
    task = tiny_task()
    model = resnet(resnet_config("resnet8", width=1, num_classes=3), seed=0)
    mask = prune_model(model, 0.5)
    start = {"model": {k: v.clone() for k, v in model.state_dict().items()}, "mask": mask,
             "metrics": {"train_loss": 0.0, "train_accuracy": 0.0, "test_loss": 0.0, "test_accuracy": 0.0}}  # fmt: skip
    out = {}
    for i, arm in enumerate(arms):
        st = _new_arm_state(start, i, cfg.seed)
        run_arm(model, task, arm, st, cfg)
        out[arm.name] = st
    return out


def test_windowed_scheme_with_zero_noise_is_plain_sgd_exactly() -> None:
    cfg = _arm_cfg()
    res = _run_arms(cfg, [ArmSpec("plain", 4, 0.0, plain=True), ArmSpec("exact", 4, 0.0), ArmSpec("noisy", 4, 0.3)])
    plain, exact, noisy = (res[k] for k in ("plain", "exact", "noisy"))
    for k, v in plain["model"].items():
        assert torch.equal(v, exact["model"][k]), k
    assert any(not torch.equal(v, noisy["model"][k]) for k, v in plain["model"].items())
    assert all(w["readout"]["exact"] for w in exact["windows"])
    assert noisy["windows"][0]["readout"]["relative_error"] > 0
    # the proxy ran in the scheme's windows, one entry per step
    assert [len(w["proxy"]["abs_error"]) for w in exact["windows"]] == [4, 4]


def test_pruned_weights_stay_zero_and_qram_dense_steps_repruned() -> None:
    cfg = _arm_cfg(qram=True, dense_steps=2, steps=12)
    res = _run_arms(cfg, [ArmSpec("qram", 4, 0.1, dense_steps=2)])
    st = res["qram"]
    model = resnet(resnet_config("resnet8", width=1, num_classes=3), seed=0)
    model.load_state_dict(st["model"])
    flat = get_flat(model)
    assert torch.all(flat[~st["mask"]] == 0)
    # window of 4 steps + 2 dense steps, twice: 12 steps
    assert st["step"] == 12 and [w["start_step"] for w in st["windows"]] == [0, 6]
    assert all("mask_changed" in w for w in st["windows"])
    phases = [r["phase"] for r in st["curve"]]
    assert phases.count("after dense steps + re-prune") == 2


def test_batches_depend_on_seed_and_step_only_and_masked_sgd_respects_the_mask() -> None:
    assert torch.equal(batch_indices(50, 4, 1, 7), batch_indices(50, 4, 1, 7))
    model = resnet(resnet_config("resnet8", width=1, num_classes=3), seed=0)
    mask = prune_model(model, 0.2)
    task = tiny_task()
    masked_sgd_step(model, task.batch(8, 0, 0), 0.5, split_mask(model, mask))
    assert torch.all(get_flat(model)[~mask] == 0)


def _tiny_study(**kw) -> ScaleTrainConfig:
    base = dict(dataset="digits-784", width=1, n_train=120, n_test=40, eval_train=40, eval_test=40, batch_size=8,
                pretrain_steps=2, steps=6, window=3, window_sweep=(), delta_sweep=(0.3,), qram=False,
                spectrum_every=3, slq_probes=1, slq_steps=4, hessian_samples=8, eval_every=2)  # fmt: skip
    return ScaleTrainConfig(**{**base, **kw})


@pytest.fixture
def saved_checkpoints(monkeypatch) -> list:
    """Every state a study hands to RunDir.save_checkpoint (before any conversion)."""
    from qnewton.experiments._run import RunDir

    states: list = []
    save = RunDir.save_checkpoint
    monkeypatch.setattr(RunDir, "save_checkpoint", lambda self, state: (states.append(state), save(self, state)))
    return states


def _numpy_in(obj, path="checkpoint") -> list[str]:
    """Where ``obj`` holds numpy objects (a weights_only=True load turns them into other types)."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _numpy_in(v, f"{path}.{k}")]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _numpy_in(v, f"{path}[{i}]")]
    return [path] if isinstance(obj, (np.generic, np.ndarray)) else []


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def test_scale_train_resumes_to_the_same_result(tmp_path, saved_checkpoints) -> None:
    cfg = _tiny_study()
    whole = run_scale_train(cfg, tmp_path / "whole", progress=False, figures=False)
    part = run_scale_train(cfg, tmp_path / "part", progress=False, max_windows=3, figures=False)
    assert (part / "checkpoint.pt").exists() and not (part / "results.json").exists()
    assert json.loads((part / "manifest.json").read_text())["status"] == "stopped"
    run_scale_train(cfg, tmp_path / "part", progress=False, figures=False)
    a = json.loads((whole / "results.json").read_text())
    b = json.loads((part / "results.json").read_text())
    assert _strip_times(a["windows"]) == _strip_times(b["windows"])
    assert _strip_times(a["curves"]) == _strip_times(b["curves"])
    assert len(a["arms"]) == 3 and a["arms"][0]["plain"]
    assert json.loads((part / "manifest.json").read_text())["resumed"] >= 1
    assert saved_checkpoints and not [p for st in saved_checkpoints for p in _numpy_in(st)]  # tensors, plain data


def test_scale_spectrum_resumes_to_the_same_result(tmp_path, saved_checkpoints) -> None:
    cfg = dataclasses.replace(
        ScaleSpectrumConfig.quick(), dataset="digits-784", width=1, checkpoints=(0, 2), num_probes=1,
        lanczos_steps=4, hessian_samples=8, proxy_horizon=3,
    )  # fmt: skip
    whole = run_scale_spectrum(cfg, tmp_path / "whole", progress=False, figures=False)
    part = run_scale_spectrum(cfg, tmp_path / "part", progress=False, max_checkpoints=1, figures=False)
    assert (part / "checkpoint.pt").exists()
    assert json.loads((part / "manifest.json").read_text())["status"] == "stopped"
    run_scale_spectrum(cfg, tmp_path / "part", progress=False, figures=False)
    assert saved_checkpoints and not [p for st in saved_checkpoints for p in _numpy_in(st)]  # tensors, plain data
    a = json.loads((whole / "results.json").read_text())
    b = json.loads((part / "results.json").read_text())
    assert _strip_times(a["rows"]) == _strip_times(b["rows"])
    assert {r["model"] for r in a["rows"]} == {"full", "pruned"}
    assert all(r["proxy_final_abs_error"] >= 0 for r in a["rows"])


# --- cost -------------------------------------------------------------------------------------


class _FixedModel:
    """A minimal CostModel: 1 s per solve whatever the size."""

    route = "quantum"
    name = "quantum/fixed"

    def estimate(self, n, kappa=None, d=None, *, alpha=None):
        from qnewton.cost import CostEstimate

        return CostEstimate(route="quantum", model=self.name, basis="modeled", seconds=1.0, n=n, queries=1.0)


def test_price_window_accepts_any_cost_model_and_follows_the_verdict() -> None:
    qm = QuantumCostModel(eps=1e-3, gate_time="ghz")
    full = price_window(500, 100, verdict="fully dissipative", growth_per_step=0.99, row_sparsity=500, cost_model=qm)
    almost = price_window(500, 100, verdict="almost dissipative", growth_per_step=1.0, row_sparsity=500, cost_model=qm)
    assert full["kappa"] == 2 * 201 and almost["kappa"] == 201 * 202
    assert almost["modeled_seconds_solve"] > full["modeled_seconds_solve"]
    assert full["unknowns"] == 201 * (500 + 500**2)
    not_ = price_window(500, 100, verdict="not dissipative", growth_per_step=1.01, row_sparsity=500, cost_model=qm)
    assert not_["kappa"] == pytest.approx(2 * (1.01**201 - 1) / 0.01)
    fixed = price_window(
        500, 100, verdict="fully dissipative", growth_per_step=0.9, row_sparsity=5, cost_model=_FixedModel()
    )
    assert fixed["modeled_seconds_solve"] == 1.0 and fixed["cost_model"] == "quantum/fixed"
    assert isinstance(resolve_cost_model("qnewton.cost:QuantumCostModel"), CostModel)
    with pytest.raises(InvalidArgumentError, match="cannot be imported"):
        resolve_cost_model("no_such_module:X")


class _RefusingModel(_FixedModel):
    """Refuses above a kappa, as the resource estimator refuses code distances above 50."""

    name = "quantum/refusing"

    def estimate(self, n, kappa=None, d=None, *, alpha=None):
        from qnewton.errors import EstimatorError

        if kappa > 1e6:
            raise EstimatorError("rejected: ... cannot be computed: The computed code distance 55 is too high; try ...")
        return super().estimate(n, kappa, d, alpha=alpha)


def test_price_window_prices_the_dissipative_bound_and_records_refusals() -> None:
    qm = QuantumCostModel(eps=1e-3, gate_time="ghz")
    full = price_window(500, 100, verdict="fully dissipative", growth_per_step=0.99, row_sparsity=500, cost_model=qm)
    not_ = price_window(500, 100, verdict="not dissipative", growth_per_step=1.3, row_sparsity=500, cost_model=qm)
    # the bound is the same window at the fully dissipative kappa 2 (2T+1), whatever was measured
    assert not_["kappa_if_dissipative"] == full["kappa"] == 2 * 201
    assert not_["modeled_seconds_solve_if_dissipative"] == pytest.approx(full["modeled_seconds_solve"])
    assert not_["modeled_seconds_solve"] > 1e10 * not_["modeled_seconds_solve_if_dissipative"]
    # a growth that overflows kappa: no finite cost, the bound still priced
    inf = price_window(500, 100, verdict="not dissipative", growth_per_step=100.0, row_sparsity=500, cost_model=qm)
    assert math.isinf(inf["modeled_seconds_solve"]) and math.isfinite(inf["modeled_seconds_solve_if_dissipative"])
    # a model that refuses: the row keeps the reason, the bound is priced, nothing raises
    r = price_window(500, 100, verdict="not dissipative", growth_per_step=1.3, row_sparsity=500,
                     cost_model=_RefusingModel())  # fmt: skip
    assert r["modeled_seconds_solve"] is None and r["note"] == "The computed code distance 55 is too high"
    assert r["modeled_seconds_solve_if_dissipative"] == 1.0 and "note_if_dissipative" not in r


def test_scale_cost_config_takes_the_fault_tolerant_model_as_the_other_commands_do() -> None:
    from qnewton.carleman.scale_cost import ScaleCostConfig
    from qnewton.cost import FaultTolerantCostModel

    cfg = ScaleCostConfig(quantum_model="fault-tolerant", hardware="paper", data_loading="qrom", qlsa_eps=1e-4)
    m = cfg.cost_model()
    assert isinstance(m, FaultTolerantCostModel)
    assert (m.hardware.name, m.data_loading, m.eps, m.readout) == ("paper", "qrom", 1e-4, "none")
    with pytest.raises(InvalidArgumentError, match="hardware"):
        ScaleCostConfig(quantum_model="fault-tolerant", hardware="no_such_chip")
    with pytest.raises(InvalidArgumentError, match="fault-tolerant"):
        ScaleCostConfig(quantum_model="magic")


def test_price_window_with_the_resource_estimator_reports_physical_resources() -> None:
    from qnewton.cost import FaultTolerantCostModel, fault_tolerant

    if not fault_tolerant.estimator_available():
        pytest.skip("qdk (qnewton[ft]) not installed")
    ft = FaultTolerantCostModel(eps=1e-3, hardware="qubit_gate_ns_e4")
    r = price_window(200, 10, verdict="fully dissipative", growth_per_step=0.9, row_sparsity=50, cost_model=ft)
    direct = ft.estimate(int(r["embedding_n"]), kappa=r["kappa"], d=r["d"])
    assert r["modeled_seconds_solve"] == pytest.approx(float(direct.seconds))
    assert r["physical_qubits"] == direct.details["physical_qubits"] > r["logical_qubits"] > 0
    assert r["code_distance"] == direct.details["code_distance"]


def test_slq_cost_scaling_quick(tmp_path) -> None:
    out = run_slq_cost(SlqCostConfig.quick(), tmp_path, progress=False)
    res = json.loads((out / "results.json").read_text())
    assert [r["width"] for r in res["rows"]] == [2, 4]
    assert res["rows"][1]["n"] > res["rows"][0]["n"]
    assert all(r["measured_seconds_per_hvp"] > 0 for r in res["rows"])
    assert {e["label"] for e in res["extrapolation"]} and "largest_within_budget" in res


def test_hvp_of_a_bn_resnet_in_curvature_mode_is_the_eval_mode_hessian() -> None:
    model, batch = _tiny_resnet64("batch")
    model.train()
    with curvature_mode(model):
        op = hessian_operator(model, batch)
        v = np.random.default_rng(0).standard_normal(op.shape[0])
        hv = op.matvec(v)
        H = _dense(model, batch)
    np.testing.assert_allclose(hv, H @ v, rtol=1e-7, atol=1e-10)


# --- bad input through the CLI: tests/test_carleman_cli.py (one line on stderr naming the option, exit 2)


# --- the commands -------------------------------------------------------------------------------


def _files_ok(out) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for name in manifest["files"]:
        assert (out / name).exists(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# ")
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_train_and_cost_commands_at_tiny_scale(tmp_path, capsys) -> None:
    tiny = ["--dataset", "digits-784", "--width", "1", "--n-train", "120", "--batch-size", "8", "--pretrain-steps", "2",
            "--steps", "6", "--window", "3", "--window-sweep", "--delta-sweep", "--no-qram", "--spectrum-every", "3",
            "--eval-every", "3", "--no-progress"]  # fmt: skip
    assert main(["carleman-train", "--model", "resnet8", *tiny, "--out", str(tmp_path / "t"), "--stop-after", "1"]) == 3
    assert "rerun the same command" in capsys.readouterr().out
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["status"] == "stopped"
    assert main(["carleman-train", "--model", "resnet8", *tiny, "--out", str(tmp_path / "t")]) == 0
    res = _files_ok(tmp_path / "t")
    assert [a["arm"] for a in res["arms"]] == ["plain SGD", "T=3, delta=0.1"]
    assert {"carleman_train.png", "carleman_train_proxy.png", "carleman_train_spectrum.png"} <= set(
        json.loads((tmp_path / "t" / "manifest.json").read_text())["files"]
    )
    assert (
        main(["carleman-cost", "--from-run", str(tmp_path / "t"), "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    )
    cost = _files_ok(tmp_path / "c")
    assert {r["source"] for r in cost["rows"]} == {"plain SGD", "T=3, delta=0.1"}
    assert all(r["basis"] == "modeled" and r["measured_seconds_classical_T_steps"] > 0 for r in cost["rows"])
    assert all(r["kappa_if_dissipative"] == 2 * 7 for r in cost["rows"])
    from qnewton.cost import fault_tolerant

    if fault_tolerant.estimator_available():  # the same run on error-corrected hardware
        argv = ["carleman-cost", "--from-run", str(tmp_path / "t"), "--quantum-model", "fault-tolerant",
                "--hardware", "qubit_gate_us_e3", "--out", str(tmp_path / "f"), "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        ft = _files_ok(tmp_path / "f")
        assert "qubit_gate_us_e3" in ft["cost_model"]
        for r in ft["rows"]:  # priced (with physical resources) or refused with the estimator's reason
            assert (r.get("physical_qubits_if_dissipative") or 0) > 0 or r["note_if_dissipative"]
            assert (r.get("physical_qubits") or 0) > 0 or r.get("note") or math.isinf(r["kappa"])


@pytest.mark.slow
def test_quick_commands_at_scale(tmp_path, capsys) -> None:
    for argv, name in (
        (["spectrum", "--model", "resnet8", "--quick"], "s"),
        (["spectrum", "--model", "resnet8", "--quick", "--cost-scaling"], "c"),
        (["carleman-train", "--model", "resnet8", "--quick"], "t"),
    ):
        assert main([*argv, "--out", str(tmp_path / name), "--no-progress"]) == 0
        _files_ok(tmp_path / name)
    assert main(["carleman-cost", "--from-run", str(tmp_path / "t"), "--from-run", str(tmp_path / "s"),
                 "--quantum-model", "qnewton.cost:QuantumCostModel", "--out", str(tmp_path / "k")]) == 0  # fmt: skip
    _files_ok(tmp_path / "k")
    # the old meaning of --quantum-model (a query-model name) still works, with a warning
    assert main(["carleman-cost", "--from-run", str(tmp_path / "t"), "--quantum-model", "jennings-v1",
                 "--out", str(tmp_path / "q")]) == 0  # fmt: skip
    assert "use --query-model jennings-v1" in capsys.readouterr().err
    cfg = json.loads((tmp_path / "q" / "manifest.json").read_text())["config"]
    assert (cfg["quantum_model"], cfg["query_model"]) == ("paper", "jennings-v1")
