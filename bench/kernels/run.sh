#!/usr/bin/env bash
# Builds bench_kernels with the project's flags (OpenBLAS, OpenMP build) and
# runs it on 2 threads at B=4, T=256 and B=4, T=64.
# OpenBLAS core type: a preset Haswell halves the sgemm rate on AVX-512, and
# OpenBLAS 0.3.21 does not know newer Xeons (family 6 model 207) and falls
# back to Prescott (SSE3, a sixth of the rate or less), so on an AVX-512 machine
# the SkylakeX kernels are forced unless AGPT_BENCH_CORETYPE says otherwise.
# Usage: bench/kernels/run.sh [outdir]   (default /tmp/agpt-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/agpt-bench}
mkdir -p "$out"
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
gcc -std=c11 -D_GNU_SOURCE -O3 -march=native -g -fno-math-errno -Wall -Wextra -Werror -fopenmp -Isrc \
  -DAGPT_HAVE_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-openmp \
  src/core/status.c src/core/log.c src/backend/backend.c src/backend/cpu/*.c bench/kernels/bench_kernels.c \
  -L"$blas" -Wl,-rpath,"$blas" -lopenblas -lm -o "$out/bench_kernels"
unset OPENBLAS_CORETYPE
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${AGPT_BENCH_CORETYPE:-SkylakeX}; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_PROC_BIND=${OMP_PROC_BIND:-close}
"$out/bench_kernels" 4 256
"$out/bench_kernels" 4 64
