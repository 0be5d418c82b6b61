"""pixel_st: sentence embeddings from rendered text (PIXEL / Pixel-Linguist) for sentence-transformers."""

__version__ = "0.1.0"

from pixel_st.encoder import PixelEncoder  # noqa: E402
from pixel_st.model import new_model  # noqa: E402
from pixel_st.renderer import TextRenderer  # noqa: E402
from pixel_st.shipping import DEFAULT_MODEL  # noqa: E402

__all__ = ["DEFAULT_MODEL", "PixelEncoder", "TextRenderer", "new_model", "__version__"]
