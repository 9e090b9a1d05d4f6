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
TILE = 64  # rows per block (and tile side) of the symmetry check and the row thresholds
NBUCKET = 4096  # histogram buckets: the top 12 bits of a non-negative float32 (8 exponent + 4 mantissa)
_SHIFT = 19  # float32 bits below the bucket: the key that orders candidates within a bucket
_LOWMASK = (1 << _SHIFT) - 1
IBITS = 22  # bits per row and per column index in a packed candidate
MAX_N = 1 << IBITS  # largest N the packed candidates can address (a dense 4M x 4M matrix never fits)
_IMASK = MAX_N - 1
_KEYPOS = 2 * IBITS  # packed candidate: [low 19 key bits, inverted | row | column], an uint64
_ACCEPTED = np.uint64(1 << 63)  # the packed word's spare top bit: set once the greedy accepts it


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
    """(k-th largest nonzero |row|, number of nonzeros, #non-finite, max finite |row|); the
    value is 0.0 when there are fewer than k nonzeros or a non-finite entry.

    Exact selection in O(N): a histogram over the top bits of |v| as float32 (a monotone map),
    then a partition of the one bucket that holds the k-th value. ``hist`` is int32 (it fits L1);
    ``f32`` has one spare slot past the row (scratch for the maximum's bits).
    """
    n = row.shape[0]
    nnz = 0
    nbad = 0
    mx = 0.0
    for j in range(n):  # vectorized: magnitudes, their float32 roundings and the row's stats
        av = abs(row[j])
        f32[j] = np.float32(av)
        nnz += av > 0
        fin = np.isfinite(av)
        nbad += not fin
        mx = max(mx, av if fin else 0.0)
    if nnz < k or nbad:
        return 0.0, nnz, nbad, mx
    bits = f32.view(np.uint32)
    f32[n] = np.float32(mx)  # scratch slot: every entry's bucket is <= the maximum's
    bmax = np.int64(_bucket(bits[n]))
    hist[: bmax + 1] = 0
    for j in range(n):  # zeros land in bucket 0 and are taken out below
        hist[_bucket(bits[j])] += 1
    hist[0] -= n - nnz
    acc = 0
    b = bmax
    while acc + hist[b] < k:
        acc += hist[b]
        b -= 1
    m = 0
    for j in range(n):  # branch-free gather of bucket b (zeros too when b == 0: they sort last)
        buf[m] = -abs(row[j])
        m += _bucket(bits[j]) == b
    kk = k - acc - 1
    part = np.partition(buf[:m], kk)
    return -float(part[kk]), nnz, nbad, mx


@numba.njit(cache=True, nogil=True)
def _block_asym(a, i0, i1, t):  # pragma: no cover - compiled
    """max |a_ij - a_ji| over rows i0 <= i < i1 and columns j < i1 (NaN ignored), by square
    tiles: tile a[i0:i1, j0:j1] is transposed into ``t`` (reading whole cache lines), then
    compared with the contiguous rows a[j, i0:i1]."""
    h = i1 - i0
    sy = 0.0
    for j0 in range(0, i1, h):
        j1 = min(j0 + h, i1)
        for i in range(i0, i1):
            for j in range(j0, j1):
                t[j - j0, i - i0] = a[i, j]
        for j in range(j0, j1):
            for q in range(h):
                diff = abs(a[j, i0 + q] - t[j - j0, q])
                if diff > sy:
                    sy = diff
    return sy


