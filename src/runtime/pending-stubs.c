/* PLACEHOLDER: weak stand-ins for modules whose branches have not merged. */
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "util.h"

__attribute__((weak)) int net_setup(const struct spec *spec, pid_t init_pid,
                                    const char *state_dir, pid_t *helper_pid, nook_error *err) {
  *helper_pid = 0;
  return 0;
}
__attribute__((weak)) int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err) {
  return 0;
}
