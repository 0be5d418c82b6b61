"""Write a trained model into the package as its default model (fp16 weights, font file copied in).

    pixel-st train recipes/standin.yaml            # or recipes/scratch.yaml on a GPU
    python examples/ship_default_model.py runs/standin/final

The renderer is switched from the font family to the same face's font file, after checking that both
render identical pixels, so the shipped folder does not depend on the system's copy of the font.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

from pixel_st.renderer import TextRenderer
from pixel_st.shipping import DEFAULT_MODEL, save_fp16


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
    print(f"Shipped {source} to {DEFAULT_MODEL} with font file {font_file}")


if __name__ == "__main__":
    main(sys.argv[1])
