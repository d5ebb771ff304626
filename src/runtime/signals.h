/* Signal names as runc and kill(1) spell them: "TERM", "SIGTERM", "15",
 * "RTMIN+3". */
#pragma once

#include "error.h"

int signal_parse(const char *text, int *sig, nook_error *err);
/* "SIGTERM" for 15; NULL when it has no name. */
const char *signal_name(int sig);
/* Every name without its SIG prefix, for completion. */
void signal_list_names(void (*each)(const char *name, void *data), void *data);
