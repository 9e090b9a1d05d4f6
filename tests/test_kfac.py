"""K-FAC blocks and the kron-eig route against independent references.

* K-FAC is exact for one Linear layer on one sample: the GGN from full Jacobians (type-2), the
  per-sample gradient outer product (empirical Fisher), and the sampled Fisher converges to the GGN;
* products, dense matrix and diagonal against an index-by-index Kronecker reference, in the
  repository's row-major ordering (nn.Linear weight (out, in), Conv1D weight (in, out), folded bias);
* the kron-eig route's solve against the dense float64 solve (exact damping), and against the
  factored system (factored damping);
* sequence inputs (K-FAC expand) against the same layer on the flattened positions;
* running averages, the update interval, the state_dict round trip (bit-identical resume);
* uncovered blocks (LayerNorm, Embedding, tied weights) on the configured curvature, logged;
* curvlinops' KFACLinearOperator (curvlinops-for-pytorch installs from PyPI without replacing torch;
  kfac-pytorch has no distribution on this machine's index): the same matrices to round-off. The
  comparison is skipped when curvlinops is absent (it is not in the project's environment: it pulls
  backpack-for-pytorch and torchvision); it passed with curvlinops 3.0.1 installed by
  ``pip install --no-deps --target DIR curvlinops-for-pytorch einops einconv unfoldNd linear_operator``
  and DIR on PYTHONPATH.
"""

from __future__ import annotations

import io
import itertools

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev, vmap

from qnewton.cost import EighCostModel
from qnewton.curvature import LossProblem
from qnewton.curvature.kfac import KFACBlock, KFACConfig, KFACState, kfac_blocks
from qnewton.curvature.lazy import DenseBlock
from qnewton.errors import InvalidArgumentError
from qnewton.models import TokenCrossEntropy
from qnewton.optim import QNewton
from qnewton.routes import BUILTIN_ROUTES, DEFAULT_ROUTES, BlockSystem, KronEigConfig, KronEigRoute
from qnewton.scheduler import BlockTask, RegularizationSpec, Scheduler, SchedulerConfig

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
FIXED_EIGH = EighCostModel(c=1e-9)  # no calibration in the route tests


class Conv1D(nn.Module):
    """transformers' Conv1D (GPT-2): weight stored (in, out), y = x W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf, dtype=F64) * 0.5)
        self.bias = nn.Parameter(torch.randn(nf, dtype=F64) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


def ggn_truth(model: nn.Module, names: list[str], x: torch.Tensor, y: torch.Tensor, criterion) -> torch.Tensor:
    """(1/B) sum_s J_s^T (d^2 l_s / d f_s^2) J_s over the block [names] (flattened row-major, in order)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]

    def f(flat: torch.Tensor) -> torch.Tensor:
        p = dict(params)
        for k, part, shp in zip(names, torch.split(flat, sizes), shapes):
            p[k] = part.reshape(shp)
        return functional_call(model, p, (x,))

    flat0 = torch.cat([params[k].reshape(-1) for k in names])
    J = jacrev(f)(flat0)
    f0 = f(flat0)
    Hf = vmap(hessian(lambda fs, ys: criterion(fs[None], ys[None])))(f0, y)
    return torch.einsum("sci,scd,sdj->ij", J, Hf, J) / x.shape[0]


def grad_outer(model: nn.Module, names: list[str], x: torch.Tensor, y: torch.Tensor, criterion) -> torch.Tensor:
    params = dict(model.named_parameters())
    g = torch.autograd.grad(criterion(model(x), y), [params[k] for k in names])
    v = torch.cat([t.reshape(-1) for t in g])
    return torch.outer(v, v)


def kron_reference(A: torch.Tensor, G: torch.Tensor, layout: str, weight: bool, bias: bool) -> torch.Tensor:
    """C[u, v] = G[o, o'] A[i, i'] index by index, the variables listed as the repo flattens them:
    the weight row-major ((out, in) for nn.Linear, (in, out) for Conv1D), then the bias (i = in)."""
    n_out, n_in = G.shape[0], A.shape[0] - 1
    var = []
    if weight:
        pairs = (
            itertools.product(range(n_out), range(n_in))
            if layout == "out-in"
            else ((o, i) for i, o in itertools.product(range(n_in), range(n_out)))
        )
        var += list(pairs)
    if bias:
        var += [(o, n_in) for o in range(n_out)]
    C = torch.empty(len(var), len(var), dtype=A.dtype)
    for u, (o, i) in enumerate(var):
        for v, (o2, i2) in enumerate(var):
            C[u, v] = G[o, o2] * A[i, i2]
    return C


