/* Small helpers shared by every module: cleanup attributes, allocation that
 * cannot fail silently, whole-file and fd I/O. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}
static inline void fclosep(FILE **f) {
  if (*f)
    fclose(*f);
}
static inline void closedirp(DIR **d) {
  if (*d)
    closedir(*d);
}
void strv_freep(char ***strv);

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Hands ownership out of a cleanup variable. */
#define steal_pointer(pp)                                                                          \
  ({                                                                                               \
    __typeof__(*(pp)) steal_tmp_ = *(pp);                                                          \
    *(pp) = NULL;                                                                                  \
    steal_tmp_;                                                                                    \
  })
static inline int steal_fd(int *fd) {
  int r = *fd;
  *fd = -1;
  return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure ends the process: there is no useful recovery in a
 * short-lived runtime command. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

size_t strv_len(char *const *strv);
char **strv_dup(char *const *strv);
void strv_free(char **strv);
/* Appends a copy of s; *strv may be NULL. */
void strv_push(char ***strv, const char *s);
bool strv_contains(char *const *strv, const char *s);
/* The strings with sep between them (malloc'd; "" for none). */
char *strv_join(char *const *strv, const char *sep);

bool str_has_prefix(const char *s, const char *prefix);
/* Parses a whole decimal string; false on junk or overflow. */
bool parse_u64(const char *s, unsigned long long *out);
bool parse_i64(const char *s, long long *out);

/* Writes all of buf, retrying on EINTR and short writes. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Reads the whole fd into a NUL-terminated buffer. 0 or -errno. */
int read_all(int fd, char **out, size_t *len);

/* Whole files, relative to dirfd (AT_FDCWD for a plain path). */
int read_file_at(int dirfd, const char *path, char **out, size_t *len, nook_error *err);
int write_file_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                  nook_error *err);
/* Writes to a temporary name then renames it into place, so a reader sees the
 * old or the new content, never a part. */
int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                         nook_error *err);

/* mkdir -p; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode, nook_error *err);
/* rm -rf below dirfd/name, never crossing into other filesystems' mounts. */
int rm_rf_at(int dirfd, const char *name);

/* The directory holding the running executable, for finding helper binaries
 * built beside it; falls back to NOOK_LIBEXECDIR. Returns a malloc'd path of
 * the helper, or NULL when none is executable. */
char *nook_helper_path(const char *name);

/* Monotonic time in nanoseconds. */
unsigned long long now_ns(void);

/* Closes every fd from 3 up that is not in keep (sorted in place): a process
 * that outlives its parent's purpose must not hold the parent's fds (a
 * container lock held by an init would block `start` for good). */
void close_fds_except(int *keep, size_t n);
