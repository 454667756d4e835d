#!/usr/bin/env bash
# Training throughput of agpt against PyTorch on the same shapes, threads and
# machine, in one run. Usage: bench/train_cpu/run.sh [CONFIG...]
# CONFIGs: gpt2-124m/T64 gpt2-124m/T256 llama-134m/T64 llama-134m/T256 (all by default).
# PyTorch runs at its best here: Debian's torch with OpenBLAS's AVX-512
# kernels and jemalloc with decay disabled.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
steps=${STEPS:-10}
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(gpt2-124m/T64 gpt2-124m/T256 llama-134m/T64 llama-134m/T256)

bash scripts/deps.sh --test >/dev/null
dpkg -s libjemalloc2 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libjemalloc2; }
make -s build/agpt >/dev/null
# OpenBLAS's own CPU detection reports Prescott (SSE3 kernels) on some
# virtual machines; give PyTorch's OpenBLAS the AVX-512 kernels when the CPU
# has them, as agpt chooses for itself.
if grep -q avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else unset OPENBLAS_CORETYPE; fi
py=.venv/bin/python
[ -x "$py" ] || py=/usr/bin/python3
jemalloc=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for cfg in "${configs[@]}"; do
  preset=${cfg%/T*}
  T=${cfg#*/T}
  case $preset in
    gpt2-124m) vocab=50257; torch_args=(--arch gpt2 --vocab 50257 --ffn 3072) ;;
    llama-134m) vocab=32000; torch_args=(--arch llama --vocab 32000 --ffn 2048) ;;
    *) echo "unknown config $cfg" >&2; exit 2 ;;
  esac
  [ -f "$work/tok_$vocab.idx" ] || "$py" bench/train_cpu/make_tokens.py "$work/tok_$vocab" "$vocab" 2000000
  OMP_NUM_THREADS=$threads ./build/agpt train --preset "$preset" --seq-length "$T" --micro-batch-size 4 \
    --train-iters $((steps + 2)) --log-interval 1 --data-path "$work/tok_$vocab" --split 100,0,0 \
    --metrics-file "$work/$preset-$T.jsonl" --quiet
  agpt_tok_s=$("$py" - "$work/$preset-$T.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l][2:]
med = lambda xs: sorted(xs)[len(xs) // 2]
print(f"{med([r['tokens_per_s'] for r in rows]):.1f} {med([r['mfu'] for r in rows]):.4f}")
PY
)
  mfu=${agpt_tok_s#* }
  agpt_tok_s=${agpt_tok_s% *}
  torch_out=$(LD_PRELOAD="$jemalloc" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 \
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=$threads \
    "$py" bench/train_cpu/torch_train.py "${torch_args[@]}" --seq "$T" --batch 4 --steps "$steps" --threads "$threads")
  torch_tok_s=$(echo "$torch_out" | "$py" -c 'import json,sys; print(round(json.load(sys.stdin)["tok_s"], 1))')
  ratio=$("$py" -c "print(f'{$agpt_tok_s / $torch_tok_s:.3f}')")
  echo "RESULT train_cpu/$preset-T$T agpt_tok_s=$agpt_tok_s torch_tok_s=$torch_tok_s ratio=$ratio agpt_mfu=$mfu"
done
