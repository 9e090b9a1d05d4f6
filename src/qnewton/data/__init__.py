"""Real data through real loaders; nothing is downloaded at run time.

Images (:mod:`.images`, :mod:`.idx`): scikit-learn's bundled digits (the embedded default, 8x8 or
enlarged to 28x28 for the paper's 784-16-16-10 DNN), Fashion-MNIST from Debian's
``dataset-fashion-mnist``, MNIST or any MNIST-format IDX data at a user path, and any grey or
colour image set saved as one NumPy ``.npz`` (e.g. CIFAR-100).

Text (:mod:`.text`, :mod:`.tokenizer`, :mod:`.lm`): raw WikiText at a user path, Python's own
help texts (``pydoc_data.topics``) as the embedded default, a byte-level tokenizer, and causal-LM
(Mistral) / masked-LM (BERT) blocks.
"""

from .idx import IDX_DTYPES, read_idx, write_idx
from .images import (
    FASHION_MNIST_CLASSES,
    ImageDataset,
    available_image_datasets,
    balanced_subset,
    find_fashion_mnist_dir,
    find_idx_files,
    load_digits_dataset,
    load_fashion_mnist,
    load_idx_dataset,
    load_idx_pair,
    load_image_dataset,
    load_npz_dataset,
    upsample_digits_to_28,
)
from .lm import IGNORE_INDEX, LMBlocks, causal_lm_blocks, mask_tokens, masked_lm_blocks
from .text import (
    TextCorpus,
    WikiArticle,
    available_text_corpora,
    load_text_corpus,
    parse_wikitext_articles,
    pydoc_corpus,
    pydoc_documents,
    read_wikitext,
    split_documents,
    wikitext_detokenize,
)
from .tokenizer import ByteTokenizer

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IDX_DTYPES",
    "IGNORE_INDEX",
    "ByteTokenizer",
    "ImageDataset",
    "LMBlocks",
    "TextCorpus",
    "WikiArticle",
    "available_image_datasets",
    "available_text_corpora",
    "balanced_subset",
    "causal_lm_blocks",
    "find_fashion_mnist_dir",
    "find_idx_files",
    "load_digits_dataset",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_idx_pair",
    "load_image_dataset",
    "load_npz_dataset",
    "load_text_corpus",
    "mask_tokens",
    "masked_lm_blocks",
    "parse_wikitext_articles",
    "pydoc_corpus",
    "pydoc_documents",
    "read_idx",
    "read_wikitext",
    "split_documents",
    "upsample_digits_to_28",
    "wikitext_detokenize",
    "write_idx",
]
