"""A digest of the pixels the renderer draws, to check that two machines feed a model the same input.

    python examples/render_digest.py [--data ../shared/data/sts/stsb_en_dev.tsv.gz] [--model FOLDER]

Renders the STS-B dev sentences and a line in each of seven scripts with the renderer of a model folder
(default: the shipped default model, whose font is a file inside the folder) and with the default
``TextRenderer`` (font chosen by fontconfig), continuous and word-aligned, and prints a SHA-256 of the pixels and strip lengths of
each, with the Pango and cairo versions. A model trained on the GPU machine's rendering kit sees what
users' machines render only if the digests printed there and here are equal.
"""

from __future__ import annotations

import argparse
import hashlib
import os

import cairo

import pixel_st
from pixel_st.renderer import Pango, TextRenderer  # Pango at the version the renderer requires
from pixel_st.sts import read_sts

SCRIPTS = [
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
]


def digest(renderer: TextRenderer, texts: list[str]) -> str:
    pixels, lengths = renderer.render_batch(texts)
    return hashlib.sha256(pixels.tobytes() + lengths.astype("int64").tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_dev.tsv.gz")
    parser.add_argument("--model", default=pixel_st.DEFAULT_MODEL, help="a pixel_st model folder")
    args = parser.parse_args()
    first, second, _ = read_sts(args.data)
    texts = first + second + SCRIPTS
    print(f"Pango {Pango.version_string()}, cairo {cairo.cairo_version_string()}; {len(texts)} texts")
    renderers = {
        "model folder": TextRenderer.load(args.model),
        "default TextRenderer": TextRenderer(),
        "the same, word-aligned": TextRenderer(word_aligned=True),
    }
    for name, renderer in renderers.items():
        print(f"{name:22s} {os.path.basename(renderer.font):24s} {digest(renderer, texts)}")


if __name__ == "__main__":
    main()
