"""Text corpora, the byte tokenizer and LM blocks (causal and masked)."""

from __future__ import annotations

import collections
import math
import re

import numpy as np
import pytest
import torch

from qnewton.data import (
    IGNORE_INDEX,
    ByteTokenizer,
    causal_lm_blocks,
    load_text_corpus,
    mask_tokens,
    masked_lm_blocks,
    parse_wikitext_articles,
    pydoc_corpus,
    pydoc_documents,
    read_wikitext,
    split_documents,
    wikitext_detokenize,
)
from qnewton.errors import DataFormatError, InvalidArgumentError

# the layout of the raw WikiText files: blank line, article heading, blank, paragraph lines with a
# leading space, section headings with doubled '='
WIKI = {
    "train": (
        " \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles is a "
        "tactical role @-@ playing video game . It sold 1 @,@ 000 copies at 3 @.@ 5 dollars . \n \n"
        " = = Gameplay = = \n \n The game is played in turns . \n \n"
        " = Tower Building of the Little Rock Arsenal = \n \n The tower is a building . \n"
    ),
    "valid": " \n = Homarus gammarus = \n \n Homarus gammarus is a lobster . \n",
    "test": " \n = Robert Boulter = \n \n Robert Boulter is an English actor . \n",
}


def _write_wiki(root):
    root.mkdir(parents=True, exist_ok=True)
    for split, text in WIKI.items():
        (root / f"wiki.{split}.raw").write_text(text, encoding="utf-8")


def test_read_and_parse_wikitext(tmp_path):
    _write_wiki(tmp_path / "wikitext-2-raw")
    splits = read_wikitext(tmp_path)  # finds the wikitext-2-raw folder
    assert splits == WIKI
    arts = parse_wikitext_articles(splits["train"])
    assert [a.title for a in arts] == ["Valkyria Chronicles III", "Tower Building of the Little Rock Arsenal"]
    assert "= = Gameplay = =" in arts[0].text  # sections stay in their article
    assert arts[1].text == "The tower is a building ."
    det = read_wikitext(tmp_path / "wikitext-2-raw", detokenize=True)["train"]
    assert "role-playing" in det and "1,000" in det and "3.5" in det and "@" not in det
    c = load_text_corpus("wikitext", data_dir=tmp_path)
    assert c.valid == WIKI["valid"] and c.split("test") == WIKI["test"]


def test_wikitext_detokenize_only_touches_markers():
    assert wikitext_detokenize("e @-@ mail and a @ sign") == "e-mail and a @ sign"


def test_wikitext_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match="data_dir"):
        load_text_corpus("wikitext")
    with pytest.raises(InvalidArgumentError, match=r"wiki\.train\.raw"):
        read_wikitext(tmp_path)
    _write_wiki(tmp_path)
    (tmp_path / "wiki.valid.raw").write_bytes(b"\x1f\x8b\x08\x00compressed")
    with pytest.raises(DataFormatError, match="gzip"):
        read_wikitext(tmp_path)
    (tmp_path / "wiki.valid.raw").write_bytes(b" = T = \n caf\xe9 \n")  # latin-1, not UTF-8
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_wikitext(tmp_path)
    (tmp_path / "wiki.valid.raw").write_bytes(b"\x00\x00\x08\x03binary")
    with pytest.raises(DataFormatError, match="binary"):
        read_wikitext(tmp_path)
    (tmp_path / "wiki.valid.raw").write_text("just some text without headings\n")
    with pytest.raises(DataFormatError, match="heading"):
        read_wikitext(tmp_path)


def test_pydoc_corpus_is_real_english():
    docs = pydoc_documents()
    assert len(docs) > 50 and "if" in docs and "assignment" in docs
    text = pydoc_corpus()
    assert len(text) > 200_000
    words = collections.Counter(re.findall(r"[a-z]+", text.lower()))
    top = [w for w, _ in words.most_common(15)]
    for w in ("the", "a", "of", "is", "to"):
        assert w in top
    letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    assert letters / len(text) > 0.6


def test_pydoc_splits_deterministic_disjoint_complete():
    a = load_text_corpus("pydoc", seed=0)
    b = load_text_corpus("pydoc", seed=0)
    c = load_text_corpus("pydoc", seed=1)
    assert a == b and a != c
    total = sum(len(d) for d in pydoc_documents().values())
    n = len(a.train) + len(a.valid) + len(a.test)
    assert abs(n - total) < 2 * len(pydoc_documents())  # only the "\n\n" joins are added
    assert 0.7 < len(a.train) / total < 0.9
    assert len(a.valid) > 0 and len(a.test) > 0
    docs = list(pydoc_documents().values())
    where = [sum(d in s for s in (a.train, a.valid, a.test)) for d in docs]
    assert all(w >= 1 for w in where)


def test_split_documents_rules():
    docs = [f"doc{i}" * (i + 1) for i in range(20)]
    tr, va, te = split_documents(docs, (0.5, 0.25, 0.25), seed=3)
    assert sorted(tr + va + te) == sorted(docs)
    assert tr and va and te
    tr2, va2, te2 = split_documents(["a" * 100, "b", "c"], (0.8, 0.1, 0.1))
    assert len(tr2) == len(va2) == len(te2) == 1  # each later split keeps one document
    with pytest.raises(InvalidArgumentError, match="fractions"):
        split_documents(docs, (0.5, 0.5, 0.5))
    with pytest.raises(InvalidArgumentError, match="docs"):
        split_documents([], (0.8, 0.1, 0.1))


# --- tokenizer ---------------------------------------------------------------------------------


