"""qnewton.curvature against dense float64 ground truth on small models.

References are independent of the code under test: closed forms (linear and softmax regression),
``torch.autograd.functional.hessian`` (double backward), and explicit per-sample loops with
``loss.backward()`` for the empirical Fisher.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch
from torch import nn
from torch.func import functional_call

from qnewton.curvature import (
    CurvatureConfig,
    EmpiricalFisherOperator,
    HessianOperator,
    LossProblem,
    ParamBlock,
    compute_curvature,
    empirical_fisher,
    exact_hessian,
    loss_and_gradient,
    make_blocks,
    per_sample_gradients,
)
from qnewton.errors import InvalidArgumentError, NonFiniteError, QNewtonWarning, ShapeError

D64 = torch.float64


# --- helpers ----------------------------------------------------------------------------------


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).to(D64)


def _cls_data(b: int = 12, d: int = 5, k: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, dtype=D64), torch.randint(0, k, (b,), generator=g)


def _ref_hessian(model: nn.Module, names: list[str], loss_of_output, batch_inputs) -> torch.Tensor:
    """Hessian of the loss w.r.t. the concatenated ``names`` by torch.autograd.functional.hessian."""
    params = dict(model.named_parameters())
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    x0 = torch.cat([params[k].detach().reshape(-1) for k in names])

    def f(flat):
        sub = {k: t.reshape(s) for k, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return loss_of_output(functional_call(model, sub, batch_inputs))

    return torch.autograd.functional.hessian(f, x0)


def _ref_fisher(model: nn.Module, names: list[str], sample_losses) -> torch.Tensor:
    """(1/B) sum_i g_i g_i^T by an explicit loop of loss.backward() over the samples."""
    params = dict(model.named_parameters())
    rows = []
    for loss_i in sample_losses:
        model.zero_grad()
        loss_i().backward()
        rows.append(torch.cat([params[k].grad.reshape(-1).clone() for k in names]))
    G = torch.stack(rows)
    return G.T @ G / G.shape[0]


def _diag_blocks(H: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    out, o = [], 0
    for s in sizes:
        out.append(H[o : o + s, o : o + s])
        o += s
    return out


# --- closed forms -----------------------------------------------------------------------------


def test_linear_regression_hessian_is_xtx_over_n():
    torch.manual_seed(0)
    X = torch.randn(30, 4, dtype=D64)
    y = torch.randn(30, 1, dtype=D64)
    model = nn.Linear(4, 1).to(D64)
    res = exact_hessian(LossProblem(model, nn.MSELoss()), (X, y), blocks="full")
    Xa = torch.cat([X, torch.ones(30, 1, dtype=D64)], 1)  # weight entries, then the bias
    H = res["full"].matrix
    torch.testing.assert_close(H, 2 * Xa.T @ Xa / 30, rtol=1e-12, atol=1e-12)
    assert H.dtype == D64 and res["full"].asymmetry <= 1e-12
    lw = exact_hessian(LossProblem(model, nn.MSELoss()), (X, y))
    torch.testing.assert_close(lw["weight"].matrix, 2 * X.T @ X / 30, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lw["bias"].matrix, torch.full((1, 1), 2.0, dtype=D64))


def test_softmax_regression_hessian_kronecker_form():
    """H = (1/n) sum_i (diag(p_i) - p_i p_i^T) kron x_i x_i^T for W (K x d) flattened row-major."""
    X, y = _cls_data(b=20, d=4, k=3)
    torch.manual_seed(3)
    model = nn.Linear(4, 3, bias=False).to(D64)
    res = exact_hessian(LossProblem(model, nn.CrossEntropyLoss()), (X, y))
    P = torch.softmax(X @ model.weight.detach().T, 1)
    ref = sum(torch.kron(torch.diag(p) - torch.outer(p, p), torch.outer(x, x)) for p, x in zip(P, X)) / 20
    torch.testing.assert_close(res["weight"].matrix, ref, rtol=1e-10, atol=1e-12)
    # the gradient and loss come with it: dL/dW = (1/n) (P - Y)^T X
    Y = torch.nn.functional.one_hot(y, 3).to(D64)
    torch.testing.assert_close(res.grads["weight"], ((P - Y).T @ X / 20).reshape(-1))
    torch.testing.assert_close(res.loss, nn.functional.cross_entropy(X @ model.weight.detach().T, y))


# --- exact Hessian vs autograd.functional.hessian -----------------------------------------------


def test_mlp_full_and_layerwise_match_autograd_hessian():
    model = _mlp()
    X, y = _cls_data()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    names = list(problem.param_names)
    ref = _ref_hessian(model, names, lambda out: nn.functional.cross_entropy(out, y), (X,))
    full = exact_hessian(problem, (X, y), blocks="full")
    torch.testing.assert_close(full["full"].matrix, (ref + ref.T) / 2, rtol=1e-10, atol=1e-12)
    lw = exact_hessian(problem, (X, y))
    assert lw.names == tuple(names)
    sizes = [p.numel() for p in problem.params.values()]
    for name, blk_ref in zip(names, _diag_blocks(ref, sizes)):
        torch.testing.assert_close(lw[name].matrix, blk_ref, rtol=1e-10, atol=1e-12)
        assert lw[name].asymmetry >= 0 and lw[name].relative_asymmetry < 1e-10
    # module blocks (weight + bias together) and user groupings with glob patterns
    mod = exact_hessian(problem, (X, y), blocks="module")
    assert mod.names == ("0", "2")
    torch.testing.assert_close(mod["0"].matrix, ref[:24, :24], rtol=1e-10, atol=1e-12)
    grp = exact_hessian(problem, (X, y), blocks={"biases": ["*.bias"], "w2": "2.weight"})
    idx = torch.tensor(list(range(20, 24)) + list(range(36, 39)))
    torch.testing.assert_close(grp["biases"].matrix, ref[idx][:, idx], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grp["w2"].matrix, ref[24:36, 24:36], rtol=1e-10, atol=1e-12)
    assert set(grp.param_grads) == set(names)  # gradients of every variable, even outside blocks


# torch's forward-mode decompositions (fwd-rev) still call torch.jit.script, which warns
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("chunk", [1, 5, 64])
@pytest.mark.parametrize("mode", ["rev-rev", "fwd-rev"])
def test_chunked_equals_unchunked(chunk, mode):
    model = _mlp(2)
    X, y = _cls_data(seed=4)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    whole = exact_hessian(problem, (X, y), blocks="full", config=CurvatureConfig(chunk_size=10**6))
    cfg = CurvatureConfig(chunk_size=chunk, hvp_mode=mode)
    part = exact_hessian(problem, (X, y), blocks="full", config=cfg)
    assert part["full"].chunk_size == min(chunk, 39)
    assert part["full"].num_chunks == math.ceil(39 / min(chunk, 39))
    torch.testing.assert_close(part["full"].matrix, whole["full"].matrix, rtol=1e-12, atol=1e-13)


def test_loop_equals_vmap_and_default_chunk_comes_from_budget():
    model = _mlp(3)
    X, y = _cls_data(seed=5)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    a = exact_hessian(problem, (X, y), blocks="full")
    b = exact_hessian(problem, (X, y), blocks="full", config=CurvatureConfig(vectorize="loop"))
    assert a["full"].method == "rev-rev/vmap" and b["full"].method == "rev-rev/loop"
    torch.testing.assert_close(a["full"].matrix, b["full"].matrix, rtol=1e-12, atol=1e-13)
    tiny = exact_hessian(problem, (X, y), blocks="full", config=CurvatureConfig(memory_budget_bytes=4096))
    assert tiny["full"].chunk_size == 1  # a budget smaller than one direction still makes progress
    torch.testing.assert_close(tiny["full"].matrix, a["full"].matrix, rtol=1e-12, atol=1e-13)


def test_large_block_uses_compiled_symmetrization_float32():
    """A block above the kernel threshold (n >= 256), in float32: dtype kept, matches float64."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 3))
    X = torch.randn(40, 20)
    y = torch.randint(0, 3, (40,))
    r32 = exact_hessian(LossProblem(model, nn.CrossEntropyLoss()), (X, y), blocks="layerwise")
    H32 = r32["0.weight"].matrix
    assert H32.dtype == torch.float32 and H32.shape == (320, 320)
    assert torch.equal(H32, H32.T)
    model64 = model.to(D64)
    r64 = exact_hessian(LossProblem(model64, nn.CrossEntropyLoss()), (X.to(D64), y))
    torch.testing.assert_close(H32.to(D64), r64["0.weight"].matrix, rtol=1e-3, atol=1e-6)
    assert 0 <= r32["0.weight"].relative_asymmetry < 1e-4


