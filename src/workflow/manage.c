/* logs, wait, stop and the container list. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "container.h"
#include "util.h"
#include "workflow.h"

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* RFC 3339 (UTC "Z" or an offset, fraction optional) to ns since the epoch. */
static bool parse_time(const char *s, long long *ns) {
  struct tm tm = {0};
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p)
    return false;
  long long frac = 0, scale = 1000000000LL;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (*p - '0') * scale;
      }
      p++;
    }
  }
  long long off = 0;
  if (*p == '+' || *p == '-') {
    int h, m;
    if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
      return false;
    off = (h * 3600LL + m * 60) * (*p == '-' ? -1 : 1);
  } else if (*p != 'Z' && *p != '\0') {
    return false;
  }
  *ns = ((long long)timegm(&tm) - off) * 1000000000LL + frac;
  return true;
}

static long long now_real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "90s", "5m", "1h30m", "250ms", a time, or seconds since the epoch. */
static bool parse_since(const char *s, long long *ns) {
  if (parse_time(s, ns))
    return true;
  unsigned long long secs;
  if (parse_u64(s, &secs)) {
    *ns = (long long)secs * 1000000000LL;
    return true;
  }
  long long total = 0;
  const char *p = s;
  while (*p) {
    /* digits and a point only, as Go's durations: strtod alone would also
     * take signs, exponents, inf, nan and hex */
    size_t len = strspn(p, "0123456789.");
    char digits[32];
    if (len == 0 || len >= sizeof(digits))
      return false;
    memcpy(digits, p, len);
    digits[len] = '\0';
    char *num_end;
    double v = strtod(digits, &num_end);
    if (*num_end || !(v < 1e6))
      return false;
    const char *end = p + len;
    long long unit;
    if (str_has_prefix(end, "ms"))
      unit = 1000000LL, end += 2;
    else if (*end == 's')
      unit = 1000000000LL, end++;
    else if (*end == 'm')
      unit = 60000000000LL, end++;
    else if (*end == 'h')
      unit = 3600000000000LL, end++;
    else
      return false;
    total += (long long)(v * (double)unit);
    p = end;
  }
  if (p == s)
    return false;
  *ns = now_real_ns() - total;
  return true;
}

/* Prints the complete lines of buf; returns how much it used. */
static size_t print_lines(char *buf, size_t len, long long since) {
  size_t start = 0;
  FILE *last = NULL;
  for (size_t i = 0; i < len; i++) {
    if (buf[i] != '\n')
      continue;
    buf[i] = '\0';
    char *line = buf + start;
    start = i + 1;
    char *sp1 = strchr(line, ' ');
    if (!sp1)
      continue;
    *sp1 = '\0';
    char *sp2 = strchr(sp1 + 1, ' ');
    if (!sp2)
      continue;
    *sp2 = '\0';
    long long t;
    if (since && (!parse_time(line, &t) || t < since))
      continue;
    const char *stream = sp1 + 1;
    size_t slen = strlen(stream), plen = strlen(LOG_PARTIAL_SUFFIX);
    bool partial = slen > plen && !strcmp(stream + slen - plen, LOG_PARTIAL_SUFFIX);
    FILE *f = str_has_prefix(stream, "stderr") ? stderr : stdout;
    /* both to one pipe (2>&1): the lines in the log's order */
    if (last && f != last)
      fflush(last);
    last = f;
    fputs(sp2 + 1, f);
    if (!partial)
      fputc('\n', f);
  }
  fflush(stdout);
  fflush(stderr);
  return start;
}

static bool container_done(const char *root, const char *id) {
  nook_error e;
  _cleanup_container_ struct container c = {.dirfd = -1};
  if (container_load(root, id, &c, &e) < 0)
    return true;
  return c.state.has_exit_status || c.status == STATUS_STOPPED;
}

int logs_print(const char *root, const char *id, bool follow, const char *since_arg,
               nook_error *err) {
  long long since = 0;
  if (since_arg && !parse_since(since_arg, &since))
    return nook_errx(err, EINVAL, "logs: --since `%s` is not a duration (10s, 5m, 1h) or a time "
                                  "(2024-01-02T15:04:05Z)", since_arg);
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *bundle = launch_bundle_dir(root, id);
  _cleanup_free_ char *path = xasprintf("%s/" LAUNCH_LOG_NAME, bundle);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return nook_errx(err, ENOENT, "container `%s` has no log: only detached containers made by "
                                    "nook launch -d keep one", id);
    return nook_err(err, errno, "open `%s`", path);
  }
  size_t cap = 65536, len = 0;
  _cleanup_free_ char *buf = xmalloc(cap);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return nook_err(err, errno, "read `%s`", path);
    }
    if (n > 0) {
      len += (size_t)n;
      size_t used = print_lines(buf, len, since);
      memmove(buf, buf + used, len - used);
      len -= used;
      continue;
    }
    if (!follow)
      break;
    /* at the end: done once the container is and nothing more came */
    if (container_done(root, id)) {
      while ((n = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        size_t used = print_lines(buf, len, since);
        memmove(buf, buf + used, len - used);
        len -= used;
        if (len == cap) {
          cap *= 2;
          buf = xrealloc(buf, cap);
        }
      }
      break;
    }
    sleep_ms(100);
  }
  return 0;
}

