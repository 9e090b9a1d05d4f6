r"""Symmetric pruning and sparsity profiles in torch, on the tensor's own device (CUDA in particular).

Private: ``pruning.prune_symmetric`` and ``sparsity.quantum_sparsity`` / ``row_nnz`` /
``oracle_sparsity`` dispatch here for tensors on a non-CPU device (or when forced with
``_backend="torch"``); the numba kernels in ``_kernels.py`` stay the CPU path. The results are
those of the numba kernels: the same accepted pairs, the same values, the same validation errors
(``tests/test_linalg_pruning_torch.py`` checks them bit for bit on CPU).

The symmetric greedy, in parallel rounds
-----------------------------------------
The greedy of ``prune_symmetric`` takes the upper triangle's pairs in the order
:math:`\prec`: :math:`|a_{ij}|` descending, ties by row, then column, and accepts pair
:math:`\{i, j\}` iff fewer than d pairs were accepted in row i before it and fewer than d in
row j (zeros are never accepted). Restricted to the pairs of one row i, :math:`\prec` is
"|value| descending, then the partner column ascending": among equal values the pair
:math:`(\min(i,j), \max(i,j))` is lexicographically smaller exactly when j is smaller. So each row's
list of pairs is its row of |A| sorted stably in descending order; no global order is needed
beyond what a band's sort gives.

*Thresholds and sure pairs* (one vectorized pass, as in the numba path). With :math:`r_i` the
d-th largest :math:`|a_{ij}|` of row i (0 if the row has fewer than d nonzeros), fewer than d
entries of row i exceed :math:`r_i`, so a pair above :math:`r_i` has fewer than d predecessors in
row i and passes row i's test whatever happened before it. A pair above both thresholds is
accepted ("sure"); every other pair above :math:`r_i` passes row i's test for free.

*Value bands.* The remaining candidates are taken a band of |value| at a time from the top (the
numba path's 16-per-octave buckets of the float32 rounding of |a|, a monotone map, so a band
holds whole tie classes and every pair of a band precedes every pair of a later band). A pair of a
full row (d accepted) that is not above that row's threshold is rejected without being listed:
the row's accepted pairs, the sure ones included (they are above :math:`r_i \ge |a_{ij}|`),
all precede it. Where the bands fall changes the speed, never the result.

*Rounds within a band.* Each pair is listed once in each of its rows (a "half-edge"), sorted by
(row, :math:`\prec`). For a listed, undecided pair at position t of row i's list let
:math:`A` = accepted pairs of row i before t (sure and earlier bands included) and :math:`U` =
undecided pairs of row i before t. The number of accepted pairs before it when the sequential
greedy reaches it lies in :math:`[A, A + U]`, because every decided pair was decided exactly as
the greedy decides it (induction over rounds). Row i's test is therefore *passed* if the pair is
above :math:`r_i` or :math:`A + U < d`, *failed* if :math:`A \ge d` (and not above
:math:`r_i`), and open otherwise. A round evaluates this for all listed pairs at once (segmented
prefix sums) and decides every pair whose two tests are known: rejected if one failed, accepted
if both passed; it first applies the rejections (they need only A) and then recounts U before
testing for acceptance, so one round settles two levels of dependence. Each decision equals the
greedy's, and the first undecided pair in :math:`\prec` has :math:`U = 0` in both rows, so each
round decides at least one pair: the rounds end, exactly at the sequential greedy's result.
Decided pairs are compacted away, their accepted counts kept as a per-entry offset.

The number of rounds is the length of the longest chain of dependent decisions (halved). On
Hessian blocks and random matrices it is a few to a few tens per band (greedy matching in a
random order has short dependency chains: Blelloch, Fineman and Shun, SPAA 2012). It cannot be
small on every input: the greedy ("lexicographically first") maximal matching is P-complete
(Anderson and Mayr 1987), and the all-equal matrix makes a chain of length ~N. So when at most
``_TAIL_PAIRS`` pairs of a band are undecided, or when they stop shrinking geometrically after
``_ROUNDS_BEFORE_TAIL`` rounds, the rest of the band is decided by the sequential greedy itself on
the host (compiled with numba): the undecided pairs in the greedy's order, each row starting from
its accepted count before the pair (exact: every pair still undecided is in that list) plus the
tail pairs it accepted so far. The decisions are copied back. Exact either way; it changes only
where the last pairs are decided (on a GPU a round costs a few tens of kernel launches, the tail
one round trip of a short list).

Every operation is deterministic (sorts are stable, scatters write distinct indices, prefix sums
are over integers), so the path runs under ``torch.use_deterministic_algorithms(True)``; only the
profile's float64 running sums have no deterministic CUDA kernel, and in that mode a CUDA profile
is computed by the numba kernel on a host copy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import numba
import numpy as np
import torch

from .._validation import check_finite, check_fraction, check_int_range, check_square
from .._validation import raise_if_asymmetric as _raise_if_asymmetric
from ..errors import InvalidArgumentError, ShapeError
from . import _kernels as K

__all__ = [
    "oracle_sparsity_torch",
    "prune_symmetric_torch",
    "quantum_sparsity_torch",
    "row_nnz_torch",
    "to_compute_tensor",
    "use_torch",
]

_SHIFT = 19  # float32 bits below the histogram bucket: the numba kernels' buckets (16 per octave)
_BAND_FACTOR = 4.0  # candidates per missing pair in the first band; doubles on every further band
_BAND_CAP = 1 / 8  # at most N^2/8 candidates per band (bounds the band's sort and memory)
_TAIL_PAIRS = 2048  # at most this many undecided pairs left in a band: the host finishes them
_ROUNDS_BEFORE_TAIL = 32  # after this many rounds of a band, a slowly shrinking rest goes to the host
_TAIL_SHRINK = 0.75  # ... "slowly": less than a quarter of the undecided pairs decided in 4 rounds

_UNDECIDED, _ACCEPTED, _REJECTED = 0, 1, 2

#: What the last ``prune_symmetric_torch`` call did, one dict per band: ``candidates`` (pairs
#: listed), ``rounds``, ``tail`` (pairs the host's sequential greedy decided, 0 if none) and
#: ``history`` (undecided pairs after each round). For tests and benchmarks; not part of the result.
last_stats: list[dict[str, Any]] = []


def use_torch(A: object, backend: str | None) -> bool:
    """Whether the torch implementation runs: forced (``backend="torch"``), or by default for a
    tensor on a non-CPU device (or any tensor inside ``qnewton._device.force_torch_path()``);
    ``"numba"`` forces the numba/numpy path."""
    if backend is None:  # one dispatch rule for the whole device path (qnewton._device)
        from .._device import accelerated

        return accelerated(A)
    if backend not in ("torch", "numba"):
        raise InvalidArgumentError(f"`_backend` must be None, 'torch' or 'numba', got {backend!r}.")
    return backend == "torch"


def to_compute_tensor(A: torch.Tensor, name: str = "A") -> torch.Tensor:
    """``A`` detached, in the dtype the numpy path computes in (``qnewton._arrays`` policy):
    float32/float64 kept, float16/bfloat16 -> float32, integers/bool -> float64, complex refused."""
    t = A.detach()
    if t.is_sparse or t.layout != torch.strided:
        raise InvalidArgumentError(f"`{name}` is a sparse tensor; pass a dense (strided) tensor.")
    if t.is_complex():
        raise InvalidArgumentError(f"`{name}` is a complex tensor; qnewton works on real matrices.")
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.to(torch.float32)
    if not t.is_floating_point():
        return t.to(torch.float64)
    return t


def _np_dtype(t: torch.Tensor) -> np.dtype:
    return np.dtype(np.float32) if t.dtype == torch.float32 else np.dtype(np.float64)


def _check_finite(a: torch.Tensor, name: str) -> None:
    """NonFiniteError with the numpy check's exact message (the host copy is made only on error)."""
    if not bool(torch.isfinite(a).all()):
        check_finite(a.cpu().numpy(), name)


