#include "cgroup-status.h"

#include <fcntl.h>
#include <string.h>

#include "util.h"

bool cgroup_path_is_frozen(const char *cgroup_path) {
  if (!cgroup_path || !*cgroup_path)
    return false;
  _cleanup_free_ char *path = xasprintf("/sys/fs/cgroup/%s/cgroup.events", cgroup_path);
  _cleanup_free_ char *text = NULL;
  if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0)
    return false;
  return strstr(text, "frozen 1") != NULL;
}
