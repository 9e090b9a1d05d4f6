"""Compiled (numba) kernels behind pruning and sparsity profiles. Private: the public functions in
``pruning.py`` and ``sparsity.py`` validate arguments and document the algorithms.

Conventions: ``a`` is a C-contiguous float32/float64 square matrix. For symmetric pruning the
value of the pair {i, j} is the upper-triangle entry ``a[min(i,j), max(i,j)]`` so both rows of a
pair always see the same number, even when the input is symmetric only up to rounding.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

STRIP = 16  # rows per block in full-row passes: a 16 x N strip stays in L2 at N = 12544, float64
_NBUCKET = 4096  # histogram buckets: the top 12 bits of a non-negative float32 (8 exponent + 4 mantissa)
_SHIFT = 19


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket(bits):  # pragma: no cover - compiled
    return bits >> _SHIFT


@numba.njit(cache=True, nogil=True)
def _load_strip(a, i0, i1, strip):  # pragma: no cover - compiled
    """strip[r, j] = value of the pair {i0 + r, j} (upper-triangle entry), for all j."""
    n = a.shape[0]
    h = i1 - i0
    for j in range(i0):  # entries left of the diagonal block: read row j, columns i0..i1 (contiguous)
        for r in range(h):
            strip[r, j] = a[j, i0 + r]
    for r in range(h):
        i = i0 + r
        for j in range(i0, i):
            strip[r, j] = a[j, i]
        for j in range(i, n):
            strip[r, j] = a[i, j]


@numba.njit(cache=True, nogil=True)
def _kth_largest_abs(row, k, f32, hist, buf):  # pragma: no cover - compiled
    """(k-th largest nonzero |row|, number of nonzeros); 0.0 when there are fewer than k nonzeros.

    Exact selection in O(N): a histogram over the top bits of |v| as float32 (a monotone map),
    then a partition of the one bucket that holds the k-th value.
    """
    n = row.shape[0]
    hist[:] = 0
    nnz = 0
    for j in range(n):
        av = abs(row[j])
        f32[j] = np.float32(av)
        if av > 0:
            nnz += 1
    bits = f32.view(np.uint32)
    for j in range(n):
        if row[j] != 0:
            hist[_bucket(bits[j])] += 1
    if nnz < k:
        return 0.0, nnz
    acc = 0
    b = hist.shape[0] - 1
    while acc + hist[b] < k:
        acc += hist[b]
        b -= 1
    m = 0
    for j in range(n):
        if row[j] != 0 and _bucket(bits[j]) == b:
            buf[m] = -abs(row[j])
            m += 1
    kk = k - acc - 1
    part = np.partition(buf[:m], kk)
    return -float(part[kk]), nnz


@numba.njit(cache=True, parallel=True, nogil=True)
def row_thresholds_symmetric(a, d):  # pragma: no cover - compiled
    """One pass that validates and selects: returns (r, #non-finite, max|a|, max|a_ij - a_ji|)
    where r[i] is the d-th largest nonzero |value| of row i of the symmetric matrix (0 if row i
    has fewer than d nonzeros). Pair values are the upper-triangle entries; each row's own entries
    are compared with them for the symmetry check."""
    n = a.shape[0]
    r = np.zeros(n, np.float64)
    nblk = (n + STRIP - 1) // STRIP
    stats = np.zeros((nblk, 3), np.float64)
    for blk in prange(nblk):
        i0 = blk * STRIP
        i1 = min(n, i0 + STRIP)
        strip = np.empty((STRIP, n), a.dtype)
        f32 = np.empty(n, np.float32)
        hist = np.empty(_NBUCKET, np.int64)
        buf = np.empty(n, np.float64)
        _load_strip(a, i0, i1, strip)
        _strip_stats(a, strip, i0, i1, stats[blk])
        if stats[blk, 0] == 0:
            for rr in range(i1 - i0):
                r[i0 + rr] = _kth_largest_abs(strip[rr], d, f32, hist, buf)[0]
    return r, int(stats[:, 0].sum()), stats[:, 1].max(), stats[:, 2].max()


@numba.njit(cache=True, nogil=True)
def _strip_stats(a, strip, i0, i1, res):  # pragma: no cover - compiled
    n = a.shape[0]
    nbad = 0
    mx = 0.0
    sy = 0.0
    for rr in range(i1 - i0):
        i = i0 + rr
        for j in range(n):
            u = strip[rr, j]
            w = a[i, j]
            fin = np.isfinite(u) & np.isfinite(w)
            nbad += ~fin
            if fin:
                mx = max(mx, abs(u))
                sy = max(sy, abs(u - w))
    res[0] = nbad
    res[1] = mx
    res[2] = sy


@numba.njit(cache=True, parallel=True, nogil=True)
def sure_pass(a, r, out, write, lo, band_counts):  # pragma: no cover - compiled
    """Count (and, if ``write``, copy into ``out``) the entries that are among the top-d of both
    their rows: the greedy accepts those whatever the order (see ``pruning.prune_symmetric``).
    Also counts, per row i, the other pairs (i, j), j >= i, with value >= lo (the first band)."""
    n = a.shape[0]
    s = np.zeros(n, np.int64)
    nblk = (n + STRIP - 1) // STRIP
    for blk in prange(nblk):
        i0 = blk * STRIP
        i1 = min(n, i0 + STRIP)
        strip = np.empty((STRIP, n), a.dtype)
        _load_strip(a, i0, i1, strip)
        for rr in range(i1 - i0):
            i = i0 + rr
            ri = r[i]
            c = 0
            for j in range(n):
                v = strip[rr, j]
                av = abs(v)
                if av > ri and av > r[j]:
                    c += 1
                    if write:
                        out[i, j] = v
            s[i] = c
            b = 0
            for j in range(i, n):
                av = abs(strip[rr, j])
                b += (av > 0) & (av >= lo) & ~((av > ri) & (av > r[j]))
            band_counts[i] = b
    return s


@numba.njit(cache=True, parallel=True, nogil=True)
def sure_csr_fill(a, r, indptr, indices, data):  # pragma: no cover - compiled
    """Write each row's sure entries (column order) at the start of its CSR slot."""
    n = a.shape[0]
    nblk = (n + STRIP - 1) // STRIP
    for blk in prange(nblk):
        i0 = blk * STRIP
        i1 = min(n, i0 + STRIP)
        strip = np.empty((STRIP, n), a.dtype)
        _load_strip(a, i0, i1, strip)
        for rr in range(i1 - i0):
            i = i0 + rr
            ri = r[i]
            p = indptr[i]
            for j in range(n):
                v = strip[rr, j]
                av = abs(v)
                if av > ri and av > r[j]:
                    indices[p] = j
                    data[p] = v
                    p += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _is_candidate(av, i, j, r, full, lo, hi):  # pragma: no cover - compiled
    """Whether the pair {i, j} (value av) is still undecided and lies in the band [lo, hi).

    Not in the band, or a sure entry (top-d of both rows, accepted in the sure pass), or below the
    top-d of a row that is already full (rejected forever): not a candidate. Written with
    non-short-circuit operators so the scan loops vectorize.
    """
    top_i = av > r[i]
    top_j = av > r[j]
    in_band = (av > 0) & (av >= lo) & (av < hi)
    return in_band & ~(top_i & top_j) & (top_i | ~full[i]) & (top_j | ~full[j])


@numba.njit(cache=True, parallel=True, nogil=True)
def band_count(a, r, full, open_idx, lo, hi, counts):  # pragma: no cover - compiled
    """Per row i, the number of candidate pairs (i, j), i <= j, in the value band [lo, hi).

    A pair of two full rows is never a candidate, so a full row only scans its open partners
    (``open_idx``, ascending) and an open row scans its whole upper row.
    """
    n = a.shape[0]
    for i in prange(n):
        c = 0
        if not full[i]:
            for j in range(i, n):
                c += _is_candidate(abs(a[i, j]), i, j, r, full, lo, hi)
        else:
            for t in range(open_idx.shape[0]):
                j = open_idx[t]
                if j > i and _is_candidate(abs(a[i, j]), i, j, r, full, lo, hi):
                    c += 1
        counts[i] = c


@numba.njit(cache=True, parallel=True, nogil=True)
def band_collect(a, r, full, open_idx, lo, hi, counts, vals, rows, cols):  # pragma: no cover
    """Write the candidates counted by ``band_count`` in (row, column) order; return how many.

    The scan writes every entry and advances only on candidates (no branch, so it vectorizes);
    that needs one spare slot per row, so rows are written with padding and compacted after.
    """
    n = a.shape[0]
    padded = np.zeros(n + 1, np.int64)
    for i in range(n):
        padded[i + 1] = padded[i] + counts[i] + 1
    pv = np.empty(padded[n], vals.dtype)
    pr = np.empty(padded[n], np.int32)
    pc = np.empty(padded[n], np.int32)
    for i in prange(n):
        p = padded[i]
        if not full[i]:
            for j in range(i, n):
                av = abs(a[i, j])
                pv[p] = av
                pr[p] = i
                pc[p] = j
                p += _is_candidate(av, i, j, r, full, lo, hi)
        else:
            for t in range(open_idx.shape[0]):
                j = open_idx[t]
                if j > i:
                    av = abs(a[i, j])
                    pv[p] = av
                    pr[p] = i
                    pc[p] = j
                    p += _is_candidate(av, i, j, r, full, lo, hi)
    m = 0
    for i in range(n):
        p0 = padded[i]
        for t in range(counts[i]):
            vals[m] = pv[p0 + t]
            rows[m] = pr[p0 + t]
            cols[m] = pc[p0 + t]
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def band_sample(a, r, full, rows, hi, d):  # pragma: no cover - compiled
    """Scan whole rows (``rows``, a random sample of open rows) for the next band's threshold:
    returns the candidate values below ``hi`` and each sampled row's count of sure entries.
    Only the speed of pruning, never its result, depends on what this estimates."""
    n = a.shape[0]
    m = rows.shape[0]
    cnt = np.zeros(m, np.int64)
    sure = np.zeros(m, np.int64)
    buf = np.empty((m, n), np.float64)
    for t in range(m):  # a few rows: not worth a parallel region
        i = rows[t]
        k = 0
        su = 0
        for j in range(n):
            av = abs(a[i, j])
            su += (av > r[i]) & (av > r[j])
            if _is_candidate(av, i, j, r, full, 0.0, hi):
                buf[t, k] = av
                k += 1
        cnt[t] = k
        sure[t] = su
    total = cnt.sum()
    out = np.empty(total, np.float64)
    p = 0
    for t in range(m):
        out[p : p + cnt[t]] = buf[t, : cnt[t]]
        p += cnt[t]
    return out, sure


@numba.njit(cache=True, nogil=True)
def greedy_band(order, vals, rows, cols, counts, r, d, accepted):  # pragma: no cover - compiled
    """The sequential greedy over one band in the global order. A pair passes row i's budget
    either because it is among row i's top-d (av > r[i]; its true count there is < d whatever the
    counts hold) or because row i has fewer than d accepted entries so far."""
    for t in range(order.shape[0]):
        k = order[t]
        i = rows[k]
        j = cols[k]
        av = vals[k]
        if (av > r[i] or counts[i] < d) and (av > r[j] or counts[j] < d):
            accepted[k] = True
            counts[i] += 1
            if j != i:
                counts[j] += 1


@numba.njit(cache=True, parallel=True, nogil=True)
def row_topd(a, d, out):  # pragma: no cover - compiled
    """Row-wise top-d by |value| (ties: lower column first), written into ``out`` (zeros)."""
    n = a.shape[0]
    for i in prange(n):
        row = a[i]
        f32 = np.empty(n, np.float32)
        hist = np.empty(_NBUCKET, np.int64)
        buf = np.empty(n, np.float64)
        t, nnz = _kth_largest_abs(row, d, f32, hist, buf)
        if nnz <= d:
            for j in range(n):
                out[i, j] = row[j]
            continue
        above = 0
        for j in range(n):
            if abs(row[j]) > t:
                above += 1
        ties = d - above
        for j in range(n):
            av = abs(row[j])
            if av > t:
                out[i, j] = row[j]
            elif av == t and ties > 0:
                out[i, j] = row[j]
                ties -= 1


@numba.njit(cache=True, parallel=True, nogil=True)
def row_mass_counts(a, ps, out):  # pragma: no cover - compiled
    """out[i, q] = fewest entries of row i whose |values| sum to at least ps[q] of the row total.

    Sums run in float64: a bucketed pass finds the histogram bucket where the running sum of the
    largest values crosses each target, then that bucket alone is sorted.
    """
    n, m = a.shape
    nq = ps.shape[0]
    for i in prange(n):
        row = a[i]
        f32 = np.empty(m, np.float32)
        hist = np.zeros(_NBUCKET, np.int64)
        hsum = np.zeros(_NBUCKET, np.float64)
        buf = np.empty(m, np.float64)
        total = 0.0
        for j in range(m):
            av = abs(np.float64(row[j]))
            f32[j] = np.float32(av)
            total += av
        bits = f32.view(np.uint32)
        for j in range(m):
            if row[j] != 0:
                b = _bucket(bits[j])
                hist[b] += 1
                hsum[b] += abs(np.float64(row[j]))
        for q in range(nq):
            target = ps[q] * total
            if target <= 0.0:
                out[i, q] = 0
                continue
            acc = 0.0
            cnt = 0
            b = _NBUCKET - 1
            while b > 0 and acc + hsum[b] < target:
                acc += hsum[b]
                cnt += hist[b]
                b -= 1
            k = 0
            for j in range(m):
                if row[j] != 0 and _bucket(bits[j]) == b:
                    buf[k] = abs(np.float64(row[j]))
                    k += 1
            vals = np.sort(buf[:k])[::-1]
            t = 0
            while t < k and acc < target:
                acc += vals[t]
                cnt += 1
                t += 1
            if acc < target:  # rounding left the running sum a hair short: every nonzero is needed
                cnt = 0
                for j in range(m):
                    if row[j] != 0:
                        cnt += 1
            out[i, q] = cnt
