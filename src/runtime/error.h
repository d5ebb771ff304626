/* Errors: functions return 0 or a negative errno and fill a nook_error with
 * one line a user can act on; main() prints it once. */
#pragma once

#include <errno.h>

typedef struct nook_error {
  int code;        /* positive errno of the failure, 0 when none */
  int exit_status; /* process exit status wanted by main(); 0 means 1 */
  char msg[2048];
} nook_error;

/* Sets the message to the formatted text followed by ": strerror(errnum)".
 * Returns -errnum (or -EINVAL when errnum is not a positive errno). */
int nook_err(nook_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like nook_err, without the strerror suffix: for failures that are not a
 * system call's, such as bad input. */
int nook_errx(nook_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts context in front of a message set further down ("create `x`: ...").
 * Returns ret, so it reads `return nook_err_prefix(err, ret, "...")`. */
int nook_err_prefix(nook_error *err, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void nook_err_clear(nook_error *err) {
  err->code = 0;
  err->exit_status = 0;
  err->msg[0] = '\0';
}
