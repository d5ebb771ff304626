/* The detached containers' log: one record per output line, "TIME STREAM
 * LINE", written whole so that a reader never sees half of one. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "workflow.h"

static void log_line(int logfd, const char *stream, const char *line, size_t n) {
  _cleanup_free_ char *ts = rfc3339_now();
  _cleanup_free_ char *head = xasprintf("%s %s ", ts, stream);
  char *rec = xmalloc(strlen(head) + n + 2);
  size_t hl = strlen(head);
  memcpy(rec, head, hl);
  memcpy(rec + hl, line, n);
  rec[hl + n] = '\n';
  write_all(logfd, rec, hl + n + 1);
  free(rec);
}

void log_stream_flush_partial(int logfd, struct log_stream *s) {
  if (!s->len)
    return;
  _cleanup_free_ char *name = xasprintf("%s" LOG_PARTIAL_SUFFIX, s->name);
  log_line(logfd, name, s->buf, s->len);
  s->len = 0;
}

void log_stream_flush(int logfd, struct log_stream *s, bool all) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] == '\n') {
      size_t end = s->strip_cr && i > start && s->buf[i - 1] == '\r' ? i - 1 : i;
      log_line(logfd, s->name, s->buf + start, end - start);
      start = i + 1;
    }
  }
  if ((all || start == 0) && s->len == sizeof(s->buf)) {
    log_line(logfd, s->name, s->buf, s->len);
    start = s->len;
  } else if (all && start < s->len) {
    log_line(logfd, s->name, s->buf + start, s->len - start);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

void log_note(const char *bundle, const char *text) {
  _cleanup_free_ char *path = xasprintf("%s/" LAUNCH_LOG_NAME, bundle);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0)
    log_line(fd, "stderr", text, strlen(text));
}
