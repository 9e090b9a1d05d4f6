"""Text corpora for the language-model experiments: WikiText (raw) from a user path, and, as the
embedded default, the English help texts that ship with Python (``pydoc_data.topics``).

The Q-Newton paper trains BERT and Mistral on WikiText (Merity, Xiong, Bradbury, Socher 2016;
paper Sec. V-A). Nothing can be downloaded here, so WikiText is read from the files the user
already has; ``wikitext-2-raw`` and ``wikitext-103-raw`` have the same layout:
``wiki.train.raw``, ``wiki.valid.raw``, ``wiki.test.raw`` (UTF-8). In those files an article starts
with a line `` = Title = ``, a section with `` = = Section = = ``, paragraphs are single lines and
the original tokenization left markers such as ``@-@``, ``@,@`` and ``@.@`` (as in
``1 @,@ 000``), which ``detokenize=True`` turns back into ``-``, ``,`` and ``.``.

The default corpus: ``pydoc_data.topics.topics`` maps 79 help topics (``"if"``, ``"assignment"``,
...) to the reference-manual text ``help()`` shows, about 465,000 characters of English prose with
code. Its split is made at document boundaries: the topics are shuffled by ``seed`` and dealt into
train / valid / test until each has its share (``fractions``) of the characters.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, InvalidArgumentError, MissingDependencyError

__all__ = [
    "TextCorpus",
    "WikiArticle",
    "available_text_corpora",
    "load_text_corpus",
    "parse_wikitext_articles",
    "pydoc_corpus",
    "pydoc_documents",
    "read_wikitext",
    "split_documents",
    "wikitext_detokenize",
]

WIKITEXT_FILES = {"train": "wiki.train.raw", "valid": "wiki.valid.raw", "test": "wiki.test.raw"}
_ARTICLE_RE = re.compile(r"^ = ([^=].*?) = $")
_AT_MARKERS = {" @-@ ": "-", " @,@ ": ",", " @.@ ": "."}


@dataclass(frozen=True)
class TextCorpus:
    """Train / valid / test text of one corpus.

    Attributes:
        name: ``"pydoc"``, ``"wikitext"``, ...
        train, valid, test: each split as one string (documents joined by blank lines).
        source: the path or module it came from.
    """

    name: str
    train: str
    valid: str
    test: str
    source: str

    def split(self, split: str) -> str:
        """The text of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if split not in ("train", "valid", "test"):
            raise InvalidArgumentError(f"`split` must be 'train', 'valid' or 'test', got {split!r}.")
        return getattr(self, split)


@dataclass(frozen=True)
class WikiArticle:
    """One WikiText article: its title and its body (the lines after the title line)."""

    title: str
    text: str


# --- WikiText ------------------------------------------------------------------------------------


def _find_wikitext_dir(data_dir: Path) -> Path:
    if not data_dir.is_dir():
        if data_dir.is_file() and data_dir.name in WIKITEXT_FILES.values():
            return data_dir.parent
        raise InvalidArgumentError(f"`data_dir` {str(data_dir)!r} is not a directory.")
    cands = [data_dir, *(data_dir / n for n in ("wikitext-2-raw", "wikitext-103-raw"))]
    for d in cands:
        if all((d / f).is_file() for f in WIKITEXT_FILES.values()):
            return d
    raise InvalidArgumentError(
        f"`data_dir` {str(data_dir)!r} does not hold wiki.train.raw, wiki.valid.raw and wiki.test.raw "
        f"(nor a wikitext-2-raw / wikitext-103-raw folder with them). Pass the folder of the raw "
        f"WikiText release; nothing is downloaded."
    )


