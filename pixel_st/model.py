"""Assemble a complete sentence-transformers model around a PixelEncoder."""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

from pixel_st.encoder import PixelEncoder


def sentence_model(encoder: PixelEncoder, device: str | None = None) -> SentenceTransformer:
    """encoder -> mean over text patches and the black patch -> L2 normalisation (the paper's embedding)."""
    pooling = Pooling(encoder.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[encoder, pooling, Normalize()], device=device)


def new_model(
    preset: str = "small", *, seed: int | None = None, device: str | None = None, **encoder_kwargs: Any
) -> SentenceTransformer:
    """A freshly initialised pixel sentence encoder; ``encoder_kwargs`` go to :meth:`PixelEncoder.new`."""
    if seed is not None:
        torch.manual_seed(seed)
    return sentence_model(PixelEncoder.new(preset, **encoder_kwargs), device=device)
