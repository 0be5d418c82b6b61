"""A teacher's embeddings kept on disk text by text, so that a longer or changed list embeds only its new texts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

DIGEST_BYTES = 16


def teacher_fingerprint(teacher: SentenceTransformer) -> str:
    """A hash of what decides the teacher's embeddings: its modules and their settings (``repr``), its default
    prompt and truncation, and every weight, so that two checkpoints of one architecture never share a cache."""
    digest = hashlib.sha256(repr((teacher, teacher.default_prompt_name, teacher.truncate_dim)).encode())
    for name, tensor in teacher.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy())
    return digest.hexdigest()[:20]


def text_digests(texts: list[str]) -> list[bytes]:
    return [hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:DIGEST_BYTES] for text in texts]


class TeacherCache:
    """The embeddings one teacher gave, under ``cache_dir/teacher-<fingerprint>/``, in shards: each is a
    ``<name>.vectors.npy`` (one row per text) and a ``<name>.keys.npy`` (each text's 16-byte SHA-256 prefix,
    written last, so a shard counts only once both are whole). Each :meth:`add` writes one shard."""

    def __init__(self, teacher: SentenceTransformer, cache_dir: str | os.PathLike):
        self.folder = Path(cache_dir) / f"teacher-{teacher_fingerprint(teacher)}"

    def read(self, texts: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """The cached rows of ``texts`` (distinct texts) and a mask of the texts found; the array is None
        when none was found, else its rows for texts not found are undefined."""
        wanted = {digest: position for position, digest in enumerate(text_digests(texts))}
        found = np.zeros(len(texts), dtype=bool)
        vectors = None
        for keys_path in sorted(self.folder.glob("*.keys.npy")):
            blob = np.load(keys_path).tobytes()
            rows, positions = [], []
            for row, start in enumerate(range(0, len(blob), DIGEST_BYTES)):
                position = wanted.get(blob[start : start + DIGEST_BYTES])
                if position is not None and not found[position]:
                    rows.append(row)
                    positions.append(position)
                    found[position] = True
            if rows:
                shard = np.load(keys_path.with_name(keys_path.name.replace(".keys.", ".vectors.")), mmap_mode="r")
                if vectors is None:
                    vectors = np.empty((len(texts), shard.shape[1]), dtype=shard.dtype)
                vectors[positions] = shard[rows]
        return vectors, found

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        """Keep ``vectors`` (row i: the teacher's embedding of ``texts[i]``) as one new shard."""
        digests = text_digests(texts)
        name = hashlib.sha256(b"".join(digests)).hexdigest()[:20]
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(texts), DIGEST_BYTES)
        for kind, array in (("vectors", vectors), ("keys", keys)):  # keys last: they make the shard visible
            path = self.folder / f"{name}.{kind}.npy"
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            with open(partial, "wb") as file:
                np.save(file, array)
            os.replace(partial, path)