def _read_text_file(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raise DataFormatError(f"{str(path)!r} is gzip-compressed; unpack it (gunzip) first.")
    if b"\x00" in raw[:65536]:
        raise DataFormatError(f"{str(path)!r} contains NUL bytes: it is a binary file, not WikiText text.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 4]!r}); "
            f"the WikiText raw files are UTF-8."
        ) from exc


def wikitext_detokenize(text: str) -> str:
    """Undo WikiText's ``@-@``, ``@,@``, ``@.@`` markers: ``"1 @,@ 000"`` -> ``"1,000"``.

    >>> wikitext_detokenize("a 3 @.@ 5 @-@ fold rise")
    'a 3.5-fold rise'
    """
    for k, v in _AT_MARKERS.items():
        text = text.replace(k, v)
    return text


def read_wikitext(data_dir: str | os.PathLike[str], detokenize: bool = False) -> dict[str, str]:
    """The three raw WikiText splits as strings.

    Args:
        data_dir: folder with ``wiki.{train,valid,test}.raw`` (or its parent holding
            ``wikitext-2-raw`` / ``wikitext-103-raw``).
        detokenize: undo the ``@-@``-style markers (:func:`wikitext_detokenize`).

    Returns:
        ``{"train": ..., "valid": ..., "test": ...}``.

    Raises:
        InvalidArgumentError: the folder or a file is missing.
        DataFormatError: a file is not UTF-8 text, is compressed, or holds no article heading.
    """
    root = _find_wikitext_dir(Path(data_dir).expanduser())
    out: dict[str, str] = {}
    for split, fname in WIKITEXT_FILES.items():
        text = _read_text_file(root / fname)
        if not any(_ARTICLE_RE.match(line) for line in text.splitlines()):
            raise DataFormatError(
                f"{str(root / fname)!r} has no article heading (a line ' = Title = '); it is not a WikiText raw file."
            )
        out[split] = wikitext_detokenize(text) if detokenize else text
    return out


def parse_wikitext_articles(text: str) -> list[WikiArticle]:
    """Split raw WikiText into articles at the top-level headings `` = Title = ``.

    Section headings (`` = = Section = = ``) stay inside the article body. Text before the first
    heading is dropped. Bodies are stripped of surrounding blank lines.

    Examples:
        >>> arts = parse_wikitext_articles(" = A = \\n\\n x \\n = = S = = \\n y \\n = B = \\n z \\n")
        >>> [(a.title, a.text) for a in arts]
        [('A', 'x \\n = = S = = \\n y'), ('B', 'z')]
    """
    articles: list[WikiArticle] = []
    title: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        m = _ARTICLE_RE.match(line)
        if m:
            if title is not None:
                articles.append(WikiArticle(title, "\n".join(body).strip()))
            title, body = m.group(1).strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        articles.append(WikiArticle(title, "\n".join(body).strip()))
    return articles


# --- the default corpus: Python's own help texts --------------------------------------------------


def pydoc_documents() -> dict[str, str]:
    """``pydoc_data.topics.topics``: help-topic name -> text (sorted by name).

    Raises:
        MissingDependencyError: this Python was built without ``pydoc_data`` (some distributions
            split it into a separate package, e.g. Debian's ``libpython3-stdlib``).
    """
    try:
        from pydoc_data import topics
    except ImportError as exc:  # pragma: no cover - depends on the Python build
        raise MissingDependencyError(
            "`pydoc_data` is missing from this Python; install the full standard library (Debian: "
            "`apt-get install libpython3-stdlib`) or pass a WikiText `data_dir`."
        ) from exc
    return {k: topics.topics[k] for k in sorted(topics.topics)}


def pydoc_corpus() -> str:
    """All of :func:`pydoc_documents` in name order, joined by blank lines."""
    return "\n\n".join(pydoc_documents().values())


def split_documents(
    docs: list[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """Deal documents into train / valid / test by character share, in a ``seed``-shuffled order.

    Documents are visited in a permutation drawn from ``numpy.random.default_rng(seed)``; each goes
    to the first split whose running character total is still below its share of the whole (so
    the last splits get what is left). Every split with a positive fraction gets at least one
    document when there are at least three. Deterministic for a given ``seed``.
    """
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise InvalidArgumentError(f"`fractions` must be three numbers >= 0 summing to 1, got {fractions!r}.")
    if not docs:
        raise InvalidArgumentError("`docs` is empty; there is nothing to split.")
    order = np.random.default_rng(seed).permutation(len(docs))
    total = sum(len(d) for d in docs)
    bounds = np.cumsum(f) * total
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    used = 0
    # reserve one document for each later split with a positive share, so none ends up empty
    for pos, i in enumerate(order):
        remaining = len(order) - pos
        k = int(np.searchsorted(bounds, used, side="right"))
        k = min(k, 2)
        need_later = sum(1 for j in range(k + 1, 3) if f[j] > 0 and not parts[j])
        if remaining <= need_later:
            k = next(j for j in range(k + 1, 3) if f[j] > 0 and not parts[j])
        parts[k].append(docs[i])
        used += len(docs[i])
    return parts


def _load_pydoc(data_dir=None, *, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> TextCorpus:
    if data_dir is not None:
        raise InvalidArgumentError("`data_dir` is not used by 'pydoc' (it ships with Python); omit it.")
    docs = list(pydoc_documents().values())
    tr, va, te = split_documents(docs, fractions, seed)
    return TextCorpus("pydoc", "\n\n".join(tr), "\n\n".join(va), "\n\n".join(te), "pydoc_data.topics")


def _load_wikitext(data_dir=None, *, detokenize: bool = False, name: str = "wikitext") -> TextCorpus:
    if data_dir is None:
        raise InvalidArgumentError(
            f"`data_dir` is required for {name!r}: nothing is downloaded. Pass the folder holding "
            f"wiki.train.raw, wiki.valid.raw and wiki.test.raw."
        )
    s = read_wikitext(data_dir, detokenize=detokenize)
    return TextCorpus(name, s["train"], s["valid"], s["test"], str(Path(data_dir).expanduser()))


_CORPORA = {
    "pydoc": "Python's help texts (pydoc_data.topics), embedded default, seeded document split",
    "wikitext": "raw WikiText (-2 or -103) from data_dir, official split",
    "wikitext-2-raw": "raw WikiText-2 from data_dir",
    "wikitext-103-raw": "raw WikiText-103 from data_dir",
}


def available_text_corpora() -> dict[str, str]:
    """Corpus names -> one-line descriptions."""
    return dict(_CORPORA)


def load_text_corpus(name: str = "pydoc", data_dir: str | os.PathLike[str] | None = None, **kwargs) -> TextCorpus:
    """Load a text corpus by name.

    Args:
        name: ``"pydoc"`` (default, needs nothing), ``"wikitext"``, ``"wikitext-2-raw"`` or
            ``"wikitext-103-raw"`` (all three read the raw files in ``data_dir``).
        data_dir: folder of the WikiText files.
        **kwargs: pydoc: ``seed``, ``fractions``; wikitext: ``detokenize``.

    Raises:
        InvalidArgumentError: unknown name or missing ``data_dir``.
        DataFormatError: a file is not WikiText text.

    >>> c = load_text_corpus("pydoc")
    >>> len(c.train) > len(c.valid) > 0 and len(c.test) > 0
    True
    """
    key = name.lower().replace("_", "-")
    if key == "pydoc":
        return _load_pydoc(data_dir, **kwargs)
    if key in ("wikitext", "wikitext-2-raw", "wikitext-103-raw", "wikitext-2", "wikitext-103"):
        return _load_wikitext(data_dir, name=key, **kwargs)
    raise InvalidArgumentError(f"`name` must be one of {sorted(_CORPORA)}, got {name!r}.")
