r"""The Carleman truncation-error proxy for models without a polynomial gradient (ResNets).

Liu et al. (Nat. Commun. 15, 434 (2024)) show for their 7M ResNet "an error proxy that first
decreases and later grows exponentially", which motivates re-uploading every 100 steps. The
formula of their proxy is not in the material this project has (``shared/papers/003``: the
summary names the proxy, not its definition), so the proxy below is **ours**, defined from the
linearized recursion, and labelled so wherever it is reported.

**Definition (ours).** A window starts at the uploaded parameters :math:`\theta_w`. Training runs
:math:`\theta_{t+1} = \theta_t - \eta\, P \nabla L_{B_t}(\theta_t)` (P the pruning mask, B_t the
minibatch of step t). The order-1 Carleman system of the window is gradient descent on the
gradient expanded to first order around :math:`\theta_w` (:mod:`qnewton.carleman.linearization`
with K = 1: :math:`y_1 = \delta`, :math:`A_{1,1} = I - \eta F_1`, :math:`b = -\eta F_0`), with
:math:`F_0 = \nabla L_{B_t}(\theta_w)` and :math:`F_1 = H_{B_t}(\theta_w)` taken on the minibatch
of the step:

.. math::  \delta_{t+1} = \delta_t - \eta\, P\big(\nabla L_{B_t}(\theta_w) + H_{B_t}(\theta_w)\,\delta_t\big),
           \qquad \delta_0 = 0 .

The proxy is its distance to the true trajectory,

.. math::  \varepsilon_t = \|\theta_w + \delta_t - \theta_t\|_2, \qquad
           \varepsilon^{rel}_t = \varepsilon_t / \|\theta_t - \theta_w\|_2 ,

one gradient and one Hessian-vector product at :math:`\theta_w` per step (reverse-over-reverse
autograd), never a Hessian. What it is and is not:

* for K = 1 it *is* the truncation error of the Carleman solution of the window, exactly: the
  tests compare it with :meth:`CarlemanMap.iterate` at K = 1 on a model whose gradient is a
  polynomial (where :func:`~qnewton.carleman.carleman_map` can be built);
* for K >= 2 it is not a bound; it measures how nonlinear the window is, the quantity every
  order's truncation error grows with (the dropped terms are the higher Taylor terms of the
  gradient along the window's displacement);
* its exponential part is read off the spectrum: the linear recursion multiplies a displacement
  by at most :math:`\max_\lambda |1 - \eta\lambda|` per step, :math:`1 + \eta|\lambda_{min}|` when
  :math:`\lambda_{min} < 0` (:func:`qnewton.spectrum.dissipativity`, ``window_growth``).

For BatchNorm networks the proxy's products use eval mode (frozen statistics,
:func:`qnewton.models.curvature_mode`) while training uses batch statistics: the proxy then also
contains the difference of the two losses.

An *actual* Carleman solve needs an explicit polynomial gradient;
:func:`carleman_gradient_of` builds it for models that have one (linear and convolution layers
under the squared loss) and raises :class:`~qnewton.errors.NotPolynomialError` for the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_int_range, check_positive
from ..errors import InvalidArgumentError, NotPolynomialError
from .polynomial import PolynomialGradient

__all__ = [
    "POLYNOMIAL_MODULES",
    "LinearizationProxy",
    "ProxyTrace",
    "carleman_gradient_of",
    "proxy_window",
    "require_polynomial_gradient",
]

#: Modules whose output is a polynomial (affine) function of their input and parameters.
POLYNOMIAL_MODULES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Identity,
    nn.Flatten,
    nn.Sequential,
    nn.ModuleList,
)


def _loss_fn(problem: Any, names: tuple[str, ...], shapes: tuple[tuple[int, ...], ...], batch: Any) -> Callable:
    numels = [int(np.prod(s)) for s in shapes]

    def f(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, numels)
        return problem.loss({k: p.reshape(s) for k, p, s in zip(names, parts, shapes)}, batch)

    return f


def require_polynomial_gradient(model: nn.Module, criterion: Any = None, *, name: str = "model") -> None:
    """Raise :class:`~qnewton.errors.NotPolynomialError` unless ``model`` under ``criterion`` has a
    gradient that is an explicit polynomial of its parameters (the class
    :meth:`PolynomialGradient.from_loss` and the Carleman solves accept): every module in
    :data:`POLYNOMIAL_MODULES` and a squared loss (``nn.MSELoss``).

    Example:
        >>> require_polynomial_gradient(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)), nn.MSELoss())
        >>> require_polynomial_gradient(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), nn.MSELoss())
        Traceback (most recent call last):
        ...
        qnewton.errors.NotPolynomialError: `model` has no explicit polynomial gradient (it contains ReLU); ...
    """
    bad = sorted({type(m).__name__ for m in model.modules() if not isinstance(m, POLYNOMIAL_MODULES)})
    why = f"it contains {', '.join(bad)}" if bad else ""
    if not bad and not isinstance(criterion, nn.MSELoss):
        loss = type(criterion).__name__ if criterion is not None else "cross-entropy"
        why = f"its loss is {loss}, not the squared loss"
    if why:
        raise NotPolynomialError(
            f"`{name}` has no explicit polynomial gradient ({why}); an actual Carleman solve needs one "
            "(Liu et al. 2024: 'an architecture with explicit gradient form'). Only the error proxy is available "
            "for this model: qnewton.carleman.proxy.LinearizationProxy (CLI: `--solver proxy`, the default for "
            "ResNets). For a real Carleman solve use a polynomial model (linear/convolution layers, squared loss)."
        )


def carleman_gradient_of(
    model: nn.Module, batch: Any, criterion: Any = None, *, degree: int = 3, name: str = "model"
) -> PolynomialGradient:
    """The model's full-batch gradient as a :class:`PolynomialGradient` centered at its current
    parameters (float64), ready for :func:`~qnewton.carleman.carleman_map`.

    Raises:
        NotPolynomialError: the model or loss is not polynomial (:func:`require_polynomial_gradient`),
            or the numerical check of :meth:`PolynomialGradient.from_loss` fails.
        InvalidArgumentError: too many parameters for the coefficient tensors.
    """
    from ..curvature import LossProblem

    require_polynomial_gradient(model, criterion, name=name)
    # nn.MSELoss's backward fails under nested forward-mode AD in torch 2.13 ("ZeroTensors are
    # immutable"); the same mean squared error written out differentiates to any order.
    problem = LossProblem(model, forward_loss=lambda m, b: ((m(b[0]) - b[1]) ** 2).mean())
    params = problem.detached_params()
    names = tuple(params)
    shapes = tuple(tuple(p.shape) for p in params.values())
    x0 = torch.cat([p.reshape(-1) for p in params.values()]).double()
    try:
        return PolynomialGradient.from_loss(_loss_fn(problem, names, shapes, batch), x0.numpy(), degree)
    except InvalidArgumentError as exc:
        if "not a polynomial" in str(exc):
            raise NotPolynomialError(f"`{name}`: {exc} Only the error proxy is available for this model.") from exc
        raise


@dataclass
class ProxyTrace:
    """The proxy along one window: one entry per step t = 1..T (see the module docstring).

    Attributes:
        abs_error: epsilon_t = ||theta_w + delta_t - theta_t||.
        rel_error: epsilon_t / ||theta_t - theta_w|| (0 when the true step is 0).
        displacement: ||theta_t - theta_w||.
        linear_displacement: ||delta_t||.
    """

    abs_error: list[float] = field(default_factory=list)
    rel_error: list[float] = field(default_factory=list)
    displacement: list[float] = field(default_factory=list)
    linear_displacement: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.abs_error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "definition": "ours: order-1 Carleman (linearized recursion at the window start) vs the true trajectory",
            "abs_error": self.abs_error,
            "rel_error": self.rel_error,
            "displacement": self.displacement,
            "linear_displacement": self.linear_displacement,
            "final_abs_error": self.abs_error[-1] if self.abs_error else None,
            "final_rel_error": self.rel_error[-1] if self.rel_error else None,
        }


class LinearizationProxy:
    r"""Runs the order-1 Carleman (linearized) recursion of a window beside the true training.

    Usage, one window::

        proxy = LinearizationProxy(model, lr, mask=mask)      # at theta_w
        for t in range(T):
            batch = ...
            proxy.advance(batch)                              # delta_t -> delta_{t+1} at theta_w
            masked_sgd_step(model, batch, lr, masks)          # theta_t -> theta_{t+1}
            proxy.record(get_flat(model))                     # epsilon_{t+1}

    Args:
        model: the network at the window start theta_w (its current parameters are copied).
        lr: the learning rate eta of the training.
        mask: flat boolean mask of the trained coordinates (None: all).
        criterion: mean loss (default cross-entropy).

    Raises:
        InvalidArgumentError: lr <= 0, a mask of the wrong size.
    """

    def __init__(self, model: nn.Module, lr: float, *, mask: Any = None, criterion: nn.Module | None = None) -> None:
        from ..curvature import LossProblem

        self.lr = check_positive(lr, "lr")
        self.model = model
        self.problem = LossProblem(model, criterion if criterion is not None else nn.CrossEntropyLoss())
        params = self.problem.detached_params()
        self._names = tuple(params)
        self._shapes = tuple(tuple(p.shape) for p in params.values())
        self.theta_w = torch.cat([p.reshape(-1) for p in params.values()]).clone()
        n = self.theta_w.numel()
        if mask is None:
            self.mask = None
        else:
            m = torch.as_tensor(np.asarray(mask, dtype=bool)) if not isinstance(mask, torch.Tensor) else mask
            if m.numel() != n:
                raise InvalidArgumentError(f"`mask` has {m.numel()} entries, the model has {n} parameters.")
            self.mask = m.reshape(-1).to(self.theta_w.dtype)
        self.delta = torch.zeros_like(self.theta_w)
        self.trace = ProxyTrace()

    def advance(self, batch: Any) -> None:
        """delta <- delta - eta P (grad L_B(theta_w) + H_B(theta_w) delta), on ``batch``."""
        from ..models.resnet import curvature_mode

        f = _loss_fn(self.problem, self._names, self._shapes, batch)
        with curvature_mode(self.model), torch.enable_grad():
            # reverse-over-reverse (the gradient graph, then one more backward pass): robust where
            # nested forward-mode AD is not (nn.MSELoss fails under it in torch 2.13)
            x = self.theta_w.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x), x, create_graph=True)
            if bool(self.delta.any()):
                (hv,) = torch.autograd.grad(g, x, grad_outputs=self.delta)
            else:
                hv = torch.zeros_like(g)
        step = g.detach() + hv.detach()
        if self.mask is not None:
            step = step * self.mask
        self.delta = self.delta - self.lr * step

    def record(self, theta_true: torch.Tensor) -> float:
        """Append epsilon_t for the true parameters ``theta_true`` (flat); returns it."""
        diff = self.theta_w + self.delta - theta_true.reshape(-1)
        err = float(torch.linalg.vector_norm(diff.double()))
        disp = float(torch.linalg.vector_norm((theta_true.reshape(-1) - self.theta_w).double()))
        self.trace.abs_error.append(err)
        self.trace.rel_error.append(err / disp if disp > 0 else 0.0)
        self.trace.displacement.append(disp)
        self.trace.linear_displacement.append(float(torch.linalg.vector_norm(self.delta.double())))
        return err

    @property
    def theta_linear(self) -> torch.Tensor:
        """theta_w + delta_t: the order-1 Carleman parameters after the steps advanced so far."""
        return self.theta_w + self.delta


def proxy_window(
    model: nn.Module,
    batches: Any,
    lr: float,
    *,
    mask: Any = None,
    criterion: nn.Module | None = None,
) -> ProxyTrace:
    """Train ``model`` (in place) through ``batches`` by masked SGD and return the proxy trace of
    that window (convenience wrapper of :class:`LinearizationProxy`)."""
    from .scale import get_flat, masked_sgd_step, split_mask

    proxy = LinearizationProxy(model, lr, mask=mask, criterion=criterion)
    masks = split_mask(model, mask)
    count = 0
    for batch in batches:
        proxy.advance(batch)
        masked_sgd_step(model, batch, lr, masks, criterion)
        proxy.record(get_flat(model))
        count += 1
    check_int_range(count, "batches", 1, 10**9, "Pass at least one batch.")
    return proxy.trace
