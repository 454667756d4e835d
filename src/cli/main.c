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

/* OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads. A preset
 * older core type (seen in the wild: Haswell on AVX-512 machines) halves the
 * GEMM rate, so agpt drops it and re-executes itself before any work is done.
 * AGPT_KEEP_OPENBLAS_CORETYPE=1 keeps the user's choice. */
static void drop_forced_coretype(char **argv) {
  if (!getenv("OPENBLAS_CORETYPE") || getenv("AGPT_KEEP_OPENBLAS_CORETYPE")) return;
  unsetenv("OPENBLAS_CORETYPE");
  execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
  drop_forced_coretype(argv);
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