/* Blocks until pid ends or timeout_ms (-1: forever) passes. */
static bool wait_pid_gone(pid_t pid, unsigned long long start, int timeout_ms) {
  if (!pid_is_same_process(pid, start))
    return true;
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return true;
  if (!pid_is_same_process(pid, start))
    return true;
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

int launch_kill(const char *root, const char *id, nook_error *err) {
  _cleanup_container_ struct container c = {.dirfd = -1};
  nook_error e;
  if (container_load(root, id, &c, &e) < 0)
    return -ENOENT;
  if (c.status == STATUS_STOPPED)
    return 0;
  container_kill(root, id, SIGKILL, true, &e);
  if (c.state.pid > 0 && !wait_pid_gone(c.state.pid, c.state.pid_start_time, 10000))
    return nook_errx(err, ETIMEDOUT, "container `%s` did not die after SIGKILL", id);
  return 0;
}

int launch_wait(const char *root, const char *id, int *status, nook_error *err) {
  int stopped_polls = 0;
  for (;;) {
    _cleanup_container_ struct container c = {.dirfd = -1};
    int r = container_load(root, id, &c, err);
    if (r < 0)
      return r;
    if (c.state.has_exit_status) {
      *status = c.state.exit_status;
      return 0;
    }
    if (c.status == STATUS_RUNNING || c.status == STATUS_PAUSED || c.status == STATUS_CREATED) {
      wait_pid_gone(c.state.pid, c.state.pid_start_time, 1000);
      continue;
    }
    /* stopped: its monitor records the status in a moment */
    if (++stopped_polls > 100 &&
        spec_kv_find(c.state.annotations, c.state.n_annotations, LAUNCH_ANN_IMAGE))
      return nook_errx(err, ECHILD, "container `%s` stopped, but its exit status was lost: the "
                                    "nook process that watched it (its monitor) was killed", id);
    if (stopped_polls > 100)
      return nook_errx(err, ECHILD, "container `%s` stopped without a recorded exit status (it "
                                    "was not started by nook launch)", id);
    sleep_ms(50);
  }
}

/* Whether a `sig` sent to `pid`, a pid 1 of its namespace, would reach it:
 * it has a handler (SigCgt), or blocks it (SigBlk: catatonit reads its
 * signals from a signalfd). Otherwise the kernel drops it. */
static bool signal_reaches_init(pid_t pid, int sig) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  char line[256];
  unsigned long long mask = 0, m;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "SigCgt: %llx", &m) == 1 || sscanf(line, "SigBlk: %llx", &m) == 1)
      mask |= m;
  return mask & (1ULL << (sig - 1));
}

/* The stop signal (SIGTERM or --stop-signal), then up to timeout_ms for
 * the init to go. The init is pid 1 of its pid namespace, so a signal sent
 * before it installed its handler (an --init just exec'd) is dropped by the
 * kernel: then it is sent again once it would reach it, so a stop right
 * after launch is not a SIGKILL after the whole timeout. */
static bool terminate(const char *root, const char *id, pid_t pid, unsigned long long start,
                      int sig, int timeout_ms) {
  nook_error e;
  bool reaches = signal_reaches_init(pid, sig);
  if (container_kill(root, id, sig, false, &e) < 0)
    return false;
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (wait_pid_gone(pid, start, timeout_ms - waited < 50 ? timeout_ms - waited : 50))
      return true;
    if (!reaches && (reaches = signal_reaches_init(pid, sig)) &&
        container_kill(root, id, sig, false, &e) < 0)
      return false;
  }
  return wait_pid_gone(pid, start, 0);
}

