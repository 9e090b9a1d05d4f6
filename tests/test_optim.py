"""The QNewton optimizer: sklearn's Newton solver as the reference, closure == batch, checkpoints."""

import copy
import warnings

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.data import load_digits_dataset
from qnewton.errors import InvalidArgumentError, NonFiniteError, SkippedStepWarning
from qnewton.optim import QNewton
from qnewton.scheduler import read_decisions_csv

FIXED_C = ClassicalCostModel(c=1e-11)


@pytest.fixture(scope="module")
def digits():
    ds = load_digits_dataset(seed=0)
    return ds, torch.from_numpy(ds.x_train).double(), torch.from_numpy(ds.y_train)


def test_logistic_regression_matches_sklearn_newton_cholesky(digits):
    """QNewton (classical policy, full Hessian) reaches sklearn's optimum to 1e-6 in a handful of steps."""
    ds, x, y = digits
    C = 1.0
    lam = 1.0 / (C * len(y))  # sklearn: C * sum(loss) + ||W||^2 / 2  ==  C m (mean loss + lam/2 ||W||^2)

    def objective(model, batch):
        xb, yb = batch
        return nn.functional.cross_entropy(model(xb), yb) + 0.5 * lam * (model.weight**2).sum()

    torch.manual_seed(0)
    model = nn.Linear(64, 10).double()
    opt = QNewton(
        model.parameters(),
        model=model,
        forward_loss=objective,
        lr=1.0,
        eps=1e-8,
        policy="classical",
        blocks="full",
        classical_cost=FIXED_C,
    )
    for _ in range(8):
        opt.step(batch=(x, y))
    with torch.no_grad():
        ours = float(objective(model, (x, y)))
    clf = LogisticRegression(solver="newton-cholesky", C=C, tol=1e-8, max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(ds.x_train.astype("float64"), ds.y_train)  # float64, as our model
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(clf.coef_))
        ref.bias.copy_(torch.from_numpy(clf.intercept_))
        sk = float(objective(ref, (x, y)))
    assert ours == pytest.approx(sk, rel=1e-6)
    assert ours <= sk * (1 + 1e-9)  # not worse than sklearn's own solution
    assert all(r.kind == "classical" and r.block == "full" and r.n == 650 for r in opt.decisions)


def small_mlp(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10)).to(dtype)


def test_closure_and_batch_paths_take_the_same_step(digits):
    _, x, y = digits
    xb, yb = x[:200], y[:200]
    crit = nn.CrossEntropyLoss()
    m1, m2 = small_mlp(), small_mlp()
    kw = dict(lr=0.5, eps=0.1, policy="classical", classical_cost=FIXED_C)
    o1 = QNewton(m1.parameters(), model=m1, criterion=crit, **kw)
    o2 = QNewton(m2.parameters(), **kw)
    for _ in range(2):
        l1 = o1.step(batch=(xb, yb))
        l2 = o2.step(lambda: crit(m2(xb), yb))
        assert float(l1) == pytest.approx(float(l2), rel=1e-12)
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