def test_tokenizer_round_trip():
    tok = ByteTokenizer()
    assert tok.vocab_size == 261
    everything = bytes(range(256)) * 3
    ids = tok.encode(everything)
    assert ids.dtype == np.int64 and ids.tolist() == list(everything)
    assert tok.decode_bytes(ids) == everything
    rng = np.random.default_rng(0)
    blob = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert tok.decode_bytes(torch.as_tensor(tok.encode(blob))) == blob
    text = "Grüße, 東京! naïve café ☕"
    framed = tok.encode(text, add_bos=True, add_eos=True)
    assert framed[0] == tok.bos_token_id and framed[-1] == tok.eos_token_id
    assert len(framed) == len(text.encode("utf-8")) + 2
    assert tok.decode(framed) == text


def test_tokenizer_specials_and_errors():
    tok = ByteTokenizer()
    assert len(set(tok.special_ids)) == 5 and min(tok.special_ids) == 256
    assert tok.token_name(tok.mask_token_id) == "<mask>" and tok.token_name(97) == "b'a'"
    with pytest.raises(InvalidArgumentError, match="special"):
        tok.decode_bytes([97, tok.mask_token_id], skip_special=False)
    with pytest.raises(InvalidArgumentError, match="vocabulary"):
        tok.decode([300])
    with pytest.raises(InvalidArgumentError, match="text"):
        tok.encode(123)
    assert tok.decode([0xE2, 0x98]) == "\ufffd"  # a cut multi-byte character


# --- LM blocks ---------------------------------------------------------------------------------


def test_causal_blocks():
    text = load_text_corpus("pydoc").valid
    b = causal_lm_blocks(text, block_size=64)
    ids = ByteTokenizer().encode(text)
    n = len(ids) // 64
    assert b.input_ids.shape == (n, 64) and b.task == "causal" and len(b) == n
    np.testing.assert_array_equal(b.input_ids.numpy().ravel(), ids[: n * 64])
    assert torch.equal(b.labels, b.input_ids)  # transformers shifts inside the model
    assert bool((b.attention_mask == 1).all())
    sub = causal_lm_blocks(text, block_size=64, max_blocks=5)
    picks = np.linspace(0, n - 1, 5).round().astype(int)
    assert torch.equal(sub.input_ids, b.input_ids[picks])
    with pytest.raises(InvalidArgumentError, match="block"):
        causal_lm_blocks("short", block_size=64)
    batch = b.batch(slice(0, 2))
    assert set(batch) == {"input_ids", "attention_mask", "labels"} and batch["input_ids"].shape == (2, 64)
    first = next(iter(b.loader(batch_size=4, seed=0)))
    assert len(first) == 3 and first[0].shape == (4, 64)


def test_mlm_masking_statistics():
    tok = ByteTokenizer()
    rng = np.random.default_rng(0)
    n, length = 400, 128
    body = torch.as_tensor(rng.integers(0, 256, (n, length - 2)))
    ids = torch.cat([torch.full((n, 1), tok.bos_token_id), body, torch.full((n, 1), tok.eos_token_id)], dim=1)
    masked, labels = mask_tokens(ids, mlm_probability=0.15, seed=11)
    chosen = labels != IGNORE_INDEX
    # specials are never chosen; labels hold the originals exactly where chosen
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])
    m = n * (length - 2)
    k = int(chosen.sum())
    assert abs(k / m - 0.15) < 4 * math.sqrt(0.15 * 0.85 / m)
    n_mask = int((masked[chosen] == tok.mask_token_id).sum())
    n_same = int((masked[chosen] == ids[chosen]).sum())
    n_rand = k - n_mask - n_same
    # 80 / 10 / 10, a random byte equal to the original counts as 'same' (1/256 of the 10%)
    for got, p in ((n_mask, 0.8), (n_same, 0.1 + 0.1 / 256), (n_rand, 0.1 * 255 / 256)):
        assert abs(got / k - p) < 4 * math.sqrt(p * (1 - p) / k), (got / k, p)
    assert int(masked[chosen].max()) <= tok.mask_token_id
    again, labels2 = mask_tokens(ids, mlm_probability=0.15, seed=11)
    assert torch.equal(again, masked) and torch.equal(labels2, labels)
    other, _ = mask_tokens(ids, mlm_probability=0.15, seed=12)
    assert not torch.equal(other, masked)


def test_mlm_every_row_has_a_target():
    ids = torch.randint(0, 256, (200, 6), generator=torch.Generator().manual_seed(0))
    _, labels = mask_tokens(ids, mlm_probability=0.01, seed=0)
    assert bool(((labels != IGNORE_INDEX).sum(dim=1) >= 1).all())
    with pytest.raises(InvalidArgumentError, match="mlm_probability"):
        mask_tokens(ids, mlm_probability=0.0)
    with pytest.raises(InvalidArgumentError, match="input_ids"):
        mask_tokens(ids[0], mlm_probability=0.15)


def test_masked_blocks():
    text = load_text_corpus("pydoc").test
    b = masked_lm_blocks(text, block_size=32, seed=0, max_blocks=50)
    tok = ByteTokenizer()
    assert b.input_ids.shape == (50, 32) and b.task == "masked"
    assert bool((b.input_ids[:, 0] == tok.bos_token_id).all()) and bool((b.input_ids[:, -1] == tok.eos_token_id).all())
    assert bool((b.labels[:, [0, -1]] == IGNORE_INDEX).all())
    assert bool(((b.labels != IGNORE_INDEX).sum(dim=1) >= 1).all())
    same = masked_lm_blocks(text, block_size=32, seed=0, max_blocks=50)
    assert torch.equal(same.input_ids, b.input_ids) and torch.equal(same.labels, b.labels)
