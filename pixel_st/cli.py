"""The pixel-st command line: create, train, evaluate, encode with, and look at pixel sentence encoders."""

from __future__ import annotations

import argparse
import sys

import numpy as np

PAUSED = 75  # exit status of `train --time-limit` when it stopped early (EX_TEMPFAIL: run again)

DEMO_SENTENCES = [
    "A man is playing a guitar.",
    "A man plays the guitar on stage.",
    "A man is playnig a gitar.",
    "The stock market fell sharply today.",
]


def _print_similarity(texts: list[str], embeddings: np.ndarray) -> None:
    from sentence_transformers import util

    scores = util.cos_sim(embeddings, embeddings).numpy()
    width = max(len(text) for text in texts)
    for text, row in zip(texts, scores):
        print(f"{text:<{width}}  " + " ".join(f"{value:6.3f}" for value in row))


def cmd_new(args: argparse.Namespace) -> None:
    from pixel_st.folders import require_new_folder
    from pixel_st.model import new_model

    require_new_folder(args.out_dir, "write the new model")
    model = new_model(
        args.preset, seed=args.seed, max_seq_length=args.max_seq_length, font=args.font, word_aligned=args.word_aligned
    )
    model.save(args.out_dir)
    print(f"Saved a freshly initialised '{args.preset}' pixel_st model to {args.out_dir}")


def cmd_encode(args: argparse.Namespace) -> None:
    from pixel_st.report import load_any
    from pixel_st.textfiles import open_text

    if bool(args.texts) == bool(args.input):
        sys.exit("pixel-st encode: give the texts as arguments or --input FILE (one text per line), not both")
    if args.input:
        with open_text(args.input) as file:
            texts = [line.rstrip("\r\n") for line in file]  # every line, empty ones too: row i is line i
    else:
        texts = args.texts
    options = {"render_workers": args.render_workers} if args.render_workers else {}
    if args.dtype:
        options["dtype"] = args.dtype
    model = load_any(args.model, model_kwargs=options or None)
    embeddings = model.encode(texts, batch_size=args.batch_size, show_progress_bar=len(texts) > 10 * args.batch_size)
    if args.output:
        np.save(args.output, embeddings)
        print(f"{len(embeddings)} embeddings of dimension {embeddings.shape[1]} -> {args.output}")
    elif args.similarity:
        _print_similarity(texts, embeddings)
    else:
        np.savetxt(sys.stdout, embeddings, fmt="%.6f")


def cmd_render(args: argparse.Namespace) -> None:
    from PIL import Image

    from pixel_st.renderer import TextRenderer

    given = {key: value for key, value in (("font", args.font), ("max_seq_length", args.max_seq_length)) if value is not None}
    if args.word_aligned:
        given["word_aligned"] = True
    if args.model:
        from pixel_st.report import load_any

        if given:
            sys.exit("pixel-st render: --model draws with the model's own settings; leave out --font, "
                     "--max-seq-length and --word-aligned")
        first = load_any(args.model)[0]
        renderer = getattr(first, "renderer", None)
        if not isinstance(renderer, TextRenderer):
            sys.exit(f"pixel-st render: {args.model} is not a pixel_st model (its first module is {type(first).__name__})")
    else:
        renderer = TextRenderer(**given)  # the options left out take the renderer's own defaults
    strip = renderer.render(args.text)
    image = np.repeat(strip[:, :, None], 3, axis=2)
    image = np.repeat(np.repeat(image, args.scale, axis=0), args.scale, axis=1)
    if args.grid:
        image[:, :: renderer.patch_size * args.scale] = (230, 60, 60)
    Image.fromarray(image).save(args.output)
    print(f"{len(strip[0]) // renderer.patch_size} patches (text + black end patch) -> {args.output}")


