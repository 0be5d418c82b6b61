"""pixel_st: sentence embeddings from rendered text (PIXEL / Pixel-Linguist) for sentence-transformers."""

import importlib

__version__ = "0.1.0"

# Imported on first use, so that a process which only renders (a render worker) never loads torch.
_EXPORTS = {
    "DEFAULT_MODEL": "pixel_st.shipping",
    "LengthGroupedBatchSampler": "pixel_st.length_sampler",
    "PixelEncoder": "pixel_st.encoder",
    "TextRenderer": "pixel_st.renderer",
    "new_model": "pixel_st.model",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pixel_st' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
