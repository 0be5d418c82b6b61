"""Encode sentences with a pixel_st model and compare them: the Python side of `pixel-st demo`.

    python examples/quickstart.py [MODEL]

Without MODEL the model shipped in the package (`pixel_st.DEFAULT_MODEL`) is used. MODEL is a saved model
folder or hub id; it loads with stock sentence-transformers and trust_remote_code=True.
"""

import sys

from sentence_transformers import SentenceTransformer

import pixel_st

sentences = ["A man is playing a guitar.", "A man is playnig a gitar.", "The stock market fell sharply today."]
model = SentenceTransformer(sys.argv[1] if len(sys.argv) > 1 else pixel_st.DEFAULT_MODEL, trust_remote_code=True)
embeddings = model.encode(sentences)
print(embeddings.shape)
print(model.similarity(embeddings, embeddings))
