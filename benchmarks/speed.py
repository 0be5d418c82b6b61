"""Encode and render speed, measured side by side in one run (CPU here, GPU when there is one).

    python benchmarks/speed.py [--preset small | --model FOLDER] [--sentences 3000] [--batch-size 128]
                               [--full-strip 256] [--render-workers N] [--compile] [--profile] [--word-aligned]

Prints, with the device name:
- rendering: sentences/s on one core for TextRenderer.render_batch and for a bare Pango layout loop
  (word-aligned, also the first pass, before the word-image cache holds the sentences' words), and
  with a pool of worker processes (``PixelEncoder.render_workers``; on a GPU, encoding uses it);
- encoding, text in -> normalised vectors out, STS-B dev sentences: pixel_st (cropped strips), the
  full-strip approach of the reference code (every sentence rendered to 529 patches and the ViT run over
  all of them, transformers' ViTMAEModel with the padding mask), and all-MiniLM-L6-v2; on a GPU also with
  the vectors kept there (``convert_to_tensor=True``); ``--model`` times a saved model (the shipped default:
  ``--model default``) in place of a fresh preset, without the full-strip baseline (its position table
  ends at the model's own strip length);
- with ``--profile``, where encode's time goes: operators, GPU busy share, rendering share;
- the ratios the speed issue sets targets for, and peak memory;
- how close each model comes to the hardware: the arithmetic its encoder layers do per second on the real
  positions (patches + CLS, or tokens), as a share of what one large matrix product reaches on the same
  device in the same dtype (the ceiling for models made of matrix products).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import time

import cairo
import torch
from sentence_transformers import SentenceTransformer

from pixel_st import new_model
from pixel_st.render_pool import RenderPool
from pixel_st.renderer import Pango, PangoCairo, TextRenderer  # the bindings at the versions the renderer requires
from pixel_st.report import load_any, resolve_model


def sts_sentences(path: str, count: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        rows = [line.rstrip("\n").split("\t") for line in file][1:]
    sentences = [cell for row in rows for cell in row[:2]]
    return (sentences * (count // len(sentences) + 1))[:count]


def rate(function, count: int, repeat: int = 2) -> float:
    """Best of ``repeat`` runs, items per second."""
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return count / best


def bare_pango_loop(sentences: list[str]) -> None:
    """The floor for any Pango renderer: lay out and draw each sentence, nothing else."""
    surface = cairo.ImageSurface(cairo.FORMAT_A8, 1024, 16)
    context = cairo.Context(surface)
    layout = PangoCairo.create_layout(context)
    layout.set_font_description(Pango.FontDescription.from_string("Noto Sans 8"))
    PangoCairo.context_set_resolution(layout.get_context(), 120)
    for sentence in sentences:
        layout.set_text(sentence, -1)
        layout.get_pixel_size()
        context.move_to(2, 0)
        PangoCairo.show_layout(context, layout)


def matmul_peak(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of the fastest of a few large square matrix products on ``device`` in ``dtype``."""
    size = 4096 if device == "cpu" else 8192
    left, right = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    left @ right
    return rate(lambda: left @ right, 2 * size**3, repeat=3)


def encoder_flops(positions: list[int], layers: int, hidden: int, intermediate: int) -> float:
    """Multiply-adds x 2 of a transformer encoder's layers over sequences of the given lengths: the four
    attention projections, the two MLP matrices and the attention scores and sums (norms and
    activations, a few per cent, left out)."""
    per_position = 2 * (4 * hidden * hidden + 2 * hidden * intermediate)
    return layers * sum(n * per_position + 4 * n * n * hidden for n in positions)


def hardware_share(label: str, per_second: float, flops: float, peak: float) -> None:
    print(f"{label:21s} {flops / 1e9:6.2f} GFLOP per sentence, {per_second * flops / 1e12:8.3f} TFLOP/s"
          f" = {per_second * flops / peak:4.0%} of the matmul peak")


