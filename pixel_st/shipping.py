"""The model that ships inside the package: where it is, how it is written (fp16), how users export it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pixel_st.folders import require_new_folder

if TYPE_CHECKING:  # the path and the note need no torch (examples/render_digest.py runs in the GPU kit alone)
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = str(Path(__file__).resolve().parent / "default_model")
DEFAULT_MODEL_NOTE = (
    "The shipped default model is a CPU-trained STAND-IN (2-layer 'mini' preset on word-aligned strips, about "
    "twelve and a half CPU hours of recipes/standin.yaml: the paper's visual stage, then word-vector, cross-lingual, "
    "caption, NLI-sentence, STS-B-translation and Wikipedia-sentence distillation from all-MiniLM-L6-v2 alongside "
    "it, then the paper's reasoning stage on NLI triplets, in turn with STS-B training paraphrase pairs in eleven "
    "languages and across them; STS-B dev Spearman 80.2, multilingual STS-B dev 71.0), "
    "not the GPU-trained pixel_st model, which targets 85 and 65. See docs/model.md."
)


def save_fp16(model: SentenceTransformer, folder: str) -> None:
    """Save with weights in float16 (half the size); loading casts them back to the module's dtype."""
    dtype = next(model.parameters()).dtype
    model.half()
    try:
        model.save(folder)
    finally:
        model.to(dtype)


def export_default_model(folder: str) -> str:
    """Copy the shipped model folder to ``folder`` (e.g. to upload it or to load it by path elsewhere)."""
    if not os.path.isfile(os.path.join(DEFAULT_MODEL, "modules.json")):
        raise FileNotFoundError(f"No default model is installed at {DEFAULT_MODEL}")
    require_new_folder(folder, "export")
    shutil.copytree(DEFAULT_MODEL, folder, dirs_exist_ok=True)
    return folder
