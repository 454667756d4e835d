#!/usr/bin/env bash
# The demo: trains a tokenizer on the bundled corpora, preprocesses them into
# Megatron .bin/.idx datasets, trains a small Llama-style model on their blend
# for a few minutes on the CPU, and prints samples from the trained model.
# Outputs go to data/demo/work/ (datasets, tokenizer) and out/demo/ (checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
agpt="$build/agpt"
work=data/demo/work
out=${AGPT_DEMO_OUT:-out/demo}
iters=${AGPT_DEMO_ITERS:-300}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
mkdir -p "$work"

corpora=$(ls data/demo/*.jsonl)
if [ ! -f "$work/tokenizer.json" ]; then
  echo "== training a byte-level BPE tokenizer on the demo corpora"
  "$agpt" tokenizer train --input $corpora --vocab-size 8192 --pattern llama3 --output "$work/tokenizer.json"
fi

echo "== preprocessing the corpora into Megatron .bin/.idx"
for f in $corpora; do
  name=$(basename "$f" .jsonl)
  if [ ! -f "$work/${name}_text_document.idx" ]; then
    "$agpt" preprocess --input "$f" --output-prefix "$work/$name" --tokenizer "$work/tokenizer.json"
  fi
done

# --load the save directory: a second `make demo` resumes (or, when the run
# finished, just samples again) instead of starting a second run on top of it.
echo "== training llama-demo on the blend in data/demo/demo.data-file-list"
"$agpt" train --preset llama-demo --tokenizer "$work/tokenizer.json" \
  --data-file-list data/demo/demo.data-file-list --split 990,10,0 \
  --micro-batch-size 8 --global-batch-size 16 --seq-length 256 \
  --train-iters "$iters" --lr 3e-3 --min-lr 3e-4 --lr-warmup-iters 30 --lr-decay-style cosine \
  --weight-decay 0.1 --clip-grad 1.0 --seed 1234 \
  --save "$out" --load "$out" --save-interval 100 --log-interval 10

echo "== samples from the trained model"
for prompt in "The " "def " "La " "Die "; do
  "$agpt" generate --load "$out" --prompt "$prompt" --max-new-tokens 60 --temperature 0.8 --top-k 40 --seed 1
  echo
done
