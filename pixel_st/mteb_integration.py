"""mteb 2.x integration: a local-file STS task (mteb runs with no network) and model metadata for pixel_st."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models import ModelMeta, SentenceTransformerEncoderWrapper
from sentence_transformers import SentenceTransformer

from pixel_st.sts import read_sts


class LocalSTSTask(AbsTaskSTS):
    """An mteb STS task over one local uniform STS file; make one with :func:`local_sts_task`.

    mteb keeps a task's metadata on its class, so each file gets a subclass carrying its own.
    """

    path: Path

    def load_data(self, **kwargs: Any) -> None:
        """Read the local file instead of downloading from the hub."""
        if self.data_loaded:
            return
        first, second, scores = read_sts(self.path)
        rows = {"sentence1": first, "sentence2": second, "score": scores}
        self.dataset = DatasetDict({self.metadata.eval_splits[0]: Dataset.from_dict(rows)})
        self.data_loaded = True


def local_sts_task(
    path: str | Path,
    name: str | None = None,
    language: str = "eng-Latn",
    split: str = "dev",
    min_score: float = 0,
    max_score: float = 5,
) -> LocalSTSTask:
    """An mteb task for ``sentence1<TAB>sentence2<TAB>score`` pairs in ``path``, scored by cosine Spearman.

    Args:
        path: the file (gzipped or plain).
        name: task name in mteb's results (default: the file name without suffixes).
        language: mteb language code, e.g. ``eng-Latn``, ``deu-Latn``.
        split: the split to report under (the file's own: dev, train, trial...).
        min_score, max_score: the gold scale (0-5 for STS-B, 1-5 for SICK-R).
    """
    path = Path(path)
    name = name or path.name.split(".")[0]
    metadata = TaskMetadata(
        name=name,
        dataset={"path": str(path), "revision": "local"},
        description=f"STS pairs read from the local file {path.name}.",
        reference=None,
        type="STS",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=[language],
        main_score="cosine_spearman",
        date=None,
        domains=None,
        task_subtypes=None,
        license=None,
        annotations_creators=None,
        dialect=None,
        sample_creation=None,
        bibtex_citation=None,
    )
    attributes = {"metadata": metadata, "path": path, "min_score": min_score, "max_score": max_score}
    return type(f"LocalSTS_{name}", (LocalSTSTask,), attributes)()


def _load(
    model_name: str, revision: str | None = None, device: str | None = None, path: str | None = None, **kwargs: Any
) -> SentenceTransformerEncoderWrapper:
    model = SentenceTransformer(path or model_name, revision=revision, device=device, trust_remote_code=True)
    return SentenceTransformerEncoderWrapper(model)


def model_meta(
    name: str, model: SentenceTransformer | None = None, path: str | None = None, **overrides: Any
) -> ModelMeta:
    """mteb metadata for a pixel_st model, loaded with ``trust_remote_code=True``.

    Args:
        name: the hub id (``org/name``), which is also where it loads from unless ``path`` is given.
        model: the loaded model, to fill in parameter count, dimension and max length.
        path: a local folder to load from instead of the hub.
        overrides: any other ModelMeta field.
    """
    fields: dict[str, Any] = dict(
        loader=_load,
        loader_kwargs={"path": path} if path else {},
        name=name,
        revision=None,
        release_date=None,
        languages=None,
        n_parameters=sum(p.numel() for p in model.parameters()) if model is not None else None,
        memory_usage_mb=None,
        max_tokens=model.max_seq_length if model is not None else 64,
        embed_dim=model.get_embedding_dimension() if model is not None else None,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        reference="https://arxiv.org/abs/2402.08183",
        similarity_fn_name="cosine",
        use_instructions=False,
        training_datasets=None,
    )
    fields.update(overrides)
    return ModelMeta(**fields)