def test_layernorm_embedding_model_through_forward_loss():
    torch.manual_seed(7)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 4)
            self.norm = nn.LayerNorm(4)
            self.head = nn.Linear(4, 3)

        def forward(self, ids, mask):
            h = self.norm(self.emb(ids)) * mask.unsqueeze(-1)
            return self.head(h.sum(1) / mask.sum(1, keepdim=True))

    model = Tiny().to(D64)
    ids = torch.randint(0, 11, (6, 5))
    mask = torch.ones(6, 5, dtype=D64)
    mask[0, 3:] = 0
    y = torch.randint(0, 3, (6,))
    batch = {"ids": ids, "mask": mask, "y": y}

    def fl(m, b):
        return nn.functional.cross_entropy(m(b["ids"], b["mask"]), b["y"])

    problem = LossProblem(model, forward_loss=fl)
    names = list(problem.param_names)
    ref = _ref_hessian(model, names, lambda out: nn.functional.cross_entropy(out, y), (ids, mask))
    sizes = [p.numel() for p in problem.params.values()]
    lw = exact_hessian(problem, batch)
    for name, blk_ref in zip(names, _diag_blocks(ref, sizes)):
        torch.testing.assert_close(lw[name].matrix, blk_ref, rtol=1e-9, atol=1e-12)
    # the empirical Fisher against an explicit loop over the samples
    fi = empirical_fisher(problem, batch)
    assert fi.kind == "empirical_fisher" and fi["emb.weight"].method == "per-sample/vmap"
    for name in names:
        samples = [
            lambda i=i: nn.functional.cross_entropy(model(ids[i : i + 1], mask[i : i + 1]), y[i : i + 1])
            for i in range(6)
        ]
        ref = _ref_fisher(model, [name], samples)
        torch.testing.assert_close(fi[name].matrix, ref, rtol=1e-10, atol=1e-13)