def prune_symmetric_torch(
    A: torch.Tensor, d: int, sparse: bool = False, symmetry_rtol: float | None = None
) -> torch.Tensor:
    """``prune_symmetric`` on the tensor's device; see the module docstring for the algorithm.

    Returns the dense pruned matrix (A's device, float32/float64 as the numpy path), or with
    ``sparse`` a torch sparse CSR tensor on that device (column indices sorted per row).
    Raises exactly what the numba path raises, in the same order.
    """
    a = to_compute_tensor(A, "A")
    n = check_square(cast(Any, a), "A")  # reads only .ndim and .shape: the same messages
    d = check_int_range(d, "d", 1, n, hint="d is the most nonzeros kept per row (1 <= d <= N).")
    if n > K.MAX_N:  # the numba path's limit: the same inputs are accepted
        raise ShapeError(f"A: prune_symmetric handles N <= {K.MAX_N}, got N = {n}; prune blocks of A instead.")
    _check_finite(a, "A")
    asym = float((a - a.T).abs().max())
    amax = float(a.abs().max())
    _raise_if_asymmetric(asym, amax, _np_dtype(a), "A", symmetry_rtol)
    out = _greedy(a, d, exact_symmetric=asym == 0.0)
    if not sparse:
        return out
    with warnings.catch_warnings():  # "sparse CSR support is in beta": converting is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return out.to_sparse_csr()


