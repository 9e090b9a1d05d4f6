"""The classical route's cost, C N^3, with C calibrated on this machine and cached.

The Q-Newton paper (arXiv:2405.00252, Sec. IV-C, Algorithm 2 line 5) prices the classical solve as
R_c = C N^3 with "C determined through a benchmark calibration". Here C is a least-squares fit to
timed LAPACK Cholesky factor-and-solve runs (one right-hand side, as in a Newton step), taking at
each size the faster of ``torch.linalg.cholesky`` + ``torch.cholesky_solve`` and
``scipy.linalg.cho_factor`` + ``cho_solve`` (REFERENCE.md section 7: which one wins depends on N).

The calibration is cached as JSON in ``$XDG_CACHE_HOME/qnewton/classical_cost.json`` (else
``~/.cache/qnewton/``), keyed by CPU model, architecture, torch and scipy versions, dtype and
thread count, so a different machine or setting recalibrates by itself. A prediction for N larger
than the calibrated sizes is an extrapolation of the N^3 law; estimates say so.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy
import scipy.linalg
import torch

from .._io import atomic_write
from .._machine import cpu_name
from .._validation import check_int_range, check_positive
from ..errors import InvalidArgumentError, QNewtonWarning
from ._inputs import warn_outside_package
from .estimate import CostEstimate, RouteKind

__all__ = [
    "BACKENDS",
    "DEFAULT_SIZES",
    "Calibration",
    "ClassicalCostModel",
    "EighCostModel",
    "GemmCostModel",
    "cache_dir",
    "calibrate_classical",
    "calibration_key",
    "fit_cubic_constant",
    "load_calibration",
    "measure_cholesky_solve",
    "measure_eigh",
    "measure_gemm",
    "save_calibration",
]

#: Sizes timed by default: large enough that the N^3 term dominates call overhead, small enough
#: that a calibration takes a few seconds on two cores.
DEFAULT_SIZES: tuple[int, ...] = (500, 1000, 1500, 2000)
#: LAPACK Cholesky paths that are timed; the faster one at each size counts.
BACKENDS: tuple[str, ...] = ("scipy", "torch")
_DTYPES = ("float32", "float64")
_CACHE_FILE = "classical_cost.json"
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """A fitted C with the measurements behind it.

    Attributes:
        c: seconds per N^3 (least-squares fit, relative residuals).
        sizes: the N that were timed.
        seconds: best time at each size (the faster backend), ``measured`` wall-clock seconds.
        backends: which backend was faster at each size.
        timings: ``{backend: [best seconds per size]}``.
        rel_rms: root-mean-square relative residual of the fit (how well C N^3 describes them).
        key: the cache key (machine/CPU, versions, dtype, threads).
        dtype: ``"float64"`` or ``"float32"``.
        threads: torch intra-op threads during the timing.
        repeats: runs per size and backend (the minimum is kept).
        created: ISO-8601 UTC time of the measurement.
    """

    c: float
    sizes: tuple[int, ...]
    seconds: tuple[float, ...]
    backends: tuple[str, ...]
    timings: dict[str, list[float]]
    rel_rms: float
    key: str
    dtype: str
    threads: int
    repeats: int
    created: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        d = asdict(self)
        d["sizes"], d["seconds"], d["backends"] = list(self.sizes), list(self.seconds), list(self.backends)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; raises KeyError/TypeError/ValueError on malformed input."""
        c = float(d["c"])
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"bad C {c!r}")
        return cls(
            c=c,
            sizes=tuple(int(x) for x in d["sizes"]),
            seconds=tuple(float(x) for x in d["seconds"]),
            backends=tuple(str(x) for x in d["backends"]),
            timings={str(k): [float(x) for x in v] for k, v in d["timings"].items()},
            rel_rms=float(d["rel_rms"]),
            key=str(d["key"]),
            dtype=str(d["dtype"]),
            threads=int(d["threads"]),
            repeats=int(d["repeats"]),
            created=str(d["created"]),
        )


