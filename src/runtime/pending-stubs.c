/* PLACEHOLDER: weak stand-ins for modules whose branches have not merged. */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "net/net.h"
#include "util.h"

__attribute__((weak)) int cgroup_enter(const struct cgroup_request *req, pid_t pid,
                                       struct cgroup_handle *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  return 0;
}
__attribute__((weak)) int cgroup_destroy(const struct cgroup_handle *h, nook_error *err) {
  return 0;
}
__attribute__((weak)) int cgroup_freeze(const struct cgroup_handle *h, bool frozen,
                                        nook_error *err) {
  return nook_errx(err, ENOTSUP, "no cgroup");
}
__attribute__((weak)) int cgroup_kill_all(const struct cgroup_handle *h, int signal,
                                          nook_error *err) {
  return nook_errx(err, ENOTSUP, "no cgroup");
}
__attribute__((weak)) void cgroup_handle_clear(struct cgroup_handle *h) {
  free(h->path);
  free(h->manager);
  free(h->unit);
  memset(h, 0, sizeof(*h));
}
__attribute__((weak)) int net_setup(const struct spec *spec, pid_t init_pid,
                                    const char *state_dir, pid_t *helper_pid, nook_error *err) {
  *helper_pid = 0;
  return 0;
}
__attribute__((weak)) int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err) {
  return 0;
}
