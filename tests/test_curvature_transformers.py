"""qnewton.curvature on tiny transformers models through the ``forward_loss`` path.

The paper's large models (BERT, Mistral; Q-Newton Sec. V-A) are built here from tiny configs in
float64 and checked against ``torch.autograd.functional.hessian`` and explicit per-sample loops.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.func import functional_call

from qnewton.curvature import (
    CurvatureConfig,
    HessianOperator,
    LossProblem,
    empirical_fisher,
    exact_hessian,
)
from qnewton.errors import QNewtonWarning

transformers = pytest.importorskip("transformers")
# transformers imports model classes lazily (seconds); pay that at collection, not inside a test
BertForMaskedLM, MistralForCausalLM = transformers.BertForMaskedLM, transformers.MistralForCausalLM

D64 = torch.float64
pytestmark = pytest.mark.nlp


def _forward_loss(model, batch):
    return model(**batch).loss


def _bert(attn: str = "eager"):
    cfg = transformers.BertConfig(
        vocab_size=23,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=12,
        max_position_embeddings=16,
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    return BertForMaskedLM(cfg).to(D64).eval()


def _mlm_batch(b: int = 4, t: int = 6):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 23, (b, t), generator=g)
    labels = torch.full_like(ids, -100)
    labels[:, 1] = ids[:, 1]  # every sample has at least one predicted token (no 0/0 loss)
    labels[::2, 4] = ids[::2, 4]
    mask = torch.ones_like(ids)
    mask[1, 5] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _ref_block_hessian(model, names, batch):
    params = dict(model.named_parameters())
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]

    def f(flat):
        sub = {k: t.reshape(s) for k, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return functional_call(model, sub, (), dict(batch)).loss

    x0 = torch.cat([params[k].detach().reshape(-1) for k in names])
    return torch.autograd.functional.hessian(f, x0, vectorize=True)


def _ref_fisher(model, names, batch, b):
    params = dict(model.named_parameters())
    rows = []
    for i in range(b):
        model.zero_grad()
        model(**{k: v[i : i + 1] for k, v in batch.items()}).loss.backward()
        rows.append(torch.cat([params[k].grad.reshape(-1).clone() for k in names]))
    G = torch.stack(rows)
    return G.T @ G / b


BLOCKS = {
    "q_bias": "bert.encoder.layer.0.attention.self.query.bias",
    "ln_w": "bert.encoder.layer.0.output.LayerNorm.weight",
    "q_w": "bert.encoder.layer.0.attention.self.query.weight",
}


def test_bert_exact_hessian_blocks_match_autograd():
    model = _bert()
    batch = _mlm_batch()
    problem = LossProblem(model, forward_loss=_forward_loss)
    res = exact_hessian(problem, batch, blocks=BLOCKS)
    for bname, pname in BLOCKS.items():
        ref = _ref_block_hessian(model, [pname], batch)
        torch.testing.assert_close(res[bname].matrix, (ref + ref.T) / 2, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(res.loss, model(**batch).loss.detach())
    # the same weights with fused SDPA attention: computed through the math backend, same result
    sdpa = _bert("sdpa")
    sdpa.load_state_dict(model.state_dict())
    res2 = exact_hessian(LossProblem(sdpa, forward_loss=_forward_loss), batch, blocks={"q_w": BLOCKS["q_w"]})
    torch.testing.assert_close(res2["q_w"].matrix, res["q_w"].matrix, rtol=1e-9, atol=1e-12)
    # the operator form through forward_loss
    op = HessianOperator(problem, batch, block=BLOCKS["q_w"])
    v = torch.randn(64, dtype=D64)
    torch.testing.assert_close(op.matvec(v), res["q_w"].matrix @ v, rtol=1e-9, atol=1e-12)


def test_bert_layerwise_fisher_matches_per_sample_loop():
    model = _bert()
    batch = _mlm_batch()
    problem = LossProblem(model, forward_loss=_forward_loss)
    # transformers' mask helper branches on the data (`padding_mask.all()`): vmap cannot batch it
    with pytest.warns(QNewtonWarning, match="falling back"):
        res = empirical_fisher(problem, batch, blocks=BLOCKS, config=CurvatureConfig(curvature_batch_size=3))
    assert res.curvature_batch_size == 3 and res["q_w"].method == "per-sample/loop"
    sub = {k: v[:3] for k, v in batch.items()}
    for bname, pname in BLOCKS.items():
        torch.testing.assert_close(res[bname].matrix, _ref_fisher(model, [pname], sub, 3), rtol=1e-9, atol=1e-13)


def test_mistral_fisher_vectorized_and_hessian():
    cfg = transformers.MistralConfig(
        vocab_size=19,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=12,
        max_position_embeddings=16,
        attn_implementation="eager",  # its mask path has no data-dependent branch: vmap works
    )
    torch.manual_seed(2)
    model = MistralForCausalLM(cfg).to(D64).eval()
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 19, (3, 5), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    problem = LossProblem(model, forward_loss=_forward_loss)
    blocks = {"q": "model.layers.0.self_attn.q_proj.weight", "norm": "model.norm.weight"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", QNewtonWarning)  # this one vectorizes: no fallback warning
        fi = empirical_fisher(problem, batch, blocks=blocks)
    assert fi["q"].method == "per-sample/vmap"
    for bname, pname in blocks.items():
        torch.testing.assert_close(fi[bname].matrix, _ref_fisher(model, [pname], batch, 3), rtol=1e-9, atol=1e-13)
    he = exact_hessian(problem, batch, blocks=blocks)
    for bname, pname in blocks.items():
        ref = _ref_block_hessian(model, [pname], batch)
        torch.testing.assert_close(he[bname].matrix, (ref + ref.T) / 2, rtol=1e-9, atol=1e-12)
