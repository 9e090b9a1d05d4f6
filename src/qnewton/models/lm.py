"""Small BERT (masked LM), Mistral and GPT-2 (causal LMs) built with ``transformers`` from a config,
trained from scratch (random, seeded initialization); no hub access, no download, no pretrained weights.

Sizes follow the paper's Table I (hidden 64, 4 layers; Sec. V-A). What Table I leaves open is
chosen as in the full-size originals, scaled to hidden 64:

=========================  ========================  ===========================================
                           BERT                      Mistral
=========================  ========================  ===========================================
heads                      4 (head dim 16)           4 query heads sharing 2 key/value heads
                                                     (grouped-query attention as in Mistral-7B,
                                                     32 query / 8 KV heads)
intermediate (MLP) size    256 (4 x hidden, BERT)    224 (3.5 x hidden, Mistral-7B 14336/4096)
positions                  512 learned (BERT-base)   RoPE (no parameters), theta 1e4, max 2048
vocabulary                 261 (byte tokenizer)      261 (byte tokenizer), untied LM head
dropout                    0 (see below)             0 (Mistral's default)
=========================  ========================  ===========================================

GPT-2 (the revised paper's Fig. 2 e trains a "GPT"; its Table I gives no GPT row, so the size is
the other two's): hidden 64, 4 layers, 4 heads (head dim 16), MLP 256 (4 x hidden, GPT-2), learned
positions (max(128, block size)), GELU ("gelu_new"), pre-LayerNorm, LM head tied to the token
embedding as in GPT-2, byte vocabulary: 224,960 parameters with 128 positions. Its attention and
MLP projections are transformers' ``Conv1D`` (weight stored in x out), which K-FAC covers.

Dropout is off: curvature code evaluates the same loss many times (Hessian-vector products,
per-sample gradients), and dropout would make it a different random function each time.

Attention is ``"eager"`` by default, because torch's fused CPU attention kernel
(``sdpa``) has no double backward ("derivative for
aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented"), so Hessian-vector
products through it fail. Pass ``attn_implementation="sdpa"`` when only first derivatives are needed
(SGD, empirical Fisher).

Parameter counts (:func:`count_parameters`): BERT 254,213 and Mistral 255,168 with the byte
vocabulary. The paper's 2.2M / 4.3M are the same architectures with the original vocabularies:
``bert_config(vocab_size=30522)`` gives 2,221,178 and ``mistral_config(vocab_size=32000)``
4,317,760 (almost all of it the embedding and LM-head matrices).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import torch

from ..data.tokenizer import ByteTokenizer
from ..errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "BERT_DEFAULTS",
    "GPT2_DEFAULTS",
    "MISTRAL_DEFAULTS",
    "LMLogits",
    "bert_config",
    "gpt2_config",
    "make_bert",
    "make_gpt2",
    "make_mistral",
    "mistral_config",
    "require_transformers",
]

_TOK = ByteTokenizer()

#: The small BERT of the paper's Table I (hidden 64, 4 layers) with the byte vocabulary.
BERT_DEFAULTS: dict[str, Any] = {
    "vocab_size": _TOK.vocab_size,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": _TOK.pad_token_id,
    "bos_token_id": _TOK.bos_token_id,
    "eos_token_id": _TOK.eos_token_id,
}

#: The small Mistral of the paper's Table I (hidden 64, 4 layers) with the byte vocabulary.
MISTRAL_DEFAULTS: dict[str, Any] = {
    "vocab_size": _TOK.vocab_size,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 224,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-5,
    "attention_dropout": 0.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "use_cache": False,
    "pad_token_id": _TOK.pad_token_id,
    "bos_token_id": _TOK.bos_token_id,
    "eos_token_id": _TOK.eos_token_id,
}

#: A small GPT-2 like the paper's Table I models (hidden 64, 4 layers) with the byte vocabulary.
GPT2_DEFAULTS: dict[str, Any] = {
    "vocab_size": _TOK.vocab_size,
    "n_embd": 64,
    "n_layer": 4,
    "n_head": 4,
    "n_inner": 256,
    "n_positions": 128,
    "activation_function": "gelu_new",
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "layer_norm_epsilon": 1e-5,
    "initializer_range": 0.02,
    "tie_word_embeddings": True,
    "use_cache": False,
    "pad_token_id": _TOK.pad_token_id,
    "bos_token_id": _TOK.bos_token_id,
    "eos_token_id": _TOK.eos_token_id,
}

_ATTN = ("eager", "sdpa")


def require_transformers():
    """Import and return the ``transformers`` module.

    Raises:
        MissingDependencyError: transformers is not installed (the ``nlp`` extra).
    """
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(
            "BERT and Mistral need `transformers`, the `nlp` extra: pip install 'qnewton[nlp]' "
            "(or pip install 'transformers>=4.40')."
        ) from exc
    return transformers


def _allowed_keys(cls) -> set[str]:
    if dataclasses.is_dataclass(cls):
        keys = {f.name for f in dataclasses.fields(cls)}
    else:  # transformers 4.x: plain __init__ with **kwargs for the shared options
        keys = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    base = {
        "tie_word_embeddings",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "is_decoder",
        "use_cache",
        "dtype",
        "output_hidden_states",
        "return_dict",
        "attn_implementation",
    }
    return keys | base


def _build_config(cls, defaults: dict[str, Any], overrides: dict[str, Any], family: str):
    unknown = sorted(set(overrides) - _allowed_keys(cls))
    if unknown:
        raise InvalidArgumentError(
            f"unknown {family} config option(s) {unknown}; see transformers' {cls.__name__} for the "
            f"accepted names (a typo would otherwise be ignored silently)."
        )
    kw = {**defaults, **overrides}
    hidden = int(kw["hidden_size"] if "hidden_size" in kw else kw["n_embd"])
    heads = int(kw["num_attention_heads"] if "num_attention_heads" in kw else kw["n_head"])
    if hidden % heads:
        raise InvalidArgumentError(f"`hidden_size` ({hidden}) must be a multiple of `num_attention_heads` ({heads}).")
    kv = kw.get("num_key_value_heads")
    if kv is not None and heads % kv:
        raise InvalidArgumentError(
            f"`num_attention_heads` ({heads}) must be a multiple of `num_key_value_heads` ({kv})."
        )
    if kw["vocab_size"] < _TOK.vocab_size:
        raise InvalidArgumentError(
            f"`vocab_size` must be >= {_TOK.vocab_size} (the byte tokenizer's ids), got {kw['vocab_size']}."
        )
    return cls(**kw)


def bert_config(**overrides: Any):
    """``BertConfig`` of :data:`BERT_DEFAULTS` updated by ``overrides`` (any BertConfig field).

    Raises:
        MissingDependencyError: no transformers.
        InvalidArgumentError: unknown field, inconsistent head count, vocabulary smaller than the
            byte tokenizer's.
    """
    tf = require_transformers()
    return _build_config(tf.BertConfig, BERT_DEFAULTS, overrides, "BERT")


def mistral_config(**overrides: Any):
    """``MistralConfig`` of :data:`MISTRAL_DEFAULTS` updated by ``overrides``.

    Raises:
        MissingDependencyError: no transformers. InvalidArgumentError: as :func:`bert_config`.
    """
    tf = require_transformers()
    return _build_config(tf.MistralConfig, MISTRAL_DEFAULTS, overrides, "Mistral")


def gpt2_config(**overrides: Any):
    """``GPT2Config`` of :data:`GPT2_DEFAULTS` updated by ``overrides`` (GPT2Config field names:
    ``n_embd``, ``n_layer``, ``n_head``, ``n_inner``, ``n_positions``, ...).

    Raises:
        MissingDependencyError: no transformers. InvalidArgumentError: as :func:`bert_config`.
    """
    tf = require_transformers()
    return _build_config(tf.GPT2Config, GPT2_DEFAULTS, overrides, "GPT-2")


def _seeded(build, seed: int | None):
    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def _check_attn(attn_implementation: str) -> None:
    if attn_implementation not in _ATTN:
        raise InvalidArgumentError(f"`attn_implementation` must be one of {_ATTN}, got {attn_implementation!r}.")


def make_bert(seed: int | None = 0, attn_implementation: str = "eager", **overrides: Any):
    """A randomly initialized ``BertForMaskedLM`` (paper Table I size; see the module docstring).

    Args:
        seed: initialization seed (the global RNG is left as it was); ``None``: global RNG.
        attn_implementation: ``"eager"`` (supports double backward) or ``"sdpa"`` (faster,
            first derivatives only on CPU).
        **overrides: BertConfig fields, e.g. ``num_hidden_layers=2``.

    Returns:
        ``transformers.BertForMaskedLM`` in train mode, float32, on the CPU.
    """
    _check_attn(attn_implementation)
    tf = require_transformers()
    cfg = bert_config(attn_implementation=attn_implementation, **overrides)
    model = _seeded(lambda: tf.BertForMaskedLM(cfg), seed)
    return model.train()


def make_mistral(seed: int | None = 0, attn_implementation: str = "eager", **overrides: Any):
    """A randomly initialized ``MistralForCausalLM`` (paper Table I size); arguments as
    :func:`make_bert`, overrides are MistralConfig fields."""
    _check_attn(attn_implementation)
    tf = require_transformers()
    cfg = mistral_config(attn_implementation=attn_implementation, **overrides)
    model = _seeded(lambda: tf.MistralForCausalLM(cfg), seed)
    return model.train()


def make_gpt2(seed: int | None = 0, attn_implementation: str = "eager", **overrides: Any):
    """A randomly initialized ``GPT2LMHeadModel`` (hidden 64, 4 layers; see the module docstring);
    arguments as :func:`make_bert`, overrides are GPT2Config fields."""
    _check_attn(attn_implementation)
    tf = require_transformers()
    cfg = gpt2_config(attn_implementation=attn_implementation, **overrides)
    model = _seeded(lambda: tf.GPT2LMHeadModel(cfg), seed)
    return model.train()


class LMLogits(torch.nn.Module):
    """A transformers LM as ``inputs -> logits`` (B, T, vocab), so that the network and the loss on
    its outputs are separate (``LossProblem(LMLogits(lm), TokenCrossEntropy(...))``): what the
    generalized Gauss-Newton and K-FAC's sampled Fisher need. Its parameters are the LM's, named
    ``model.<name>``.

    ``forward(input_ids, attention_mask=None, **kwargs)`` calls the LM without labels.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
