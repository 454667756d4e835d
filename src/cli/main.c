/* `agpt <command> [flags]`: dispatches to one file per subcommand. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

static const struct {
  const char *name;
  int (*run)(int, char **);
  const char *help;
} commands[] = {
    {"train", agpt_cmd_train, "pretrain a model on indexed datasets (Megatron-style flags)"},
    {"generate", agpt_cmd_generate, "continue a prompt with a trained checkpoint"},
    {"info", agpt_cmd_info, "print a model preset's shape, parameter count and memory estimate"},
    {"tokenizer", agpt_cmd_tokenizer, "train, inspect and apply byte-level BPE tokenizers"},
    {"preprocess", agpt_cmd_preprocess, "tokenize JSONL or text into Megatron .bin/.idx datasets"},
    {"data", agpt_cmd_data, "inspect blends and sample indices (data-file-list, --data-path)"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: agpt <command> [flags]   (agpt <command> --help for its flags)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

/* OpenBLAS picks its kernels once, when the library loads, from
 * OPENBLAS_CORETYPE or its own CPU detection. Both go wrong in practice: the
 * detection reports "Prescott" (SSE3 kernels, a tenth of the speed) inside
 * some virtual machines, and environments preset older types (Haswell on
 * AVX-512 machines halves the GEMM rate). So agpt decides from the CPU's
 * own feature flags and, when the environment says otherwise, re-executes
 * itself with the right value before any work is done.
 * AGPT_KEEP_OPENBLAS_CORETYPE=1 keeps the user's choice. */
static const char *best_coretype(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

static void choose_blas_kernels(char **argv) {
  if (getenv("AGPT_KEEP_OPENBLAS_CORETYPE") || getenv("AGPT_BLAS_CHOSEN")) return;
  const char *want = best_coretype(), *have = getenv("OPENBLAS_CORETYPE");
  if (!want || (have && !strcmp(have, want))) return;
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("AGPT_BLAS_CHOSEN", "1", 1); /* one re-exec at most */
  execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
  choose_blas_kernels(argv);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
  fprintf(stderr, "agpt: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
