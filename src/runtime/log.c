#include "log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "util.h"

static int log_fd = -1;
static int stderr_fd = -1;
static bool log_json;
static bool log_debug;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

int nook_log_init(const char *file, bool json, bool debug) {
  log_json = json;
  log_debug = debug;
  if (file && *file) {
    log_fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
      return -errno;
  }
  return 0;
}

bool nook_log_debug_enabled(void) { return log_debug; }

void nook_log_set_stderr(int fd) { stderr_fd = fd; }

static unsigned long long start_ns;

__attribute__((constructor)) static void remember_start(void) { start_ns = now_ns(); }

void nook_log_stage(const char *name) {
  unsigned long long t = now_ns() - start_ns;
  nook_log(NOOK_LOG_DEBUG, "stage %s at +%llu.%02llu ms (pid %d)", name, t / 1000000,
           t / 10000 % 100, (int)getpid());
  /* NOOK_DEBUG_STOP_AT=STAGE stops here, for a debugger to attach or a
   * signal to land at exactly this moment (the robustness tests) */
  const char *stop_at = getenv("NOOK_DEBUG_STOP_AT");
  if (stop_at && !strcmp(stop_at, name))
    raise(SIGSTOP);
}

static void write_json_line(int fd, const char *level, const char *msg) {
  char stamp[64];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + n, sizeof(stamp) - n, ".%09ldZ", ts.tv_nsec);

  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g)
    return;
  yajl_gen_map_open(g);
  yajl_gen_string(g, (const unsigned char *)"level", 5);
  yajl_gen_string(g, (const unsigned char *)level, strlen(level));
  yajl_gen_string(g, (const unsigned char *)"msg", 3);
  yajl_gen_string(g, (const unsigned char *)msg, strlen(msg));
  yajl_gen_string(g, (const unsigned char *)"time", 4);
  yajl_gen_string(g, (const unsigned char *)stamp, strlen(stamp));
  yajl_gen_map_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  _cleanup_free_ char *line = xasprintf("%.*s\n", (int)len, buf);
  yajl_gen_free(g);
  (void)write_all(fd, line, strlen(line));
}

void nook_log(enum nook_log_level level, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);

  if (log_fd >= 0) {
    if (log_json) {
      write_json_line(log_fd, level_names[level], msg);
    } else {
      _cleanup_free_ char *line = xasprintf("%s: %s\n", level_names[level], msg);
      (void)write_all(log_fd, line, strlen(line));
    }
  }
  /* Errors are printed once by main(); other levels go to stderr here. */
  if (level == NOOK_LOG_ERROR)
    return;
  if (level == NOOK_LOG_DEBUG && log_fd >= 0)
    return;
  _cleanup_free_ char *line =
      xasprintf("nook: %s%s\n", level == NOOK_LOG_WARNING ? "warning: " : "", msg);
  (void)write_all(stderr_fd >= 0 ? stderr_fd : STDERR_FILENO, line, strlen(line));
}
