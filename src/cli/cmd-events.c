#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] =
    "Usage: nook events [--stats] [--interval DURATION] ID\n\n"
    "Print JSON events of a container, one object a line, in runc's shape:\n"
    "{\"type\": \"stats\", \"id\": ID, \"data\": {cpu, memory, pids, blkio...}}, and\n"
    "{\"type\": \"oom\"} when the kernel killed a process for memory.\n\n"
    "Options:\n"
    "      --stats              print the statistics once and exit\n"
    "      --interval DURATION  time between stats events (default 5s; 500ms, 1m...)\n";

/* Go's time.Duration as runc's flag reads it ("5s", "1m30s", "250ms"); a bare
 * number is seconds. */
static bool parse_duration(const char *s, unsigned long long *ns) {
  static const struct {
    const char *unit;
    unsigned long long ns;
  } units[] = {{"ns", 1ULL}, {"us", 1000ULL}, {"ms", 1000000ULL},
               {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL}};
  unsigned long long total = 0;
  const char *p = s;
  if (!*p)
    return false;
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    if (end == p || v < 0)
      return false;
    p = end;
    if (!*p && p != s && total == 0) {
      *ns = (unsigned long long)(v * 1e9);
      return true;
    }
    size_t best = 0, best_len = 0;
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
      size_t l = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
        best = i;
        best_len = l;
      }
    }
    if (!best_len)
      return false;
    total += (unsigned long long)(v * (double)units[best].ns);
    p += best_len;
  }
  *ns = total;
  return total > 0;
}

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* One event line: {"type": TYPE, "id": ID[, "data": stats]}. */
static int print_event(const char *type, const char *id, const struct cgroup_handle *h,
                       nook_error *err) {
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_str(g, "type");
  gen_str(g, type);
  gen_str(g, "id");
  gen_str(g, id);
  if (h) {
    gen_str(g, "data");
    int r = cgroup_stats_json(h, g, err);
    if (r < 0) {
      yajl_gen_free(g);
      return r;
    }
  }
  yajl_gen_map_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  fwrite(buf, 1, len, stdout);
  putchar('\n');
  fflush(stdout);
  yajl_gen_free(g);
  return 0;
}

static long long oom_kills(const struct cgroup_handle *h) {
  _cleanup_free_ char *text = NULL;
  nook_error ignored;
  if (!h->path || cgroup_read_file(h->path, "memory.events", &text, &ignored) < 0)
    return -1;
  const char *p = strstr(text, "oom_kill ");
  return p ? atoll(p + strlen("oom_kill ")) : -1;
}

int cmd_events(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  enum { OPT_STATS = 1000, OPT_INTERVAL };
  static const struct option opts[] = {{"stats", no_argument, NULL, OPT_STATS},
                                       {"interval", required_argument, NULL, OPT_INTERVAL},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool stats_once = false;
  unsigned long long interval = 5000000000ULL;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
    if (c == OPT_STATS)
      stats_once = true;
    else if (c == OPT_INTERVAL) {
      if (!parse_duration(optarg, &interval))
        return cli_bad_usage(err, argv[0], "--interval `%s`: expected a duration such as 5s or "
                                           "500ms", optarg);
    } else if (c == 'h')
      return cli_print_usage(usage);
    else
      return cli_bad_usage(err, argv[0],
                         c == ':' ? "option `%s` needs a value" : "unknown option `%s`",
                         argv[optind - 1]);
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  _cleanup_container_ struct container ct = {.dirfd = -1};
  r = container_load_for(root, id, "read the events of",
                         1u << STATUS_RUNNING | 1u << STATUS_PAUSED | 1u << STATUS_CREATED, &ct,
                         err);
  if (r < 0)
    return r;
  struct cgroup_handle h = state_cgroup(&ct.state);
  if (stats_once)
    return print_event("stats", id, &h, err);

  long long ooms = oom_kills(&h);
  for (;;) {
    if ((r = print_event("stats", id, &h, err)) < 0)
      return r;
    struct timespec ts = {.tv_sec = (time_t)(interval / 1000000000ULL),
                          .tv_nsec = (long)(interval % 1000000000ULL)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
      ;
    if (state_status(ct.dirfd, &ct.state) == STATUS_STOPPED)
      return 0;
    long long now = oom_kills(&h);
    if (now > ooms && ooms >= 0 && (r = print_event("oom", id, NULL, err)) < 0)
      return r;
    ooms = now;
  }
}