def fit_cubic_constant(sizes: Sequence[int], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares C in t = C N^3: C = sum(N_i^3 t_i) / sum(N_i^6).

    Ordinary least squares on the seconds, so the largest sizes weigh most. That is deliberate:
    the prediction is used at N at and beyond the calibrated sizes (the paper's block is
    N = 12544), where small-N call overhead and cache effects no longer matter. Returns
    ``(C, rms of the relative residuals C N_i^3 / t_i - 1)``, a measure of how well C N^3
    describes the timings.

    Example:
        >>> c, rms = fit_cubic_constant([10, 20], [1e-9 * 10**3, 1e-9 * 20**3])
        >>> round(c / 1e-9, 12), rms
        (1.0, 0.0)
    """
    n = np.asarray(sizes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if n.ndim != 1 or n.shape != t.shape or n.size == 0:
        raise InvalidArgumentError(
            f"`sizes` and `seconds` must be 1-D of the same non-zero length, got {n.shape} and {t.shape}."
        )
    if not (np.isfinite(t).all() and (t > 0).all() and (n >= 1).all()):
        raise InvalidArgumentError("`seconds` must be finite and > 0 and `sizes` >= 1 to fit C N^3.")
    n3 = n**3
    c = float((n3 * t).sum() / (n3 * n3).sum())
    rel = c * n3 / t - 1.0
    rms = float(np.sqrt(np.mean(rel * rel)))
    return c, (0.0 if rms < 1e-12 else rms)


@functools.lru_cache(maxsize=1)  # the backends timed one after the other share one matrix per size
def _spd_matrix(n: int, dtype: str, seed: int) -> np.ndarray:
    # I + (G + G^T) / (4 sqrt(n)): eigenvalues in about [0.3, 1.7], built in O(N^2) (no GEMM).
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, n))
    a = (g + g.T) / (4.0 * math.sqrt(n))
    a[np.diag_indices(n)] += 1.0
    return a.astype(dtype)


def measure_cholesky_solve(
    n: int,
    backend: str,
    dtype: str = "float64",
    repeats: int = 3,
    *,
    timer: Callable[[], float] | None = None,
    seed: int = 0,
    budget_s: float = 1.0,
    device: str = "cpu",
) -> float:
    """Best of ``repeats`` wall-clock seconds of one Cholesky factor + solve (one RHS) at size N.

    Args:
        n: size N >= 1.
        backend: ``"scipy"`` (cho_factor + cho_solve) or ``"torch"`` (linalg.cholesky + cholesky_solve).
        dtype: ``"float64"`` or ``"float32"``.
        repeats: timed runs after one untimed warm-up; the minimum is returned.
        timer: clock returning seconds (``time.perf_counter``; injectable for tests).
        budget_s: stop repeating once the timed runs add up to this (a loaded machine can make
            single runs 10x slower; the minimum of fewer runs is still an upper bound).
        device: where the factorization runs (``"cpu"``, ``"cuda"``, ...; not the CPU: torch only).
            The clock synchronizes the device, so the time is the kernels', not their launch.
    """
    n = check_int_range(n, "n", 1, 100_000)
    repeats = check_int_range(repeats, "repeats", 1, 1000)
    if backend not in BACKENDS:
        raise InvalidArgumentError(f"`backend` must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    a = _spd_matrix(n, dtype, seed)
    b = np.ones(n, dtype=dtype)
    if backend == "scipy":

        def run() -> None:
            scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, check_finite=False), b, check_finite=False)

    else:
        at = torch.from_numpy(a).to(device)
        bt = torch.from_numpy(b)[:, None].to(device)

        def run() -> None:
            torch.cholesky_solve(bt, torch.linalg.cholesky(at))

    if timer is None:
        from .._device import clock

        def timer() -> float:
            return clock(device)

    run()  # warm-up: first-call allocations and thread-pool start-up
    best, spent = math.inf, 0.0
    for _ in range(repeats):
        t0 = timer()
        run()
        dt = timer() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return max(best, 1e-12)


def calibration_key(dtype: str = "float64", kernel: str = "cholesky", device: str = "cpu") -> str:
    """Cache key: CPU model, architecture, CPU count, torch/scipy versions, dtype, thread count (and
    the timed kernel when it is not the Cholesky solve, the device's model when it is not the CPU)."""
    from .._device import device_label

    key = (
        f"cpu={cpu_name()}; arch={platform.machine()}; cpus={os.cpu_count()}; torch={torch.__version__}; "
        f"scipy={scipy.__version__}; dtype={dtype}; threads={torch.get_num_threads()}"
    )
    if kernel != "cholesky":
        key += f"; kernel={kernel}"
    if torch.device(device).type != "cpu":
        key += f"; device={device_label(device)}"
    return key


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/qnewton`` if that variable holds an absolute path, else ``~/.cache/qnewton``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "qnewton"


def _cache_path(directory: str | os.PathLike | None) -> Path:
    return (Path(directory) if directory is not None else cache_dir()) / _CACHE_FILE


def _read_entries(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable or corrupt: treated as empty and overwritten on the next save
    if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
        return {}
    if not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def load_calibration(key: str, directory: str | os.PathLike | None = None) -> Calibration | None:
    """The cached calibration for ``key``, or None (missing, corrupt or of another format)."""
    entry = _read_entries(_cache_path(directory)).get(key)
    if entry is None:
        return None
    try:
        return Calibration.from_dict(entry)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def save_calibration(cal: Calibration, directory: str | os.PathLike | None = None) -> Path | None:
    """Store ``cal`` under its key (atomic replace; other keys are kept). Returns the path, or None
    with a warning when the cache directory is not writable."""
    path = _cache_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _read_entries(path)
        entries[cal.key] = cal.to_dict()
        atomic_write(path, json.dumps({"format": _CACHE_FORMAT, "entries": entries}, indent=1, sort_keys=True))
    except OSError as exc:
        warn_outside_package(
            f"could not write the classical-cost calibration cache {path} ({exc}); C will be "
            f"recalibrated in the next process. Set XDG_CACHE_HOME to a writable directory.",
            QNewtonWarning,
        )
        return None
    return path


def calibrate_classical(
    sizes: Sequence[int] = DEFAULT_SIZES,
    dtype: str = "float64",
    repeats: int = 3,
    *,
    backends: Sequence[str] = BACKENDS,
    measure: Callable[..., float] | None = None,
    kernel: str = "cholesky",
    device: str = "cpu",
) -> Calibration:
    """Time Cholesky factor + solve at ``sizes`` and fit C in t = C N^3 (no cache involved).

    At each size the faster backend counts (the routed classical solver would use it).
    ``measure(n, backend, dtype, repeats)`` defaults to :func:`measure_cholesky_solve`; pass
    another to calibrate a different solver or to test with synthetic timings; ``kernel`` names it
    in the cache key (``"gemm"`` for :class:`GemmCostModel`).
    """
    sizes = tuple(check_int_range(s, "sizes", 2, 20_000) for s in sizes)
    if len(sizes) == 0:
        raise InvalidArgumentError("`sizes` is empty; pass a few sizes such as (500, 1000, 2000).")
    if dtype not in _DTYPES:
        raise InvalidArgumentError(f"`dtype` must be one of {', '.join(_DTYPES)}, got {dtype!r}.")
    for b in backends:
        if b not in BACKENDS:
            raise InvalidArgumentError(f"`backends` entries must be in {', '.join(BACKENDS)}, got {b!r}.")
    if not backends:
        raise InvalidArgumentError(f"`backends` is empty; pass some of {', '.join(BACKENDS)}.")
    on_device = torch.device(device).type != "cpu"
    if measure is None:
        measure = measure_cholesky_solve
    if on_device:  # only torch runs on a device; the device goes to the default measurers
        backends = [b for b in backends if b == "torch"] or ["torch"]
        inner = measure

        def measure(n: int, b: str, dt: str, r: int) -> float:
            return inner(n, b, dt, r, device=device)

    timings: dict[str, list[float]] = {b: [] for b in backends}
    try:
        for n in sizes:
            for b in backends:
                timings[b].append(float(measure(n, b, dtype, repeats)))
    finally:
        _spd_matrix.cache_clear()
    best_backend = tuple(min(backends, key=lambda b, i=i: timings[b][i]) for i in range(len(sizes)))  # type: ignore[misc]
    best = tuple(timings[b][i] for i, b in enumerate(best_backend))
    c, rms = fit_cubic_constant(sizes, best)
    return Calibration(
        c=c,
        sizes=sizes,
        seconds=best,
        backends=best_backend,
        timings=timings,
        rel_rms=rms,
        key=calibration_key(dtype, kernel, device),
        dtype=dtype,
        threads=torch.get_num_threads(),
        repeats=repeats,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


@dataclass(frozen=True)
class ClassicalCostModel:
    """Predicted seconds of a classical Cholesky solve of an N x N block: C N^3.

    Either pass ``c`` (then the estimate's basis is ``"assumed-prediction"``) or let C come from
    a calibration on this machine (basis ``"calibrated-prediction"``): loaded from the cache if
    one matches this machine, dtype, thread count and ``sizes``, else measured (a few seconds)
    and cached. ``recalibrate=True`` ignores the cache on first use; :meth:`calibrate` measures
    again at any time. Either way the figure is a prediction, never a measured time.

    Attributes:
        c: seconds per N^3, or None to calibrate.
        dtype: precision of the timed solves, ``"float64"`` or ``"float32"``.
        sizes: N timed by the calibration.
        repeats: runs per size and backend (the minimum counts).
        recalibrate: measure afresh on first use instead of reading the cache.
        cache: read and write the JSON cache.
        cache_dir: cache directory; None uses :func:`cache_dir`.

    Example:
        >>> ClassicalCostModel(c=1e-11).estimate(1000).seconds
        0.01
    """

    c: float | None = None
    dtype: str = "float64"
    sizes: tuple[int, ...] = DEFAULT_SIZES
    repeats: int = 3
    recalibrate: bool = False
    cache: bool = True
    cache_dir: str | os.PathLike | None = None
    device: str = "cpu"
    _calibration: Calibration | None = field(default=None, init=False, repr=False, compare=False)

    route: ClassVar[RouteKind] = "classical"

    def __post_init__(self) -> None:
        if self.c is not None:
            object.__setattr__(self, "c", check_positive(self.c, "c"))
        if self.dtype not in _DTYPES:
            raise InvalidArgumentError(f"`dtype` must be one of {', '.join(_DTYPES)}, got {self.dtype!r}.")
        sizes = tuple(check_int_range(s, "sizes", 2, 20_000) for s in self.sizes)
        if not sizes:
            raise InvalidArgumentError("`sizes` is empty; pass a few sizes such as (500, 1000, 2000).")
        object.__setattr__(self, "sizes", sizes)
        check_int_range(self.repeats, "repeats", 1, 1000)

    @property
    def name(self) -> str:
        """``classical/cholesky``."""
        return "classical/cholesky"

    @property
    def calibration(self) -> Calibration | None:
        """The calibration behind C (None when ``c`` was given); calibrates or loads on first use."""
        if self.c is not None:
            return None
        if self._calibration is None:
            cal = None
            if self.cache and not self.recalibrate:
                cal = load_calibration(calibration_key(self.dtype, "cholesky", self.device), self.cache_dir)
                if cal is not None and cal.sizes != self.sizes:
                    cal = None
            if cal is None:
                return self.calibrate()
            object.__setattr__(self, "_calibration", cal)
        return self._calibration

    @property
    def constant(self) -> float:
        """C in seconds per N^3 (given, cached or freshly calibrated)."""
        if self.c is not None:
            return self.c
        cal = self.calibration
        assert cal is not None
        return cal.c

    @property
    def basis(self) -> str:
        """``"assumed-prediction"`` for a given C, else ``"calibrated-prediction"``."""
        return "assumed-prediction" if self.c is not None else "calibrated-prediction"

    @property
    def label(self) -> str:
        """Human-readable description for plots and logs."""
        how = "given C" if self.c is not None else "C calibrated on this machine"
        return f"classical Cholesky, C N^3 ({how}; C = {self.constant:.3g} s) ({self.basis})"

    def calibrate(self) -> Calibration:
        """Measure now (ignoring the cache), store the result in the cache, and use it from now on.

        Raises:
            InvalidArgumentError: the model was built with a fixed ``c``.
        """
        if self.c is not None:
            raise InvalidArgumentError(
                f"this model has a fixed `c` = {self.c:g}; build ClassicalCostModel() without `c` to calibrate."
            )
        cal = calibrate_classical(self.sizes, self.dtype, self.repeats, device=self.device)
        if self.cache:
            save_calibration(cal, self.cache_dir)
        object.__setattr__(self, "_calibration", cal)
        return cal

    def estimate(self, n: int, kappa: Any = None, d: Any = None, *, alpha: Any = None) -> CostEstimate:
        """Predicted seconds C N^3 of a Cholesky factor + solve (kappa, d and alpha do not enter).

        Returns:
            :class:`CostEstimate` with ``basis`` ``"calibrated-prediction"`` or
            ``"assumed-prediction"`` and the single term ``cholesky``.
        """
        n = check_int_range(n, "n", 1, 2**62, "`n` is the number of rows of the block.")
        c = self.constant
        seconds = c * float(n) ** 3
        details: dict[str, Any] = {"c": c, "dtype": self.dtype, "formula": "C N^3 (Cholesky factor + solve)"}
        cal = self.calibration
        if cal is None:
            details["c_source"] = "given by the caller"
        else:
            details.update(
                c_source="least-squares fit to Cholesky solves timed on this machine",
                calibration_key=cal.key,
                calibration_created=cal.created,
                calibrated_sizes=list(cal.sizes),
                fit_rel_rms=cal.rel_rms,
                extrapolated=n > max(cal.sizes),
            )
        return CostEstimate(
            route="classical",
            model=self.name,
            basis=self.basis,  # type: ignore[arg-type]
            seconds=seconds,
            n=n,
            terms={"cholesky": seconds},
            details=details,
        )


def measure_gemm(
    n: int,
    backend: str = "torch",
    dtype: str = "float32",
    repeats: int = 3,
    *,
    timer: Callable[[], float] | None = None,
    budget_s: float = 1.0,
    device: str = "cpu",
) -> float:
    """Best of ``repeats`` wall-clock seconds of one n x n x n matrix product (``torch.mm``) on ``device``."""
    n = check_int_range(n, "n", 1, 100_000)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=getattr(torch, dtype)).to(device)
    b = torch.randn(n, n, generator=gen, dtype=getattr(torch, dtype)).to(device)
    if timer is None:
        from .._device import clock

        def timer() -> float:
            return clock(device)

    a @ b  # warm-up
    best, spent = math.inf, 0.0
    for _ in range(check_int_range(repeats, "repeats", 1, 1000)):
        t0 = timer()
        a @ b
        dt = timer() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return max(best, 1e-12)


@dataclass(frozen=True)
class GemmCostModel:
    """Predicted seconds of dense matrix-product work: t = c x flops (2 m n k per product).

    The structured routes (Woodbury's r x r Gram matrix, a Kronecker-formed dense block, vector
    work) are priced by their floating-point operation count at this machine's measured GEMM rate:
    c is fitted to timed n x n x n products (``torch.mm``) and cached like the Cholesky constant
    (key: machine, versions, dtype, threads, ``kernel=gemm``). Pass ``c`` (seconds per flop) to fix
    it. A prediction, never a measurement: estimates carry ``basis``.

    Example:
        >>> GemmCostModel(c=1e-11).seconds(2e9)
        0.02
    """

    c: float | None = None
    dtype: str = "float32"
    sizes: tuple[int, ...] = (256, 512, 1024)
    repeats: int = 3
    cache: bool = True
    cache_dir: str | os.PathLike | None = None
    device: str = "cpu"
    _calibration: Calibration | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.c is not None:
            object.__setattr__(self, "c", check_positive(self.c, "c"))
        if self.dtype not in _DTYPES:
            raise InvalidArgumentError(f"`dtype` must be one of {', '.join(_DTYPES)}, got {self.dtype!r}.")
        object.__setattr__(self, "sizes", tuple(check_int_range(s, "sizes", 2, 20_000) for s in self.sizes))

    @property
    def basis(self) -> str:
        return "assumed-prediction" if self.c is not None else "calibrated-prediction"

    @property
    def calibration(self) -> Calibration | None:
        """The timed products behind c (None when ``c`` was given); measured or loaded on first use."""
        if self.c is not None:
            return None
        if self._calibration is None:
            key = calibration_key(self.dtype, "gemm", self.device)
            cal = load_calibration(key, self.cache_dir) if self.cache else None
            if cal is None or cal.sizes != self.sizes:
                cal = calibrate_classical(
                    self.sizes,
                    self.dtype,
                    self.repeats,
                    backends=("torch",),
                    measure=measure_gemm,
                    kernel="gemm",
                    device=self.device,
                )
                if self.cache:
                    save_calibration(cal, self.cache_dir)
            object.__setattr__(self, "_calibration", cal)
        return self._calibration

    @property
    def seconds_per_flop(self) -> float:
        """c: the n x n x n product's fitted C N^3 is 2 N^3 flops, so c = C / 2."""
        if self.c is not None:
            return self.c
        cal = self.calibration
        assert cal is not None
        return cal.c / 2.0

    def seconds(self, flops: float) -> float:
        """Predicted seconds of ``flops`` floating-point operations of GEMM-like work."""
        return float(flops) * self.seconds_per_flop


def measure_eigh(
    n: int,
    backend: str = "torch",
    dtype: str = "float64",
    repeats: int = 3,
    *,
    timer: Callable[[], float] = time.perf_counter,
    budget_s: float = 1.0,
) -> float:
    """Best of ``repeats`` wall-clock seconds of one symmetric eigendecomposition (``torch.linalg.eigh``)
    of an n x n matrix (the K-FAC route's factor decompositions)."""
    n = check_int_range(n, "n", 1, 100_000)
    a = torch.from_numpy(_spd_matrix(n, dtype, 0))
    torch.linalg.eigh(a)  # warm-up
    best, spent = math.inf, 0.0
    for _ in range(check_int_range(repeats, "repeats", 1, 1000)):
        t0 = timer()
        torch.linalg.eigh(a)
        dt = timer() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return max(best, 1e-12)


@dataclass(frozen=True)
class EighCostModel:
    """Predicted seconds of a symmetric eigendecomposition of an n x n matrix: t = C n^3.

    C is fitted to timed ``torch.linalg.eigh`` runs and cached like the Cholesky constant (key:
    machine, versions, dtype, threads, ``kernel=eigh``); pass ``c`` to fix it. The ``kron-eig``
    route prices its two factor decompositions with it. A prediction, never a measurement.

    Example:
        >>> EighCostModel(c=1e-10).seconds(100)
        0.0001
    """

    c: float | None = None
    dtype: str = "float64"
    sizes: tuple[int, ...] = (128, 256, 512)
    repeats: int = 3
    cache: bool = True
    cache_dir: str | os.PathLike | None = None
    _calibration: Calibration | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.c is not None:
            object.__setattr__(self, "c", check_positive(self.c, "c"))
        if self.dtype not in _DTYPES:
            raise InvalidArgumentError(f"`dtype` must be one of {', '.join(_DTYPES)}, got {self.dtype!r}.")
        object.__setattr__(self, "sizes", tuple(check_int_range(s, "sizes", 2, 20_000) for s in self.sizes))

    @property
    def basis(self) -> str:
        return "assumed-prediction" if self.c is not None else "calibrated-prediction"

    @property
    def calibration(self) -> Calibration | None:
        """The timed decompositions behind C (None when ``c`` was given); measured or loaded on first use."""
        if self.c is not None:
            return None
        if self._calibration is None:
            key = calibration_key(self.dtype, "eigh")
            cal = load_calibration(key, self.cache_dir) if self.cache else None
            if cal is None or cal.sizes != self.sizes:
                cal = calibrate_classical(
                    self.sizes, self.dtype, self.repeats, backends=("torch",), measure=measure_eigh, kernel="eigh"
                )
                if self.cache:
                    save_calibration(cal, self.cache_dir)
            object.__setattr__(self, "_calibration", cal)
        return self._calibration

    @property
    def constant(self) -> float:
        """C in seconds per n^3."""
        if self.c is not None:
            return self.c
        cal = self.calibration
        assert cal is not None
        return cal.c

    def seconds(self, n: int) -> float:
        """Predicted seconds of one n x n eigendecomposition."""
        return self.constant * float(n) ** 3
