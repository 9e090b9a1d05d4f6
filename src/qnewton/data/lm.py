"""Fixed-length training blocks for the two language-model tasks of the paper (Sec. V-A):

* causal LM (Mistral): ``input_ids`` are ``block_size`` consecutive bytes of the text and
  ``labels`` is the same tensor. transformers' ``*ForCausalLM`` shifts internally (position t's
  logits are scored against label t+1), so labels are *not* shifted here.
* masked LM (BERT): each block is ``<bos> + (block_size - 2) bytes + <eos>``; then 15% of the text
  positions are chosen and, of those, 80% become ``<mask>``, 10% a random byte and 10% stay
  (Devlin et al. 2019, Sec. 3.1 and Appendix A.1; transformers' ``DataCollatorForLanguageModeling``
  does the same). ``labels`` hold the original id at the chosen positions and -100 (ignored by the
  loss) everywhere else. The draw uses a ``torch.Generator`` seeded by ``seed``: the same seed
  gives the same masks.

The text is cut into non-overlapping blocks; the tail shorter than a block is dropped. No padding
is needed, so ``attention_mask`` is all ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .._validation import check_fraction, check_int_range
from ..errors import InvalidArgumentError
from .tokenizer import ByteTokenizer

__all__ = ["IGNORE_INDEX", "LMBlocks", "causal_lm_blocks", "mask_tokens", "masked_lm_blocks"]

#: Label value the transformers losses (cross-entropy ``ignore_index``) skip.
IGNORE_INDEX = -100


@dataclass(frozen=True, eq=False)
class LMBlocks:
    """Blocks of token ids ready for a transformers LM: three (n_blocks, block_size) int64 tensors.

    Attributes:
        input_ids: model input (for masked LM, with the masking applied).
        attention_mask: all ones (blocks are never padded).
        labels: targets; -100 where the loss must ignore a position.
        task: ``"causal"`` or ``"masked"``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    task: Literal["causal", "masked"]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def block_size(self) -> int:
        """Tokens per block."""
        return int(self.input_ids.shape[1])

    def batch(self, index: slice | torch.Tensor | np.ndarray | list[int] | None = None) -> dict[str, torch.Tensor]:
        """``{"input_ids", "attention_mask", "labels"}`` of the blocks ``index`` (all if None):
        the keyword arguments of the model call, and what ``forward_loss`` takes."""
        if index is None:
            index = slice(None)
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "labels": self.labels[index],
        }

    def tensor_dataset(self) -> TensorDataset:
        """``TensorDataset(input_ids, attention_mask, labels)``."""
        return TensorDataset(self.input_ids, self.attention_mask, self.labels)

    def loader(self, batch_size: int = 16, shuffle: bool = True, seed: int = 0) -> DataLoader:
        """A ``DataLoader`` yielding ``[input_ids, attention_mask, labels]`` lists (which
        ``forward_loss`` accepts), shuffled by a generator seeded with ``seed``."""
        check_int_range(batch_size, "batch_size", 1, 2**31 - 1)
        gen = torch.Generator().manual_seed(int(seed))
        return DataLoader(self.tensor_dataset(), batch_size=batch_size, shuffle=shuffle, generator=gen)


def _ids_of(text: str | bytes | np.ndarray | torch.Tensor, tok: ByteTokenizer) -> np.ndarray:
    if isinstance(text, (str, bytes, bytearray)):
        return tok.encode(text)
    if isinstance(text, torch.Tensor):
        return text.detach().cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(text, dtype=np.int64).reshape(-1)


def _chunk(ids: np.ndarray, width: int, max_blocks: int | None) -> np.ndarray:
    n = ids.shape[0] // width
    if n == 0:
        raise InvalidArgumentError(
            f"`text` has {ids.shape[0]} tokens, fewer than one block of {width}; pass more text or a "
            f"smaller `block_size`."
        )
    blocks = ids[: n * width].reshape(n, width)
    if max_blocks is not None:
        check_int_range(max_blocks, "max_blocks", 1, 2**31 - 1)
        if max_blocks < n:
            # evenly spaced over the whole split, so a small subset still sees all of it
            blocks = blocks[np.linspace(0, n - 1, max_blocks).round().astype(np.int64)]
    return blocks


