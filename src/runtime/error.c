#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int set_message(nook_error *err, int errnum, int with_strerror, const char *fmt,
                       va_list ap) {
  int code = errnum > 0 ? errnum : EINVAL;
  if (err) {
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0)
      n = 0;
    if (with_strerror && errnum > 0 && (size_t)n < sizeof(err->msg))
      snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    err->code = code;
  }
  return -code;
}

int nook_err(nook_error *err, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = set_message(err, errnum, 1, fmt, ap);
  va_end(ap);
  return r;
}

int nook_errx(nook_error *err, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = set_message(err, errnum, 0, fmt, ap);
  va_end(ap);
  return r;
}

int nook_err_prefix(nook_error *err, int ret, const char *fmt, ...) {
  if (!err)
    return ret;
  char prefix[512];
  char old[sizeof(err->msg)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof(old));
  snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
  return ret;
}
