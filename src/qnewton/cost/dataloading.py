"""Logical cost of loading a classical matrix and vector into a fault-tolerant quantum computer.

A QLSA calls a block encoding of A on every query; for a classical d-sparse N x N matrix (a pruned
Hessian block) that block encoding looks the matrix up in a table each time (REFERENCE.md section 9).
This module counts the logical gates of one such query and of one preparation of |g>, in Toffoli
gates (each one CCZ for the resource estimator, 4 T gates), arbitrary rotations, measurements and
logical qubits. Every formula cites its source; where a count is an assumption it says so.

Table lookups (``data_loading``):

* ``"qrom"``: unary-iteration QROM, Babbush, Gidney, Berry, Wiebe, McClean, Paler, Fowler, Neven,
  "Encoding electronic spectra in quantum circuits with linear T complexity", PRX 8, 041015 (2018),
  Sec. III.A: L - 1 Toffolis for L items of any word size, ceil(log2 L) ancillas.
* ``"qroam"``: select-swap QROAM, Low, Kliuchnikov, Schaeffer, arXiv:1812.00954; Berry, Gidney,
  Motta, McClean, Babbush, Quantum 3, 208 (2019), App. A: with k-fold parallel output,
  ceil(L/k) + w (k - 1) Toffolis and w (k - 1) extra qubits; k a power of two, chosen to minimize
  the Toffolis (about sqrt(L/w), giving about 2 sqrt(L w)).
* ``"auto"``: the one with fewer Toffolis at each lookup (QROM for small tables, QROAM otherwise).
* ``"qram-assumed"``: an *assumed* QRAM (bucket brigade, Giovannetti, Lloyd, Maccone, PRL 100,
  160501, 2008) answering a lookup in ceil(log2 L) Toffoli steps; the routers themselves are not
  counted. No error-corrected QRAM of this kind has been built or costed: an optimistic
  assumption, labelled as such wherever it is used.

Erasing a looked-up word by measurement (Berry et al. 2019, App. C): measure the w target qubits in
the X basis, then undo the phases with a one-bit lookup: ceil(L/k) + k Toffolis (k = 1: QROM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .._validation import check_int_range
from ..errors import InvalidArgumentError
from .encoding import default_ancillas

__all__ = [
    "DATA_LOADINGS",
    "LookupCost",
    "QueryCost",
    "StatePrepCost",
    "entry_bits",
    "lookup_cost",
    "lookup_uncompute_cost",
    "qroam_optimal_k",
    "qroam_toffolis",
    "qrom_toffolis",
    "sparse_query_cost",
    "state_prep_cost",
    "uniform_superposition_toffolis",
]

DataLoading = Literal["qrom", "qroam", "auto", "qram-assumed"]
#: Accepted values of ``data_loading``.
DATA_LOADINGS: tuple[str, ...] = ("qrom", "qroam", "auto", "qram-assumed")

_SRC_QROM = "Babbush et al., PRX 8, 041015 (2018), Sec. III.A (unary iteration): L - 1 Toffolis"
_SRC_QROAM = (
    "Low, Kliuchnikov, Schaeffer, arXiv:1812.00954; Berry et al., Quantum 3, 208 (2019), App. A: "
    "ceil(L/k) + w (k - 1) Toffolis, w (k - 1) extra qubits"
)
_SRC_QRAM = (
    "ASSUMPTION: bucket-brigade QRAM (Giovannetti, Lloyd, Maccone, PRL 100, 160501, 2008) at "
    "ceil(log2 L) Toffoli steps per lookup; QRAM hardware not counted"
)
_SRC_UNCOMPUTE = "Berry et al., Quantum 3, 208 (2019), App. C: measurement-based uncomputation, ceil(L/k) + k"
_MAX_ITEMS = 2**80
_FIX_LOADING = (
    "choose 'qrom' (L - 1 Toffolis), 'qroam' (select-swap), 'auto' (the cheaper) or 'qram-assumed' "
    "(an assumed O(log N) QRAM)."
)


def _bits(x: int) -> int:
    """ceil(log2 x) for x >= 1 (0 for x = 1)."""
    return (int(x) - 1).bit_length()


def _check_loading(data_loading: str) -> str:
    if data_loading not in DATA_LOADINGS:
        raise InvalidArgumentError(f"`data_loading` must be one of {', '.join(DATA_LOADINGS)}, got {data_loading!r}; "
                                   f"{_FIX_LOADING}")  # fmt: skip
    return data_loading


@dataclass(frozen=True)
class LookupCost:
    """Logical cost of one table lookup (or of erasing its output).

    Attributes:
        method: ``"qrom"``, ``"qroam"`` or ``"qram-assumed"`` (the method actually used).
        items: L, the number of table entries.
        word_bits: w, bits per entry.
        toffolis: Toffoli gates.
        ancillas: logical qubits it needs besides the selection and target registers.
        k: select-swap blocking factor (1 for QROM and QRAM).
        measurements: single-qubit measurements (measurement-based uncomputation).
        source: the formula's source.
        assumption: True when the count rests on an assumed QRAM.
    """

    method: str
    items: int
    word_bits: int
    toffolis: int
    ancillas: int
    k: int
    measurements: int
    source: str
    assumption: bool = False


def qrom_toffolis(items: int) -> int:
    """Toffolis of a unary-iteration QROM over L items: L - 1 (Babbush et al. 2018, Sec. III.A).

    Independent of the word size (the data are written by CNOTs, which are Clifford).

    Example:
        >>> qrom_toffolis(1024)
        1023
    """
    items = check_int_range(items, "items", 1, _MAX_ITEMS)
    return items - 1


def qroam_toffolis(items: int, word_bits: int, k: int) -> int:
    """Toffolis of a select-swap QROAM with blocking factor k: ceil(L/k) + w (k - 1).

    Source: Berry et al., Quantum 3, 208 (2019), App. A (clean-ancilla variant of Low, Kliuchnikov,
    Schaeffer, arXiv:1812.00954): a QROM over ceil(L/k) blocks that writes k words at once, then a
    swap network of w (k - 1) controlled swaps (one Toffoli each) moves the selected word into place.

    Example:
        >>> qroam_toffolis(1024, 8, 8)
        184
    """
    items = check_int_range(items, "items", 1, _MAX_ITEMS)
    word_bits = check_int_range(word_bits, "word_bits", 1, 10**6)
    k = check_int_range(k, "k", 1, _MAX_ITEMS)
    return -(-items // k) + word_bits * (k - 1)


def qroam_optimal_k(items: int, word_bits: int) -> int:
    """The power of two k that minimizes ceil(L/k) + w (k - 1) (ties: the smaller k).

    About sqrt(L / w) (Berry et al. 2019, App. A), which gives about 2 sqrt(L w) Toffolis.

    Example:
        >>> qroam_optimal_k(1024, 1), qroam_optimal_k(10**6, 32)
        (32, 128)
    """
    items = check_int_range(items, "items", 1, _MAX_ITEMS)
    word_bits = check_int_range(word_bits, "word_bits", 1, 10**6)
    best_k, best = 1, items - 1 + 1  # k = 1: ceil(L/1) + 0
    k = 2
    while k <= 2 * items:
        cost = -(-items // k) + word_bits * (k - 1)
        if cost < best:
            best_k, best = k, cost
        k *= 2
    return best_k


def lookup_cost(items: int, word_bits: int, data_loading: str) -> LookupCost:
    """Logical cost of looking up one w-bit word among L entries by ``data_loading``.

    * ``qrom``: L - 1 Toffolis, ceil(log2 L) ancillas (Babbush et al. 2018, Sec. III.A).
    * ``qroam``: ceil(L/k) + w (k - 1) Toffolis at the best power-of-two k, w (k - 1) +
      ceil(log2 ceil(L/k)) ancillas (Berry et al. 2019, App. A).
    * ``auto``: whichever of the two has fewer Toffolis.
    * ``qram-assumed``: ceil(log2 L) Toffolis, no ancillas counted (an assumption, see module doc).

    Example:
        >>> c = lookup_cost(2**20, 20, "auto")
        >>> c.method, c.k, c.toffolis
        ('qroam', 256, 9196)
        >>> lookup_cost(2**20, 20, "qrom").toffolis
        1048575
    """
    items = check_int_range(items, "items", 1, _MAX_ITEMS)
    word_bits = check_int_range(word_bits, "word_bits", 1, 10**6)
    method = _check_loading(data_loading)
    if method == "qram-assumed":
        return LookupCost("qram-assumed", items, word_bits, max(_bits(items), 1), 0, 1, 0, _SRC_QRAM, True)
    qrom = LookupCost("qrom", items, word_bits, qrom_toffolis(items), _bits(items), 1, 0, _SRC_QROM)
    if method == "qrom":
        return qrom
    k = qroam_optimal_k(items, word_bits)
    blocks = -(-items // k)
    qroam = LookupCost(
        "qroam", items, word_bits, qroam_toffolis(items, word_bits, k), word_bits * (k - 1) + _bits(blocks), k, 0,
        _SRC_QROAM,
    )  # fmt: skip
    if method == "qroam":
        return qroam
    return qroam if qroam.toffolis < qrom.toffolis else qrom


def lookup_uncompute_cost(items: int, word_bits: int, data_loading: str) -> LookupCost:
    """Logical cost of erasing a looked-up w-bit word by measurement (Berry et al. 2019, App. C).

    The w target qubits are measured in the X basis (w measurements); the phases this leaves on the
    selection register are undone by a one-bit lookup: L - 1 Toffolis by unary iteration (``qrom``),
    or ceil(L/k) + k with k qubits at the best power-of-two k, about 2 sqrt(L) (``qroam``). An
    assumed QRAM erases by a second ceil(log2 L) query. ``auto`` takes the cheaper.

    Example:
        >>> lookup_uncompute_cost(2**20, 20, "qroam").toffolis
        2048
    """
    items = check_int_range(items, "items", 1, _MAX_ITEMS)
    word_bits = check_int_range(word_bits, "word_bits", 1, 10**6)
    method = _check_loading(data_loading)
    if method == "qram-assumed":
        return LookupCost("qram-assumed", items, word_bits, max(_bits(items), 1), 0, 1, 0, _SRC_QRAM, True)
    qrom = LookupCost("qrom", items, word_bits, max(items - 1, 0), _bits(items), 1, word_bits, _SRC_UNCOMPUTE)
    if method == "qrom":
        return qrom
    best_k, best = 1, items
    k = 2
    while k <= 2 * items:
        cost = -(-items // k) + k
        if cost < best:
            best_k, best = k, cost
        k *= 2
    qroam = LookupCost(
        "qroam", items, word_bits, best, best_k + _bits(-(-items // best_k)), best_k, word_bits, _SRC_UNCOMPUTE
    )
    if method == "qroam":
        return qroam
    return qroam if qroam.toffolis < qrom.toffolis else qrom


def uniform_superposition_toffolis(m: int) -> int:
    """Toffolis of preparing the uniform superposition over m basis states: about 4 ceil(log2 m).

    For m = 2^eta m' (m' odd > 1) Babbush et al. 2018 (Sec. III.D, Fig. 12) use one comparison with
    m' on ceil(log2 m') qubits inside one round of amplitude amplification: the comparison is
    computed and uncomputed twice, about 4 ceil(log2 m) Toffolis, plus one rotation (counted by the
    callers). An approximation of that circuit, not its exact count. It is charged for powers of two
    too (where Hadamards would do), so that no count in this module decreases as d or N grows.

    Example:
        >>> uniform_superposition_toffolis(1024), uniform_superposition_toffolis(1000)
        (40, 40)
    """
    m = check_int_range(m, "m", 1, _MAX_ITEMS)
    return 4 * _bits(m)


def entry_bits(alpha: float, kappa: float, eps: float) -> int:
    """Bits b of each stored entry so that rounding adds at most eps relative error to x.

    The sparse-access block encoding (Gilyen, Su, Low, Wiebe, arXiv:1806.01838, Lemma 48) encodes
    A / (d max|A_ij|); each entry enters through a rotation angle arccos(A_ij / max|A|) stored with
    b bits, so the entries of the encoded matrix are off by at most pi 2^-(b+1) / d and the encoded
    matrix by at most pi 2^-(b+1) in 2-norm (at most d entries per row and column). Its condition
    number is alpha kappa (its smallest singular value is 1 / (alpha kappa)), so to first order the
    solution moves by at most alpha kappa pi 2^-(b+1) relative; b = ceil(log2(pi alpha kappa / eps))
    keeps that below eps / 2 (one guard bit).

    Example:
        >>> entry_bits(1000.0, 1e4, 1e-12)
        65
    """
    for name, v, lo in (("alpha", alpha, 1.0), ("kappa", kappa, 1.0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= lo):
            raise InvalidArgumentError(f"`{name}` must be a finite number >= {lo:g}, got {v!r}.")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps < 1):
        raise InvalidArgumentError(f"`eps` must be in (0, 1), got {eps!r}.")
    return max(1, math.ceil(math.log2(math.pi * alpha * kappa / eps)))


@dataclass(frozen=True)
class QueryCost:
    """Logical cost of ONE query to the sparse-access block encoding of a d-sparse N x N matrix.

    The circuit is Gilyen, Su, Low, Wiebe 2019 (arXiv:1806.01838) Lemma 48 as drawn in Lin Lin's
    lecture notes (arXiv:2201.08309, Sec. 6.5) and implemented by Qualtran's ``SparseMatrix``:
    a uniform superposition over the d positions of a row, the column oracle O_c, the entry oracle
    O_A, a swap of the two index registers, the row oracle O_r^dagger, and the inverse uniform
    superposition. Without QRAM each oracle is a table lookup over the L = N d stored entries:

    * O_c and O_r^dagger: one lookup each of the column index (w = ceil(log2 N) bits). The erasure
      of the input position (which makes these oracles in place) is not charged: an optimistic
      simplification (it needs a second, inverse table).
    * O_A: a lookup of the b-bit angle arccos(A_ij / max|A|), a controlled rotation by it (b Toffolis
      by addition into a phase-gradient register: Gidney, Quantum 2, 74 (2018); Sanders et al.,
      PRX Quantum 1, 020312 (2020)), and the erasure of the angle by measurement (Berry et al. 2019,
      App. C).

    Each query also carries the QLSA's own step (the QSVT projector phase, or the reflection of a
    walk step): a reflection about the a block-encoding ancillas (a - 1 Toffolis) and one arbitrary
    rotation.

    Attributes:
        n, d: the matrix size and its oracle sparsity.
        entry_bits: b.
        data_loading: the requested method.
        lookups: ``(role, LookupCost)`` pairs for the four table accesses.
        data_toffolis: Toffolis of the four table accesses (the data-loading part).
        qlsa_toffolis: the rest (uniform superpositions, entry rotation, reflection).
        rotations: arbitrary single-qubit rotations per query.
        measurements: measurements per query (measurement-based uncomputation).
        ancillas: block-encoding ancillas a (index register + flags; :func:`default_ancillas`).
        workspace_qubits: extra qubits of the lookups (the largest; they run one after another) plus
            the b-bit angle register.
        assumption: True when the QRAM is assumed.
    """

    n: int
    d: int
    entry_bits: int
    data_loading: str
    lookups: tuple[tuple[str, LookupCost], ...]
    data_toffolis: int
    qlsa_toffolis: int
    rotations: int
    measurements: int
    ancillas: int
    workspace_qubits: int
    assumption: bool

    @property
    def toffolis(self) -> int:
        """All Toffolis of one query."""
        return self.data_toffolis + self.qlsa_toffolis


def _check_nd(n: int, d: int) -> tuple[int, int]:
    n = check_int_range(n, "n", 2, 2**60, "`n` is the number of rows of the block (>= 2).")
    d = check_int_range(d, "d", 1, n, "`d` is the oracle sparsity: nonzeros per row, at most N.")
    return n, d


def sparse_query_cost(n: int, d: int, entry_bits: int, data_loading: str = "auto") -> QueryCost:
    """Logical cost of one query to the sparse-access block encoding (see :class:`QueryCost`).

    Args:
        n: matrix size N (>= 2).
        d: oracle sparsity, nonzeros per row (1 <= d <= N).
        entry_bits: b, bits per stored entry angle (:func:`entry_bits`).
        data_loading: ``"qrom"``, ``"qroam"``, ``"auto"`` or ``"qram-assumed"``.

    Example:
        >>> q = sparse_query_cost(12544, 1000, 40, "qrom")
        >>> q.data_toffolis  # 3 lookups + 1 erasure, each L - 1 = 12543999
        50175996
    """
    n, d = _check_nd(n, d)
    b = check_int_range(entry_bits, "entry_bits", 1, 1024)
    _check_loading(data_loading)
    L = n * d
    w_idx = max(_bits(n), 1)
    lookups = (
        ("O_c (column index)", lookup_cost(L, w_idx, data_loading)),
        ("O_r^dagger (column index)", lookup_cost(L, w_idx, data_loading)),
        ("O_A (entry angle)", lookup_cost(L, b, data_loading)),
        ("O_A erase (measurement)", lookup_uncompute_cost(L, b, data_loading)),
    )
    a = default_ancillas(n)
    rotations = 1 + (2 if d > 1 else 0)  # QLSA phase; amplitude-amplification angle of each diffusion
    qlsa = 2 * uniform_superposition_toffolis(d) + b + max(a - 1, 0)
    return QueryCost(
        n=n,
        d=d,
        entry_bits=b,
        data_loading=data_loading,
        lookups=lookups,
        data_toffolis=sum(c.toffolis for _, c in lookups),
        qlsa_toffolis=qlsa,
        rotations=rotations,
        measurements=sum(c.measurements for _, c in lookups),
        ancillas=a,
        workspace_qubits=max(c.ancillas for _, c in lookups) + b,
        assumption=any(c.assumption for _, c in lookups),
    )


@dataclass(frozen=True)
class StatePrepCost:
    """Logical cost of one preparation of |g> = sum_l g_l |l> / ||g|| (N amplitudes, signs included).

    Coherent alias sampling, Babbush et al. 2018 (Sec. III.D, Fig. 11): a uniform superposition over
    the N indices, a lookup of (alternate index, keep probability, sign) with w = ceil(log2 N) + mu + 1
    bits, an inequality test of mu bits (mu Toffolis) and a controlled swap of ceil(log2 N) bits (one
    Toffoli per bit). The lookup output stays as garbage entangled with |l> (harmless for U_b and its
    inverse); mu = b bits of the keep probabilities.

    Attributes:
        n: vector length N.
        mu: bits of the keep probabilities.
        lookup: the lookup's :class:`LookupCost`.
        toffolis: all Toffolis of one preparation.
        rotations: arbitrary rotations (the uniform superposition's amplification angle).
        qubits: registers it keeps (alias, keep, uniform ancilla, sign, flag) plus the lookup's
            ancillas.
    """

    n: int
    mu: int
    lookup: LookupCost
    toffolis: int
    rotations: int
    qubits: int


def state_prep_cost(n: int, mu: int, data_loading: str = "auto") -> StatePrepCost:
    """Logical cost of preparing |g> for an N-vector g with mu-bit amplitudes (see :class:`StatePrepCost`).

    Example:
        >>> s = state_prep_cost(1024, 20, "qrom")
        >>> s.toffolis  # 40 (uniform superposition) + 1023 (lookup) + 20 (inequality test) + 10 (swap)
        1093
    """
    n = check_int_range(n, "n", 2, 2**60, "`n` is the length of g (>= 2).")
    mu = check_int_range(mu, "mu", 1, 1024)
    _check_loading(data_loading)
    idx = max(_bits(n), 1)
    lk = lookup_cost(n, idx + mu + 1, data_loading)
    toffolis = uniform_superposition_toffolis(n) + lk.toffolis + mu + idx
    rotations = 1
    qubits = idx + 2 * mu + 2 + lk.ancillas
    return StatePrepCost(n=n, mu=mu, lookup=lk, toffolis=toffolis, rotations=rotations, qubits=qubits)
