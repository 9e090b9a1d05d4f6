"""A byte-level tokenizer: ids 0..255 are the UTF-8 bytes themselves, followed by five special
tokens. No vocabulary file and no pretrained tokenizer (nothing can be fetched), every string is
representable, and ``decode_bytes(encode(b)) == b`` for every byte string ``b``.

=====  ======  ===================================================================
id     token   use
=====  ======  ===================================================================
0-255  bytes   the text, UTF-8 encoded
256    <pad>   padding (``pad_token_id`` of the model configs)
257    <bos>   start of a sequence; BERT's [CLS]
258    <eos>   end of a sequence; BERT's [SEP]
259    <mask>  masked-LM target positions (BERT's [MASK])
260    <unk>   never produced by ``encode`` (all bytes are known); kept so configs that want one
               have it
=====  ======  ===================================================================

The vocabulary has 261 entries, against 30,522 WordPiece tokens for BERT and 32,000 for Mistral;
that is why the models here have ~0.25M parameters where the paper's Table I lists 2.2M / 4.3M
(see ``qnewton.models.lm``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidArgumentError

__all__ = ["ByteTokenizer"]

_SPECIAL_NAMES = ("<pad>", "<bos>", "<eos>", "<mask>", "<unk>")


@dataclass(frozen=True)
class ByteTokenizer:
    """Bytes -> ids -> bytes, with pad / bos / eos / mask / unk specials (ids 256..260).

    >>> tok = ByteTokenizer()
    >>> ids = tok.encode("héllo", add_bos=True)
    >>> ids.tolist()
    [257, 104, 195, 169, 108, 108, 111]
    >>> tok.decode(ids)
    'héllo'
    """

    pad_token_id: int = 256
    bos_token_id: int = 257
    eos_token_id: int = 258
    mask_token_id: int = 259
    unk_token_id: int = 260

    def __post_init__(self) -> None:
        ids = self.special_ids
        if sorted(ids) != list(range(256, 256 + len(_SPECIAL_NAMES))):
            raise InvalidArgumentError(
                f"special token ids must be 256..260, each once; got {ids}. Leave them at their defaults."
            )

    @property
    def vocab_size(self) -> int:
        """256 bytes + 5 specials = 261."""
        return 256 + len(_SPECIAL_NAMES)

    @property
    def special_ids(self) -> tuple[int, ...]:
        """(pad, bos, eos, mask, unk) ids."""
        return (
            self.pad_token_id,
            self.bos_token_id,
            self.eos_token_id,
            self.mask_token_id,
            self.unk_token_id,
        )

    @property
    def cls_token_id(self) -> int:
        """BERT's [CLS]: the bos token."""
        return self.bos_token_id

    @property
    def sep_token_id(self) -> int:
        """BERT's [SEP]: the eos token."""
        return self.eos_token_id

    def token_name(self, i: int) -> str:
        """Readable name of id ``i``: ``'<mask>'`` for a special, ``"b'a'"`` style for a byte."""
        if 0 <= i < 256:
            return repr(bytes([i]))
        if 256 <= i < self.vocab_size:
            return dict(zip(self.special_ids, _SPECIAL_NAMES, strict=True))[i]
        raise InvalidArgumentError(f"`i` = {i} is outside the vocabulary [0, {self.vocab_size}).")

    def encode(self, text: str | bytes, add_bos: bool = False, add_eos: bool = False) -> np.ndarray:
        """Ids (int64 array) of ``text``: its UTF-8 bytes, optionally framed by bos / eos."""
        if isinstance(text, str):
            data = text.encode("utf-8")
        elif isinstance(text, (bytes, bytearray, memoryview)):
            data = bytes(text)
        else:
            raise InvalidArgumentError(f"`text` must be str or bytes, got {type(text).__name__}.")
        ids = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        head = [self.bos_token_id] if add_bos else []
        tail = [self.eos_token_id] if add_eos else []
        if head or tail:
            ids = np.concatenate([np.array(head, np.int64), ids, np.array(tail, np.int64)])
        return ids

    def _as_ids(self, ids: Iterable[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        a = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(np.int64).reshape(-1)
        if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
            raise InvalidArgumentError(
                f"`ids` holds values from {a.min()} to {a.max()}, outside the vocabulary [0, {self.vocab_size})."
            )
        return a

    def decode_bytes(self, ids: Iterable[int] | np.ndarray | torch.Tensor, skip_special: bool = True) -> bytes:
        """The bytes of ``ids``. Special tokens are dropped (``skip_special``) or rejected.

        Raises:
            InvalidArgumentError: an id outside the vocabulary, or a special with
                ``skip_special=False``.
        """
        a = self._as_ids(ids)
        special = a >= 256
        if special.any() and not skip_special:
            raise InvalidArgumentError(
                f"`ids` holds special tokens ({self.token_name(int(a[special][0]))}) that have no bytes; "
                f"pass skip_special=True to drop them."
            )
        return a[~special].astype(np.uint8).tobytes()

    def decode(self, ids: Iterable[int] | np.ndarray | torch.Tensor, skip_special: bool = True) -> str:
        """UTF-8 text of ``ids`` (invalid byte sequences, e.g. a cut multi-byte character, become
        U+FFFD)."""
        return self.decode_bytes(ids, skip_special).decode("utf-8", errors="replace")