def cmd_convert(args: argparse.Namespace) -> None:
    from pixel_st.convert import convert
    from pixel_st.folders import require_new_folder

    require_new_folder(args.out_dir, "convert")
    model = convert(args.source, max_seq_length=args.max_seq_length, with_mlp_head=args.with_mlp_head)
    model.save(args.out_dir)
    print(f"Converted {args.source} -> {args.out_dir} (load with trust_remote_code=True)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from pixel_st.report import evaluate, load_any, markdown, plot_robustness

    models = {name: load_any(name) for name in args.models}
    report = evaluate(
        models, args.data, include=args.include, robustness=args.robustness or bool(args.plot),
        anisotropy_sentences=args.anisotropy, max_pairs=args.max_pairs, seed=args.seed,
    )
    print(markdown(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
    if args.plot:
        plot_robustness(report, args.plot)


def cmd_train(args: argparse.Namespace) -> None:
    from pixel_st.recipe import load_recipe, run_recipe

    recipe = load_recipe(args.recipe)
    if args.output_dir:
        recipe["output_dir"] = args.output_dir
    if args.data_dir:
        recipe["data_dir"] = args.data_dir
    if args.teacher:
        recipe["teacher"] = args.teacher
    if args.plan:
        from pixel_st.recipe_plan import format_plan, recipe_plan

        print(format_plan(recipe_plan(recipe)))
        return
    if run_recipe(recipe, time_limit=args.time_limit) is None:
        print(f"Time limit reached; checkpoint saved under {recipe['output_dir']}. Run the same command again to resume.")
        sys.exit(PAUSED)
    print(f"Finished; final model in {recipe['output_dir']}/final, metrics in {recipe['output_dir']}/metrics.jsonl")


def cmd_pack(args: argparse.Namespace) -> None:
    from pixel_st.portable_run import pack_run
    from pixel_st.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    if args.output_dir:
        recipe["output_dir"] = args.output_dir
    out = pack_run(recipe, args.out_dir)
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    print(f"Packed {recipe['output_dir']} into {out} ({size / 2**20:.1f} MiB); "
          f"resume with: pixel-st train {args.recipe} --output-dir {out}")


def cmd_export(args: argparse.Namespace) -> None:
    from pixel_st.shipping import export_default_model

    print(f"Wrote the default model to {export_default_model(args.out_dir)} (load with trust_remote_code=True)")


def cmd_demo(args: argparse.Namespace) -> None:
    from pixel_st.report import load_any
    from pixel_st.shipping import DEFAULT_MODEL, DEFAULT_MODEL_NOTE

    print(f"Model: {DEFAULT_MODEL}\nNOTE: {DEFAULT_MODEL_NOTE}\n")
    _print_similarity(DEMO_SENTENCES, load_any(DEFAULT_MODEL).encode(DEMO_SENTENCES))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixel-st", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    new = commands.add_parser("new", help="write a freshly initialised model folder")
    new.add_argument("out_dir", help="a new or empty folder")
    new.add_argument("--preset", choices=["tiny", "mini", "small", "base"], default="small", help="backbone size (default small)")
    new.add_argument("--max-seq-length", type=int, default=64, help="patches per strip (default 64)")
    new.add_argument("--font", default="Noto Sans", help="font family name or font file")
    new.add_argument("--seed", type=int, default=0, help="for the random initial weights")
    new.add_argument("--word-aligned", action="store_true", help="start every word at a patch boundary")
    new.set_defaults(run=cmd_new)

    encode = commands.add_parser("encode", help="embed texts with a saved model")
    encode.add_argument("texts", nargs="*", help="texts to embed (or --input)")
    encode.add_argument("--model", default="default", help="model folder or hub id (default: the shipped model)")
    encode.add_argument("--input", help="a text file (or .gz), one text per line, instead of arguments")
    encode.add_argument("--output", help="save the embeddings as .npy instead of printing them")
    encode.add_argument("--similarity", action="store_true", help="print the cosine matrix instead")
    encode.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    encode.add_argument("--render-workers", type=int, default=0, help="render large batches in N processes")
    encode.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights' dtype (default float32)")
    encode.set_defaults(run=cmd_encode)

    render = commands.add_parser("render", help="save the rendered strip of a text as PNG")
    render.add_argument("text", help="the text to draw")
    render.add_argument("-o", "--output", required=True, help="PNG file to write")
    render.add_argument("--model", help="draw as this model does (a folder, hub id, or 'default': the shipped model)")
    render.add_argument("--font", help="font family name or font file (default Noto Sans)")
    render.add_argument("--max-seq-length", type=int, help="patches per strip (default 64)")
    render.add_argument("--scale", type=int, default=1, help="enlarge the picture by this factor")
    render.add_argument("--grid", action="store_true", help="mark patch boundaries")
    render.add_argument("--word-aligned", action="store_true", help="start every word at a patch boundary")
    render.set_defaults(run=cmd_render)

    convert = commands.add_parser("convert", help="convert a PIXEL / Pixel-Linguist checkpoint (hub id or folder)")
    convert.add_argument("source", help="hub id (e.g. Team-PIXEL/pixel-base) or local folder")
    convert.add_argument("out_dir", help="the pixel_st model folder to write")
    convert.add_argument("--max-seq-length", type=int, default=64, help="patches per strip (paper: 64)")
    convert.add_argument("--with-mlp-head", action="store_true", help="keep Pixel-Linguist's training head")
    convert.set_defaults(run=cmd_convert)

    evaluate = commands.add_parser("evaluate", help="STS suite (+ robustness, anisotropy) for one or more models")
    evaluate.add_argument("models", nargs="+", help="model folders or hub ids; 'default' (the shipped model) and all-MiniLM-L6-v2 work offline")
    evaluate.add_argument("--data", required=True, help="folder searched for uniform STS .tsv(.gz) files")
    evaluate.add_argument("--include", default="*", help="glob on the file path inside --data, e.g. '*dev*'")
    evaluate.add_argument("--robustness", action="store_true", help="also typos 5/10/20%% and word shuffle")
    evaluate.add_argument("--anisotropy", type=int, default=0, metavar="N", help="mean pairwise cosine of N sentences")
    evaluate.add_argument("--max-pairs", type=int, default=None, help="first N pairs of each file only")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the typos, shuffles and anisotropy sample")
    evaluate.add_argument("--json", help="write the full report here")
    evaluate.add_argument("--plot", help="write the robustness plot (PNG) here")
    evaluate.set_defaults(run=cmd_evaluate)

    train = commands.add_parser("train", help="run a training recipe (YAML list of stages); resumable")
    train.add_argument("recipe", help="a recipe YAML file, e.g. recipes/scratch.yaml")
    train.add_argument("--output-dir", help="override the recipe's output_dir")
    train.add_argument("--data-dir", help="override the recipe's data_dir")
    train.add_argument("--teacher", help="override the recipe's teacher (a model folder or hub id)")
    train.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help=f"stop with a checkpoint at the first step past this; exit status {PAUSED}; rerun to resume")
    train.add_argument("--plan", action="store_true",
                       help="print each stage's rows, steps and texts through the student (one process) and exit")
    train.set_defaults(run=cmd_train)

    pack = commands.add_parser("pack", help="copy a training run down to what resuming needs (fp16, no optimizer moments)")
    pack.add_argument("recipe", help="the recipe YAML file the run was trained with")
    pack.add_argument("out_dir", help="a new folder; resume with `pixel-st train RECIPE --output-dir OUT_DIR`")
    pack.add_argument("--output-dir", help="the run folder, if not the recipe's output_dir")
    pack.set_defaults(run=cmd_pack)

    export = commands.add_parser("export", help="write a copy of the shipped default model folder")
    export.add_argument("out_dir", help="a new or empty folder")
    export.set_defaults(run=cmd_export)

    demo = commands.add_parser("demo", help="encode a few sentences and print their cosine similarities")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (FileNotFoundError, FileExistsError) as error:  # a path the user gave: the message says which
        sys.exit(f"pixel-st {args.command}: {error}")


if __name__ == "__main__":
    main()
