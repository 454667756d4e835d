#!/usr/bin/env bash
# Runs every C test binary, then the Python tests under .venv, then (when
# `make test` built them and says where) the sanitizer suite (tests/sanitize.sh
# on AGPT_SAN_BUILD) and the fuzz smoke run (tests/fuzz/run.sh on
# AGPT_FUZZ_BUILD, each target over its seeds and AGPT_FUZZ_SMOKE_TIME
# seconds), and prints one closing line with the totals. Exits non-zero if
# anything failed.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
export AGPT_BIN="$PWD/$build/agpt"
export AGPT_TOOLS="$PWD/$build/tools"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# The test binaries link OpenBLAS directly (the agpt binary chooses for
# itself): give them the AVX-512 kernels, not OpenBLAS's Prescott fallback.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
passed=0 failed=0 failed_names=()
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  start=$(date +%s%N)
  if "$t" > "$build/tests/$name.log" 2>&1; then
    passed=$((passed + 1))
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'ok    %-32s %6d ms  %s\n' "$name" "$ms" "$(tail -n 1 "$build/tests/$name.log")"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL  %s\n' "$name"
    tail -n 30 "$build/tests/$name.log" | sed 's/^/      /'
  fi
done
if ls tests/py/test_*.py >/dev/null 2>&1; then
  if .venv/bin/python -m pytest -q tests/py; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("pytest")
  fi
fi
suite() {
  local name=$1
  shift
  local start
  start=$(date +%s)
  if "$@"; then
    passed=$((passed + 1))
    printf 'ok    %-32s %6d s\n' "$name" "$(($(date +%s) - start))"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL  %s\n' "$name"
  fi
}
if [ -n "${AGPT_SAN_BUILD:-}" ]; then
  suite sanitize bash tests/sanitize.sh "$AGPT_SAN_BUILD"
fi
if [ -n "${AGPT_FUZZ_BUILD:-}" ]; then
  suite fuzz-smoke bash tests/fuzz/run.sh "$AGPT_FUZZ_BUILD" "${AGPT_FUZZ_SMOKE_TIME:-5}" "${AGPT_FUZZ_MEM_MB:-2048}"
fi
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
