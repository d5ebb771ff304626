/* Diagnostics: warnings and debug lines to stderr and, with --log, to a log
 * file in runc's text or JSON-lines format (clients read errors from it). */
#pragma once

#include <stdbool.h>

enum nook_log_level { NOOK_LOG_ERROR, NOOK_LOG_WARNING, NOOK_LOG_INFO, NOOK_LOG_DEBUG };

/* file may be NULL (stderr only). Returns 0 or -errno. */
int nook_log_init(const char *file, bool json, bool debug);
bool nook_log_debug_enabled(void);
/* Where warnings and info lines go instead of stderr (-1: stderr again):
 * a detached container's monitor, whose stderr is the container's log,
 * sends its own to the nook that launched it. */
void nook_log_set_stderr(int fd);
void nook_log(enum nook_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Under --debug: "stage NAME at +T ms" since nook started, to see where a
 * start's time goes without a tracer (strace slows it and breaks the
 * setuid id-map helpers). */
void nook_log_stage(const char *name);
#define nook_stage(name)                                                                           \
  do {                                                                                             \
    if (nook_log_debug_enabled())                                                                  \
      nook_log_stage(name);                                                                        \
  } while (0)

#define nook_warn(...) nook_log(NOOK_LOG_WARNING, __VA_ARGS__)
#define nook_info(...) nook_log(NOOK_LOG_INFO, __VA_ARGS__)
#define nook_debug(...)                                                                            \
  do {                                                                                             \
    if (nook_log_debug_enabled())                                                                  \
      nook_log(NOOK_LOG_DEBUG, __VA_ARGS__);                                                       \
  } while (0)
