/* agpt tokenizer: placeholder until the command lands; replaced by its real file. */
#include <stdio.h>

#include "cli/commands.h"

int agpt_cmd_tokenizer(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "agpt tokenizer: not available in this build\n");
  return 2;
}
