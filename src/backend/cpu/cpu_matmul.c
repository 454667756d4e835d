/* Matrix multiply: C = alpha * op(A) @ op(B) + beta * C, row-major.
 *
 * With OpenBLAS (AGPT_HAVE_OPENBLAS) this is cblas_sgemm of the OpenMP build,
 * which runs on agpt's own OpenMP threads. Without it, a cache-blocked OpenMP
 * kernel computes the same thing: op(A) and op(B) tiles are packed into
 * contiguous blocks (which turns every transpose case into one inner loop),
 * and each thread owns whole C tiles, summing K in a fixed order, so results
 * are reproducible for a given thread count. beta == 0 overwrites C without
 * reading it (NaN in an uninitialized C does not leak through).
 *
 * OpenBLAS picks its kernels by CPU model when it loads; 0.3.21 does not
 * know recent Xeons and falls back to its SSE3 (Prescott) kernels, and a
 * preset OPENBLAS_CORETYPE=Haswell gives AVX2 ones: measured at a sixth and
 * a half of the AVX-512 rate. agpt_cpu_blas_describe says which kernels run and warns
 * once when an AVX-512 CPU runs others. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "backend/cpu/cpu_backend.h"
#include "core/log.h"

#ifdef AGPT_HAVE_OPENBLAS
#include <cblas.h>
#endif

enum { MB = 32, NB = 128, KB = 128, JR = 64 };

static void scale_tile(float *C, int ldc, int i0, int i1, int j0, int j1, float beta) {
  for (int i = i0; i < i1; i++) {
    float *c = C + (size_t)i * ldc;
    if (beta == 0.0f) {
      memset(c + j0, 0, (size_t)(j1 - j0) * sizeof(float));
    } else if (beta != 1.0f) {
#pragma omp simd
      for (int j = j0; j < j1; j++) c[j] *= beta;
    }
  }
}

void agpt_cpu_matmul_blocked(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  int mt = (M + MB - 1) / MB, nt = (N + NB - 1) / NB;
#pragma omp parallel for collapse(2) schedule(static)
  for (int bi = 0; bi < mt; bi++) {
    for (int bj = 0; bj < nt; bj++) {
      _Alignas(64) float ap[MB * KB];
      _Alignas(64) float bp[KB * NB];
      int i0 = bi * MB, i1 = i0 + MB < M ? i0 + MB : M;
      int j0 = bj * NB, j1 = j0 + NB < N ? j0 + NB : N;
      scale_tile(C, ldc, i0, i1, j0, j1, beta);
      if (alpha == 0.0f) continue;
      for (int k0 = 0; k0 < K; k0 += KB) {
        int kb = k0 + KB < K ? KB : K - k0;
        for (int i = i0; i < i1; i++)
          for (int k = 0; k < kb; k++)
            ap[(i - i0) * KB + k] = alpha * (ta ? A[(size_t)(k0 + k) * lda + i] : A[(size_t)i * lda + k0 + k]);
        for (int k = 0; k < kb; k++) {
          float *row = bp + k * NB;
          for (int j = j0; j < j1; j++) row[j - j0] = tb ? B[(size_t)j * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j];
          for (int j = j1 - j0; j < NB; j++) row[j] = 0.0f;
        }
        for (int i = i0; i < i1; i++) {
          float *c = C + (size_t)i * ldc;
          const float *a = ap + (i - i0) * KB;
          for (int jc = 0; jc < j1 - j0; jc += JR) {
            float acc[JR];
            memset(acc, 0, sizeof acc);
            for (int k = 0; k < kb; k++) {
              const float *b = bp + k * NB + jc;
              float av = a[k];
#pragma omp simd
              for (int j = 0; j < JR; j++) acc[j] = __builtin_fmaf(av, b[j], acc[j]);
            }
            int jn = j1 - j0 - jc < JR ? j1 - j0 - jc : JR;
            for (int j = 0; j < jn; j++) c[j0 + jc + j] += acc[j];
          }
        }
      }
    }
  }
}

void agpt_cpu_matmul(agpt_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
  (void)be;
  if (M <= 0 || N <= 0) return;
#ifdef AGPT_HAVE_OPENBLAS
  if (K > 0) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  agpt_cpu_matmul_blocked(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *agpt_cpu_blas_describe(void) {
  static char desc[160];
  if (desc[0]) return desc;
#ifdef AGPT_HAVE_OPENBLAS
  const char *core = openblas_get_corename();
  snprintf(desc, sizeof desc, "OpenBLAS (%s kernels, OpenMP)", core ? core : "unknown");
  int fast = core && (!strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
                      !strcasecmp(core, "SapphireRapids"));
  if (__builtin_cpu_supports("avx512f") && !fast)
    agpt_log_warn("OpenBLAS runs its %s kernels on an AVX-512 CPU, at a sixth to a half of the matmul rate "
                  "(set OPENBLAS_CORETYPE=SkylakeX)",
                  core ? core : "unknown");
#else
  snprintf(desc, sizeof desc, "built-in blocked matmul (no OpenBLAS)");
#endif
  return desc;
}