def causal_lm_blocks(
    text: str | bytes | np.ndarray | torch.Tensor,
    block_size: int = 128,
    *,
    max_blocks: int | None = None,
    tokenizer: ByteTokenizer | None = None,
) -> LMBlocks:
    """Causal-LM blocks (Mistral) of ``text``: ``labels == input_ids`` (the model shifts).

    Args:
        text: a string / bytes (encoded with the byte tokenizer) or ids already encoded.
        block_size: tokens per block (<= the model's ``max_position_embeddings``).
        max_blocks: keep this many blocks, evenly spaced over the text (all when None).
        tokenizer: the byte tokenizer (default ``ByteTokenizer()``).

    Raises:
        InvalidArgumentError: text shorter than one block, bad sizes.

    >>> b = causal_lm_blocks("abcdefghij", block_size=4)
    >>> b.input_ids.tolist(), bool((b.labels == b.input_ids).all())
    ([[97, 98, 99, 100], [101, 102, 103, 104]], True)
    """
    tok = tokenizer or ByteTokenizer()
    check_int_range(block_size, "block_size", 2, 2**20)
    blocks = torch.from_numpy(_chunk(_ids_of(text, tok), block_size, max_blocks).copy())
    return LMBlocks(blocks, torch.ones_like(blocks), blocks.clone(), "causal")


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mlm_probability: float = 0.15,
    seed: int | torch.Generator = 0,
    tokenizer: ByteTokenizer | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose each byte position with probability ``mlm_probability``; of the
    chosen, 80% -> ``<mask>``, 10% -> a uniformly random byte (0..255), 10% unchanged.

    Special tokens are never chosen. A row in which nothing was chosen gets one random byte
    position chosen, so no row (and no tiny batch) has an empty loss; for 126 positions at 15%
    that happens with probability 0.85**126 ~ 1e-9. The random replacement is a byte, not any
    vocabulary entry (transformers draws from the whole vocabulary, specials included).

    Args:
        input_ids: (batch, length) int64 ids.
        mlm_probability: selection probability, in (0, 1].
        seed: an int (a fresh ``torch.Generator`` seeded with it) or a generator to draw from.
        tokenizer: supplies the mask id (default ``ByteTokenizer()``).

    Returns:
        ``(masked_ids, labels)``: labels hold the original ids at chosen positions, -100 elsewhere.
    """
    tok = tokenizer or ByteTokenizer()
    check_fraction(mlm_probability, "mlm_probability")
    if input_ids.ndim != 2:
        raise InvalidArgumentError(f"`input_ids` must be (batch, length), got shape {tuple(input_ids.shape)}.")
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    ids = input_ids.detach().cpu().to(torch.int64)
    candidate = ids < 256
    chosen = (torch.rand(ids.shape, generator=gen) < mlm_probability) & candidate
    empty = ~chosen.any(dim=1) & candidate.any(dim=1)
    if empty.any():
        # pick one candidate position uniformly in each empty row
        scores = torch.rand(ids.shape, generator=gen).masked_fill(~candidate, -1.0)
        pick = scores.argmax(dim=1)
        rows = torch.nonzero(empty).flatten()
        chosen[rows, pick[rows]] = True
    u = torch.rand(ids.shape, generator=gen)
    random_bytes = torch.randint(0, 256, ids.shape, generator=gen)
    masked = ids.clone()
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    masked[to_mask] = tok.mask_token_id
    masked[to_random] = random_bytes[to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    return masked.to(input_ids.device), labels.to(input_ids.device)


def masked_lm_blocks(
    text: str | bytes | np.ndarray | torch.Tensor,
    block_size: int = 128,
    *,
    mlm_probability: float = 0.15,
    seed: int = 0,
    max_blocks: int | None = None,
    tokenizer: ByteTokenizer | None = None,
) -> LMBlocks:
    """Masked-LM blocks (BERT): ``<bos> + (block_size - 2) bytes + <eos>``, masked by
    :func:`mask_tokens` with ``seed`` (static masking: call again with another seed to re-mask).

    >>> b = masked_lm_blocks("the quick brown fox jumps over the lazy dog" * 4, block_size=16)
    >>> b.input_ids.shape, int(b.input_ids[0, 0]), int(b.input_ids[0, -1])
    (torch.Size([12, 16]), 257, 258)
    """
    tok = tokenizer or ByteTokenizer()
    check_int_range(block_size, "block_size", 3, 2**20)
    body = _chunk(_ids_of(text, tok), block_size - 2, max_blocks)
    n = body.shape[0]
    framed = np.concatenate(
        [np.full((n, 1), tok.bos_token_id, np.int64), body, np.full((n, 1), tok.eos_token_id, np.int64)],
        axis=1,
    )
    ids = torch.from_numpy(framed)
    masked, labels = mask_tokens(ids, mlm_probability=mlm_probability, seed=seed, tokenizer=tok)
    return LMBlocks(masked, torch.ones_like(masked), labels, "masked")
