r"""A family of small CIFAR-style residual networks, in plain ``torch.nn`` (no torchvision).

The architecture follows He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR
2016, Sec. 4.2 (the CIFAR-10 networks): a 3x3 stem convolution, three stages of ``m`` basic blocks
with ``w``, ``2w`` and ``4w`` channels (the first block of stages 2 and 3 halves the resolution with
stride 2 and a 1x1 projection shortcut), global average pooling and a linear classifier; depth
= 6 m + 2 (ResNet-8, -14, -20, -32 for m = 1, 2, 3, 5). Blocks are pre-activation blocks (He et al.,
"Identity mappings in deep residual networks", ECCV 2016): the identity path carries no
nonlinearity. Liu et al. (Nat. Commun. 15, 434 (2024)) study a 7M-parameter ResNet on a 100-class
task and a 103M ResNet pruned to 10 %; ``width`` scales this family from 0.08M to several M
parameters (n grows like width^2).

**Normalization, and why the default has none.** A Hessian needs a deterministic loss of the
parameters. BatchNorm in training mode normalizes by the statistics of the current minibatch, so a
sample's loss depends on the other samples of its batch, and the running statistics change as a side
effect of every forward pass. The Carleman picture (Liu et al. 2024) linearizes the map
:math:`\theta \mapsto \theta - \eta \nabla L(\theta)` that training actually iterates; its Jacobian is
:math:`I - \eta H` with H the Hessian *of that same L*. Two choices are offered:

* ``norm="none"`` (default): a normalization-free network whose residual branches are multiplied by
  a learnable scalar gain initialized to ``residual_scale`` (default :math:`1/\sqrt{\text{blocks}}`),
  as in SkipInit (De and Smith, "Batch normalization biases residual blocks towards the identity
  function in deep networks", NeurIPS 2020) and Fixup (Zhang, Dauphin, Ma, ICLR 2019), which train
  deep residual networks without normalization. The loss is then a fixed function of the parameters
  and the data: the Hessian the spectrum measures is the Jacobian of the update SGD performs.
* ``norm="batch"``: BatchNorm, trained as usual (batch statistics), with every curvature computed in
  **eval mode** with the frozen running statistics (:func:`curvature_mode`). That Hessian belongs to
  the eval-mode loss, not exactly to the map SGD iterates; use it to compare with standard ResNets.

Parameter counts (``ResNetConfig(depth, width, ...).num_parameters()``, norm-free; the last
column with 3 input channels and 100 classes, CIFAR-100's shape). Width 80 is the size of the
paper's 7M model, width 312 that of its 103M model:

======  =======  ===============  ================
depth   width    1 ch, 10 cls     3 ch, 100 cls
======  =======  ===============  ================
8       16       77,421           83,559
14      16       174,416          180,554
20      16       271,411          277,549
20      32       1,082,451        1,094,637
20      64       4,323,475        4,347,757
20      80       6,753,459        6,783,789
20      312      102,631,171      102,749,197
======  =======  ===============  ================
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .._validation import check_int_range, check_positive
from ..errors import InvalidArgumentError

__all__ = [
    "NORMS",
    "RESNET_DEPTHS",
    "BasicBlock",
    "ResNet",
    "ResNetConfig",
    "curvature_mode",
    "resnet",
    "resnet_config",
]

Norm = Literal["none", "batch"]
#: Accepted values of ``ResNetConfig.norm``.
NORMS: tuple[str, ...] = ("none", "batch")
#: Named depths of the family (6 m + 2).
RESNET_DEPTHS: tuple[int, ...] = (8, 14, 20, 32, 44, 56)


@dataclass(frozen=True)
class ResNetConfig:
    """Architecture of a :class:`ResNet`.

    Attributes:
        depth: 6 m + 2 layers with weights (m basic blocks per stage): 8, 14, 20, 32, ...
        width: channels of the first stage (the stages have width, 2 width, 4 width).
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        num_classes: outputs.
        norm: ``"none"`` (normalization-free, residual gain) or ``"batch"`` (BatchNorm); see the
            module docstring.
        residual_scale: initial value of the learnable residual gain (norm-free only); None gives
            1 / sqrt(number of blocks).

    Raises:
        InvalidArgumentError: a depth not of the form 6 m + 2, a width or class count < 1, an
            unknown norm, a non-positive residual scale.

    Example:
        >>> ResNetConfig(depth=20, width=16).blocks_per_stage
        3
    """

    depth: int = 20
    width: int = 16
    in_channels: int = 1
    num_classes: int = 10
    norm: Norm = "none"
    residual_scale: float | None = None

    def __post_init__(self) -> None:
        check_int_range(self.depth, "depth", 8, 10_000, "ResNet depths are 6 m + 2: 8, 14, 20, 32, ...")
        if (self.depth - 2) % 6 != 0:
            raise InvalidArgumentError(
                f"`depth` must be 6 m + 2 (8, 14, 20, 32, ...: m basic blocks per stage, He et al. 2016 Sec. 4.2), "
                f"got {self.depth}. Pick one of {', '.join(map(str, RESNET_DEPTHS))}."
            )
        check_int_range(self.width, "width", 1, 4096, "`width` is the channel count of the first stage.")
        check_int_range(self.in_channels, "in_channels", 1, 64)
        check_int_range(self.num_classes, "num_classes", 1, 10**6)
        if self.norm not in NORMS:
            raise InvalidArgumentError(
                f"`norm` must be one of {', '.join(NORMS)}, got {self.norm!r}: 'none' = normalization-free "
                f"(a well-defined Hessian of the trained loss), 'batch' = BatchNorm with eval-mode curvature."
            )
        if self.residual_scale is not None:
            check_positive(self.residual_scale, "residual_scale")

    @property
    def blocks_per_stage(self) -> int:
        """m = (depth - 2) / 6."""
        return (self.depth - 2) // 6

    @property
    def num_blocks(self) -> int:
        return 3 * self.blocks_per_stage

    @property
    def initial_gain(self) -> float:
        """The residual gain at initialization (norm-free networks)."""
        return self.residual_scale if self.residual_scale is not None else 1.0 / math.sqrt(self.num_blocks)

    @property
    def name(self) -> str:
        """e.g. ``resnet20-w16`` (``-bn`` appended with BatchNorm)."""
        return f"resnet{self.depth}-w{self.width}" + ("-bn" if self.norm == "batch" else "")

    def num_parameters(self) -> int:
        """Trainable parameters, by formula (equals ``sum(p.numel())`` of the built model).

        Example:
            >>> ResNetConfig(depth=20, width=16).num_parameters()
            271411
        """
        w, c, k = self.width, self.in_channels, self.num_classes
        bn = self.norm == "batch"
        bias = 0 if bn else 1

        def conv(cin: int, cout: int, ks: int = 3) -> int:
            return cin * cout * ks * ks + bias * cout

        def norm(ch: int) -> int:
            return 2 * ch if bn else 0

        total = conv(c, w)
        cin = w
        for s in range(3):
            cout = w * 2**s
            for b in range(self.blocks_per_stage):
                total += norm(cin) + conv(cin, cout) + norm(cout) + conv(cout, cout)
                if cin != cout:
                    total += conv(cin, cout, 1)
                total += 0 if bn else 1  # residual gain
                cin = cout
                del b
        return total + norm(cin) + cin * k + k


class BasicBlock(nn.Module):
    """Pre-activation basic block: ``shortcut(x) + gain * conv2(act(norm2(conv1(act(norm1(x))))))``.

    Without normalization ``norm1``/``norm2`` are identities and ``gain`` is a learnable scalar;
    with BatchNorm the gain is fixed at 1 (no parameter).
    """

    def __init__(self, cin: int, cout: int, stride: int, norm: Norm, gain: float) -> None:
        super().__init__()
        bn = norm == "batch"
        self.norm1: nn.Module = nn.BatchNorm2d(cin) if bn else nn.Identity()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not bn)
        self.norm2: nn.Module = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=not bn)
        self.shortcut: nn.Module = (
            nn.Conv2d(cin, cout, 1, stride=stride, bias=not bn) if (stride != 1 or cin != cout) else nn.Identity()
        )
        self.gain: nn.Parameter | None = None if bn else nn.Parameter(torch.tensor(float(gain)))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        if self.gain is not None:
            h = self.gain * h
        return self.shortcut(x) + h


class ResNet(nn.Module):
    """The residual network of :class:`ResNetConfig` (see the module docstring).

    Input: images (N, C, H, W), or flattened (N, C*H*W) square images (reshaped; C from the
    config). Output: logits (N, num_classes).

    Example:
        >>> net = ResNet(ResNetConfig(depth=8, width=4))
        >>> net(torch.zeros(2, 1, 28, 28)).shape, net(torch.zeros(2, 784)).shape
        (torch.Size([2, 10]), torch.Size([2, 10]))
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        if not isinstance(config, ResNetConfig):
            raise InvalidArgumentError(f"`config` must be a ResNetConfig, got {type(config).__name__}.")
        self.config = config
        bn = config.norm == "batch"
        w = config.width
        self.stem = nn.Conv2d(config.in_channels, w, 3, padding=1, bias=not bn)
        stages = []
        cin = w
        for s in range(3):
            cout = w * 2**s
            blocks = []
            for b in range(config.blocks_per_stage):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(BasicBlock(cin, cout, stride, config.norm, config.initial_gain))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_norm: nn.Module = nn.BatchNorm2d(cin) if bn else nn.Identity()
        self.act = nn.ReLU()
        self.fc = nn.Linear(cin, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            return x
        if x.ndim == 3:  # (N, H, W) grey images
            return x[:, None]
        if x.ndim == 2:
            c = self.config.in_channels
            side = math.isqrt(x.shape[1] // c)
            if side * side * c != x.shape[1]:
                raise InvalidArgumentError(
                    f"`x` has {x.shape[1]} features per sample, not {c} x H x H square images; pass (N, C, H, W)."
                )
            return x.reshape(x.shape[0], c, side, side)
        raise InvalidArgumentError(f"`x` must be (N, C, H, W) images or (N, features), got shape {tuple(x.shape)}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._as_images(x)
        if h.shape[1] != self.config.in_channels:
            raise InvalidArgumentError(
                f"`x` has {h.shape[1]} channels, the network expects in_channels = {self.config.in_channels}."
            )
        h = self.stages(self.stem(h))
        h = self.act(self.final_norm(h))
        return self.fc(h.mean(dim=(2, 3)))

    def extra_repr(self) -> str:
        return f"{self.config.name}, norm={self.config.norm!r}"


def resnet_config(name: str | int = "resnet20", **kwargs: object) -> ResNetConfig:
    """A :class:`ResNetConfig` from a name (``"resnet8"``, ``"resnet20"``, or the depth) and options.

    Example:
        >>> resnet_config("resnet8", width=8).name
        'resnet8-w8'
    """
    if isinstance(name, str):
        key = name.lower().replace("-", "").replace("_", "")
        if not key.startswith("resnet") or not key[6:].isdigit():
            raise InvalidArgumentError(
                f"`model` must be 'resnet<depth>' (depth 6 m + 2: {', '.join(map(str, RESNET_DEPTHS))}), got {name!r}."
            )
        depth = int(key[6:])
    else:
        depth = int(name)
    return ResNetConfig(depth=depth, **kwargs)  # type: ignore[arg-type]


def resnet(config: ResNetConfig, *, seed: int | None = 0, dtype: torch.dtype = torch.float32) -> ResNet:
    """Build a :class:`ResNet`, initialized from ``torch.manual_seed(seed)`` without touching the
    global RNG (Kaiming-normal convolutions, zero biases, PyTorch's default linear layer).

    Example:
        >>> a, b = resnet(ResNetConfig(depth=8, width=2), seed=1), resnet(ResNetConfig(depth=8, width=2), seed=1)
        >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        True
    """
    if seed is None:
        return ResNet(config).to(dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return ResNet(config).to(dtype)


@contextlib.contextmanager
def curvature_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a curvature computation (frozen BatchNorm statistics, no
    dropout) and restore its previous mode afterwards. A no-op for normalization-free models.

    Example:
        >>> net = resnet(ResNetConfig(depth=8, width=2, norm="batch")).train()
        >>> with curvature_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)
