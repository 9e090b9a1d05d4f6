"""The paper's DNN, forward_loss for classifiers, parameter blocks, and the missing-extra error.
(The transformers models are in test_models_lm.py.)"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from qnewton.data import load_image_dataset
from qnewton.errors import InvalidArgumentError, MissingDependencyError, NonFiniteError
from qnewton.models import (
    MLP,
    block_name,
    classification_loss,
    count_parameters,
    count_parameters_per_block,
    forward_loss,
    is_language_model,
    paper_dnn,
    parameter_blocks,
    require_transformers,
)


def test_paper_dnn_has_13002_parameters():
    m = paper_dnn()
    assert count_parameters(m) == 13_002 == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes == {
        "fc1.weight": (16, 784),
        "fc1.bias": (16,),
        "fc2.weight": (16, 16),
        "fc2.bias": (16,),
        "fc3.weight": (10, 16),
        "fc3.bias": (10,),
    }
    assert count_parameters_per_block(m) == {"fc1": 12_560, "fc2": 272, "fc3": 170}
    assert count_parameters_per_block(m, "tensor")["fc1.weight"] == 12_544  # the paper's Hessian block
    assert count_parameters(paper_dnn(input_dim=64)) == 64 * 16 + 16 + 272 + 170


def test_paper_dnn_forward_matches_numpy():
    m = paper_dnn(seed=3)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = m(x).detach().numpy().astype(np.float64)
    W = {n: p.detach().numpy().astype(np.float64) for n, p in m.named_parameters()}
    h = x.reshape(5, -1).numpy().astype(np.float64)
    h = np.maximum(h @ W["fc1.weight"].T + W["fc1.bias"], 0)
    h = np.maximum(h @ W["fc2.weight"].T + W["fc2.bias"], 0)
    ref = h @ W["fc3.weight"].T + W["fc3.bias"]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_seeded_init_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = paper_dnn(seed=1), paper_dnn(seed=1), paper_dnn(seed=2)
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


def test_mlp_validation():
    with pytest.raises(InvalidArgumentError, match="sizes"):
        MLP((784,))
    with pytest.raises(InvalidArgumentError, match="activation"):
        MLP((4, 2), activation="swish")
    with pytest.raises(InvalidArgumentError, match=r"sizes\[1\]"):
        MLP((4, 0, 2))
    with pytest.raises(InvalidArgumentError, match="784"):
        paper_dnn()(torch.zeros(2, 64))
    assert MLP((4, 3, 2), activation="tanh")(torch.zeros(1, 4)).shape == (1, 2)


def test_classification_loss_matches_log_softmax_in_float64():
    m = paper_dnn(input_dim=8, hidden=(5,), num_classes=3, seed=0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 8, generator=g), torch.randint(0, 3, (7,), generator=g)
    z = m(x).detach().numpy().astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    per = lse - z[np.arange(7), y.numpy()]
    assert not is_language_model(m)
    np.testing.assert_allclose(float(forward_loss(m, (x, y)).detach()), per.mean(), rtol=1e-5)
    np.testing.assert_allclose(forward_loss(m, {"x": x, "y": y}, reduction="none").detach().numpy(), per, rtol=1e-5)
    with pytest.raises(InvalidArgumentError, match="batch"):
        forward_loss(m, (x, y, y))
    with pytest.raises(InvalidArgumentError, match="labels"):
        classification_loss(m, (x, y[:3]))
    with pytest.raises(InvalidArgumentError, match="reduction"):
        forward_loss(m, (x, y), reduction="sum")
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        forward_loss(m, (bad, y), check_finite=True)


def test_dnn_loss_decreases_with_sgd_on_digits():
    ds = load_image_dataset("digits-784", n_train=64, seed=0, normalization="standardize")
    x, y = ds.tensors("train")
    m = paper_dnn(seed=0)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = forward_loss(m, (x, y))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses


def test_block_names():
    assert block_name("model.layers.3.mlp.up_proj.weight") == "model.layers.3"
    assert block_name("model.layers.3.mlp.up_proj.weight", "module") == "model.layers.3.mlp.up_proj"
    assert block_name("cls.predictions.transform.dense.weight") == "cls.predictions"
    assert block_name("lm_head.weight") == "lm_head"
    with pytest.raises(InvalidArgumentError, match="granularity"):
        block_name("fc1.weight", "row")
    m = paper_dnn()
    m.fc3.bias.requires_grad_(False)
    assert parameter_blocks(m)["fc3"] == ["fc3.weight"]
    assert sum(count_parameters_per_block(m, "module").values()) == count_parameters(m) == 12_992


def test_missing_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(MissingDependencyError, match="nlp"):
        require_transformers()
    from qnewton.models import make_bert

    with pytest.raises(ImportError, match="nlp"):
        make_bert()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # inside torch.func
def test_functional_loss_per_sample_grads_and_block_hessian():
    from torch.func import grad, hessian, vmap

    from qnewton.models import functional_loss

    m = paper_dnn(input_dim=6, hidden=(4,), num_classes=3, activation="tanh", seed=0)
    g = torch.Generator().manual_seed(2)
    X, Y = torch.randn(5, 6, generator=g), torch.randint(0, 3, (5,), generator=g)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def one(p, x, y):
        return functional_loss(m, p, (x[None], y[None]))

    per = vmap(grad(one), in_dims=(None, 0, 0))(params, X, Y)
    for i in range(5):  # reference: one backward pass per sample
        m.zero_grad()
        forward_loss(m, (X[i : i + 1], Y[i : i + 1])).backward()
        for k, p in m.named_parameters():
            torch.testing.assert_close(per[k][i], p.grad)
    w0 = params["fc1.weight"]
    H = hessian(lambda w: functional_loss(m, {"fc1.weight": w}, (X, Y)))(w0).reshape(24, 24)
    # reference: Hessian by double backward, one row at a time
    w = w0.clone().requires_grad_(True)
    loss = functional_loss(m, {"fc1.weight": w}, (X, Y))
    gw = torch.autograd.grad(loss, w, create_graph=True)[0].reshape(-1)
    rows = torch.stack([torch.autograd.grad(gw[i], w, retain_graph=True)[0].reshape(-1) for i in range(24)])
    torch.testing.assert_close(H, rows)
    torch.testing.assert_close(H, H.T)