def test_sgd_phase_is_plain_sgd_then_newton(digits):
    _, x, y = digits
    xb, yb = x[:100], y[:100]
    crit = nn.CrossEntropyLoss()
    m, ref = small_mlp(), small_mlp()
    opt = QNewton(
        m.parameters(), model=m, criterion=crit, sgd_steps=2, sgd_lr=0.3, classical_cost=FIXED_C, policy="classical"
    )
    sgd = torch.optim.SGD(ref.parameters(), lr=0.3)
    for _ in range(2):
        opt.step(batch=(xb, yb))
        sgd.zero_grad()
        crit(ref(xb), yb).backward()
        sgd.step()
    for p, q in zip(m.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    assert [h["phase"] for h in opt.history] == ["sgd", "sgd"] and not opt.decisions
    opt.step(batch=(xb, yb))
    assert opt.history[-1]["phase"] == "newton" and len(opt.decisions) == 4  # one record per parameter tensor


def test_newton_step_is_the_block_newton_direction(digits):
    _, x, y = digits
    xb, yb = x[:100], y[:100]
    crit = nn.CrossEntropyLoss()
    m = small_mlp()
    before = [p.detach().clone() for p in m.parameters()]
    opt = QNewton(m.parameters(), model=m, criterion=crit, lr=0.7, eps=0.3, policy="classical", classical_cost=FIXED_C)
    opt.step(batch=(xb, yb))
    params = dict(m.named_parameters())
    for (name, p0), p in zip([(n, b) for (n, _), b in zip(params.items(), before)], m.parameters()):

        def f(w, name=name):
            ps = {k: (w if k == name else v.detach()) for k, v in zip(params, before)}
            return crit(torch.func.functional_call(m, ps, (xb,)), yb)

        g = torch.func.grad(f)(p0).reshape(-1)
        h = torch.func.hessian(f)(p0).reshape(g.numel(), g.numel())
        step = torch.linalg.solve(h + 0.3 * torch.eye(g.numel(), dtype=h.dtype), g)
        torch.testing.assert_close((p0 - p.detach()).reshape(-1), 0.7 * step, rtol=1e-7, atol=1e-10)


def test_checkpoint_resume_is_bit_identical(digits, tmp_path):
    _, x, y = digits
    batches = [(x[i : i + 128], y[i : i + 128]) for i in range(0, 768, 128)]
    crit = nn.CrossEntropyLoss()

    def make(model):
        return QNewton(
            model.parameters(),
            model=model,
            criterion=crit,
            lr=0.5,
            eps=0.5,
            policy="hybrid",
            quantum_solver="emulated-noisy",
            classical_cost=ClassicalCostModel(c=1e-9),
            quantum_cost=QuantumCostModel(gate_time="ghz", eps=1e-3),
            sparsity=0.25,
            seed=7,
        )

    m = small_mlp()
    opt = make(m)
    for b in batches[:3]:
        opt.step(batch=b)
    torch.save({"model": m.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    for b in batches[3:]:
        opt.step(batch=b)

    ck = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    m2 = small_mlp(seed=123)
    m2.load_state_dict(ck["model"])
    opt2 = make(m2)
    opt2.load_state_dict(ck["opt"])
    for b in batches[3:]:
        opt2.step(batch=b)
    for p, q in zip(m.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    assert [r.to_dict() | {"extra": None} for r in opt.decisions] != []
    # measured times, and the classical routes' predictions made from them (CG: iterations x measured
    # product time), differ run to run; everything else must not
    volatile = (
        "extra",
        "step_time_s",
        "end_to_end_s",
        "quotes",
        "best_classical_s",
        "predicted_s",
        "best_classical_route",
        "route_end_to_end",
    )
    strip = lambda rs: [  # noqa: E731
        {k: v for k, v in r.to_dict().items() if not k.endswith("measured_s") and k not in volatile} for r in rs
    ]
    assert strip(opt.decisions) == strip(opt2.decisions)
    assert {r.kind for r in opt.decisions} == {"classical", "quantum"}  # both kinds exercised


def test_decision_log_export(digits, tmp_path):
    _, x, y = digits
    m = small_mlp()
    opt = QNewton(
        m.parameters(),
        model=m,
        criterion=nn.CrossEntropyLoss(),
        classical_cost=FIXED_C,
        quantum_cost=QuantumCostModel(gate_time="ghz"),
    )
    opt.step(batch=(x[:64], y[:64]))
    path = tmp_path / "decisions.csv"
    opt.decisions_to_csv(path)
    back = read_decisions_csv(path)
    assert [r.block for r in back] == [n for n, _ in m.named_parameters()]
    assert all(r.reason for r in back) and "step 0" in opt.explain()


def test_nonfinite_raise_and_skip(digits):
    _, x, y = digits
    xb = x[:32].clone()
    xb[0, 0] = float("nan")
    m = small_mlp()
    opt = QNewton(m.parameters(), model=m, criterion=nn.CrossEntropyLoss(), classical_cost=FIXED_C)
    with pytest.raises(NonFiniteError):
        opt.step(batch=(xb, y[:32]))
    before = [p.detach().clone() for p in m.parameters()]
    opt = QNewton(m.parameters(), model=m, criterion=nn.CrossEntropyLoss(), classical_cost=FIXED_C, on_nonfinite="skip")
    with pytest.warns(SkippedStepWarning):
        loss = opt.step(batch=(xb, y[:32]))
    assert torch.isnan(loss)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), before))
    assert opt.decisions[-1].route == "skipped"


def test_bad_construction():
    m = small_mlp()
    with pytest.raises(InvalidArgumentError, match="params"):
        QNewton([], lr=1.0)
    frozen = nn.Parameter(torch.zeros(3), requires_grad=False)
    with pytest.raises(InvalidArgumentError, match="require grad"):
        QNewton([frozen])
    with pytest.raises(InvalidArgumentError, match="lr"):
        QNewton(m.parameters(), lr=0.0)
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        QNewton(m.parameters(), model=m)
    with pytest.raises(InvalidArgumentError, match="batch"):
        QNewton(m.parameters()).step()
    with pytest.raises(InvalidArgumentError, match="sparsity"):
        QNewton(m.parameters(), sparsity="dense")
