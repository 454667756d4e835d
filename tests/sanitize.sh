#!/usr/bin/env bash
# Runs the C tests and a short real run of the CLI (tokenizer training,
# preprocessing, training with a checkpoint, resuming, generation) on a build
# made with AddressSanitizer and UBSan (`make sanitize-build`). Any report of
# either stops the process with a non-zero exit, and so fails this script.
# Usage: tests/sanitize.sh BUILD   (BUILD defaults to build-san)
set -u
cd "$(dirname "$0")/.."
build=${1:-build-san}
agpt="$PWD/$build/agpt"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
[ -x "$agpt" ] || { echo "sanitize: $agpt is missing (run make sanitize-build)"; exit 1; }
failed=()

for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  if "$t" > "$build/tests/$name.log" 2>&1; then
    printf 'ok    sanitize %-28s %s\n' "$name" "$(tail -n 1 "$build/tests/$name.log")"
  else
    failed+=("$name")
    printf 'FAIL  sanitize %s\n' "$name"
    tail -n 40 "$build/tests/$name.log" | sed 's/^/      /'
  fi
done

# A real run, small enough for a sanitized build: a tokenizer and datasets
# made from the head of two demo corpora, a 2-layer model trained for 4
# steps with a checkpoint at 2, resumed to 6, then asked for a few tokens.
work=$(mktemp -d "${TMPDIR:-/tmp}/agpt-san.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$build/sanitize-run.log"
: > "$log"
step() {
  echo "+ $*" >> "$log"
  if ! "$@" >> "$log" 2>&1; then
    echo "FAIL  sanitize run: $*"
    tail -n 40 "$log" | sed 's/^/      /'
    failed+=("run")
    return 1
  fi
}
run_cli() {
  head -n 150 data/demo/prose_en.jsonl > "$work/en.jsonl"
  head -n 60 data/demo/code.jsonl > "$work/code.jsonl"
  printf 'A plain text document.\n\nAnd a second one, after a blank line.\n' > "$work/notes.txt"
  step "$agpt" tokenizer train --input "$work/en.jsonl" "$work/code.jsonl" --vocab-size 400 --pattern llama3 \
    --output "$work/tok.json" || return
  step "$agpt" tokenizer info --tokenizer "$work/tok.json" || return
  step "$agpt" tokenizer encode --tokenizer "$work/tok.json" --text "Hello, sanitizers." || return
  step "$agpt" preprocess --input "$work/en.jsonl" --output-prefix "$work/en" --tokenizer "$work/tok.json" || return
  step "$agpt" preprocess --input "$work/code.jsonl" --output-prefix "$work/code" --tokenizer "$work/tok.json" || return
  step "$agpt" preprocess --input "$work/notes.txt" --output-prefix "$work/notes" --tokenizer "$work/tok.json" || return
  printf '0.7 %s/en_text_document en\n0.3 %s/code_text_document code\n' "$work" "$work" > "$work/list"
  local model=(--preset llama-demo --num-layers 2 --hidden-size 64 --ffn-hidden-size 128 --num-attention-heads 4
    --num-key-value-heads 2 --seq-length 32 --max-position-embeddings 64 --tokenizer "$work/tok.json"
    --data-file-list "$work/list" --split 90,10,0 --micro-batch-size 2 --global-batch-size 4 --lr 1e-3
    --lr-warmup-iters 1 --lr-decay-iters 6 --seed 7 --log-interval 1 --save "$work/ckpt" --save-interval 2)
  step "$agpt" train "${model[@]}" --train-iters 4 || return
  step "$agpt" train "${model[@]}" --train-iters 6 --load "$work/ckpt" || return
  step "$agpt" generate --load "$work/ckpt" --prompt "The " --max-new-tokens 8 --seed 1 || return
  echo "ok    sanitize run: tokenizer, preprocess, train 4 + resume to 6, generate"
}
run_cli

if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: failed: ${failed[*]}"
  exit 1
fi
echo "sanitize: every C test and the CLI run passed under ASan and UBSan"
