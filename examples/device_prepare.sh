#!/usr/bin/env bash
# Prepare, on this machine, what the lent GPU machine lacks for pixel_st (docs/model.md has the runbook).
# The device image has CUDA torch, sentence-transformers, transformers, accelerate, pyarrow and pyyaml,
# but no Pango (that is ../shared/gpu/make-kit.sh's .gpukit), no `datasets` (+ dill, multiprocess), no
# network, and Python 3.12. Run from the project root:
#   bash examples/device_prepare.sh            # builds .devwheels/, .devteacher/, .devdata/ (all git-ignored)
# On the device, after `source .gpukit/activate.sh`: `source .devwheels/activate.sh`.
set -euo pipefail
data=${PIXEL_ST_DATA:-../shared/data}

# Pure-Python wheels for the device's Python 3.12, at the versions tested here.
rm -rf .devwheels && mkdir -p .devwheels
version() { python3 -c "import importlib.metadata as m; print(m.version('$1'))"; }
pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .devwheels \
  "datasets==$(version datasets)" "dill==$(version dill)" "multiprocess==$(version multiprocess)" \
  "sentence-transformers==$(version sentence-transformers)"
cat > .devwheels/activate.sh <<'ACT'
# Source on the device: installs the carried wheels into /tmp/devsite (once) and puts it first on the path.
_wheels=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -d /tmp/devsite ] || python3 -m pip install -q --no-index --no-deps --target /tmp/devsite "$_wheels"/*.whl
export PYTHONPATH=/tmp/devsite:$PWD${PYTHONPATH:+:$PYTHONPATH}
ACT

# The distillation teacher in float16 (45 MB; the float32 copy is too large to travel in one call).
rm -rf .devteacher
python3 - <<'PY'
from pixel_st.report import load_any
teacher = load_any("all-MiniLM-L6-v2")
teacher.half().save(".devteacher")
PY

# The data recipes/scratch.yaml and the benchmarks read, in folders that can travel in separate calls.
rm -rf .devdata && mkdir -p .devdata/corpus .devdata/parallel .devdata/nli
cp -r "$data/sts" .devdata/
cp "$data/corpus/enwiki_sentences.txt.gz" .devdata/corpus/
for name in en-de en-fr en-es en-ru en-zh en-ar multi30k_task1_train.en-de-fr-cs; do
  cp "$data/parallel/$name.tsv.gz" .devdata/parallel/
done
cp "$data/nli/nli_train.tsv.gz" .devdata/nli/
du -sh .devwheels .devteacher .devdata/* | sort -h