@numba.njit(cache=True, parallel=True, nogil=True)
def row_thresholds_symmetric(a, d):  # pragma: no cover - compiled
    """One pass that validates and selects: returns (r, #non-finite, max|a|, max|a_ij - a_ji|)
    where r[i] is the d-th largest nonzero |value| of row i of the symmetric matrix (0 if row i
    has fewer than d nonzeros). Pair values are the upper-triangle entries; each row's own entries
    are compared with them for the symmetry check. A block of rows that is exactly symmetric is
    read in place (its rows are the pair values); otherwise its strips' pair values are loaded."""
    n = a.shape[0]
    r = np.zeros(n, np.float64)
    nblk = (n + TILE - 1) // TILE
    stats = np.zeros((nblk, 3), np.float64)
    for tt in prange(nblk):
        blk = _balanced(tt, nblk)
        i0 = blk * TILE
        i1 = min(n, i0 + TILE)
        f32 = np.empty(n + 1, np.float32)
        hist = np.empty(NBUCKET, np.int32)
        buf = np.empty(n, np.float64)
        t = np.empty((TILE, TILE), a.dtype)
        sy = _block_asym(a, i0, i1, t)
        if sy == 0.0:
            nbad = 0
            mx = 0.0
            for i in range(i0, i1):
                th, _, bad, m = _kth_largest_abs(a[i], d, f32, hist, buf)
                r[i] = th
                nbad += bad
                mx = max(mx, m)
            stats[blk, 0] = nbad
            stats[blk, 1] = mx
        else:
            strip = np.empty((STRIP, n), a.dtype)
            st = np.zeros(3, np.float64)
            for s0 in range(i0, i1, STRIP):
                s1 = min(i1, s0 + STRIP)
                _load_strip(a, s0, s1, strip)
                _strip_stats(a, strip, s0, s1, st)
                stats[blk, 0] += st[0]
                stats[blk, 1] = max(stats[blk, 1], st[1])
                if st[0] == 0:
                    for rr in range(s1 - s0):
                        r[s0 + rr] = _kth_largest_abs(strip[rr], d, f32, hist, buf)[0]
        stats[blk, 2] = sy
    return r, int(stats[:, 0].sum()), stats[:, 1].max(), stats[:, 2].max()


@numba.njit(cache=True, nogil=True)
def _strip_stats(a, strip, i0, i1, res):  # pragma: no cover - compiled
    """(#non-finite, max|a|, max|a_ij - a_ji|) over the strip's rows: every entry of A is some
    row's own entry, and the strip's left part (j < i, read by columns) is compared with it."""
    n = a.shape[0]
    nbad = 0
    mx = 0.0
    sy = 0.0
    for rr in range(i1 - i0):
        i = i0 + rr
        for j in range(n):
            w = a[i, j]
            if np.isfinite(w):
                mx = max(mx, abs(w))
            else:
                nbad += 1
        for j in range(i):
            diff = abs(strip[rr, j] - a[i, j])
            if diff > sy:  # NaN compares False: non-finite entries are counted above instead
                sy = diff
    res[0] = nbad
    res[1] = mx
    res[2] = sy


@numba.njit(cache=True, nogil=True, inline="always")
def f32_bits(av, fbuf, bbuf):  # pragma: no cover - compiled
    """The bits of a magnitude av >= 0 rounded to float32, as uint32. Monotone non-decreasing in
    av; its top 12 bits are the histogram bucket (``_bucket``: 16 buckets per octave).
    ``fbuf``/``bbuf`` are a 1-element float32 buffer and its uint32 view."""
    fbuf[0] = np.float32(av)
    return bbuf[0]


@numba.njit(cache=True, nogil=True, inline="always")
def _mark(out, i, j, v, mask_mode):  # pragma: no cover - compiled
    if mask_mode:
        out[i, j] = 1
    else:
        out[i, j] = v


@numba.njit(cache=True, nogil=True, inline="always")
def _is_candidate(av, bk, i, j, r, full, blo, bhi):  # pragma: no cover - compiled
    """Whether the pair {i, j} (value av, bucket bk) is still undecided and lies in the band of
    buckets [blo, bhi).

    Not in the band, or a sure entry (top-d of both rows, accepted in the sure pass), or below the
    top-d of a row that is already full (rejected forever): not a candidate. Written with
    non-short-circuit operators so the scan loops vectorize. Every pass that counts or collects
    candidates uses this one predicate, so their counts agree exactly.
    """
    top_i = av > r[i]
    top_j = av > r[j]
    in_band = (av > 0) & (bk >= blo) & (bk < bhi)
    return in_band & ~(top_i & top_j) & (top_i | ~full[i]) & (top_j | ~full[j])