def _greedy(a: torch.Tensor, d: int, exact_symmetric: bool) -> torch.Tensor:
    n = a.shape[0]
    dev = a.device
    # pair values: the upper triangle's entry in both triangles (A may be symmetric up to rounding)
    pv = a.contiguous() if exact_symmetric else torch.triu(a) + torch.triu(a, 1).T
    av = pv.abs()
    r = torch.kthvalue(av, n - d + 1, dim=1).values  # d-th largest |value| per row (0: < d nonzeros)
    top = av > r[:, None]  # above row i's threshold (row i's test passes whatever the order)
    sure = top & top.T
    out = torch.where(sure, pv, torch.zeros((), dtype=pv.dtype, device=dev))
    counts = sure.sum(dim=1)
    del sure
    # float32 rounding of |value|, top 12 bits: the numba kernels' histogram buckets (monotone)
    bucket = (av.to(torch.float32).view(torch.int32) >> _SHIFT).to(torch.int16)
    # undecided candidates of the upper triangle: nonzero, not sure, not in a processed band, and
    # not below the threshold of a full row (cleared row and column-wise as rows fill)
    live = torch.ones(n, n, dtype=torch.bool, device=dev).triu_()
    live &= av > 0
    live &= ~(top & top.T)
    full = counts >= d  # all False: fewer than d entries exceed r_i
    last_stats.clear()
    hi = K.NBUCKET
    band = 0
    while True:
        cand = live if hi == K.NBUCKET else live & (bucket < hi)
        hist = torch.bincount(bucket[cand].to(torch.int32), minlength=K.NBUCKET)
        lo = _band_bucket(hist, d, counts, full, band, n)
        idx = (cand if lo == 0 else cand & (bucket >= lo)).nonzero()
        del cand
        if idx.shape[0]:
            ii, jj = idx[:, 0], idx[:, 1]
            acc = _band_rounds(ii, jj, av[ii, jj], r, top[ii, jj], top[jj, ii], counts, d)
            ia, ja = ii[acc], jj[acc]
            v = pv[ia, ja]
            out[ia, ja] = v
            out[ja, ia] = v
            counts += torch.bincount(ia, minlength=n) + torch.bincount(ja[ja != ia], minlength=n)
        now_full = counts >= d
        if lo == 0 or bool(now_full.all()):
            break
        filled = torch.nonzero(now_full & ~full).squeeze(1)
        live[filled] &= top[filled]  # entry (i, j) of a full row i survives only above r_i ...
        live[:, filled] &= top[filled].T  # ... and of a full column j only above r_j
        full = now_full
        hi = lo
        band += 1
    return out


def _band_bucket(hist: torch.Tensor, d: int, counts: torch.Tensor, full: torch.Tensor, band: int, n: int) -> int:
    """Lowest bucket of the next band, so that it holds about ``_BAND_FACTOR * 2**band``
    candidates per missing pair (at most N^2 * ``_BAND_CAP``); 0 = everything left. Speed only
    (the numba path's rule)."""
    missing = float(torch.clamp(d - counts[~full], max=d).sum()) / 2.0
    target = min(_BAND_FACTOR * 2.0**band * max(missing, 1.0), max(_BAND_CAP * n * n, 1 << 20))
    above = torch.flip(torch.cumsum(torch.flip(hist, (0,)), 0), (0,))  # above[b]: candidates >= b
    reach = torch.nonzero(above >= target)
    return int(reach[-1, 0]) if reach.numel() else 0


