"""Word-aligned rendering from cached word images against Pango's layout of each whole text: same pixels?
How fast, on a cold cache and a warm one?

    python benchmarks/word_images.py [--data ../shared/data] [--wikipedia 20000] [--check] [--against REV ...]

For the STS-B dev sentences (distinct) and the first N Wikipedia sentences, one core, batches of 256:
continuous rendering, word-aligned with every text laid out whole by Pango (the path texts outside the
Latin, Cyrillic and Greek scripts take), and word-aligned through the cache, first pass (empty cache)
and second pass. ``--check`` also compares every strip of the cached path with Pango's whole layout, over
those texts and the multilingual STS-B dev files, at 64 and 20 patches. ``--against`` times first passes of
``pixel_st/word_images.py`` as it was at those git revisions and as it is, taking turns in one process
(three rounds), so that the machine's drift weighs on all alike.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import tempfile
import time

import numpy as np

from pixel_st.renderer import LEFT_PAD, RIGHT_PAD, TextRenderer, clean_text
from pixel_st.sts import read_sts
from at_revision import module_at  # benchmarks/at_revision.py


def per_second(render, texts: list[str], batch_size: int = 256) -> float:
    start = time.perf_counter()
    for index in range(0, len(texts), batch_size):
        render(texts[index : index + batch_size])
    return len(texts) / (time.perf_counter() - start)


def whole_layouts(renderer: TextRenderer, texts: list[str]) -> None:
    """Word-aligned, each text laid out and drawn by Pango whole (no cache)."""
    for text in texts:
        renderer._draw_layout(clean_text(text)[: renderer.max_pixels], renderer.max_seq_length)


def differing(texts: list[str], max_patches: int) -> tuple[int, int]:
    """(texts composed from word images, those whose strip differs from Pango's whole layout)."""
    cached, reference = TextRenderer(word_aligned=True), TextRenderer(word_aligned=True)
    composed = differ = 0
    for index in range(0, len(texts), 256):
        batch = texts[index : index + 256]
        pixels, lengths = cached.render_batch(batch, max_patches)
        for text, strip, length in zip(batch, pixels, lengths):
            text = clean_text(text)[: reference.max_pixels]
            composed += cached._word_images.script(text) is not None
            alpha, width, _ = reference._draw_layout(text, max_patches)
            end = min(-(-(LEFT_PAD + width + RIGHT_PAD) // reference.patch_size), max_patches - 1)
            columns = end * reference.patch_size
            differ += length != end + 1 or not np.array_equal(strip[:, :columns], 255 - alpha[:, :columns])
    return composed, differ


def first_passes(corpora: dict[str, list[str]], revisions: list[str]) -> None:
    """First-pass sentences/s of word_images.py at each revision and now, in turns, on one renderer (batches of
    256; older modules draw with the renderer as it is now)."""
    import pixel_st.word_images

    with tempfile.TemporaryDirectory() as folder:
        versions = {revision: module_at(revision, "pixel_st/word_images.py", folder) for revision in revisions}
        versions["now"] = pixel_st.word_images
        renderer = TextRenderer(word_aligned=True)
        renderer.render_batch(["warm up"])
        for name, texts in corpora.items():
            rates = {label: [] for label in versions}
            for _ in range(3):
                for label, module in versions.items():
                    renderer._word_images = module.WordImages(renderer)  # an empty cache
                    rates[label].append(per_second(renderer.render_batch, texts))
            print(f"{name}, first pass: " + "; ".join(
                f"{label} " + " ".join(f"{rate:.0f}" for rate in values) for label, values in rates.items()))
            for revision in revisions:
                print(f"    now / {revision}: " + " ".join(
                    f"{now / then:.2f}" for now, then in zip(rates["now"], rates[revision])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--wikipedia", type=int, default=20000, help="sentences of corpus/enwiki_sentences.txt.gz")
    parser.add_argument("--check", action="store_true", help="compare every strip with Pango's whole layout")
    parser.add_argument("--against", nargs="+", default=[], metavar="REV",
                        help="first passes of pixel_st/word_images.py at these git revisions against now, in turns")
    args = parser.parse_args()
    first, second, _ = read_sts(os.path.join(args.data, "sts/stsb_en_dev.tsv.gz"))
    with gzip.open(os.path.join(args.data, "corpus/enwiki_sentences.txt.gz"), "rt", encoding="utf-8") as file:
        wikipedia = [line.strip() for _, line in zip(range(args.wikipedia), file)]
    corpora = {"STS-B dev, distinct": list(dict.fromkeys(first + second)), f"Wikipedia, first {len(wikipedia)}": wikipedia}
    if args.against:
        first_passes(corpora, args.against)
        return
    print("sentences/s on one core; word-aligned: whole = Pango lays out each text, cached = word images")
    for name, texts in corpora.items():
        continuous, aligned = TextRenderer(), TextRenderer(word_aligned=True)
        continuous.render_batch(texts[:8])
        plain = per_second(continuous.render_batch, texts)
        whole = per_second(lambda batch: whole_layouts(aligned, batch), texts)
        cold = per_second(aligned.render_batch, texts)
        warm = per_second(aligned.render_batch, texts)
        print(f"{name:28s} continuous {plain:6.0f}   aligned whole {whole:6.0f}   cached, first pass {cold:6.0f}"
              f"   second pass {warm:6.0f}   ({len(aligned._word_images._images)} word images held)")
    if args.check:
        texts = [text for corpus in corpora.values() for text in corpus]
        for path in sorted(glob.glob(os.path.join(args.data, "sts/stsb_multi_mt/*_dev.tsv.gz"))):
            first, second, _ = read_sts(path)
            texts += first + second
        for max_patches in (64, 20):
            composed, differ = differing(texts, max_patches)
            print(f"{max_patches} patches: {len(texts)} texts, {composed} composed from word images, {differ} differ")


if __name__ == "__main__":
    main()