@numba.njit(cache=True, parallel=True, nogil=True)
def sure_pass(a, r, full, out, mask_mode, hist, exact_symmetric):  # pragma: no cover - compiled
    """Accept every pair that is among the top-d entries of both its rows (the greedy accepts
    such pairs whatever the order; see ``pruning.prune_symmetric``): mark it in ``out`` (the
    value, or 1 in mask mode) and count it per row. Also counts every other candidate pair
    (i, j), j >= i, into hist[strip, bucket]: the exact counts that place the first value band
    and lay out its candidates. ``full`` must be all False (no row is full yet).

    An exactly symmetric A is read row by row; otherwise pair values come from the upper
    triangle through the (slower) transposing strip load.
    """
    n = a.shape[0]
    s = np.zeros(n, np.int64)
    nblk = (n + STRIP - 1) // STRIP
    for blk in prange(nblk):
        i0 = blk * STRIP
        i1 = min(n, i0 + STRIP)
        fbuf = np.empty(1, np.float32)
        bbuf = fbuf.view(np.uint32)
        if exact_symmetric:
            strip = a[i0:i1]
        else:
            strip = np.empty((i1 - i0, n), a.dtype)
            _load_strip(a, i0, i1, strip)
        for rr in range(i1 - i0):
            i = i0 + rr
            ri = r[i]
            c = 0
            if mask_mode:  # branch-free (vectorized): the whole row of ``out`` is written
                for j in range(n):
                    av = abs(strip[rr, j])
                    sure = (av > ri) & (av > r[j])
                    c += sure
                    out[i, j] = sure
            else:
                for j in range(n):
                    v = strip[rr, j]
                    av = abs(v)
                    sure = (av > ri) & (av > r[j])
                    c += sure
                    out[i, j] = v if sure else 0
            for j in range(i, n):
                av = abs(strip[rr, j])
                bk = _bucket(f32_bits(av, fbuf, bbuf))
                hist[blk, bk] += _is_candidate(av, bk, i, j, r, full, 0, NBUCKET)  # branch-free
            s[i] = c
    return s


@numba.njit(cache=True, parallel=True, nogil=True)
def upper_mask_counts(mask):  # pragma: no cover - compiled
    n = mask.shape[0]
    c = np.zeros(n, np.int64)
    for i in prange(n):
        k = 0
        for j in range(i, n):
            k += mask[i, j] != 0
        c[i] = k
    return c


@numba.njit(cache=True, parallel=True, nogil=True)
def upper_mask_fill(a, mask, indptr, indices, data):  # pragma: no cover - compiled
    """CSR of the upper triangle (j >= i) of the accepted pairs, with their values."""
    n = mask.shape[0]
    for i in prange(n):
        p = indptr[i]
        for j in range(i, n):
            if mask[i, j] != 0:
                indices[p] = j
                data[p] = a[i, j]
                p += 1


@numba.njit(cache=True, parallel=True, nogil=True)
def row_topd(a, d, out):  # pragma: no cover - compiled
    """Row-wise top-d by |value| (ties: lower column first), written into ``out`` (zeros)."""
    n = a.shape[0]
    for i in prange(n):
        row = a[i]
        f32 = np.empty(n + 1, np.float32)
        hist = np.empty(NBUCKET, np.int32)
        buf = np.empty(n, np.float64)
        t, nnz, _, _ = _kth_largest_abs(row, d, f32, hist, buf)
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
        hist = np.zeros(NBUCKET, np.int64)
        hsum = np.zeros(NBUCKET, np.float64)
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
            b = NBUCKET - 1
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


@numba.njit(cache=True, nogil=True, inline="always")
def _balanced(t, nblk):  # pragma: no cover - compiled
    """Strip visited at parallel iteration t: alternately from the top and the bottom of the
    matrix, so a static split of the iterations gives each thread a similar share of the upper
    triangle (its rows shrink from N to 1)."""
    return t // 2 if t % 2 == 0 else nblk - 1 - t // 2


@numba.njit(cache=True, parallel=True, nogil=True)
def row_abs_sums_and_fro2(a):  # pragma: no cover - compiled
    """(max_i sum_j |a_ij|, sum_ij a_ij^2) in float64, one pass, no temporaries."""
    n, m = a.shape
    rows = np.zeros(n, np.float64)
    sq = np.zeros(n, np.float64)
    for i in prange(n):
        s = 0.0
        q = 0.0
        for j in range(m):
            v = np.float64(a[i, j])
            s += abs(v)
            q += v * v
        rows[i] = s
        sq[i] = q
    return rows.max(), sq.sum()


