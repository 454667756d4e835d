/* agpt info: the model presets and what training one costs in memory.
 *
 * Without --preset: one table row per preset with its shape, exact parameter
 * count and fp32 AdamW training memory on one device at the given micro
 * batch and sequence length. With --preset: the full shape and a breakdown
 * of that memory (parameters, gradients, AdamW moments, activations with and
 * without recomputation, workspace). Shape flags override the preset. The
 * figures come from the same layout code the model allocates with. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_flags.h"
#include "model/config.h"

static void human_count(char *buf, size_t n, uint64_t v) {
  if (v >= 1000000000ull)
    snprintf(buf, n, "%.2fB", (double)v / 1e9);
  else if (v >= 1000000ull)
    snprintf(buf, n, "%.1fM", (double)v / 1e6);
  else
    snprintf(buf, n, "%.1fK", (double)v / 1e3);
}

static void human_bytes(char *buf, size_t n, uint64_t v) {
  double g = (double)v / (1024.0 * 1024.0 * 1024.0);
  if (g >= 1.0)
    snprintf(buf, n, "%.2f GiB", g);
  else
    snprintf(buf, n, "%.1f MiB", (double)v / (1024.0 * 1024.0));
}

/* 1234567 -> "1,234,567" */
static void grouped(char *buf, size_t n, uint64_t v) {
  char raw[32];
  int len = snprintf(raw, sizeof raw, "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < len && o + 2 < n; i++) {
    if (i && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = raw[i];
  }
  buf[o] = 0;
}

int agpt_cmd_info(int argc, char **argv) {
  agpt_model_flags mf;
  memset(&mf, 0, sizeof mf);
  int B = 1, T = 0, recompute = 0;
  const agpt_flag rest[] = {
      {"micro-batch-size", AGPT_FLAG_INT, &B, "1", "B of the memory estimate", NULL, "[1, inf)"},
      {"seq-length", AGPT_FLAG_INT, &T, NULL, "T of the memory estimate (default: the preset's longest)", NULL, "[1, inf)"},
      {"recompute-activations", AGPT_FLAG_BOOL, &recompute, NULL,
       "estimate with activation recomputation (keep only layer inputs)", "checkpoint-activations", NULL},
  };
  agpt_flag flags[AGPT_MODEL_FLAG_ROWS + AGPT_NFLAGS(rest)];
  int nf = agpt_model_flag_rows(&mf, flags, NULL,
                                "model preset to describe in full (default: table of all presets); the shape flags "
                                "change it as they do in agpt train");
  memcpy(flags + nf, rest, sizeof rest);
  nf += AGPT_NFLAGS(rest);
  int help = 0;
  if (agpt_flags_parse(flags, nf, argc, argv, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt info: %s\n", agpt_errmsg());
    return 2;
  }
  if (help) {
    agpt_flags_usage(stdout, "agpt info [--preset NAME] [flags]",
                     "Model presets: shape, exact parameter count and fp32 AdamW training memory per device.", flags,
                     nf);
    return 0;
  }

  const char *preset = mf.preset;
  if (!preset && agpt_model_flags_any(flags, nf)) {
    fprintf(stderr, "agpt info: shape flags describe a change to a preset: give --preset NAME too\n");
    return 2;
  }
  if (!preset) {
    char tdesc[16], mem_head[64];
    if (T)
      snprintf(tdesc, sizeof tdesc, "%d", T);
    else
      snprintf(tdesc, sizeof tdesc, "seq");
    snprintf(mem_head, sizeof mem_head, "train mem (B=%d, T=%s%s)", B, tdesc, recompute ? ", recompute" : "");
    printf("%-12s %-6s %6s %6s %5s %8s %6s %6s %6s %9s  %s\n", "preset", "arch", "layers", "hidden", "heads",
           "kv heads", "ffn", "vocab", "seq", "params", mem_head);
    for (int i = 0; i < agpt_model_n_presets(); i++) {
      agpt_model_config c;
      agpt_model_preset(agpt_model_preset_name(i), &c);
      agpt_model_memory mem;
      int t = T ? T : c.max_seq;
      char pc[32], mb[32];
      human_count(pc, sizeof pc, agpt_model_param_count(&c));
      if (agpt_model_memory_estimate(&c, B, t, recompute, &mem) != AGPT_OK) {
        fprintf(stderr, "agpt info: %s\n", agpt_errmsg());
        return 1;
      }
      human_bytes(mb, sizeof mb, mem.total);
      printf("%-12s %-6s %6d %6d %5d %8d %6d %6d %6d %9s  %s\n", agpt_model_preset_name(i), agpt_arch_name(c.arch),
             c.n_layer, c.hidden, c.n_head, c.n_kv_head, c.ffn, c.vocab, c.max_seq, pc, mb);
    }
    printf("\nmemory: fp32 parameters, gradients and AdamW m, v (16 bytes per parameter) plus activations,\n"
           "on one device without sharding. `agpt info --preset NAME` shows the breakdown.\n");
    return 0;
  }

  agpt_model_config c;
  if (agpt_model_preset(preset, &c) != AGPT_OK) {
    fprintf(stderr, "agpt info: %s\n", agpt_errmsg());
    return 2;
  }
  agpt_model_flags_apply(&mf, flags, nf, 1, &c);
  if (agpt_model_config_validate(&c, preset) != AGPT_OK) {
    fprintf(stderr, "agpt info: %s\n", agpt_errmsg());
    return 2;
  }
  if (!T) T = c.max_seq;
  agpt_model_memory mem;
  if (agpt_model_memory_estimate(&c, B, T, recompute, &mem) != AGPT_OK) {
    fprintf(stderr, "agpt info: %s\n", agpt_errmsg());
    return 1;
  }
  uint64_t n = agpt_model_param_count(&c);
  char pc[32], pg[40];
  human_count(pc, sizeof pc, n);
  grouped(pg, sizeof pg, n);
  printf("preset        %s (%s)\n", preset, agpt_arch_name(c.arch));
  printf("layers        %d\n", c.n_layer);
  printf("hidden        %d\n", c.hidden);
  printf("heads         %d (head size %d), %d key-value heads\n", c.n_head, agpt_model_head_size(&c), c.n_kv_head);
  printf("ffn           %d (%s)\n", c.ffn, c.arch == AGPT_ARCH_LLAMA ? "SwiGLU" : "GELU");
  printf("vocab         %d\n", c.vocab);
  printf("max seq       %d\n", c.max_seq);
  printf("norm          %s, eps %g\n", c.arch == AGPT_ARCH_LLAMA ? "RMSNorm" : "LayerNorm", (double)c.norm_eps);
  if (c.arch == AGPT_ARCH_LLAMA)
    printf("positions     RoPE, theta %g\n", (double)c.rope_theta);
  else
    printf("positions     learned\n");
  printf("embeddings    %s; linear biases: %s\n", c.tie_embeddings ? "tied" : "untied", c.bias ? "yes" : "no");
  printf("parameters    %s (%s)\n\n", pc, pg);

  char a[32], b[32], cc[32], d[32], e[32], f[32], g[32];
  human_bytes(a, sizeof a, mem.params);
  human_bytes(b, sizeof b, mem.grads);
  human_bytes(cc, sizeof cc, mem.optim);
  human_bytes(d, sizeof d, mem.acts_full);
  human_bytes(e, sizeof e, mem.acts_recompute);
  human_bytes(f, sizeof f, mem.scratch);
  human_bytes(g, sizeof g, mem.total);
  printf("training memory per device, fp32 AdamW, micro batch %d x seq %d:\n", B, T);
  printf("  parameters                   %12s\n", a);
  printf("  gradients                    %12s\n", b);
  printf("  AdamW m, v                   %12s\n", cc);
  printf("  activations                  %12s%s\n", d, recompute ? "" : "   <- used");
  printf("  activations, recompute       %12s%s\n", e, recompute ? "   <- used (--recompute-activations)" : "");
  printf("  workspace (activation grads) %12s\n", f);
  printf("  total                        %12s\n", g);
  return 0;
}