def random_factors(n_in: int = 4, n_out: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.cat([torch.randn(9, n_in, generator=gen, dtype=F64), torch.ones(9, 1, dtype=F64)], 1)
    g = torch.randn(7, n_out, generator=gen, dtype=F64)
    return a.T @ a / 9, g.T @ g / 7


VARIANTS = [(lay, w, b) for lay in ("out-in", "in-out") for w, b in ((True, False), (False, True), (True, True))]


def one_layer(kind: str, bias: bool = True, n_in: int = 4, n_out: int = 3) -> nn.Module:
    torch.manual_seed(0)
    if kind == "linear":
        return nn.Sequential(nn.Linear(n_in, n_out, bias=bias).double())
    return nn.Sequential(Conv1D(n_out, n_in))


# -- K-FAC is exact for one Linear layer on one sample -------------------------------------------
@pytest.mark.parametrize("layer", ["linear", "conv1d"])
@pytest.mark.parametrize("blocks", ["module", "layerwise"])
@pytest.mark.parametrize("crit", ["ce", "mse"])
def test_kfac_equals_the_ggn_and_the_fisher_of_one_layer_on_one_sample(layer, blocks, crit):
    model = one_layer(layer)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, generator=gen, dtype=F64)
    criterion = nn.CrossEntropyLoss() if crit == "ce" else nn.MSELoss()
    y = torch.tensor([2]) if crit == "ce" else torch.randn(1, 3, generator=gen, dtype=F64)
    problem = LossProblem(model, criterion)
    # the empirical Fisher averages over loss terms: for the squared error each of the C = 3
    # entries is one (curvlinops' convention; E[empirical] = GGN under the Gaussian it implies)
    terms = 3 if crit == "mse" else 1
    for fisher, truth in (("type-2", ggn_truth), ("empirical", grad_outer)):
        res, _ = kfac_blocks(problem, (x, y), blocks, state=KFACState(KFACConfig(fisher=fisher)))
        for blk in res:
            assert blk.kind == "kfac"
            ref = truth(model, list(blk.block.param_names), x, y, criterion)
            ref = ref * terms if fisher == "empirical" else ref
            torch.testing.assert_close(blk.dense(), ref, rtol=1e-10, atol=1e-13)


def test_sampled_fisher_converges_to_the_ggn_and_differs_from_the_empirical_one():
    model = one_layer("linear", n_out=4)
    x, y = torch.randn(1, 4, dtype=F64, generator=torch.Generator().manual_seed(5)), torch.tensor([1])
    problem = LossProblem(model, nn.CrossEntropyLoss())
    ref = ggn_truth(model, ["0.weight"], x, y, nn.CrossEntropyLoss())
    st = KFACState(KFACConfig(fisher="mc", mc_samples=3000, seed=1))
    mc = kfac_blocks(problem, (x, y), "layerwise", state=st)[0]["0.weight"].dense()
    emp = kfac_blocks(problem, (x, y), "layerwise", state=KFACState(KFACConfig(fisher="empirical")))[0]["0.weight"]
    rel = float((mc - ref).norm() / ref.norm())
    assert rel < 0.08, rel  # 3000 draws: about 1/sqrt(3000) ~ 0.02 expected
    assert float((emp.dense() - ref).norm() / ref.norm()) > 0.3  # the test can tell the two apart