@numba.njit(cache=True, parallel=True, nogil=True)
def band_histogram(a, r, full, open_idx, bhi):  # pragma: no cover - compiled
    """hist[strip, bucket]: exact counts of the candidate pairs (i, j), j >= i, in buckets below
    ``bhi``; they place the next value band and lay out its candidates."""
    n = a.shape[0]
    nblk = (n + STRIP - 1) // STRIP
    hist = np.zeros((nblk, NBUCKET), np.int64)
    for t in prange(nblk):
        blk = _balanced(t, nblk)
        fbuf = np.empty(1, np.float32)
        bbuf = fbuf.view(np.uint32)
        for i in range(blk * STRIP, min(n, (blk + 1) * STRIP)):
            if not full[i]:
                for j in range(i, n):
                    av = abs(a[i, j])
                    bk = _bucket(f32_bits(av, fbuf, bbuf))
                    if _is_candidate(av, bk, i, j, r, full, 0, bhi):  # (branchy measured faster here)
                        hist[blk, bk] += 1
            else:  # a full row keeps only its top-d entries, and only against open rows
                for q in range(open_idx.shape[0]):
                    j = open_idx[q]
                    if j > i:
                        av = abs(a[i, j])
                        bk = _bucket(f32_bits(av, fbuf, bbuf))
                        if _is_candidate(av, bk, i, j, r, full, 0, bhi):
                            hist[blk, bk] += 1
    return hist


@numba.njit(cache=True, nogil=True, inline="always")
def _pack(bits, i, j):  # pragma: no cover - compiled
    """A candidate as one uint64 whose ascending order is the greedy's order within a bucket:
    the low key bits inverted (larger |value| first), then the row, then the column."""
    low = np.uint64((~bits) & np.uint32(_LOWMASK))
    return (low << np.uint64(_KEYPOS)) | (np.uint64(i) << np.uint64(IBITS)) | np.uint64(j)


@numba.njit(cache=True, nogil=True, inline="always")
def _put(a, i, j, r, full, blo, bhi, fbuf, bbuf, pos, dst):  # pragma: no cover - compiled
    """A candidate goes to its bucket's next slot. (A branch-free variant that sends everything
    else to a trash slot measured slower: most entries fail the test, which predicts well.)"""
    av = abs(a[i, j])
    bits = f32_bits(av, fbuf, bbuf)
    bk = _bucket(bits)
    if _is_candidate(av, bk, i, j, r, full, blo, bhi):
        q = bhi - 1 - bk
        dst[pos[q]] = _pack(bits, i, j)
        pos[q] += 1


@numba.njit(cache=True, parallel=True, nogil=True)
def band_collect(a, r, full, open_idx, blo, bhi, off, dst):  # pragma: no cover - compiled
    """Scatter the band's candidates (buckets blo <= b < bhi), packed, into ``dst`` grouped by
    bucket from the top, each bucket in (row, column) order: strip k's candidates of bucket
    bhi - 1 - q go to dst[off[k, q]:], laid out from the exact histogram. Overwrites ``off``
    with the end of each slot so the caller can check that every slot filled exactly."""
    n = a.shape[0]
    nblk = off.shape[0]
    for t in prange(nblk):
        blk = _balanced(t, nblk)
        fbuf = np.empty(1, np.float32)
        bbuf = fbuf.view(np.uint32)
        pos = off[blk]
        for i in range(blk * STRIP, min(n, (blk + 1) * STRIP)):
            if not full[i]:
                for j in range(i, n):
                    _put(a, i, j, r, full, blo, bhi, fbuf, bbuf, pos, dst)
            else:
                for q in range(open_idx.shape[0]):
                    j = open_idx[q]
                    if j > i:
                        _put(a, i, j, r, full, blo, bhi, fbuf, bbuf, pos, dst)


@numba.njit(cache=True, nogil=True)
def _radix_pass(src, dst, shift, nbits):  # pragma: no cover - compiled
    """One stable counting-sort pass of packed candidates on bits [shift, shift + nbits) of
    the key; returns False (and moves nothing) when every candidate has the same digit."""
    m = src.shape[0]
    mask = np.uint64((1 << nbits) - 1)
    sh = np.uint64(shift)
    cnt = np.zeros(1 << nbits, np.int64)
    for t in range(m):
        cnt[(src[t] >> sh) & mask] += 1
    if cnt.max() == m:
        return False
    acc = 0
    for g in range(1 << nbits):
        c = cnt[g]
        cnt[g] = acc
        acc += c
    for t in range(m):
        g = (src[t] >> sh) & mask
        dst[cnt[g]] = src[t]
        cnt[g] += 1
    return True


