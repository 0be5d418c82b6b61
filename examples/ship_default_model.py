"""Write a trained model into the package as its default model (fp16 weights, font file copied in).

    pixel-st train recipes/standin.yaml            # or recipes/scratch.yaml on a GPU
    python examples/ship_default_model.py runs/standin/final

The status line ``pixel_st.shipping.DEFAULT_MODEL_NOTE`` (update it first) and how to load the model go at the
top of the card, above the table of the recipe's stages that ``pixel-st train`` put there.

The renderer is switched from the font family to the same face's font file, after checking that both
render identical pixels, so the shipped folder does not depend on the system's copy of the font.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from pixel_st.card import insert_section
from pixel_st.fonts import is_font_path
from pixel_st.renderer import RENDERER_CONFIG_NAME, TextRenderer
from pixel_st.shipping import DEFAULT_MODEL, DEFAULT_MODEL_NOTE, save_fp16


USAGE = """```bash
pip install pixel-st    # with the system libraries for Pango and cairo: see the pixel_st README
```

```python
import pixel_st
from sentence_transformers import SentenceTransformer

model = SentenceTransformer(pixel_st.DEFAULT_MODEL, trust_remote_code=True)
```"""

# The stock card's usage snippet, as pixel_st models load: the package and trust_remote_code are needed.
CARD_FIXES = {
    "First install the Sentence Transformers library:": "First install pixel_st, which brings Sentence Transformers:",
    "pip install -U sentence-transformers": "pip install pixel-st",
    "# Download from the 🤗 Hub\n": "import pixel_st\n",
    'SentenceTransformer("sentence_transformers_model_id")': "SentenceTransformer(pixel_st.DEFAULT_MODEL, trust_remote_code=True)",
}


def write_card(folder: str) -> None:
    """Our status note and usage at the top of the card; the stock usage snippet and the architecture's font
    (the family or file it was trained with, now the shipped file) corrected."""
    path = Path(folder) / "README.md"
    card = path.read_text(encoding="utf-8")
    shipped_font = json.loads((Path(folder) / RENDERER_CONFIG_NAME).read_text())["font"]
    for old, new in CARD_FIXES.items():
        assert old in card, f"the generated card has no {old!r}: update CARD_FIXES"
        card = card.replace(old, new)
    card, count = re.subn(r"'font': '[^']*'", f"'font': {shipped_font!r}", card)
    assert count == 1, f"the generated card names {count} fonts in its architecture, not one"
    path.write_text(card, encoding="utf-8")
    insert_section(folder, f"## pixel_st default model\n\n{DEFAULT_MODEL_NOTE}\n\n{USAGE}")


def main(source: str) -> None:
    model = SentenceTransformer(source, trust_remote_code=True)
    encoder = model[0]
    old = encoder.renderer
    family = old.font
    font_file = family if is_font_path(family) else subprocess.run(  # a model trained on from a shipped one has its file
        ["fc-match", "-f", "%{file}", f"{family}:style=Regular"], capture_output=True, text=True, check=True
    ).stdout
    config = old.config_dict()
    config["font"] = font_file
    new = TextRenderer(**config)
    samples = ["A man is playing a guitar.", "Ünïcödé, numbers 12345 and punctuation!?", "Привет, мир"]
    for text in samples:
        assert np.array_equal(old.render(text), new.render(text)), f"{font_file} renders {text!r} differently"
    encoder.renderer = new
    shutil.rmtree(DEFAULT_MODEL, ignore_errors=True)
    save_fp16(model, DEFAULT_MODEL)
    write_card(DEFAULT_MODEL)
    print(f"Shipped {source} to {DEFAULT_MODEL} with font file {font_file}")


if __name__ == "__main__":
    main(sys.argv[1])