# --- empirical Fisher -------------------------------------------------------------------------


def test_fisher_matches_loop_with_curvature_sub_batch():
    model = _mlp(8)
    X, y = _cls_data(b=10, seed=9)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    cfg = CurvatureConfig(curvature_batch_size=7, sample_chunk_size=3)
    res = empirical_fisher(problem, (X, y), blocks="module", config=cfg)
    assert res.batch_size == 10 and res.curvature_batch_size == 7
    assert res["0"].num_chunks == 3 and res["0"].chunk_size == 3
    samples = [lambda i=i: nn.functional.cross_entropy(model(X[i : i + 1]), y[i : i + 1]) for i in range(7)]
    ref = _ref_fisher(model, ["0.weight", "0.bias"], samples)
    torch.testing.assert_close(res["0"].matrix, ref, rtol=1e-10, atol=1e-13)
    # loss and gradient use the whole batch
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(X), y)
    loss.backward()
    torch.testing.assert_close(res.loss, loss.detach())
    g2 = torch.cat([model[2].weight.grad.reshape(-1), model[2].bias.grad])
    torch.testing.assert_close(res.grads["2"], g2)


def test_fisher_factor_form_and_operator():
    model = _mlp(10)
    X, y = _cls_data(b=9, seed=11)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    dense = empirical_fisher(problem, (X, y))
    fac = empirical_fisher(problem, (X, y), config=CurvatureConfig(fisher_form="auto", max_dense_size=10))
    assert fac["0.weight"].matrix is None and fac["0.weight"].factor.shape == (9, 20)
    assert fac["0.bias"].is_dense  # n = 4 <= 10
    torch.testing.assert_close(fac["0.weight"].to_dense(), dense["0.weight"].matrix, rtol=1e-12, atol=1e-14)
    op = fac["0.weight"].operator()
    v = torch.randn(20, dtype=D64)
    torch.testing.assert_close(op.matvec(v), dense["0.weight"].matrix @ v, rtol=1e-12, atol=1e-14)
    op2 = EmpiricalFisherOperator(problem, (X, y), block="0.weight")
    torch.testing.assert_close(op2.to_dense(), dense["0.weight"].matrix, rtol=1e-12, atol=1e-14)
    G = per_sample_gradients(problem, (X, y))["0.weight"]
    torch.testing.assert_close(G, fac["0.weight"].factor)
    loop = empirical_fisher(problem, (X, y), config=CurvatureConfig(vectorize="loop"))
    assert loop["0.weight"].method == "per-sample/loop"
    torch.testing.assert_close(loop["0.weight"].matrix, dense["0.weight"].matrix, rtol=1e-12, atol=1e-14)


