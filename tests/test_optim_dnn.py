"""The paper's DNN under the hybrid policy: it trains, routes blocks both ways, and explains why."""

import pytest
import torch
from torch import nn

from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.data import load_image_dataset
from qnewton.models import paper_dnn
from qnewton.optim import QNewton


def train_hybrid(dataset: str, steps: int):
    data = load_image_dataset(dataset, seed=0)
    x, y = data.tensors("train")
    xt, yt = data.tensors("test")
    model = paper_dnn(input_dim=data.n_features, seed=0)
    opt = QNewton(
        model.parameters(),
        model=model,
        criterion=nn.CrossEntropyLoss(),
        lr=1.0,
        eps=0.05,
        line_search=True,
        sgd_steps=2,
        sgd_momentum=0.9,
        policy="hybrid",
        routes=("cholesky", "qlsa"),  # the paper's scheme: dense LU against the QLSA
        classical_cost=ClassicalCostModel(c=1e-11),
        quantum_cost=QuantumCostModel(gate_time="ghz"),
    )
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(y), (256,), generator=gen)
        losses.append(float(opt.step(batch=(x[idx], y[idx]))))
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    return opt, losses, acc


def check_hybrid(opt: QNewton, losses: list[float], acc: float) -> None:
    kinds = {r.kind for r in opt.decisions}
    assert kinds == {"classical", "quantum"}  # both routes taken, each where it was cheaper
    for r in opt.decisions:
        cheaper = "quantum" if r.quantum_cost_s < r.classical_cost_s else "classical"
        assert r.kind == cheaper and "cheapest" in r.reason
        assert r.route == {"quantum": "qlsa", "classical": "cholesky"}[cheaper] == r.route_paper
        assert r.kappa >= 1 and r.d >= 1 and r.classical_cost_basis.endswith("prediction")
        text = r.explain()
        assert "modeled" in text and r.block in text
    big = max(opt.decisions, key=lambda r: r.n)
    assert big.kind == "quantum"  # C N^3 grows faster than the modeled QLSA cost
    assert losses[-1] < losses[0] and acc > 0.3


def test_dnn_hybrid_on_digits():
    opt, losses, acc = train_hybrid("digits", 8)  # 64-16-16-10: the first block is 1024 x 1024
    check_hybrid(opt, losses, acc)


@pytest.mark.slow
def test_paper_dnn_784_hybrid():
    opt, losses, acc = train_hybrid("digits-784", 5)  # 784-16-16-10: the 12544 x 12544 block of the paper
    check_hybrid(opt, losses, acc)
    assert max(r.n for r in opt.decisions) == 12544