@numba.njit(cache=True, nogil=True)
def _sort_segment(seg, a, exact):  # pragma: no cover - compiled
    """Sort one bucket's packed candidates (given in (row, column) order) into the greedy's
    order. Only the key bits are sorted, stably, so ties stay in (row, column) order. With
    ``exact`` (float64 input), runs of equal float32 keys whose values differ are re-sorted
    stably by the exact value."""
    m = seg.shape[0]
    if m < 24:  # insertion sort on the whole packed word (key, then row, then column)
        for t in range(1, m):
            x = seg[t]
            u = t - 1
            while u >= 0 and seg[u] > x:
                seg[u + 1] = seg[u]
                u -= 1
            seg[u + 1] = x
    else:
        tmp = np.empty(m, np.uint64)
        lo_bits = _SHIFT // 2
        moved1 = _radix_pass(seg, tmp, _KEYPOS, lo_bits)
        src = tmp if moved1 else seg
        dst = seg if moved1 else tmp
        moved2 = _radix_pass(src, dst, _KEYPOS + lo_bits, _SHIFT - lo_bits)
        if moved1 != moved2:  # the sorted data ended in ``tmp``
            seg[:] = tmp
    if exact:
        _exact_ties(seg, a)


@numba.njit(cache=True, nogil=True)
def _exact_ties(seg, a):  # pragma: no cover - compiled
    m = seg.shape[0]
    sh = np.uint64(_KEYPOS)
    t = 0
    while t < m:
        u = t + 1
        while u < m and (seg[u] >> sh) == (seg[t] >> sh):
            u += 1
        if u - t > 1:
            vals = np.empty(u - t, np.float64)
            for w in range(t, u):
                vals[w - t] = -abs(np.float64(a[_row(seg[w]), _col(seg[w])]))
            order = np.argsort(vals, kind="mergesort")
            run = seg[t:u].copy()
            for w in range(u - t):
                seg[t + w] = run[order[w]]
        t = u


@numba.njit(cache=True, nogil=True, inline="always")
def _row(p):  # pragma: no cover - compiled
    return np.int64((p >> np.uint64(IBITS)) & np.uint64(_IMASK))


@numba.njit(cache=True, nogil=True, inline="always")
def _col(p):  # pragma: no cover - compiled
    return np.int64(p & np.uint64(_IMASK))


@numba.njit(cache=True, parallel=True, nogil=True)
def sort_band(dst, bstart, order, a, exact):  # pragma: no cover - compiled
    """Sort every bucket of a collected band in place (buckets in parallel, largest first in
    ``order`` so the threads' shares even out)."""
    for t in prange(order.shape[0]):
        q = order[t]
        _sort_segment(dst[bstart[q] : bstart[q + 1]], a, exact)


@numba.njit(cache=True, nogil=True, inline="always")
def _above(key, a, i, j, row, r, rkey):  # pragma: no cover - compiled
    """|a_ij| > r[row], from the float32 key where it decides (rounding is monotone) and from
    the exact value only when the key equals r[row]'s rounding."""
    return key > rkey[row] or (key == rkey[row] and abs(a[i, j]) > r[row])


@numba.njit(cache=True, nogil=True)
def greedy_band(a, dst, bstart, bhi, counts, r, rkey, d):  # pragma: no cover - compiled
    """The sequential greedy over one sorted band: flags each accepted candidate (the top bit of
    its packed word; ``mark_accepted`` writes them out in parallel) and counts it per row. A pair
    passes row i's budget either because it is among row i's top entries (|a_ij| > r[i]: its
    true count there is below d whatever ``counts`` holds, since counts include sure pairs that
    may come later) or because row i has fewer than d accepted entries so far."""
    for q in range(bstart.shape[0] - 1):
        top = np.uint32(bhi - 1 - q) << np.uint32(_SHIFT)
        for k in range(bstart[q], bstart[q + 1]):
            p = dst[k]
            i = _row(p)
            j = _col(p)
            key = top | (~np.uint32(p >> np.uint64(_KEYPOS)) & np.uint32(_LOWMASK))
            if (counts[i] < d or _above(key, a, i, j, i, r, rkey)) and (
                counts[j] < d or _above(key, a, i, j, j, r, rkey)
            ):
                counts[i] += 1
                counts[j] += j != i
                dst[k] = p | _ACCEPTED


@numba.njit(cache=True, parallel=True, nogil=True)
def mark_accepted(a, dst, out, mask_mode):  # pragma: no cover - compiled
    """Write the band's accepted pairs into ``out`` (both triangles; the upper value)."""
    for k in prange(dst.shape[0]):
        p = dst[k]
        if p & _ACCEPTED:
            i = _row(p)
            j = _col(p)
            v = a[i, j]
            _mark(out, i, j, v, mask_mode)
            _mark(out, j, i, v, mask_mode)