# --- operators --------------------------------------------------------------------------------


def test_hessian_operator_matches_dense_torch_and_scipy():
    model = _mlp(12)
    X, y = _cls_data(seed=13)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    H = exact_hessian(problem, (X, y), blocks="full")["full"].matrix
    op = HessianOperator(problem, (X, y))
    assert op.shape == (39, 39) and op.dtype == np.float64
    v = torch.randn(39, dtype=D64)
    torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op @ v, H @ v, rtol=1e-10, atol=1e-12)
    V = torch.randn(39, 70, dtype=D64)  # wider than the operator's column chunk
    torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    vn = v.numpy()
    out = op.matvec(vn)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, (H @ v).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(vn), out)
    torch.testing.assert_close(op.to_dense(), H, rtol=1e-10, atol=1e-12)
    # scipy's Lanczos on the operator finds the extreme eigenvalues of the dense matrix
    w_ref = np.linalg.eigvalsh(H.numpy())
    w = spla.eigsh(op, k=2, which="LA", return_eigenvectors=False, tol=1e-10)
    np.testing.assert_allclose(np.sort(w), w_ref[-2:], rtol=1e-7)
    # one block, loss and gradient come with the operator
    opb = HessianOperator(problem, (X, y), block="2.weight")
    torch.testing.assert_close(opb.to_dense(), H[24:36, 24:36], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(opb.gradient, loss_and_gradient(problem, (X, y)).grads["2.weight"])
    with pytest.raises(ShapeError):
        op.matvec(torch.ones(5, dtype=D64))


def test_operator_float64_numpy_option_on_float32_model():
    torch.manual_seed(14)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    X = torch.randn(12, 5)
    y = torch.randint(0, 3, (12,))
    op = HessianOperator(LossProblem(model, nn.CrossEntropyLoss()), (X, y), numpy_dtype=np.float64)
    out = op.matvec(np.ones(39))
    assert out.dtype == np.float64 and op.dtype == np.float64
    assert op.matvec(torch.ones(39)).dtype == torch.float32
    op32 = HessianOperator(LossProblem(model, nn.CrossEntropyLoss()), (X, y))
    assert op32.dtype == np.float32
    np.testing.assert_allclose(op32.matvec(np.ones(39, np.float32)), out, rtol=1e-6)


# --- result object, batches, parameters ---------------------------------------------------------


def test_result_timings_and_tuple_inputs():
    torch.manual_seed(15)

    class TwoIn(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(2, 2)

        def forward(self, x, z):
            return self.a(x) + self.b(z)

    model = TwoIn().to(D64)
    x = torch.randn(8, 3, dtype=D64)
    z = torch.randn(8, 2, dtype=D64)
    t = torch.randn(8, 2, dtype=D64)
    res = compute_curvature(LossProblem(model, nn.MSELoss()), ((x, z), t), "hessian", "full")
    assert set(res.measured_seconds) == {"loss_and_gradient", "curvature", "total"}
    assert all(v >= 0 for v in res.measured_seconds.values())
    assert set(res["full"].measured_seconds) >= {"compute", "symmetrize", "total"}
    # output j depends on row j of a.weight: H(a.weight) = I_2 kron (2 x^T x / (8 * 2))
    ref = torch.kron(torch.eye(2, dtype=D64), 2 * x.T @ x / 16)
    torch.testing.assert_close(res["full"].matrix[:6, :6], ref)
    assert res.summary().startswith("hessian: loss")
    assert len(res) == 1 and [b.name for b in res] == ["full"]


def test_frozen_parameters_are_excluded_or_rejected():
    model = _mlp()
    model[0].weight.requires_grad_(False)
    problem = LossProblem(model, nn.CrossEntropyLoss())
    assert "0.weight" not in problem.param_names and problem.frozen == ("0.weight",)
    X, y = _cls_data()
    res = exact_hessian(problem, (X, y))
    assert "0.weight" not in res.names
    with pytest.raises(InvalidArgumentError, match="requires_grad=False"):
        LossProblem(model, nn.CrossEntropyLoss(), params=["0.weight"])
    with pytest.raises(InvalidArgumentError, match="empty"):
        LossProblem(model, nn.CrossEntropyLoss(), params=[])
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(InvalidArgumentError, match="no parameter"):
        LossProblem(model, nn.CrossEntropyLoss())
    model2 = _mlp()
    sub = LossProblem(model2, nn.CrossEntropyLoss(), params=[model2[2].weight, "0.bias"])
    assert sub.param_names == ("2.weight", "0.bias")
    with pytest.raises(InvalidArgumentError, match="not a parameter"):
        LossProblem(model2, nn.CrossEntropyLoss(), params=["nope.weight"])


def test_bad_batches_raise_shape_errors():
    model = _mlp()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    X, y = _cls_data()
    with pytest.raises(ShapeError, match="batch size"):
        exact_hessian(problem, (X, y[:-1]))
    with pytest.raises(ShapeError, match="empty"):
        exact_hessian(problem, (X[:0], y[:0]))
    with pytest.raises(ShapeError, match="does not fit"):
        exact_hessian(problem, (torch.randn(12, 6, dtype=D64), y))
    with pytest.raises(InvalidArgumentError, match="pair"):
        exact_hessian(problem, X)
    fl = LossProblem(model, forward_loss=lambda m, b: nn.functional.cross_entropy(m(b["x"]), b["y"]))
    with pytest.raises(ShapeError, match="batch size"):
        empirical_fisher(fl, {"x": X, "y": y[:5]})
    vec = LossProblem(model, forward_loss=lambda m, b: (m(b[0]) ** 2).mean(1))
    with pytest.raises(ShapeError, match="scalar"):
        exact_hessian(vec, (X, y))
    with pytest.raises(InvalidArgumentError, match="reduction"):
        LossProblem(model, nn.CrossEntropyLoss(reduction="sum"))
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        LossProblem(model)


def test_non_finite_loss_gradient_and_curvature_name_the_culprit():
    model = _mlp()
    X, y = _cls_data()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    Xn = X.clone()
    Xn[3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="loss"):
        exact_hessian(problem, (Xn, y))

    class Pow(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.ones(3, dtype=D64))
            self.b = nn.Parameter(torch.zeros(2, dtype=D64))

        def forward(self, x):
            # at b = 0: |b|^1.5 has a finite gradient (0) and an infinite second derivative
            return (x * self.a).sum() + (self.b.abs() ** 1.5).sum()

    pw = LossProblem(Pow(), forward_loss=lambda m, b: m(b) / b.shape[0])
    with pytest.raises(NonFiniteError, match=r"Hessian\[b\]"):
        exact_hessian(pw, torch.ones(4, 3, dtype=D64))
    # gradient non-finite while the loss is finite: sqrt at 0
    sq = LossProblem(Pow(), forward_loss=lambda m, b: m.b.abs().sqrt().sum() + m.a.sum())
    with pytest.raises(NonFiniteError, match=r"gradient\[b\]"):
        exact_hessian(sq, torch.ones(4, 3, dtype=D64))
    ok = exact_hessian(pw, torch.ones(4, 3, dtype=D64), config=CurvatureConfig(check_finite=False))
    assert not torch.isfinite(ok["b"].matrix).all()


def test_dropout_in_train_mode_is_rejected():
    torch.manual_seed(16)
    model = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5), nn.Linear(4, 3)).to(D64)
    X, y = _cls_data()
    with pytest.raises(InvalidArgumentError, match="eval"):
        empirical_fisher(LossProblem(model, nn.CrossEntropyLoss()), (X, y))
    with pytest.raises(InvalidArgumentError, match="eval"):
        exact_hessian(LossProblem(model, nn.CrossEntropyLoss()), (X, y))
    model.eval()
    empirical_fisher(LossProblem(model, nn.CrossEntropyLoss()), (X, y))
    exact_hessian(LossProblem(model, nn.CrossEntropyLoss()), (X, y))


