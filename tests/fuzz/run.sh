#!/usr/bin/env bash
# Runs every fuzz target built under BUILD/fuzz/: first over its seeds
# (tests/fuzz/seeds/<name>/), then fuzzing for SECONDS, with an allocation
# or resident size above MEM_MB counted as a crash. New inputs collect in
# BUILD/fuzz-corpus/<name>/ and crashing ones in BUILD/fuzz-crashes/<name>/;
# a line per target gives executions, coverage, features and peak memory.
# Usage: tests/fuzz/run.sh BUILD SECONDS MEM_MB [NAME...]
set -u
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build-fuzz}
secs=${2:-5}
mem=${3:-2048}
shift 3 2>/dev/null || shift $#
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
targets=()
if [ $# -gt 0 ]; then
  for n in "$@"; do targets+=("$build/fuzz/fuzz_$n"); done
else
  for t in "$build"/fuzz/fuzz_*; do [ -x "$t" ] && targets+=("$t"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets under $build/fuzz (run make fuzz-build)"; exit 1; }
failed=()
for t in "${targets[@]}"; do
  name=$(basename "$t"); name=${name#fuzz_}
  corpus="$root/$build/fuzz-corpus/$name"
  crashes="$root/$build/fuzz-crashes/$name"
  seeds="$root/tests/fuzz/seeds/$name"
  log="$root/$build/fuzz-$name.log"
  mkdir -p "$corpus" "$crashes"
  args=(-max_total_time="$secs" -rss_limit_mb="$mem" -malloc_limit_mb="$mem" -timeout=20 -max_len=65536
    -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -f "$root/tests/fuzz/$name.dict" ] && args+=(-dict="$root/tests/fuzz/$name.dict")
  dirs=("$corpus")
  [ -d "$seeds" ] && dirs+=("$seeds")
  start=$(date +%s)
  "$root/$t" "${args[@]}" "${dirs[@]}" > "$log" 2>&1
  rc=$?
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rss=$(grep -ao 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -aE '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
  line=$(printf '%-16s %4ds  execs %-10s %-22s peak RSS %s MB' "$name" "$(($(date +%s) - start))" "${execs:-?}" \
    "${cov:-cov: ? ft: ?}" "${rss:-?}")
  if [ $rc -eq 0 ]; then
    echo "ok    fuzz $line"
  else
    failed+=("$name")
    echo "FAIL  fuzz $line (exit $rc; log $log)"
    grep -aE 'ERROR|SUMMARY|==[0-9]+==|runtime error|out-of-memory|Test unit written|#[0-9]+ +0x' "$log" | head -n 30 |
      sed 's/^/      /'
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash"
