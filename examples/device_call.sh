#!/usr/bin/env bash
# The lent-GPU calls of docs/model.md's runbook, by name, so that each `run` is one short command issued
# back to back (the machine goes back 30 s after a call). Run on the device from the project root; every
# step's output goes to the terminal and to $OUT/STEP.txt, each step under its own time limit. A session has
# 15 minutes of device time, machine start included: one bench session, or one training session.
#   bench session:    bash examples/device_call.sh bench    # carry .gpukit .devwheels .devdata/sts
#   training session: bash examples/device_call.sh digest   # carry .gpukit .devwheels .devdata/sts
#                     true                                  # carry .devteacher .devdata/nli
#                     bash examples/device_call.sh train    # carry .devdata/corpus .devdata/parallel
#   bash examples/device_call.sh minilm   # carry .devteacher .devdata/nli: the MiniLM ratio on the GPU
# `train` trains for what is left of the call (TIME_LIMIT=SECONDS to say), goes on from RESUME=DIR (a carried
# `pixel-st pack` folder) on a fresh machine, and brings the run back packed as $OUT/pack.tgz.* (15 MB pieces).
set -uo pipefail
cd "$(dirname "$0")/.."
source .gpukit/activate.sh && source .devwheels/activate.sh || exit 1
export PYTHONUNBUFFERED=1
out=${OUT:?OUT is set on the device machine}
sts=.devdata/sts/stsb_en_dev.tsv.gz
workers=$(($(nproc) - 2))
CALL_END=${CALL_END:-585}  # the call is killed at 600 s; what a step wrote to $OUT comes back either way

step() {  # step NAME SECONDS COMMAND...: at most SECONDS, and never past CALL_END seconds into the call
  local name=$1 seconds=$2 left=$((CALL_END - SECONDS))
  shift 2
  if ((left < seconds)); then seconds=$left; fi
  if ((seconds <= 0)); then
    echo "== $name: skipped, the call has no time left" | tee "$out/$name.txt"
    return 124
  fi
  echo "== $name (${seconds} s at most): $*"
  timeout "$seconds" "$@" 2>&1 | tee "$out/$name.txt"
}

machine() {  # what the steps rely on, in $out/gpu.txt: the GPU, room in /dev/shm, the library versions
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt"
  df -h /dev/shm /tmp | tee -a "$out/gpu.txt"  # DataLoader workers pass batches through /dev/shm
  # datasets (carried) imports with pyarrow 19.0.1 or newer and fails with 18.1.0 or older (docs/model.md)
  python3 -c "import importlib.metadata as m; print(*(f'{p} {m.version(p)}' for p in ('torch', 'transformers',
    'accelerate', 'sentence-transformers', 'datasets', 'pyarrow', 'numpy')))" | tee -a "$out/gpu.txt"
}

case "${1:-}" in
  digest)  # the device must draw the pixels this machine draws (docs/model.md)
    machine
    step render_digest 60 python3 examples/render_digest.py --data "$sts"
    ;;
  bench)  # the speed issue's figures, most wanted first: a step that would start past CALL_END is skipped
    machine
    step render_digest 60 python3 examples/render_digest.py --data "$sts"
    step speed 300 python3 benchmarks/speed.py --profile --compile --minilm none --sentences 40000 --batch-size 256 \
      --full-strip 4096 --render-workers "$workers" --data "$sts"
    step train_step 150 python3 benchmarks/train_step.py --workers 8 --data .devdata/sts/stsb_en_train.tsv.gz
    step render_parallel 60 python3 benchmarks/render_parallel.py --workers "$workers" --word-aligned --data "$sts"
    step train_step_small 60 python3 benchmarks/train_step.py --preset small --batch-size 256 --word-aligned \
      --workers 12 --data .devdata/sts/stsb_en_train.tsv.gz  # the rate that sizes recipes/scratch.yaml
    step speed_1024 180 python3 benchmarks/speed.py --minilm none --sentences 40000 --batch-size 1024 \
      --full-strip 4096 --render-workers "$workers" --data "$sts"
    ;;
  minilm)
    step speed_minilm 300 python3 benchmarks/speed.py --minilm .devteacher --sentences 40000 --batch-size 256 \
      --full-strip 1024 --render-workers "$workers" --data "$sts"
    ;;
  train)
    run_dir=${RESUME:-runs/scratch}
    seconds=${TIME_LIMIT:-$((500 - SECONDS))}  # the checkpoint, the exit and the pack fit in the call's 600 s
    step train $((570 - SECONDS)) python3 -m pixel_st.cli train recipes/scratch.yaml --data-dir .devdata \
      --teacher .devteacher --output-dir "$run_dir" --time-limit "$seconds"
    echo "train exit status $? (0: the recipe has finished, 75: run again to resume)"
    rm -rf /tmp/pack && python3 -m pixel_st.cli pack recipes/scratch.yaml /tmp/pack --output-dir "$run_dir" \
      && tar czf - -C /tmp pack | split -b 15M - "$out/pack.tgz."
    ls -l "$out"
    ;;
  *)
    echo "usage: bash examples/device_call.sh digest|bench|minilm|train" >&2
    exit 2
    ;;
esac
