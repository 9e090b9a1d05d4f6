"""The device-native path: every route and solver keeps a block on its device.

Parametrized over the devices this machine has; the CUDA cases skip with a visible reason on a
CPU-only machine. On the CPU the torch path is forced (``qnewton._device.force_torch_path``), so the
device code is exercised here too, against the numpy/scipy path as the reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from qnewton._device import clock, device_label, force_torch_path, resolve_device
from qnewton.cost import QuantumCostModel
from qnewton.errors import InvalidArgumentError
from qnewton.linalg import lanczos_extremes
from qnewton.optim import QNewton
from qnewton.solvers import CholeskySolver, EmulatedQLSASolver

CUDA = torch.cuda.is_available()
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine (CPU-only run)")),
]


def spd(n: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * np.linspace(low, high, n)) @ q.T
    return (a + a.T) / 2


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("low", [0.5, -2.0], ids=["spd", "indefinite"])
def test_cholesky_solver_on_the_device_matches_lapack(device, low):
    h, g = spd(60, low, 4.0), np.random.default_rng(1).standard_normal(60)
    ref = np.linalg.solve(h + 0.1 * np.eye(60), g)
    with force_torch_path(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, rep = CholeskySolver().solve(torch.tensor(h, device=device), torch.tensor(g, device=device), shift=0.1)
    assert x.device.type == torch.device(device).type and "torch" in rep.details["backend"]
    np.testing.assert_allclose(x.cpu().numpy(), ref, rtol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_emulated_qlsa_on_the_device_matches_lapack(device, layout):
    h, g = spd(50, 0.5, 3.0, seed=2), np.random.default_rng(3).standard_normal(50)
    cost = QuantumCostModel().estimate(50, kappa=6.0, d=50)
    ht = torch.tensor(h, device=device)
    if layout == "csr":
        ht = ht.to_sparse_csr()
    with force_torch_path(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse CSR is a beta feature of torch
        x, rep = EmulatedQLSASolver("ideal").solve(ht, torch.tensor(g, device=device), cost=cost)
    assert rep.modeled_seconds == pytest.approx(float(cost.seconds)) and "device" in rep.details["measured_is"]
    np.testing.assert_allclose(x.cpu().numpy(), np.linalg.solve(h, g), rtol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
def test_lanczos_runs_on_the_device(device):
    h = spd(200, 0.1, 5.0, seed=4)
    ref = lanczos_extremes(h)
    with force_torch_path():
        got = lanczos_extremes(torch.tensor(h, device=device))
    assert got.lambda_min == pytest.approx(ref.lambda_min, rel=1e-6) and got.lambda_max == pytest.approx(ref.lambda_max)


@pytest.mark.parametrize("device", DEVICES)
def test_a_newton_step_on_the_device_equals_the_cpu_step(device):
    """Same step, same input: the default classical routes on the device against the CPU."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(20, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    x, y = torch.randn(40, 20, dtype=torch.float64), torch.randint(0, 3, (40,))
    out = {}
    for dev in ("cpu", device):
        model = nn.Sequential(nn.Linear(20, 12), nn.Tanh(), nn.Linear(12, 3)).double().to(dev)
        model.load_state_dict(base.state_dict())
        opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), eps=0.1, policy="classical")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step(batch=(x.to(dev), y.to(dev)))
        out[dev] = [p.detach().cpu() for p in model.parameters()]
        assert all(p.device.type == torch.device(dev).type for p in model.parameters())
    for a, b in zip(out["cpu"], out[device]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_resolve_device_and_labels():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    assert device_label("cpu") == "cpu" and clock("cpu") > 0
    with pytest.raises(InvalidArgumentError, match="device"):
        resolve_device("tpu")
    if not CUDA:
        with pytest.raises(InvalidArgumentError, match="no CUDA device"):
            resolve_device("cuda:0")


def test_calibration_keys_are_per_device():
    from qnewton.cost.classical import calibration_key

    cpu = calibration_key("float32", "cholesky", "cpu")
    assert "device=" not in cpu and calibration_key("float32", "gemm", "cpu").endswith("kernel=gemm")
    if CUDA:
        assert "device=cuda:" in calibration_key("float32", "cholesky", "cuda")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("d", [None, 5], ids=["unpruned", "pruned"])
def test_the_quantum_route_runs_on_the_device_and_equals_its_host_run(device, d):
    """Pruning (torch, same greedy), the definiteness shift, kappa, pricing and the emulated solve of
    a device-resident block against the same route on the host (numba, scipy)."""
    from qnewton.curvature.lazy import DenseBlock
    from qnewton.routes import BlockSystem, QLSARoute, QuantumRouteConfig, SparsitySpec

    rng = np.random.default_rng(5)
    b = rng.standard_normal((40, 8))
    h, g = b @ b.T / 8, rng.standard_normal(40)  # positive semidefinite, low rank
    route = QLSARoute(QuantumRouteConfig(sparsity=SparsitySpec(d=d) if d else SparsitySpec()))
    out = {}
    for where in ("host", device):
        blk = DenseBlock(torch.tensor(h, device=device if where != "host" else "cpu"), psd=True)
        system = BlockSystem(0, 0, "w", blk, torch.tensor(g, device=blk.device), 0.05)
        with force_torch_path(where != "host"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = route.quote(system)
            x = route.solve(system, q).x
        out[where] = (torch.as_tensor(x).cpu().numpy(), q.record)
    (xh, rh), (xd, rd) = out["host"], out[device]
    assert rh["d"] == rd["d"] and rh["pd_shift"] == pytest.approx(rd["pd_shift"], rel=1e-6, abs=1e-9)
    assert rh["kappa"] == pytest.approx(rd["kappa"], rel=1e-4)
    np.testing.assert_allclose(xd, xh, rtol=1e-6, atol=1e-9)