int launch_stop(const char *root, const char *id, int timeout_s, nook_error *err) {
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  if (c.status == STATUS_RUNNING || c.status == STATUS_PAUSED || c.status == STATUS_CREATED) {
    nook_error e;
    /* what launch recorded of --stop-signal and --stop-timeout */
    const char *sig_text = spec_kv_find(c.state.annotations, c.state.n_annotations,
                                        LAUNCH_ANN_STOP_SIGNAL);
    const char *timeout_text = spec_kv_find(c.state.annotations, c.state.n_annotations,
                                            LAUNCH_ANN_STOP_TIMEOUT);
    unsigned long long n;
    int sig = sig_text && parse_u64(sig_text, &n) && n > 0 && n < 65 ? (int)n : SIGTERM;
    if (timeout_s < 0)
      timeout_s = timeout_text && parse_u64(timeout_text, &n) && n <= 86400
                      ? (int)n
                      : LAUNCH_STOP_TIMEOUT_DEFAULT;
    if (terminate(root, id, c.state.pid, c.state.pid_start_time, sig, timeout_s * 1000))
      goto stopped;
    if ((r = container_kill(root, id, SIGKILL, true, &e)) < 0 &&
        pid_is_same_process(c.state.pid, c.state.pid_start_time)) {
      *err = e;
      return r;
    }
    if (!wait_pid_gone(c.state.pid, c.state.pid_start_time, 10000))
      return nook_errx(err, ETIMEDOUT, "container `%s` did not stop after SIGKILL", id);
  }
stopped:
  /* a launched container is done once its monitor wrote the status */
  if (spec_kv_find(c.state.annotations, c.state.n_annotations, LAUNCH_ANN_IMAGE)) {
    for (int i = 0; i < 100; i++) {
      _cleanup_container_ struct container now = {.dirfd = -1};
      nook_error e;
      if (container_load(root, id, &now, &e) < 0 || now.state.has_exit_status)
        break;
      sleep_ms(50);
    }
  }
  return 0;
}

const char *spec_kv_find(const struct spec_kv *kv, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(kv[i].key, key))
      return kv[i].value;
  return NULL;
}

static char *age(long long ns) {
  long long s = ns / 1000000000LL;
  if (s < 1)
    return xstrdup("Less than a second");
  if (s < 60)
    return xasprintf("%lld second%s", s, s == 1 ? "" : "s");
  if (s < 3600)
    return xasprintf("%lld minute%s", s / 60, s / 60 == 1 ? "" : "s");
  if (s < 86400)
    return xasprintf("%lld hour%s", s / 3600, s / 3600 == 1 ? "" : "s");
  return xasprintf("%lld day%s", s / 86400, s / 86400 == 1 ? "" : "s");
}

static char *status_text(const struct container *c) {
  long long now = now_real_ns(), t;
  switch (c->status) {
  case STATUS_RUNNING:
  case STATUS_PAUSED: {
    _cleanup_free_ char *a = age(parse_time(c->state.created, &t) ? now - t : 0);
    return xasprintf("Up %s%s", a, c->status == STATUS_PAUSED ? " (paused)" : "");
  }
  case STATUS_CREATED:
  case STATUS_CREATING:
    return xstrdup("Created");
  case STATUS_STOPPED:
    break;
  }
  /* a create that was killed: it never ran, and only rm -f clears it
   * (one under way holds the container's lock) */
  if (c->state.creating && !c->state.has_exit_status)
    return xstrdup(state_is_locked(c->dirfd) ? "Created" : "Created (interrupted: rm -f it)");
  if (!c->state.has_exit_status)
    return xstrdup("Exited");
  if (!c->state.finished || !parse_time(c->state.finished, &t))
    return xasprintf("Exited (%d)", c->state.exit_status);
  _cleanup_free_ char *a = age(now - t);
  return xasprintf("Exited (%d) %s ago", c->state.exit_status, a);
}

static void gen_kv(yajl_gen g, const char *k, const char *v) {
  yajl_gen_string(g, (const unsigned char *)k, strlen(k));
  if (v)
    yajl_gen_string(g, (const unsigned char *)v, strlen(v));
  else
    yajl_gen_null(g);
}

/* "Labels": {K: V} of -l, null when none, as podman has it. */
static void gen_labels(yajl_gen g, const struct spec_kv *ann, size_t n) {
  size_t plen = strlen(LAUNCH_ANN_LABEL_PREFIX);
  bool any = false;
  yajl_gen_string(g, (const unsigned char *)"Labels", 6);
  for (size_t i = 0; i < n; i++) {
    if (!str_has_prefix(ann[i].key, LAUNCH_ANN_LABEL_PREFIX))
      continue;
    if (!any)
      yajl_gen_map_open(g);
    any = true;
    gen_kv(g, ann[i].key + plen, ann[i].value);
  }
  if (any)
    yajl_gen_map_close(g);
  else
    yajl_gen_null(g);
}

