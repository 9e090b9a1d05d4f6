"""Lazy curvature blocks against dense float64 ground truth: the exact Hessian, the generalized
Gauss-Newton (built here from full Jacobians), the empirical Fisher; Kronecker factors against
explicit ones; the Hessian = GGN structure check; the memory guard; QNewton with routes."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev, vmap

from qnewton.curvature import CurvatureConfig, LossProblem, exact_hessian
from qnewton.curvature.lazy import DenseBlock, curvature_blocks
from qnewton.curvature.lowrank import ExplicitLowRank, KroneckerLowRank
from qnewton.errors import InvalidArgumentError, MemoryBudgetError
from qnewton.optim import QNewton
from qnewton.scheduler import SchedulerConfig


def mlp(act: type[nn.Module] = nn.ReLU, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(30, 20), act(), nn.Linear(20, 10), act(), nn.Linear(10, 4)).double()


def data(b: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, 30, generator=gen, dtype=torch.float64), torch.randint(0, 4, (b,), generator=gen)


def ggn_ground_truth(model: nn.Module, name: str, x: torch.Tensor, y: torch.Tensor, criterion) -> torch.Tensor:
    """(1/B) sum_s J_s^T (d^2 l_s / d f_s^2) J_s from the full Jacobian of the outputs (no structure)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    p0 = params[name]

    def f(w: torch.Tensor) -> torch.Tensor:
        p = dict(params)
        p[name] = w.reshape(p0.shape)
        return functional_call(model, p, (x,))

    J = jacrev(f)(p0.reshape(-1))  # B x C x n
    f0 = f(p0.reshape(-1))
    Hf = vmap(hessian(lambda fs, ys: criterion(fs[None], ys[None])))(f0, y)  # B x C x C
    return torch.einsum("sci,scd,sdj->ij", J, Hf, J) / x.shape[0]


