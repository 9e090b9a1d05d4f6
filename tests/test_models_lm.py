"""BERT (masked LM) and Mistral (causal LM) from transformers: sizes, offline construction,
forward+backward, forward_loss against losses computed by hand, double backward, training."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from qnewton.data import (  # noqa: E402
    IGNORE_INDEX,
    ByteTokenizer,
    causal_lm_blocks,
    load_text_corpus,
    masked_lm_blocks,
)
from qnewton.errors import InvalidArgumentError  # noqa: E402
from qnewton.models import (  # noqa: E402
    bert_config,
    count_parameters,
    count_parameters_per_block,
    forward_loss,
    is_language_model,
    make_bert,
    make_mistral,
    mistral_config,
)

pytestmark = pytest.mark.nlp
TOK = ByteTokenizer()


def bert_count(V, h=64, L=4, I=256, P=512, T=2):
    """BertForMaskedLM parameters by hand: embeddings (word, position, type, LayerNorm), per layer
    Q/K/V/O with biases + LayerNorm + FFN in/out + LayerNorm, MLM head transform + LayerNorm +
    output bias (decoder weight tied to the word embeddings)."""
    emb = V * h + P * h + T * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * I + I) + (I * h + h) + 2 * h
    head = h * h + h + 2 * h + V
    return emb + L * layer + head


def mistral_count(V, h=64, L=4, I=224, heads=4, kv=2):
    """MistralForCausalLM by hand: embeddings, per layer q/o (h x h), k/v (h x kv*d), gate/up/down
    (3 h I), two RMSNorm weights; final RMSNorm; untied LM head."""
    d = h // heads
    layer = 2 * h * h + 2 * h * kv * d + 3 * h * I + 2 * h
    return V * h + L * layer + h + V * h


@pytest.fixture(scope="module")
def corpus():
    return load_text_corpus("pydoc")


def test_parameter_counts_match_closed_form():
    bert, mistral = make_bert(), make_mistral()
    assert count_parameters(bert) == bert_count(261) == 254_213
    assert count_parameters(mistral) == mistral_count(261) == 255_168
    blocks = count_parameters_per_block(mistral)
    assert list(blocks) == [
        "model.embed_tokens",
        *(f"model.layers.{i}" for i in range(4)),
        "model.norm",
        "lm_head",
    ]
    assert sum(blocks.values()) == 255_168
    assert count_parameters_per_block(bert)["bert.encoder.layer.0"] == 49_984


def test_paper_vocabularies_reproduce_table_one():
    # Table I: BERT 2.2M, Mistral 4.3M at hidden 64, 4 layers (original 30522 / 32000 vocabularies)
    assert count_parameters(make_bert(vocab_size=30522)) == bert_count(30522) == 2_221_178
    assert count_parameters(make_mistral(vocab_size=32000)) == mistral_count(32000) == 4_317_760


def test_config_defaults_and_overrides():
    c = bert_config()
    assert (c.hidden_size, c.num_hidden_layers, c.vocab_size, c.pad_token_id) == (
        64,
        4,
        261,
        TOK.pad_token_id,
    )
    assert c.hidden_dropout_prob == 0.0 and c.attention_probs_dropout_prob == 0.0
    m = mistral_config(num_hidden_layers=2)
    assert m.num_hidden_layers == 2 and m.num_key_value_heads == 2 and not m.tie_word_embeddings
    with pytest.raises(InvalidArgumentError, match="hiden_size"):
        bert_config(hiden_size=32)  # a typo is not silently ignored
    with pytest.raises(InvalidArgumentError, match="multiple"):
        mistral_config(hidden_size=64, num_attention_heads=6)
    with pytest.raises(InvalidArgumentError, match="num_key_value_heads"):
        mistral_config(num_key_value_heads=3)
    with pytest.raises(InvalidArgumentError, match="vocab_size"):
        bert_config(vocab_size=100)
    with pytest.raises(InvalidArgumentError, match="attn_implementation"):
        make_bert(attn_implementation="flash")


def test_construction_is_offline_and_seeded(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    a, b, c = make_mistral(seed=1), make_mistral(seed=1), make_mistral(seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    x, y = make_bert(seed=5), make_bert(seed=5)
    assert all(torch.equal(p, q) for p, q in zip(x.parameters(), y.parameters(), strict=True))
    assert is_language_model(x) and x.config._attn_implementation == "eager"


def test_mistral_forward_loss_is_shifted_cross_entropy(corpus):
    model = make_mistral(num_hidden_layers=2)
    blocks = causal_lm_blocks(corpus.valid, block_size=32, max_blocks=4)
    loss = forward_loss(model, blocks.batch())
    logits = model(input_ids=blocks.input_ids).logits
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 261), blocks.input_ids[:, 1:].reshape(-1))
    torch.testing.assert_close(loss, ref)
    # untrained: near log(vocab)
    assert abs(float(loss.detach()) - torch.log(torch.tensor(261.0)).item()) < 0.5
    per = forward_loss(model, blocks.batch(), reduction="none")
    assert per.shape == (4,)
    torch.testing.assert_close(per.mean(), loss)
    as_list = next(iter(blocks.loader(batch_size=4, shuffle=False)))
    torch.testing.assert_close(forward_loss(model, as_list), loss)
    torch.testing.assert_close(forward_loss(model, (blocks.input_ids, blocks.labels)), loss)
    with pytest.raises(InvalidArgumentError, match="labels"):
        forward_loss(model, {"input_ids": blocks.input_ids})


def test_bert_forward_loss_is_masked_cross_entropy(corpus):
    model = make_bert(num_hidden_layers=2)
    blocks = masked_lm_blocks(corpus.valid, block_size=32, max_blocks=4, seed=0)
    loss = forward_loss(model, blocks.batch())
    logits = model(input_ids=blocks.input_ids).logits
    sel = blocks.labels != IGNORE_INDEX
    ref = F.cross_entropy(logits[sel], blocks.labels[sel])
    torch.testing.assert_close(loss, ref)
    per = forward_loss(model, blocks.batch(), reduction="none")
    by_row = [F.cross_entropy(logits[i][sel[i]], blocks.labels[i][sel[i]]) for i in range(4)]
    torch.testing.assert_close(per, torch.stack(by_row))
    # a sliced, non-contiguous labels tensor works (transformers calls .view on it)
    sliced = {k: v[:, :16] for k, v in blocks.batch().items()}
    assert not sliced["labels"].is_contiguous()
    assert torch.isfinite(forward_loss(model, sliced))


@pytest.mark.parametrize("factory", [make_bert, make_mistral], ids=["bert", "mistral"])
def test_forward_backward_gives_finite_gradients(factory, corpus):
    model = factory()
    make = masked_lm_blocks if factory is make_bert else causal_lm_blocks
    blocks = make(corpus.train, block_size=16, max_blocks=2)
    loss = forward_loss(model, blocks.batch())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert any(float(p.grad.abs().max()) > 0 for p in model.parameters())


@pytest.mark.parametrize("factory", [make_bert, make_mistral], ids=["bert", "mistral"])
def test_sdpa_matches_eager(factory, corpus):
    blocks = causal_lm_blocks(corpus.test, block_size=16, max_blocks=2)
    batch = blocks.batch()
    if factory is make_bert:
        batch = masked_lm_blocks(corpus.test, block_size=16, max_blocks=2).batch()
    a = forward_loss(factory(seed=3, num_hidden_layers=2), batch)
    b = forward_loss(factory(seed=3, num_hidden_layers=2, attn_implementation="sdpa"), batch)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("factory", [make_bert, make_mistral], ids=["bert", "mistral"])
def test_hessian_vector_products_work_and_are_symmetric(factory, corpus):
    # the default eager attention supports double backward; v.(H w) == w.(H v)
    model = factory(num_hidden_layers=1)
    make = masked_lm_blocks if factory is make_bert else causal_lm_blocks
    batch = make(corpus.train, block_size=12, max_blocks=2).batch()
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.autograd.grad(forward_loss(model, batch), params, create_graph=True)
    gen = torch.Generator().manual_seed(0)
    v = [torch.randn(p.shape, generator=gen) for p in params]
    w = [torch.randn(p.shape, generator=gen) for p in params]

    def hvp(u):
        dot = sum((gi * ui).sum() for gi, ui in zip(g, u, strict=True))
        return torch.autograd.grad(dot, params, retain_graph=True, allow_unused=True)

    hv, hw = hvp(v), hvp(w)
    vhw = sum((vi * hi).sum() for vi, hi in zip(v, hw, strict=True) if hi is not None)
    whv = sum((wi * hi).sum() for wi, hi in zip(w, hv, strict=True) if hi is not None)
    assert torch.isfinite(vhw)
    torch.testing.assert_close(vhw, whv, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("factory", [make_bert, make_mistral], ids=["bert", "mistral"])
def test_loss_decreases_with_sgd(factory, corpus):
    model = factory(seed=0)
    make = masked_lm_blocks if factory is make_bert else causal_lm_blocks
    batch = make(corpus.train, block_size=32, max_blocks=4).batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = forward_loss(model, batch)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 1.0, losses


def test_per_sample_grads_with_vmap(corpus):
    from torch.func import grad, vmap

    from qnewton.models import functional_loss

    model = make_mistral(num_hidden_layers=1)
    b = causal_lm_blocks(corpus.valid, block_size=8, max_blocks=3).batch()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, ids, lab):
        return functional_loss(model, p, {"input_ids": ids[None], "labels": lab[None]})

    per = vmap(grad(one), in_dims=(None, 0, 0))(params, b["input_ids"], b["labels"])
    model.zero_grad()
    forward_loss(model, {"input_ids": b["input_ids"][1:2], "labels": b["labels"][1:2]}).backward()
    for k, p in model.named_parameters():
        torch.testing.assert_close(per[k][1], p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_bench_module_runs():
    from qnewton.models import _bench

    records = _bench.main(["--batch", "2", "--seq", "8", "--reps", "1", "--warmup", "0"])
    assert {r["model"] for r in records} == {"bert", "mistral", "paper_dnn"}
    assert all(r["measured_seconds_median"] > 0 for r in records)