def _band_rounds(
    ii: torch.Tensor,
    jj: torch.Tensor,
    val: torch.Tensor,
    r: torch.Tensor,
    top_i: torch.Tensor,
    top_j: torch.Tensor,
    counts: torch.Tensor,
    d: int,
) -> torch.Tensor:
    """Decide one band's candidate pairs (i <= j, given in row-major order) exactly as the
    sequential greedy does; return the accepted mask. ``counts``: accepted per row so far."""
    m = ii.shape[0]
    dev = ii.device
    # the greedy's order of the band: |value| descending, ties in (row, column) order (stable)
    order = torch.sort(val, descending=True, stable=True).indices
    g = torch.empty(m, dtype=torch.int64, device=dev)
    g[order] = torch.arange(m, device=dev)
    off = ii != jj
    pid_off = torch.nonzero(off).squeeze(1)
    # half-edges: every pair in row i, and in row j when j != i; sorted by (row, greedy order)
    he_row = torch.cat([ii, jj[off]])
    he_pair = torch.cat([torch.arange(m, device=dev), pid_off])
    he_top = torch.cat([top_i, top_j[off]])
    perm = torch.sort(he_row * m + torch.cat([g, g[off]])).indices
    he_row, he_pair, he_top = he_row[perm], he_pair[perm], he_top[perm]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.shape[0], device=dev)
    pos1 = inv[:m]
    pos2 = pos1.clone()
    pos2[pid_off] = inv[m:]
    he_base = counts[he_row]
    status = torch.zeros(m, dtype=torch.int8, device=dev)  # per band pair: written back at the end
    live = torch.arange(m, device=dev)  # band pair id of each listed pair
    lst = status.clone()  # status of the listed pairs
    seg = _segment_starts(he_row)
    rounds = 0
    history: list[int] = []
    tail = 0
    while True:
        # rejections first (they need only the accepted counts), then acceptances with the
        # undecided counts that the rejections just lowered: two dependency levels per round
        a_before = he_base + _exclusive_segmented((lst[he_pair] == _ACCEPTED).to(torch.int64), seg)
        failed = ~he_top & (a_before >= d)
        und = lst == _UNDECIDED
        lst = torch.where(und & (failed[pos1] | failed[pos2]), _REJECTED, lst)
        u_before = _exclusive_segmented((lst[he_pair] == _UNDECIDED).to(torch.int64), seg)
        passed = he_top | (a_before + u_before < d)
        und = lst == _UNDECIDED
        lst = torch.where(und & passed[pos1] & passed[pos2], _ACCEPTED, lst).to(torch.int8)
        und = lst == _UNDECIDED
        left = int(und.sum())
        rounds += 1
        history.append(left)
        if left == 0:
            break
        slow = rounds >= max(_ROUNDS_BEFORE_TAIL, 5) and left > _TAIL_SHRINK * history[-5]
        if left <= _TAIL_PAIRS or slow:
            start = he_base + _exclusive_segmented((lst[he_pair] == _ACCEPTED).to(torch.int64), seg)
            lst = _sequential_tail(lst, und, live, ii, jj, g, val, r, counts.shape[0], d, start, pos1, pos2)
            tail = left
            break
        if left * 5 <= lst.shape[0] * 4:  # compact: drop the decided pairs, keep their accepted counts
            status[live] = lst
            he_base = he_base + _exclusive_segmented((lst[he_pair] == _ACCEPTED).to(torch.int64), seg)
            keep_he = und[he_pair]
            new_id = torch.cumsum(und.to(torch.int64), 0) - 1
            new_pos = torch.cumsum(keep_he.to(torch.int64), 0) - 1
            pos1, pos2 = new_pos[pos1[und]], new_pos[pos2[und]]
            he_row, he_top, he_base = he_row[keep_he], he_top[keep_he], he_base[keep_he]
            he_pair = new_id[he_pair[keep_he]]
            live, lst = live[und], lst[und]
            seg = _segment_starts(he_row)
    status[live] = lst
    last_stats.append({"candidates": m, "rounds": rounds, "tail": tail, "history": history})
    return status == _ACCEPTED


def _segment_starts(rows: torch.Tensor) -> torch.Tensor:
    """For each entry of a sorted key list, the index where its run of equal keys starts."""
    k = rows.shape[0]
    idx = torch.arange(k, device=rows.device)
    first = torch.ones(k, dtype=torch.bool, device=rows.device)
    if k > 1:
        first[1:] = rows[1:] != rows[:-1]
    return torch.cummax(torch.where(first, idx, 0), 0).values