static char *truncated(const char *s, size_t n) {
  if (!s)
    return xstrdup("");
  if (strlen(s) <= n)
    return xstrdup(s);
  char *t = xstrndup(s, n);
  if (n > 3)
    memcpy(t + n - 3, "...", 3);
  return t;
}

enum { COLUMNS = 6 };

/* Rows of text cells printed as aligned columns, each as wide as its widest
 * cell (an id, a status such as "Exited (137) 5 minutes ago" never runs into
 * the next column), the last one unpadded. */
static void print_columns(char *(*rows)[COLUMNS], size_t n) {
  size_t width[COLUMNS] = {0};
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < COLUMNS; c++)
      if (strlen(rows[i][c]) > width[c])
        width[c] = strlen(rows[i][c]);
  for (size_t i = 0; i < n; i++) {
    for (int c = 0; c < COLUMNS - 1; c++)
      printf("%-*s   ", (int)width[c], rows[i][c]);
    printf("%s\n", rows[i][COLUMNS - 1]);
  }
}

int containers_list(const char *root, bool all, bool json, nook_error *err) {
  _cleanup_strv_ char **ids = NULL;
  int r = state_list_ids(root, &ids, err);
  if (r < 0)
    return r;
  yajl_gen g = NULL;
  char *(*rows)[COLUMNS] = NULL;
  size_t n_rows = 0;
  if (json) {
    g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_array_open(g);
  } else {
    rows = xcalloc(strv_len(ids) + 1, sizeof(*rows));
    const char *header[COLUMNS] = {"ID", "IMAGE", "COMMAND", "STATUS", "CREATED", "PORTS"};
    for (int c = 0; c < COLUMNS; c++)
      rows[0][c] = xstrdup(header[c]);
    n_rows = 1;
  }
  long long now = now_real_ns();
  for (size_t i = 0; ids && ids[i]; i++) {
    _cleanup_container_ struct container c = {.dirfd = -1};
    nook_error e;
    if (container_load(root, ids[i], &c, &e) < 0)
      continue;
    if (!all && c.status != STATUS_RUNNING && c.status != STATUS_PAUSED)
      continue;
    const struct spec_kv *ann = c.state.annotations;
    size_t nann = c.state.n_annotations;
    const char *image = spec_kv_find(ann, nann, LAUNCH_ANN_IMAGE);
    const char *command = spec_kv_find(ann, nann, LAUNCH_ANN_COMMAND);
    const char *ports = spec_kv_find(ann, nann, LAUNCH_ANN_PORTS);
    _cleanup_free_ char *status = status_text(&c);
    long long t;
    _cleanup_free_ char *a = age(parse_time(c.state.created, &t) ? now - t : 0);
    _cleanup_free_ char *created = xasprintf("%s ago", a);
    if (json) {
      yajl_gen_map_open(g);
      gen_kv(g, "Id", ids[i]);
      gen_kv(g, "Image", image);
      gen_kv(g, "Command", command);
      gen_kv(g, "State", state_status_name(c.status));
      gen_kv(g, "Status", status);
      gen_kv(g, "Created", c.state.created);
      gen_kv(g, "Finished", c.state.finished);
      yajl_gen_string(g, (const unsigned char *)"ExitCode", 8);
      if (c.state.has_exit_status)
        yajl_gen_integer(g, c.state.exit_status);
      else
        yajl_gen_null(g);
      yajl_gen_string(g, (const unsigned char *)"Ports", 5);
      launch_ports_json(g, ports);
      gen_labels(g, ann, nann);
      yajl_gen_string(g, (const unsigned char *)"Pid", 3);
      yajl_gen_integer(g, c.status == STATUS_STOPPED ? 0 : c.state.pid);
      yajl_gen_map_close(g);
    } else {
      _cleanup_free_ char *cmd_q = command ? xasprintf("\"%s\"", command) : xstrdup("");
      char **row = rows[n_rows++];
      row[0] = xstrdup(ids[i]);
      row[1] = truncated(image, 28);
      row[2] = truncated(cmd_q, 24);
      row[3] = xstrdup(status);
      row[4] = xstrdup(created);
      row[5] = launch_ports_text(ports);
    }
  }
  if (!json) {
    print_columns(rows, n_rows);
    for (size_t i = 0; i < n_rows; i++)
      for (int c = 0; c < COLUMNS; c++)
        free(rows[i][c]);
    free(rows);
  }
  if (json) {
    yajl_gen_array_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    fwrite(buf, 1, len, stdout);
    fputc('\n', stdout);
    yajl_gen_free(g);
  }
  return 0;
}
