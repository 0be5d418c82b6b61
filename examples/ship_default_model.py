"""Write a trained model into the package as its default model (fp16 weights, font file copied in).

    pixel-st train recipes/standin.yaml            # or recipes/scratch.yaml on a GPU
    python examples/ship_default_model.py runs/standin/final

The status line ``pixel_st.shipping.DEFAULT_MODEL_NOTE`` (update it first) goes at the top of the card.

The renderer is switched from the font family to the same face's font file, after checking that both
render identical pixels, so the shipped folder does not depend on the system's copy of the font.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from pixel_st.renderer import TextRenderer
from pixel_st.shipping import DEFAULT_MODEL, DEFAULT_MODEL_NOTE, save_fp16


def add_card_note(folder: str) -> None:
    """Put the model's status (DEFAULT_MODEL_NOTE) at the top of sentence-transformers' generated card."""
    path = Path(folder) / "README.md"
    front, separator, body = path.read_text(encoding="utf-8").partition("\n---\n")
    note = f"\n## pixel_st default model\n\n{DEFAULT_MODEL_NOTE}\n"
    path.write_text(front + separator + note + body, encoding="utf-8")


def main(source: str) -> None:
    model = SentenceTransformer(source, trust_remote_code=True)
    encoder = model[0]
    old = encoder.renderer
    family = old.font
    font_file = subprocess.run(["fc-match", "-f", "%{file}", f"{family}:style=Regular"], capture_output=True,
                               text=True, check=True).stdout
    config = old.config_dict()
    config["font"] = font_file
    new = TextRenderer(**config)
    samples = ["A man is playing a guitar.", "Ünïcödé, numbers 12345 and punctuation!?", "Привет, мир"]
    for text in samples:
        assert np.array_equal(old.render(text), new.render(text)), f"{font_file} renders {text!r} differently"
    encoder.renderer = new
    shutil.rmtree(DEFAULT_MODEL, ignore_errors=True)
    save_fp16(model, DEFAULT_MODEL)
    add_card_note(DEFAULT_MODEL)
    print(f"Shipped {source} to {DEFAULT_MODEL} with font file {font_file}")


if __name__ == "__main__":
    main(sys.argv[1])