def _exclusive_segmented(x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """Exclusive prefix sums of ``x`` restarting at every segment start."""
    c = torch.cumsum(x, 0) - x
    return c - c[seg]


def _sequential_tail(lst, und, live, ii, jj, g, val, r, n, d, start, pos1, pos2) -> torch.Tensor:
    """Decide a band's last undecided pairs with the sequential greedy (host, numba); return the
    listed pairs' new status.

    ``start[h]``: accepted pairs of half-edge h's row before it (sure pairs and earlier bands in
    ``he_base``, decided listed pairs by the prefix sum): exact, since every pair still undecided
    is in the list. Taken in the greedy's order, an accepted tail pair adds one to the running
    count of both its rows, and it precedes every later tail pair of those rows."""
    pids = torch.nonzero(und).squeeze(1)  # listed ids of the undecided pairs
    pids = pids[torch.argsort(g[live[pids]])]  # in the greedy's order
    bp = live[pids]
    i, j = ii[bp], jj[bp]
    host = [t.cpu().numpy() for t in (i, j, start[pos1[pids]], start[pos2[pids]], val[bp] > r[i], val[bp] > r[j])]
    acc = torch.from_numpy(cast(Any, _tail_greedy)(*host, n, d)).to(lst.device)
    out = lst.clone()
    out[pids] = torch.where(acc, _ACCEPTED, _REJECTED).to(torch.int8)
    return out


@numba.njit(cache=True, nogil=True)
def _tail_greedy(i, j, start_i, start_j, above_i, above_j, n, d):  # pragma: no cover - compiled
    extra = np.zeros(n, np.int64)
    acc = np.zeros(i.shape[0], np.bool_)
    for k in range(i.shape[0]):
        a, b = i[k], j[k]
        if (above_i[k] or start_i[k] + extra[a] < d) and (above_j[k] or start_j[k] + extra[b] < d):
            acc[k] = True
            extra[a] += 1
            if b != a:
                extra[b] += 1
    return acc


# --- sparsity profiles ---------------------------------------------------------------------------


def quantum_sparsity_torch(A: torch.Tensor, p: float | Sequence[float] = 0.5) -> torch.Tensor:
    """``quantum_sparsity`` on the tensor's device: int64 tensor of shape (rows,) or (rows, len(p)).

    Sorted magnitudes in float64, their running sums, and the first index where the running sum
    reaches ``p`` of the row total (a row whose sum stays short by rounding needs all its
    nonzeros; a zero row needs 0): the numba kernel's rule. The sums are accumulated in another
    order than the numba kernel's, so when a running sum lies within float64 rounding (~1e-16
    relative) of the target the two counts may differ by one; both are then valid answers.
    """
    scalar = np.ndim(p) == 0
    ps = np.atleast_1d(np.asarray(p, dtype=np.float64))
    for q in ps:
        check_fraction(float(q), "p")
    a = to_compute_tensor(A, "A")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"`A` must be a non-empty 2-D matrix, got shape {tuple(a.shape)}.")
    _check_finite(a, "A")
    if a.device.type != "cpu" and torch.are_deterministic_algorithms_enabled():
        # a float cumsum on CUDA raises in deterministic mode: the numba kernel on a host copy
        out_np = np.empty((a.shape[0], ps.size), np.int64)
        K.row_mass_counts(np.ascontiguousarray(a.cpu().numpy()), ps, out_np)
        out_t = torch.from_numpy(out_np).to(a.device)
        return out_t[:, 0] if scalar else out_t
    mag = a.abs().to(torch.float64)
    total = mag.sum(dim=1)
    csum = torch.cumsum(torch.sort(mag, dim=1, descending=True).values, dim=1)
    target = total[:, None] * torch.as_tensor(ps, dtype=torch.float64, device=a.device)[None, :]
    cnt = torch.searchsorted(csum, target.contiguous(), side="left") + 1
    nnz = torch.count_nonzero(a, dim=1)[:, None]
    out = torch.where(target <= 0, 0, torch.minimum(cnt, nnz))
    return out[:, 0] if scalar else out


def row_nnz_torch(A: torch.Tensor) -> torch.Tensor:
    """Nonzeros per row of a dense or sparse (COO/CSR) tensor, int64 on its device; explicitly
    stored zeros are not nonzeros."""
    if A.layout != torch.strided:
        if A.ndim != 2:
            raise ShapeError(f"`A` must be a 2-D matrix, got shape {tuple(A.shape)}.")
        coo = A.detach().to_sparse_coo().coalesce()
        rows = coo.indices()[0][coo.values() != 0]
        return torch.bincount(rows, minlength=A.shape[0]).to(torch.int64)
    if A.is_complex():
        raise InvalidArgumentError("`A` is a complex tensor; qnewton works on real matrices.")
    if A.ndim != 2:
        raise ShapeError(f"`A` must be a 2-D matrix, got shape {tuple(A.shape)}.")
    return torch.count_nonzero(A.detach(), dim=1).to(torch.int64)


def oracle_sparsity_torch(A: torch.Tensor) -> int:
    """Largest number of nonzeros in any row (0 for a matrix without rows)."""
    counts = row_nnz_torch(A)
    return int(counts.max()) if counts.numel() else 0
