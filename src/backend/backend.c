/* The registry of backends: the one place that knows which device kinds
 * exist. Everything else gets its backend by name through agpt_backend_get. */
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

agpt_status agpt_backend_get(const char *name, agpt_backend **out) {
  *out = NULL;
  if (name && !strcmp(name, "cpu")) {
    *out = agpt_cpu_backend();
    return AGPT_OK;
  }
  return agpt_fail("backend '%s': unknown device kind (choices: cpu)", name ? name : "(null)");
}
