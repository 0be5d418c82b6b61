"""Distillation data: a text teacher's embeddings as regression targets for sentence-transformers' MSELoss.

For parallel pairs both sides regress the teacher's embedding of the English side, which makes a
multilingual pixel model out of an English teacher (Reimers & Gurevych 2020's recipe).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
from datasets import Dataset
from sentence_transformers import SentenceTransformer


def teacher_embeddings(
    teacher: SentenceTransformer, texts: list[str], cache_dir: str | None = None, batch_size: int = 128
) -> np.ndarray:
    """Encode each distinct text of ``texts`` once (the English side of many translations repeats); with
    ``cache_dir`` the result is kept in a .npy named by a hash of the teacher and the texts, and read back
    on later runs."""
    path = None
    if cache_dir:
        digest = hashlib.sha256()
        digest.update(repr(teacher).encode())
        for text in texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        path = os.path.join(cache_dir, f"teacher-{digest.hexdigest()[:20]}.npy")
        if os.path.isfile(path):
            return np.load(path)
    distinct = {text: row for row, text in enumerate(dict.fromkeys(texts))}
    embeddings = teacher.encode(list(distinct), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=len(distinct) > 10_000)
    if len(distinct) < len(texts):
        embeddings = embeddings[[distinct[text] for text in texts]]
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        np.save(path, embeddings)
    return embeddings


def distillation_dataset(
    teacher: SentenceTransformer, dataset: Dataset, cache_dir: str | None = None, english: str | None = None
) -> Dataset:
    """Add a ``label`` column with the teacher's embedding for MSELoss.

    A one-column dataset (``text``) regresses each text onto its own teacher vector. A pair dataset
    (``anchor`` = English, ``positive`` = translation) keeps both columns, and both regress the teacher's
    vector of the English side (``english`` names that column; default: the first).
    """
    source = english or dataset.column_names[0]
    labels = teacher_embeddings(teacher, dataset[source][:], cache_dir)  # [:]: one list (list() reads row by row)
    return with_labels(dataset, labels)


def with_labels(dataset: Dataset, labels: np.ndarray) -> Dataset:
    """``dataset`` with a last column ``label``: row i's vector ``labels[i]``, given as a torch tensor."""
    # One fixed-size-list Arrow column over the array's buffer: 2 s for the 444k Wikipedia sentences where a
    # list of per-row arrays took 22 s (and again at every resumption).
    column = pa.FixedSizeListArray.from_arrays(pa.array(labels.reshape(-1)), labels.shape[1])
    # Rows give the label as a tensor, which the collator stacks; it converted a list of floats one by one,
    # 21 ms of the 104 ms a batch of 512 cost a DataLoader worker (rendering is the rest). Every column is
    # formatted (strings stay strings) so that rows keep the column order: formatting the label alone puts
    # it first, and sentence-transformers' collator then warns that 'anchor' is not the first column.
    return dataset.add_column("label", column).with_format("torch")
