/* agpt data: placeholder until the command lands; replaced by its real file. */
#include <stdio.h>

#include "cli/commands.h"

int agpt_cmd_data(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "agpt data: not available in this build\n");
  return 2;
}