@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss(), nn.MSELoss()], ids=["ce", "mse"])
@pytest.mark.parametrize("name", ["0.weight", "2.bias", "4.weight"])
def test_ggn_blocks_match_the_jacobian_ground_truth(criterion, name):
    model = mlp(nn.Tanh)
    x, y = data()
    if isinstance(criterion, nn.MSELoss):
        y = torch.randn(12, 4, dtype=torch.float64)
    ref = ggn_ground_truth(model, name, x, y, criterion)
    blk = curvature_blocks(LossProblem(model, criterion), (x, y), "ggn")[name]
    torch.testing.assert_close(blk.dense(), ref, rtol=1e-10, atol=1e-12)
    v = torch.randn(blk.n, 3, dtype=torch.float64)
    torch.testing.assert_close(blk.matmat(v), ref @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(blk.diagonal(), ref.diagonal(), rtol=1e-10, atol=1e-12)
    assert blk.psd and blk.factor() is not None and blk.stats["structure"].startswith("kronecker")


def test_ggn_without_a_factor_is_matrix_free_and_exact():
    """A block that is not a Linear layer (a LayerNorm weight) goes through jvp / hvp / vjp."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 4)).double()
    x, y = data()
    crit = nn.CrossEntropyLoss()
    ref = ggn_ground_truth(model, "1.weight", x, y, crit)
    blk = curvature_blocks(LossProblem(model, crit), (x, y), "ggn")["1.weight"]
    assert blk.factor() is None and "not a Linear" in blk.stats["structure"]
    torch.testing.assert_close(blk.dense(), ref, rtol=1e-10, atol=1e-12)


def test_ggn_needs_a_criterion_problem():
    model = mlp()
    x, y = data()
    problem = LossProblem(model, forward_loss=lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]))
    with pytest.raises(InvalidArgumentError, match="criterion"):
        curvature_blocks(problem, (x, y), "ggn")


@pytest.mark.parametrize("act,verified", [(nn.ReLU, {"0.weight", "2.weight", "4.weight"}), (nn.Tanh, {"4.weight"})])
def test_hessian_equals_its_ggn_only_where_outputs_are_linear_in_the_block(act, verified):
    model = mlp(act)
    x, y = data()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    ref = exact_hessian(problem, (x, y))
    lazy = curvature_blocks(problem, (x, y), "hessian")
    for name in ("0.weight", "2.weight", "4.weight"):
        blk = lazy[name]
        has = blk.factor() is not None
        assert has == (name in verified), (name, blk.stats["structure"])
        torch.testing.assert_close(blk.dense(), ref[name].matrix, rtol=1e-9, atol=1e-12)
        v = torch.randn(blk.n, 2, dtype=torch.float64)
        torch.testing.assert_close(blk.matmat(v), ref[name].matrix @ v, rtol=1e-9, atol=1e-12)


def test_empirical_fisher_blocks_match_per_sample_gradients():
    model = mlp(nn.Tanh)
    x, y = data(b=16)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    params = {k: v.detach() for k, v in model.named_parameters()}
    for name in ("0.weight", "2.weight", "4.bias"):
        rows = []
        for s in range(16):
            p = {k: v.clone().requires_grad_(k == name) for k, v in params.items()}
            loss = nn.functional.cross_entropy(functional_call(model, p, (x[s : s + 1],)), y[s : s + 1])
            rows.append(torch.autograd.grad(loss, p[name])[0].reshape(-1))
        G = torch.stack(rows)
        blk = curvature_blocks(problem, (x, y), "fisher")[name]
        torch.testing.assert_close(blk.dense(), G.T @ G / 16, rtol=1e-10, atol=1e-12)


def test_kronecker_factor_equals_its_explicit_form():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    G = torch.randn(6, 3, 4, generator=gen, dtype=torch.float64)
    for weight, bias in ((True, False), (False, True), (True, True)):
        k = KroneckerLowRank(A, G, weight=weight, bias=bias)
        cols = []
        if weight:
            cols.append(torch.einsum("sco,si->oisc", G, A).reshape(20, 18))
        if bias:
            cols.append(G.permute(2, 0, 1).reshape(4, 18))
        e = ExplicitLowRank(torch.cat(cols))
        v = torch.randn(k.n, 2, generator=gen, dtype=torch.float64)
        y = torch.randn(k.rank, 2, generator=gen, dtype=torch.float64)
        for a, b in ((k.dense(), e.dense()), (k.gram(), e.gram()), (k.diagonal(), e.diagonal())):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(k.project(v), e.project(v), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(k.expand(y), e.expand(y), rtol=1e-12, atol=1e-12)
        assert k.flops_dense() > 0 and k.flops_apply() > 0 and k.flops_gram() > 0


def test_dense_block_is_formed_once_and_released():
    model = mlp(nn.Tanh)
    x, y = data()
    blk = curvature_blocks(LossProblem(model, nn.CrossEntropyLoss()), (x, y), "hessian")["2.weight"]
    a = blk.dense()
    t = blk.stats["dense_s"]
    assert blk.dense() is a and blk.stats["dense_s"] == t and blk.dense_formed
    blk.release()
    assert not blk.dense_formed


def test_memory_guard_names_the_block_and_the_ways_out():
    model = mlp(nn.Tanh)
    x, y = data()
    cfg = CurvatureConfig(dense_budget_bytes=1000)
    blk = curvature_blocks(LossProblem(model, nn.CrossEntropyLoss()), (x, y), "hessian", config=cfg)["0.weight"]
    assert not blk.dense_fits()
    with pytest.raises(MemoryBudgetError, match=r"block '0.weight' \(600 x 600.*matrix-free route.*max_block_size"):
        blk.dense()
    # a route that needs the dense block declines it; CG still solves it
    model2 = mlp(nn.Tanh)
    opt = QNewton(
        model2.parameters(),
        model=model2,
        criterion=nn.CrossEntropyLoss(),
        eps=0.1,
        policy="classical",
        curvature_config=cfg,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.step(batch=(x, y))
    rec = next(r for r in opt.decisions if r.block == "0.weight")
    assert rec.route == "cg" and not rec.quotes["cholesky"]["applies"] and "memory" in rec.quotes["cholesky"]["reason"]


def test_dense_block_wraps_numpy_and_torch():
    import numpy as np

    b = DenseBlock(np.eye(3) * 2.0)
    assert b.n == 3 and b.max_abs() == 2.0 and torch.equal(b.diagonal(), torch.full((3,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher"])
def test_qnewton_default_routes_take_the_dense_cholesky_direction(curvature):
    """Same step, same input: the cheapest classical routes against routes=('cholesky',)."""
    x, y = data(b=40)
    dirs = {}
    for routes in (None, ("cholesky",)):
        model = mlp(nn.Tanh)
        before = [p.detach().clone() for p in model.parameters()]
        opt = QNewton(
            model.parameters(),
            model=model,
            criterion=nn.CrossEntropyLoss(),
            eps=0.1,
            policy="classical",
            routes=routes,
            curvature=curvature,
            cg_tol=1e-8,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step(batch=(x, y))
        dirs[routes] = [b - p.detach() for b, p in zip(before, model.parameters())]
        if routes is None:
            assert {r.route for r in opt.decisions} <= {"cholesky", "cg", "woodbury"}
    for a, b in zip(dirs[None], dirs[("cholesky",)]):
        cos = float((a * b).sum() / (a.norm() * b.norm()))
        assert cos > 1 - 1e-6 and math.isclose(float(a.norm()), float(b.norm()), rel_tol=1e-5)


def test_scheduler_config_and_shortcuts_together_is_an_error():
    model = mlp()
    with pytest.raises(InvalidArgumentError, match=r"`eps`, `policy`"):
        QNewton(model.parameters(), scheduler=SchedulerConfig(), eps=5.0, policy="quantum")
    QNewton(model.parameters(), scheduler=SchedulerConfig(), eps=1.0)  # the default: nothing is ignored


def test_compute_curvature_forms_linear_blocks_through_their_factor_identically_to_the_generic_path():
    """exact_hessian's structured path (one GEMM per block row, verified Hessian = GGN) against the
    Hessian-vector-product path, entry by entry; a tanh layer's first block falls back to the latter."""
    for act in (nn.ReLU, nn.Tanh):
        model = mlp(act)
        x, y = data()
        problem = LossProblem(model, nn.CrossEntropyLoss())
        fast = exact_hessian(problem, (x, y))
        slow = exact_hessian(problem, (x, y), config=CurvatureConfig(structure="generic"))
        for name in fast.names:
            torch.testing.assert_close(fast[name].matrix, slow[name].matrix, rtol=1e-10, atol=1e-13)
        structured = {n for n in fast.names if fast[n].method.startswith("kronecker")}
        expected = set(fast.names) if act is nn.ReLU else {"4.weight", "4.bias"}
        assert structured == expected, structured