def test_blocks_validation_and_flatten_roundtrip():
    model = _mlp()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    blocks = make_blocks(problem, "layerwise")
    assert [b.name for b in blocks] == list(problem.param_names)
    assert make_blocks(problem, "full")[0].size == 39
    w = blocks[0]
    assert (w.size, w.shapes) == (20, ((4, 5),))
    full = make_blocks(problem, "full")[0]
    grads = {k: torch.randn(p.shape, dtype=D64) for k, p in problem.params.items()}
    back = full.unflatten(full.flatten(grads))
    assert all(torch.equal(back[k], grads[k]) for k in grads)
    batched = {k: torch.randn(7, *p.shape, dtype=D64) for k, p in problem.params.items()}
    assert full.flatten(batched, batch_dims=1).shape == (7, 39)
    assert full.slice_of("0.bias") == slice(20, 24)
    for bad in (
        {"a": ["0.*"], "b": ["0.bias"]},  # overlap
        {"a": ["zzz*"]},  # matches nothing
        "diagonal",
        42,
    ):
        with pytest.raises(InvalidArgumentError):
            make_blocks(problem, bad)
    custom = ParamBlock("mine", ("2.bias",), ((3,),), D64, torch.device("cpu"))
    assert make_blocks(problem, [custom])[0].name == "mine"
    with pytest.raises(ShapeError):
        make_blocks(problem, [ParamBlock("x", ("2.bias",), ((4,),), D64, torch.device("cpu"))])
    mixed = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1).to(D64))
    with pytest.raises(InvalidArgumentError, match="mixes"):
        make_blocks(LossProblem(mixed, nn.MSELoss()), "full")