# -- products, dense matrix, ordering -----------------------------------------------------------
@pytest.mark.parametrize("layout,weight,bias", VARIANTS)
def test_products_dense_and_diagonal_match_the_kronecker_reference(layout, weight, bias):
    A, G = random_factors()
    blk = KFACBlock("b", A, G, weight=weight, bias=bias, layout=layout, bias_in_A=True)
    Ablk = A if weight and bias else (A[:4, :4] if weight else A[4:, 4:])
    ref = kron_reference(A, G, layout, weight, bias)
    assert blk.n == ref.shape[0] and blk.psd
    V = torch.randn(blk.n, 3, dtype=F64)
    torch.testing.assert_close(blk @ V, ref @ V, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(blk.dense(), ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(blk.diagonal(), ref.diagonal(), rtol=1e-12, atol=1e-14)
    A_got, G_got = blk.factors()
    assert torch.equal(A_got, Ablk) and torch.equal(G_got, G)
    torch.testing.assert_close(blk.from_matrix(blk.to_matrix(V)), V, rtol=0, atol=0)


def test_row_major_weight_order_is_kron_g_a_for_linear_and_kron_a_g_for_conv1d():
    A, G = random_factors()
    A = A[:4, :4]
    lin = KFACBlock("lin", A, G, layout="out-in")
    conv = KFACBlock("conv", A, G, layout="in-out")
    torch.testing.assert_close(lin.dense(), torch.kron(G, A))
    torch.testing.assert_close(conv.dense(), torch.kron(A, G))
    W = torch.arange(12, dtype=F64).reshape(3, 4)  # nn.Linear weight (out, in), flattened row-major
    assert torch.equal(lin.to_matrix(W.reshape(-1, 1))[0], W)
    assert torch.equal(conv.to_matrix(W.T.reshape(-1, 1))[0], W.T)


# -- the kron-eig route ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout,weight,bias", VARIANTS)
@pytest.mark.parametrize("eps", [1e-3, 0.5])
def test_kron_eig_solve_matches_the_dense_float64_solve(layout, weight, bias, eps):
    A, G = random_factors(seed=2)
    blk = KFACBlock("b", A, G, weight=weight, bias=bias, layout=layout, bias_in_A=True)
    g = torch.randn(blk.n, dtype=F64)
    route = KronEigRoute(KronEigConfig(cost=FIXED_EIGH))
    system = BlockSystem(0, 0, "b", blk, g, eps)
    q = route.quote(system)
    assert q.applies and q.basis == "assumed-prediction" and not q.needs_dense
    res = route.solve(system, q)
    ref = kron_reference(A, G, layout, weight, bias)
    want = torch.linalg.solve(ref + eps * torch.eye(blk.n, dtype=F64), g)
    torch.testing.assert_close(res.x, want, rtol=1e-9, atol=1e-12)
    assert res.report.residual < 1e-10
    assert not blk.dense_formed  # nothing n x n was formed
    assert route.quote(system).reason.startswith("K-FAC") and "cached" in route.quote(system).reason


def test_factored_damping_solves_the_factored_system_and_is_labelled_an_approximation():
    A, G = random_factors(seed=4)
    A = A[:4, :4]
    blk = KFACBlock("b", A, G)
    g = torch.randn(blk.n, dtype=F64)
    eps = 0.2
    route = KronEigRoute(KronEigConfig(damping="factored", cost=FIXED_EIGH))
    system = BlockSystem(0, 0, "b", blk, g, eps)
    res = route.solve(system, route.quote(system))
    pi = ((A.trace() / 4) / (G.trace() / 3)).sqrt()
    I3, I4 = torch.eye(3, dtype=F64), torch.eye(4, dtype=F64)
    fact = torch.kron(G + eps**0.5 / pi * I3, A + pi * eps**0.5 * I4)
    torch.testing.assert_close(res.x, torch.linalg.solve(fact, g), rtol=1e-9, atol=1e-12)
    exact = torch.linalg.solve(torch.kron(G, A) + eps * torch.eye(12, dtype=F64), g)
    assert float((res.x - exact).norm()) > 1e-3 * float(exact.norm())  # a different system
    assert res.report.residual > 1e-6 and "approximation" in res.report.details["note"]


def test_kron_eig_declines_other_blocks_and_is_a_builtin_default_route():
    assert "kron-eig" in BUILTIN_ROUTES and "kron-eig" in DEFAULT_ROUTES
    dense = DenseBlock(torch.eye(3, dtype=F64), name="d")
    q = KronEigRoute().quote(BlockSystem(0, 0, "d", dense, torch.ones(3, dtype=F64), 1.0))
    assert not q.applies and "not a Kronecker-factored (K-FAC) block" in q.reason
    A, G = random_factors(n_in=40, n_out=30)  # n = 1200: two small decompositions beat C n^3
    cfg = SchedulerConfig(routes=("cholesky", "kron-eig"), policy="classical", kron=KronEigConfig(cost=FIXED_EIGH))
    sched = Scheduler(cfg)
    blk = KFACBlock("w", A[:40, :40], G)
    out = sched.run(BlockTask(0, 0, "w", blk, torch.ones(1200, dtype=F64)))
    assert out.record.route == "kron-eig" and out.record.extra["kron_shape"] == [30, 40]
    assert not blk.dense_formed
    assert out.record.extra["curvature"] == "kfac"
    out = sched.run(BlockTask(0, 1, "d", torch.eye(3, dtype=F64) * 2, torch.ones(3, dtype=F64)))
    assert out.record.route == "cholesky" and not out.record.quotes["kron-eig"]["applies"]
    with pytest.raises(InvalidArgumentError):
        KronEigConfig(damping="tikhonov")  # type: ignore[arg-type]


# -- sequences (K-FAC expand) ---------------------------------------------------------------------
@pytest.mark.parametrize("fisher", ["empirical", "mc"])
def test_sequence_inputs_are_positions_as_samples(fisher):
    torch.manual_seed(0)
    lin = nn.Linear(4, 5).double()
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(3, 6, 4, generator=gen, dtype=F64)
    y = torch.randint(0, 5, (3, 6), generator=gen)
    y[0, :2] = -100  # ignored tokens are not loss terms
    seq = LossProblem(nn.Sequential(lin), TokenCrossEntropy(shift=False))
    keep = (y != -100).reshape(-1)
    flat_x, flat_y = x.reshape(-1, 4), y.reshape(-1)
    flat = LossProblem(nn.Sequential(lin), nn.CrossEntropyLoss())
    cfg = KFACConfig(fisher=fisher, seed=3)
    a = kfac_blocks(seq, (x, y), "module", state=KFACState(cfg))[0]["0"]
    b = kfac_blocks(flat, (flat_x, flat_y), "module", state=KFACState(cfg))[0]["0"]
    torch.testing.assert_close(a.A, b.A, rtol=1e-12, atol=1e-14)
    if fisher == "empirical":  # same targets: identical factors
        torch.testing.assert_close(a.G, b.G, rtol=1e-12, atol=1e-14)
    # G = (1/M) sum over labelled positions of g g^T, with M the number of labelled tokens
    p = torch.softmax(lin(flat_x[keep]), 1).detach()
    expect = (torch.diag_embed(p) - p[:, :, None] * p[:, None, :]).mean(0)
    if fisher == "mc":
        assert float((a.G - expect).norm() / expect.norm()) < 1.0  # one draw: right scale only
    assert int(keep.sum()) == TokenCrossEntropy(shift=False).num_terms(lin(x), y)


# -- running averages, update interval, checkpoints ----------------------------------------------
def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.LayerNorm(5), nn.Linear(5, 3)).double()


def batches(k: int, b: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(11)
    return [(torch.randn(b, 6, generator=gen, dtype=F64), torch.randint(0, 3, (b,), generator=gen)) for _ in range(k)]


def test_running_average_and_update_interval():
    model = mlp()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    b = batches(5)
    f = [KFACState(KFACConfig(fisher="empirical", ema_decay=0.0)) for _ in range(2)]
    for st, bt in zip(f, b):
        kfac_blocks(problem, bt, "module", state=st)
    st = KFACState(KFACConfig(fisher="empirical", ema_decay=0.8))
    kfac_blocks(problem, b[0], "module", state=st)
    kfac_blocks(problem, b[1], "module", state=st)
    for m in ("0", "3"):
        for k in ("A", "G"):
            torch.testing.assert_close(st.factors[m][k], 0.8 * f[0].factors[m][k] + 0.2 * f[1].factors[m][k])
    every3 = KFACState(KFACConfig(fisher="empirical", update_interval=3))
    seen = []
    for bt in b:
        res, _ = kfac_blocks(problem, bt, "module", state=every3)
        seen.append((res["0"].G.clone(), res.measured_seconds["factors_updated"]))
    assert [u for _, u in seen] == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert torch.equal(seen[0][0], seen[1][0]) and torch.equal(seen[0][0], seen[2][0])
    assert not torch.equal(seen[2][0], seen[3][0]) and torch.equal(seen[3][0], seen[4][0])
    assert every3.updates == 2 and every3.calls == 5


def sched_config(eps: float) -> SchedulerConfig:
    return SchedulerConfig(
        policy="classical",
        routes=("kron-eig", "woodbury", "cg"),
        regularization=RegularizationSpec(eps),
        kron=KronEigConfig(cost=FIXED_EIGH),
    )


def make_opt(model: nn.Module) -> QNewton:
    return QNewton(
        model.parameters(),
        model=model,
        criterion=nn.CrossEntropyLoss(),
        curvature="kfac",
        kfac=KFACConfig(ema_decay=0.9, update_interval=2, mc_samples=2, seed=5),
        line_search=True,
        scheduler=sched_config(0.05),
    )


def test_state_dict_round_trip_resumes_bit_identically():
    data = batches(6)
    straight = mlp()
    opt = make_opt(straight)
    for bt in data:
        opt.step(batch=bt)
    first = mlp()
    opt1 = make_opt(first)
    for bt in data[:3]:
        opt1.step(batch=bt)
    buf = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # tensors and plain data only
    assert set(ckpt["opt"]["qnewton"]["kfac"]["factors"]) == {"0", "3"}
    resumed = mlp(seed=99)
    resumed.load_state_dict(ckpt["model"])
    opt2 = make_opt(resumed)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.kfac_state.calls == 3 and opt2.kfac_state.updates == 2
    for bt in data[3:]:
        opt2.step(batch=bt)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert [r.route for r in opt.decisions[-6:]] == [r.route for r in opt2.decisions[-6:]]


# -- blocks K-FAC does not cover -------------------------------------------------------------------
class TiedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(7, 4).double()
        self.norm = nn.LayerNorm(4).double()
        self.a = nn.Linear(4, 4).double()
        self.b = nn.Linear(4, 4, bias=False).double()
        self.b.weight = self.a.weight  # tied
        self.head = nn.Linear(4, 3).double()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.b(torch.tanh(self.a(self.norm(self.emb(ids))))))


@pytest.mark.parametrize("uncovered", ["fisher", "ggn", "first-order"])
def test_uncovered_blocks_take_the_configured_curvature_and_are_logged(uncovered):
    model = TiedNet()
    gen = torch.Generator().manual_seed(0)
    batch = (torch.randint(0, 7, (12,), generator=gen), torch.randint(0, 3, (12,), generator=gen))
    opt = QNewton(
        model.parameters(),
        model=model,
        criterion=nn.CrossEntropyLoss(),
        curvature="kfac",
        kfac=KFACConfig(uncovered=uncovered),
        scheduler=sched_config(0.5),
    )
    opt.step(batch=batch)
    recs = {r.block: r for r in opt.decisions}
    assert recs["head.weight"].route == "kron-eig" and recs["head.bias"].route == "kron-eig"
    assert "tied weights" in (recs["a.weight"].notes + recs["a.weight"].reason)
    for name, why in (("emb.weight", "Embedding"), ("norm.weight", "LayerNorm"), ("a.weight", "tied")):
        r = recs[name]
        if uncovered == "first-order":
            assert r.route == "first-order" and why in r.reason and "K-FAC does not cover" in r.reason
        else:
            kind = {"fisher": "empirical_fisher", "ggn": "ggn"}[uncovered]
            assert r.extra["curvature"] == kind and why in r.notes and r.route in ("woodbury", "cg")


def test_kfac_options_are_validated():
    with pytest.raises(InvalidArgumentError):
        KFACConfig(ema_decay=1.0)
    with pytest.raises(InvalidArgumentError):
        KFACConfig(fisher="exact")  # type: ignore[arg-type]
    net = mlp()
    with pytest.raises(InvalidArgumentError, match="curvature='kfac'"):
        QNewton(net.parameters(), model=net, criterion=nn.CrossEntropyLoss(), kfac=KFACConfig())
    m = mlp()
    opt = QNewton(
        m.parameters(),
        model=m,
        forward_loss=lambda mod, b: nn.functional.cross_entropy(mod(b[0]), b[1]),
        curvature="kfac",
    )
    with pytest.raises(InvalidArgumentError, match="fisher='empirical'"):
        opt.step(batch=batches(1)[0])  # the sampled Fisher needs the outputs and the loss apart


def test_empirical_kfac_works_with_a_forward_loss_problem():
    m = mlp()
    opt = QNewton(
        m.parameters(),
        model=m,
        forward_loss=lambda mod, b: nn.functional.cross_entropy(mod(b[0]), b[1]),
        curvature="kfac",
        kfac=KFACConfig(fisher="empirical"),
        scheduler=sched_config(0.5),
    )
    loss0 = float(opt.step(batch=batches(1)[0]))
    assert {r.route for r in opt.decisions if r.block.startswith(("0.", "3."))} == {"kron-eig"}
    assert loss0 > 0


# -- an independent implementation ---------------------------------------------------------------
@pytest.mark.parametrize("fisher", ["type-2", "empirical"])
@pytest.mark.parametrize("crit", ["ce", "mse"])
@pytest.mark.parametrize("joint", [False, True])
def test_matches_curvlinops_kfac(fisher, crit, joint):
    curvlinops = pytest.importorskip("curvlinops")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(10, 5, generator=gen, dtype=F64)
    criterion = nn.CrossEntropyLoss() if crit == "ce" else nn.MSELoss()
    y = torch.randint(0, 3, (10,), generator=gen) if crit == "ce" else torch.randn(10, 3, generator=gen, dtype=F64)
    params = list(model.parameters())
    K = curvlinops.KFACLinearOperator(
        model,
        criterion,
        params,
        [(X, y)],
        fisher_type=fisher,
        check_deterministic=False,
        separate_weight_and_bias=not joint,
    )
    n = sum(p.numel() for p in params)
    ref = K @ torch.eye(n, dtype=F64)
    res, _ = kfac_blocks(
        LossProblem(model, criterion),
        (X, y),
        "module" if joint else "layerwise",
        state=KFACState(KFACConfig(fisher=fisher)),
    )
    mine = torch.block_diag(*[b.dense() for b in res])
    torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-13)


