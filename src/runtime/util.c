#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>

#include "nook-config.h"

static void out_of_memory(void) {
  static const char msg[] = "nook: out of memory\n";
  (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
  abort();
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    out_of_memory();
  return p;
}

void *xcalloc(size_t n, size_t m) {
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (!p)
    out_of_memory();
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p)
    out_of_memory();
  return p;
}

char *xstrdup(const char *s) {
  char *p = strdup(s ? s : "");
  if (!p)
    out_of_memory();
  return p;
}

char *xstrndup(const char *s, size_t n) {
  char *p = strndup(s, n);
  if (!p)
    out_of_memory();
  return p;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  char *p;
  va_start(ap, fmt);
  int r = vasprintf(&p, fmt, ap);
  va_end(ap);
  if (r < 0)
    out_of_memory();
  return p;
}

size_t strv_len(char *const *strv) {
  size_t n = 0;
  while (strv && strv[n])
    n++;
  return n;
}

char **strv_dup(char *const *strv) {
  size_t n = strv_len(strv);
  char **r = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup(strv[i]);
  return r;
}

void strv_free(char **strv) {
  for (size_t i = 0; strv && strv[i]; i++)
    free(strv[i]);
  free(strv);
}

void strv_freep(char ***strv) { strv_free(*strv); }

void strv_push(char ***strv, const char *s) {
  size_t n = strv_len(*strv);
  *strv = xrealloc(*strv, (n + 2) * sizeof(char *));
  (*strv)[n] = xstrdup(s);
  (*strv)[n + 1] = NULL;
}

bool strv_contains(char *const *strv, const char *s) {
  for (size_t i = 0; strv && strv[i]; i++)
    if (strcmp(strv[i], s) == 0)
      return true;
  return false;
}

char *strv_join(char *const *strv, const char *sep) {
  size_t len = 1;
  for (size_t i = 0; strv && strv[i]; i++)
    len += strlen(strv[i]) + strlen(sep);
  char *s = xcalloc(1, len);
  for (size_t i = 0; strv && strv[i]; i++) {
    if (i)
      strcat(s, sep);
    strcat(s, strv[i]);
  }
  return s;
}

bool str_has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool parse_u64(const char *s, unsigned long long *out) {
  /* strtoull skips spaces and takes "-1" as ULLONG_MAX: only digits here. */
  if (!s || *s < '0' || *s > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

bool parse_i64(const char *s, long long *out) {
  if (!s || !(*s == '-' || (*s >= '0' && *s <= '9')))
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int read_all(int fd, char **out, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      free(buf);
      return -e;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = n;
  return 0;
}

int read_file_at(int dirfd, const char *path, char **out, size_t *len, nook_error *err) {
  _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open `%s`", path);
  int r = read_all(fd, out, len);
  if (r < 0)
    return nook_err(err, -r, "read `%s`", path);
  return 0;
}

/* A full disk is named by the directory that is full, so the user knows
 * where to free space (a bare `state.json` says nothing of where it is). */
static int write_error(int dirfd, const char *path, int e, const char *what, nook_error *err) {
  if (e != ENOSPC && e != EDQUOT)
    return nook_err(err, e, "%s `%s`", what, path);
  char dir[PATH_MAX] = ".";
  if (dirfd != AT_FDCWD) {
    _cleanup_free_ char *link = xasprintf("/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, dir, sizeof(dir) - 1);
    dir[n > 0 ? n : 0] = '\0';
  } else if (!getcwd(dir, sizeof(dir))) {
    strcpy(dir, ".");
  }
  const char *slash = strrchr(path, '/');
  _cleanup_free_ char *full = NULL;
  if (path[0] == '/')
    full = slash > path ? xstrndup(path, (size_t)(slash - path)) : xstrdup("/");
  else
    full = slash ? xasprintf("%s/%.*s", dir, (int)(slash - path), path) : xstrdup(dir);
  return nook_errx(err, e, "disk full: no space left in `%s` to write `%s`: free some space there",
                   full, slash ? slash + 1 : path);
}

int write_file_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                  nook_error *err) {
  _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return write_error(dirfd, path, errno, "open", err);
  int r = write_all(fd, data, len);
  if (r < 0)
    return write_error(dirfd, path, -r, "write", err);
  return 0;
}

int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                         nook_error *err) {
  _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
  int r = write_file_at(dirfd, tmp, data, len, mode, err);
  if (r < 0) {
    unlinkat(dirfd, tmp, 0);
    return r;
  }
  if (renameat(dirfd, tmp, dirfd, path) < 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    return nook_err(err, e, "rename `%s`", path);
  }
  return 0;
}

int mkdir_p(const char *path, mode_t mode, nook_error *err) {
  _cleanup_free_ char *p = xstrdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, mode) < 0 && errno != EEXIST)
      return nook_err(err, errno, "mkdir `%s`", p);
    *s = '/';
  }
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    return nook_err(err, errno, "mkdir `%s`", p);
  return 0;
}

int rm_rf_at(int dirfd, const char *name) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -errno;
  _cleanup_close_ int fd =
      openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  struct stat self;
  if (fstat(fd, &self) < 0)
    return -errno;
  int dupfd = dup(fd);
  if (dupfd < 0)
    return -errno;
  _cleanup_closedir_ DIR *d = fdopendir(dupfd);
  if (!d) {
    close(dupfd);
    return -errno;
  }
  struct dirent *de;
  int ret = 0;
  while ((de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    struct stat st;
    if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != self.st_dev)
        continue; /* a mount point: leave what is mounted there alone */
      int r = rm_rf_at(fd, de->d_name);
      if (r < 0 && ret == 0)
        ret = r;
    } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && ret == 0) {
      ret = -errno;
    }
  }
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && ret == 0)
    ret = -errno;
  return ret;
}

char *nook_helper_path(const char *name) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      char *p = xasprintf("%s/%s", self, name);
      if (access(p, X_OK) == 0)
        return p;
      free(p);
    }
  }
  char *p = xasprintf("%s/%s", NOOK_LIBEXECDIR, name);
  if (access(p, X_OK) == 0)
    return p;
  free(p);
  return NULL;
}

unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

void close_fds_except(int *keep, size_t n) {
  qsort(keep, n, sizeof(int), cmp_int);
  int from = 3;
  for (size_t i = 0; i < n; i++) {
    if (keep[i] < from)
      continue;
    if (keep[i] > from)
      syscall(SYS_close_range, from, keep[i] - 1, 0);
    from = keep[i] + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}
