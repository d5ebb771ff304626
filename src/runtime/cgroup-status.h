/* The one cgroup fact the state needs without the cgroup module: whether the
 * container's cgroup is frozen (cgroup.events "frozen 1"). */
#pragma once

#include <stdbool.h>

bool cgroup_path_is_frozen(const char *cgroup_path);