def test_config_validation():
    for kw in (
        {"chunk_size": 0},
        {"memory_budget_bytes": -1},
        {"hvp_mode": "fwd-fwd"},
        {"vectorize": "maybe"},
        {"fisher_form": "sparse"},
        {"curvature_batch_size": 0},
        {"math_sdpa": 1},
    ):
        with pytest.raises(InvalidArgumentError):
            CurvatureConfig(**kw)
    with pytest.raises(InvalidArgumentError, match="kind"):
        compute_curvature(LossProblem(_mlp(), nn.CrossEntropyLoss()), _cls_data(), "ggn")


def test_vmap_failure_falls_back_to_loop_with_warning():
    """A model with data-dependent control flow cannot be vmapped; results still match."""
    torch.manual_seed(17)

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            out = self.lin(x)
            if bool((x > 100).any()):  # data-dependent branch, as transformers' mask helpers have
                out = out * 2
            return out

    model = Branchy().to(D64)
    x = torch.randn(6, 3, dtype=D64)
    t = torch.randn(6, 2, dtype=D64)
    problem = LossProblem(model, nn.MSELoss())
    with pytest.warns(QNewtonWarning, match="falling back"):
        fi = empirical_fisher(problem, (x, t))
    assert fi["lin.weight"].method == "per-sample/loop"
    samples = [lambda i=i: nn.functional.mse_loss(model(x[i : i + 1]), t[i : i + 1]) for i in range(6)]
    torch.testing.assert_close(fi["lin.weight"].matrix, _ref_fisher(model, ["lin.weight"], samples))
    with pytest.raises(RuntimeError):
        empirical_fisher(problem, (x, t), config=CurvatureConfig(vectorize="vmap"))


def _old_style_cube(differentiable_backward: bool):
    """x -> x^3 as an old-style autograd.Function (no setup_context): torch.func rejects it."""

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            if differentiable_backward:
                return g * 3 * x**2
            with torch.no_grad():
                return g * 3 * x**2

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([0.5, -1.5], dtype=D64))

        def forward(self, x):
            return Cube.apply(x * self.w).sum(1)

    return M()


def test_model_torch_func_cannot_transform_falls_back_to_plain_autograd():
    model = _old_style_cube(differentiable_backward=True)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype=D64)
    problem = LossProblem(model, forward_loss=lambda m, b: m(b).mean())
    with pytest.warns(QNewtonWarning, match="falling back"):
        res = exact_hessian(problem, x)
    w = model.w.detach()
    # L = mean_i sum_j (x_ij w_j)^3  =>  d2L/dw_j^2 = mean_i 6 x_ij^3 w_j, no cross terms
    torch.testing.assert_close(res["w"].matrix, torch.diag((6 * x**3 * w).mean(0)))
    assert res["w"].method == "rev-rev/loop"
    with pytest.warns(QNewtonWarning, match="falling back"):
        fi = empirical_fisher(problem, x)
    gi = 3 * x**3 * w**2  # per-sample gradients
    torch.testing.assert_close(fi["w"].matrix, gi.T @ gi / 3)


def test_missing_second_derivative_formula_gives_a_hint():
    problem = LossProblem(_old_style_cube(differentiable_backward=False), forward_loss=lambda m, b: m(b).mean())
    with pytest.raises(InvalidArgumentError, match="hvp_mode"):
        exact_hessian(problem, torch.ones(3, 2, dtype=D64), config=CurvatureConfig(vectorize="loop"))
