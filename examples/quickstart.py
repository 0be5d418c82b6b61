"""Encode sentences with a pixel_st model and compare them: the Python side of `pixel-st demo`.

    python examples/quickstart.py [MODEL_DIR]

Without MODEL_DIR a freshly initialised `small` model is used (untrained: the numbers only show the
pipeline). A saved model folder loads with stock sentence-transformers and trust_remote_code=True.
"""

import sys

from sentence_transformers import SentenceTransformer

from pixel_st import new_model

sentences = ["A man is playing a guitar.", "A man is playnig a gitar.", "The stock market fell sharply today."]
model = SentenceTransformer(sys.argv[1], trust_remote_code=True) if len(sys.argv) > 1 else new_model("small", seed=0)
embeddings = model.encode(sentences)
print(embeddings.shape)
print(model.similarity(embeddings, embeddings))
