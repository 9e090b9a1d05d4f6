"""The paper's models (Sec. V-A, Table I) and one loss entry point for all of them.

* :func:`paper_dnn`: the 784-16-16-10 ReLU MLP (13,002 parameters);
* :func:`make_bert` / :func:`make_mistral` / :func:`make_gpt2`: BertForMaskedLM, MistralForCausalLM
  and GPT2LMHeadModel at hidden 64, 4 layers, byte vocabulary, random seeded init (needs the ``nlp``
  extra, imported lazily); :class:`LMLogits` + :class:`TokenCrossEntropy`: the same LMs split into
  network and loss (for the GGN and K-FAC);
* :func:`forward_loss`: scalar (or per-sample) loss of any of them on a batch;
  :func:`functional_loss`: the same as a pure function of (some of) the parameters, for torch.func;
* :func:`count_parameters_per_block`: parameters per Hessian block;
* :func:`resnet` / :class:`ResNetConfig`: CIFAR-style residual networks (ResNet-8/14/20/...,
  normalization-free by default) for the Carleman paper's experiments at model scale.
"""

from .lm import (
    BERT_DEFAULTS,
    GPT2_DEFAULTS,
    MISTRAL_DEFAULTS,
    LMLogits,
    bert_config,
    gpt2_config,
    make_bert,
    make_gpt2,
    make_mistral,
    mistral_config,
    require_transformers,
)
from .loss import TokenCrossEntropy, classification_loss, forward_loss, functional_loss, is_language_model, lm_loss
from .mlp import ACTIVATIONS, MLP, paper_dnn
from .params import block_name, count_parameters, count_parameters_per_block, parameter_blocks
from .resnet import NORMS, RESNET_DEPTHS, ResNet, ResNetConfig, curvature_mode, resnet, resnet_config

__all__ = [
    "ACTIVATIONS",
    "BERT_DEFAULTS",
    "GPT2_DEFAULTS",
    "MISTRAL_DEFAULTS",
    "MLP",
    "NORMS",
    "RESNET_DEPTHS",
    "LMLogits",
    "ResNet",
    "ResNetConfig",
    "TokenCrossEntropy",
    "bert_config",
    "block_name",
    "classification_loss",
    "count_parameters",
    "count_parameters_per_block",
    "curvature_mode",
    "forward_loss",
    "functional_loss",
    "gpt2_config",
    "is_language_model",
    "lm_loss",
    "make_bert",
    "make_gpt2",
    "make_mistral",
    "mistral_config",
    "paper_dnn",
    "parameter_blocks",
    "require_transformers",
    "resnet",
    "resnet_config",
]
