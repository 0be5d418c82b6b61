"""Distillation data: a text teacher's embeddings as regression targets for sentence-transformers' MSELoss.

For parallel pairs both sides regress the teacher's embedding of the English side, which makes a
multilingual pixel model out of an English teacher (Reimers & Gurevych 2020's recipe).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from datasets import Dataset
from sentence_transformers import SentenceTransformer

from pixel_st.teacher_cache import TeacherCache


def teacher_embeddings(
    teacher: SentenceTransformer, texts: list[str], cache_dir: str | None = None, batch_size: int = 128
) -> np.ndarray:
    """The teacher's embedding of each text, each distinct text encoded once (the English side of many
    translations repeats); with ``cache_dir`` the rows are kept per text (pixel_st.teacher_cache), so a later
    call encodes only the texts no earlier call with the same teacher met."""
    distinct = list(dict.fromkeys(texts))
    cache = TeacherCache(teacher, cache_dir) if cache_dir else None
    vectors, found = cache.read(distinct) if cache else (None, np.zeros(len(distinct), dtype=bool))
    if vectors is None or not found.all():
        missing = [text for text, hit in zip(distinct, found) if not hit]
        new = teacher.encode(missing, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=len(missing) > 10_000)
        if cache:
            cache.add(missing, new)
        if vectors is None:
            vectors = new
        else:
            vectors[~found] = new
    if len(distinct) < len(texts):
        row = {text: index for index, text in enumerate(distinct)}
        vectors = vectors[[row[text] for text in texts]]
    return vectors


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