def full_strip_encode(model, sentences: list[str], batch_size: int, device: str) -> None:
    """The reference code's way: 529-patch strips, the whole strip through the ViT (padding masked)."""
    encoder = model[0]
    vit = encoder.vit
    for start in range(0, len(sentences), batch_size):
        pixels, lengths = encoder.renderer.render_batch(sentences[start : start + batch_size])
        full = torch.full((len(lengths), 1, 16, 529 * 16), 255, dtype=torch.uint8)
        full[..., : pixels.shape[2]] = torch.from_numpy(pixels).unsqueeze(1)
        mask = (torch.arange(529)[None] < torch.from_numpy(lengths)[:, None]).long().to(device)
        image = full.to(device).float().div(255)
        keys = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        noise = torch.arange(529, device=device, dtype=torch.float32).expand(len(mask), -1)
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device != "cpu"):
            hidden = vit(pixel_values=image, noise=noise, attention_mask=keys).last_hidden_state[:, 1:]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            torch.nn.functional.normalize(pooled.float(), dim=-1).cpu()


def where_time_goes(model, sentences: list[str], batch_size: int, device: str, encode_rate: float) -> None:
    """A profile of one ``encode`` call: the operators with the most time on the device, the share of the
    unprofiled encode time the device was busy, and the share rendering takes (the same batches alone)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=activities) as profiler:
        model.encode(sentences, batch_size=batch_size)
    operators = profiler.key_averages()
    key = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    print(operators.table(sort_by=key, row_limit=12))
    encode_seconds = len(sentences) / encode_rate
    if device == "cuda":
        busy = sum(operator.self_device_time_total for operator in operators) / 1e6
        print(f"GPU busy {busy:.2f} s of encode's {encode_seconds:.2f} s ({busy / encode_seconds:.0%})")
    ordered = sorted(sentences, key=len, reverse=True)  # encode's order: longest first
    batches = [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]
    render = len(sentences) / rate(lambda: [model[0].preprocess(batch) for batch in batches], len(sentences), repeat=1)
    print(f"rendering alone (preprocess, same batches) {render:.2f} s of encode's {encode_seconds:.2f} s"
          f" ({render / encode_seconds:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default=None, help="default: base on GPU, small on CPU")
    parser.add_argument("--model", default=None, help="a saved pixel_st model to time instead of a fresh "
                        "preset (a folder, or 'default': the shipped model); its renderer settings apply")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--full-strip", type=int, default=256, help="sentences for the slow full-strip baseline")
    parser.add_argument("--render-workers", type=int, default=os.cpu_count(), help="processes for the pool figures")
    parser.add_argument("--compile", action="store_true", help="also time model.compile(dynamic=True)")
    parser.add_argument("--profile", action="store_true", help="where encode's time goes (before --compile)")
    parser.add_argument("--minilm", default="all-MiniLM-L6-v2", help="the text model to compare with: a name "
                        "load_any resolves, a folder (e.g. .devteacher on the device), or 'none' to skip it")
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_dev.tsv.gz")
    parser.add_argument("--word-aligned", action="store_true", help="a fresh preset renders word-aligned strips")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.model and (args.preset or args.word_aligned):
        parser.error("--model times a saved model with its own settings; --preset and --word-aligned are for a fresh one")
    if args.model:
        args.model = resolve_model(args.model)
    preset = args.preset or ("base" if device == "cuda" else "small")
    label = f"pixel_st/{os.path.basename(os.path.normpath(args.model)) if args.model else preset}"
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    sentences = sts_sentences(args.data, args.sentences)

    if args.model:
        model = SentenceTransformer(args.model, device=device, trust_remote_code=True)
    else:
        model = new_model(preset, seed=0, device=device, max_seq_length=529, word_aligned=args.word_aligned)
        model.max_seq_length = 64  # the paper's sentence setting; the 529-row table serves the baseline
    renderer_config = model[0].renderer.config_dict()  # a saved model's own font, size and alignment
    renderer = TextRenderer(**renderer_config)
    aligned = "; word-aligned" if renderer.word_aligned else ""
    print(f"device: {name}; {label}; {len(sentences)} STS-B dev sentences; batch {args.batch_size}{aligned}")
    if renderer.word_aligned:  # word images are cached: a first pass over unseen sentences draws each word once
        distinct, fresh = list(dict.fromkeys(sentences)), TextRenderer(**renderer_config)
        first = rate(lambda: fresh.render_batch(distinct), len(distinct), repeat=1)
        print(f"render, one core, first pass over {len(distinct)} distinct sentences: {first:8.0f}/s")
    batches = [sentences[i : i + args.batch_size] for i in range(0, len(sentences), args.batch_size)]  # as encode
    ours = rate(lambda: [renderer.render_batch(batch) for batch in batches], len(sentences))
    bare = rate(lambda: bare_pango_loop(sentences), len(sentences))
    print(f"render, one core:   pixel_st {ours:8.0f}/s   bare Pango loop {bare:8.0f}/s   ratio {ours / bare:.2f}")
    pool = RenderPool(renderer, args.render_workers)
    pooled = rate(lambda: [pool.render_batch(batch) for batch in batches], len(sentences), repeat=3)
    pool.close()
    print(f"render, {args.render_workers} worker processes: {pooled:8.0f}/s   ({pooled / ours:.2f}x one core)")

    if device == "cuda":
        model.to(torch.bfloat16)
        model[0].render_workers = args.render_workers  # on CPU the cores are busy with the model
    encode = rate(lambda: model.encode(sentences, batch_size=args.batch_size), len(sentences))
    if args.model:
        print(f"encode, text -> normalised vectors: pixel_st {encode:8.0f}/s")
    else:
        subset = sentences[: args.full_strip]
        full = rate(lambda: full_strip_encode(model, subset, args.batch_size, device), len(subset), repeat=1)
        print(f"encode, text -> normalised vectors: pixel_st {encode:8.0f}/s   full-strip approach {full:8.0f}/s"
              f"   speed-up {encode / full:.1f}x")
    if device == "cuda":  # numpy output copies every batch back, so the next batch cannot render meanwhile
        kept = rate(lambda: model.encode(sentences, batch_size=args.batch_size, convert_to_tensor=True), len(sentences))
        print(f"encode, vectors kept on the GPU (convert_to_tensor=True): {kept:8.0f}/s ({kept / encode:.2f}x numpy output)")
    if args.profile:
        where_time_goes(model, sentences, args.batch_size, device, encode)
    if args.compile:
        eager = model.encode(sentences[:512], batch_size=args.batch_size, convert_to_tensor=True)
        model.compile(dynamic=True)
        start = time.perf_counter()
        compiled = model.encode(sentences[:512], batch_size=args.batch_size, convert_to_tensor=True)
        warm_up = time.perf_counter() - start
        faster = rate(lambda: model.encode(sentences, batch_size=args.batch_size), len(sentences))
        gap = (compiled.float() - eager.float()).abs().max()
        print(f"model.compile(dynamic=True): {faster:8.0f}/s ({faster / encode:.2f}x eager; first call {warm_up:.0f} s;"
              f" max difference {gap:.1e})")
    lengths = renderer.render_batch(sentences)[1]
    print(f"mean strip length: {lengths.mean():.1f} patches, black patch included (of {model.max_seq_length}; the full strip is 529)")
    dtype = next(model.parameters()).dtype
    peaks = {dtype: matmul_peak(device, dtype)}
    print(f"matmul peak ({dtype}): {peaks[dtype] / 1e12:.3f} TFLOP/s")
    vit_config = model[0].vit.config
    pixel_flops = encoder_flops([int(n) + 1 for n in lengths], vit_config.num_hidden_layers, vit_config.hidden_size,
                                vit_config.intermediate_size) / len(sentences)
    hardware_share(label, encode, pixel_flops, peaks[dtype])

    if args.minilm != "none":
        minilm = load_any(args.minilm).to(device)
        text = rate(lambda: minilm.encode(sentences, batch_size=args.batch_size), len(sentences))
        print(f"all-MiniLM-L6-v2 ({minilm.dtype}) {text:8.0f}/s   {label} relative to it: {encode / text:.2f}x")
        tokens = minilm.preprocess(sentences)["attention_mask"].sum(1).tolist()  # padded to the longest, not 256
        bert_config = minilm[0].auto_model.config
        text_flops = encoder_flops(tokens, bert_config.num_hidden_layers, bert_config.hidden_size,
                                   bert_config.intermediate_size) / len(sentences)
        if minilm.dtype not in peaks:
            peaks[minilm.dtype] = matmul_peak(device, minilm.dtype)
        hardware_share("all-MiniLM-L6-v2", text, text_flops, peaks[minilm.dtype])
        print(f"{label} does {pixel_flops / text_flops:.1f}x the arithmetic per sentence "
              f"({sum(lengths + 1) / sum(tokens):.2f}x the positions, {vit_config.num_hidden_layers}"
              f" vs {bert_config.num_hidden_layers} layers)")
    if device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
