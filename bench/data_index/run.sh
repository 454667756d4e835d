#!/usr/bin/env bash
# Sample-index benchmark: builds bench_data_index, generates the synthetic
# 2T-token metadata once (cached in CACHE_DIR), then runs each mode and blend
# size in its own process and prints their RESULT lines.
#
#   bench/data_index/run.sh CACHE_DIR [--scale S] [--modes "fast megatron"] [--lookups N]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ]; then
  echo "usage: $0 CACHE_DIR [--scale S] [--modes \"fast megatron\"] [--lookups N]" >&2
  exit 2
fi
dir=$1
shift
scale=1 modes="fast megatron" lookups=1000000
while [ $# -gt 0 ]; do
  case $1 in
  --scale) scale=$2; shift 2 ;;
  --modes) modes=$2; shift 2 ;;
  --lookups) lookups=$2; shift 2 ;;
  *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
bin="$dir/bench_data_index"
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O3 -march=native -Wall -Wextra -Werror -fopenmp -Isrc \
  src/core/*.c src/data/indexed.c src/data/blend.c src/data/split.c src/data/fast_index.c \
  src/data/sample_index.c src/data/megatron_index.c src/data/megatron_file.c src/data/megatron_cache.c \
  src/data/mt19937.c $(ls src/data/greedy_blend.c 2>/dev/null) $(ls src/data/blend_tree.c 2>/dev/null) \
  bench/data_index/bench_data_index.c -lm -lpthread -o "$bin"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
"$bin" gen "$dir" --scale "$scale"
# Megatron-DeepSpeed's Python build of this size takes about 7 minutes.
note() {
  awk -v s="$scale" '/^RESULT/ { split($3, a, "="); printf "NOTE %s vs_megatron_420s=%.1fx (at scale %s)\n", $2, 420 * s / a[2], s }'
}
for mode in $modes; do
  for k in 10 100; do
    if [ "$mode" = megatron ]; then
      # In memory; then with a cache directory: the build that writes it,
      # and the next run, which maps it.
      out=$("$bin" run "$dir" "$k" megatron --lookups "$lookups")
      echo "$out"; echo "$out" | note
      rm -rf "$dir/cache"
      out=$("$bin" run "$dir" "$k" megatron --lookups "$lookups" --cache "$dir/cache" --label megatron-cache-write)
      echo "$out"; echo "$out" | note
      "$bin" run "$dir" "$k" megatron --lookups "$lookups" --cache "$dir/cache" --label megatron-cache-reuse
      rm -rf "$dir/cache"
    else
      "$bin" run "$dir" "$k" "$mode" --lookups "$lookups"
    fi
  done
done
