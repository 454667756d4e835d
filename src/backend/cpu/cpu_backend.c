/* The CPU backend: host memory, copies, the scratch arena, and the vtable
 * that gathers the kernels of the other cpu_*.c files.
 *
 * Buffers are 64-byte aligned (one AVX-512 vector, one cache line). Large
 * buffers (parameters, gradients, activations) are 2 MiB aligned and advised
 * as transparent huge pages: they are allocated once, and huge pages cut the
 * page faults of first touch and the TLB misses of streaming kernels. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/cpu/cpu_backend.h"

enum { HUGE_MIN = 4 << 20, HUGE_ALIGN = 2 << 20, PAR_BYTES = 1 << 20 };

static agpt_status cpu_alloc(agpt_backend *be, size_t bytes, void **out) {
  (void)be;
  *out = NULL;
  size_t align = bytes >= HUGE_MIN ? HUGE_ALIGN : 64;
  size_t rounded = (bytes + align - 1) / align * align;
  if (rounded == 0) rounded = align;
  void *p = NULL;
  if (rounded < bytes || posix_memalign(&p, align, rounded) != 0)
    return agpt_fail("cpu backend: cannot allocate %zu bytes of host memory (reduce the batch size or the model)",
                     bytes);
#ifdef MADV_HUGEPAGE
  if (align == HUGE_ALIGN) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only; failure is harmless */
#endif
  *out = p;
  return AGPT_OK;
}

static void cpu_free_buf(agpt_backend *be, void *p) {
  (void)be;
  free(p);
}

/* Large copies and clears are split across threads: one core does not
 * saturate memory bandwidth on server parts. */
static void par_copy(void *dst, const void *src, size_t bytes) {
  if (bytes < PAR_BYTES) {
    memcpy(dst, src, bytes);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    size_t chunk = (bytes / (size_t)nt + 63) / 64 * 64;
    size_t lo = chunk * (size_t)id, hi = lo + chunk < bytes ? lo + chunk : bytes;
    if (lo < hi) memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
  }
}

static void cpu_copy(agpt_backend *be, void *dst, const void *src, size_t bytes) {
  (void)be;
  if (dst != src) par_copy(dst, src, bytes);
}

static void cpu_zero(agpt_backend *be, void *p, size_t bytes) {
  (void)be;
  if (bytes < PAR_BYTES) {
    memset(p, 0, bytes);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    size_t chunk = (bytes / (size_t)nt + 63) / 64 * 64;
    size_t lo = chunk * (size_t)id, hi = lo + chunk < bytes ? lo + chunk : bytes;
    if (lo < hi) memset((char *)p + lo, 0, hi - lo);
  }
}

static void cpu_sync(agpt_backend *be) { (void)be; }

float *agpt_cpu_scratch(agpt_backend *be, size_t n) {
  agpt_cpu_ctx *ctx = be->ctx;
  if (n <= ctx->scratch_cap) return ctx->scratch;
  free(ctx->scratch);
  ctx->scratch = NULL;
  ctx->scratch_cap = 0;
  void *p = NULL;
  if (posix_memalign(&p, 64, n * sizeof(float)) != 0) {
    fprintf(stderr, "agpt: cpu backend: cannot allocate %zu bytes of kernel scratch (reduce the sequence length)\n",
            n * sizeof(float));
    abort();
  }
  ctx->scratch = p;
  ctx->scratch_cap = n;
  return ctx->scratch;
}

static agpt_cpu_ctx cpu_ctx;

static agpt_backend cpu_backend = {
    .name = "cpu",
    .ctx = &cpu_ctx,
    .alloc = cpu_alloc,
    .free_buf = cpu_free_buf,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .matmul = agpt_cpu_matmul,
    .embedding_fwd = agpt_cpu_embedding_fwd,
    .embedding_bwd = agpt_cpu_embedding_bwd,
    .rmsnorm_fwd = agpt_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = agpt_cpu_rmsnorm_bwd,
    .layernorm_fwd = agpt_cpu_layernorm_fwd,
    .layernorm_bwd = agpt_cpu_layernorm_bwd,
    .rope_fwd = agpt_cpu_rope_fwd,
    .rope_bwd = agpt_cpu_rope_bwd,
    .attention_fwd = agpt_cpu_attention_fwd,
    .attention_bwd = agpt_cpu_attention_bwd,
    .attention_cached = agpt_cpu_attention_cached,
    .swiglu_fwd = agpt_cpu_swiglu_fwd,
    .swiglu_bwd = agpt_cpu_swiglu_bwd,
    .gelu_fwd = agpt_cpu_gelu_fwd,
    .gelu_bwd = agpt_cpu_gelu_bwd,
    .add = agpt_cpu_add,
    .bias_fwd = agpt_cpu_bias_fwd,
    .bias_bwd = agpt_cpu_bias_bwd,
    .xent_fwd_bwd = agpt_cpu_xent_fwd_bwd,
    .sumsq = agpt_cpu_sumsq,
    .all_finite = agpt_cpu_all_finite,
    .scale = agpt_cpu_scale,
    .adamw = agpt_cpu_adamw,
};

agpt_backend *agpt_cpu_backend(void) {
  (void)agpt_cpu_blas_describe(); /* warns once about slow BLAS kernels */
  return &cpu_backend;
}