def test_matches_curvlinops_kfac_expand_on_sequences():
    curvlinops = pytest.importorskip("curvlinops")

    class Flat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, x.shape[-1])

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).double()
    gen = torch.Generator().manual_seed(2)
    X, y = torch.randn(3, 7, 4, generator=gen, dtype=F64), torch.randint(0, 5, (3, 7), generator=gen)
    params = list(net.parameters())
    n = sum(p.numel() for p in params)
    problem = LossProblem(net, TokenCrossEntropy(shift=False))
    for fisher, ours, tol in (("empirical", "empirical", 1e-12), ("type-2", "mc", 0.05)):
        K = curvlinops.KFACLinearOperator(
            nn.Sequential(net, Flat()),
            nn.CrossEntropyLoss(),
            params,
            [(X, y.reshape(-1))],
            fisher_type=fisher,
            check_deterministic=False,
            num_per_example_loss_terms=7,
            kfac_approx="expand",
        )
        ref = K @ torch.eye(n, dtype=F64)
        cfg = KFACConfig(fisher=ours, mc_samples=1000, seed=0)
        mine = torch.block_diag(*[b.dense() for b in kfac_blocks(problem, (X, y), state=KFACState(cfg))[0]])
        assert float((mine - ref).norm() / ref.norm()) < tol  # MC: 1000 draws against the exact expectation


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
        ),
    ],
)
def test_kfac_step_runs_on_the_models_device(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).to(device)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 6, generator=gen).to(device), torch.randint(0, 3, (16,), generator=gen).to(device)
    opt = QNewton(
        model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), curvature="kfac", scheduler=sched_config(0.1)
    )
    before = [p.detach().clone() for p in model.parameters()]
    opt.step(batch=(x, y))
    blk = kfac_blocks(opt.problem, (x, y), "layerwise", state=opt.kfac_state)[0]["0.weight"]
    assert blk.A.device.type == device and blk.eigh()[0].device.type == device
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert {r.route for r in opt.decisions} == {"kron-eig"}
