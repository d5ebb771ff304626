/* A container's resource usage from its cgroup v2 files, in the shape of the
 * "data" object of runc's `events --stats` (runc's types.Stats): clients such
 * as containerd's go-runc decode it. A file that is missing (its controller
 * is not enabled) leaves its part out. */
#include <inttypes.h>
#include <string.h>

#include "cgroup.h"
#include "util.h"

static void key(yajl_gen g, const char *k) {
  yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

static void num(yajl_gen g, uint64_t v) {
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
  yajl_gen_number(g, buf, (size_t)n);
}

static void kv(yajl_gen g, const char *k, uint64_t v) {
  key(g, k);
  num(g, v);
}

static char *read_opt(const char *path, const char *file) {
  char *text = NULL;
  nook_error e;
  if (cgroup_read_file(path, file, &text, &e) < 0)
    return NULL;
  return text;
}

/* A single-value file: a number, or "max" (UINT64_MAX as runc reports it). */
static bool read_u64(const char *path, const char *file, uint64_t *out) {
  _cleanup_free_ char *text = read_opt(path, file);
  if (!text)
    return false;
  text[strcspn(text, "\n")] = '\0';
  unsigned long long v;
  if (strcmp(text, "max") == 0)
    *out = UINT64_MAX;
  else if (parse_u64(text, &v))
    *out = v;
  else
    return false;
  return true;
}

/* "key value" lines (cpu.stat, memory.stat, memory.events). */
static bool keyed(const char *text, const char *k, uint64_t *out) {
  size_t n = strlen(k);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, k, n) == 0 && line[n] == ' ') {
      *out = strtoull(line + n + 1, NULL, 10);
      return true;
    }
    line = strchr(line, '\n');
    if (line)
      line++;
  }
  return false;
}

static void gen_cpu(const char *path, yajl_gen g) {
  _cleanup_free_ char *stat = read_opt(path, "cpu.stat");
  uint64_t v;
  key(g, "cpu");
  yajl_gen_map_open(g);
  key(g, "usage");
  yajl_gen_map_open(g);
  if (stat && keyed(stat, "usage_usec", &v))
    kv(g, "total", v * 1000);
  kv(g, "kernel", stat && keyed(stat, "system_usec", &v) ? v * 1000 : 0);
  kv(g, "user", stat && keyed(stat, "user_usec", &v) ? v * 1000 : 0);
  yajl_gen_map_close(g);
  key(g, "throttling");
  yajl_gen_map_open(g);
  if (stat && keyed(stat, "nr_periods", &v))
    kv(g, "periods", v);
  /* runc's keys (types.Throttling), which go-runc decodes */
  if (stat && keyed(stat, "nr_throttled", &v))
    kv(g, "throttledPeriods", v);
  if (stat && keyed(stat, "throttled_usec", &v))
    kv(g, "throttledTime", v * 1000);
  yajl_gen_map_close(g);
  yajl_gen_map_close(g);
}

static void gen_memory(const char *path, yajl_gen g) {
  uint64_t current, limit = UINT64_MAX, swap = 0, swap_limit = UINT64_MAX, v;
  if (!read_u64(path, "memory.current", &current))
    return;
  read_u64(path, "memory.max", &limit);
  bool has_swap = read_u64(path, "memory.swap.current", &swap);
  read_u64(path, "memory.swap.max", &swap_limit);
  _cleanup_free_ char *stat = read_opt(path, "memory.stat");
  _cleanup_free_ char *events = read_opt(path, "memory.events");

  key(g, "memory");
  yajl_gen_map_open(g);
  if (stat && keyed(stat, "file", &v))
    kv(g, "cache", v);
  key(g, "usage");
  yajl_gen_map_open(g);
  kv(g, "limit", limit);
  kv(g, "usage", current);
  if (read_u64(path, "memory.peak", &v))
    kv(g, "max", v);
  kv(g, "failcnt", events && keyed(events, "max", &v) ? v : 0);
  yajl_gen_map_close(g);
  if (has_swap) {
    /* runc reports swap as memory+swap, the cgroup v1 way. */
    key(g, "swap");
    yajl_gen_map_open(g);
    kv(g, "limit", limit == UINT64_MAX || swap_limit == UINT64_MAX ? UINT64_MAX
                                                                   : limit + swap_limit);
    kv(g, "usage", current + swap);
    kv(g, "failcnt", 0);
    yajl_gen_map_close(g);
  }
  if (stat) {
    key(g, "raw");
    yajl_gen_map_open(g);
    for (char *line = stat, *next; *line; line = next) {
      next = line + strcspn(line, "\n");
      if (*next)
        *next++ = '\0';
      char *sp = strchr(line, ' ');
      if (!sp)
        continue;
      *sp = '\0';
      kv(g, line, strtoull(sp + 1, NULL, 10));
    }
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
}

static void gen_pids(const struct cgroup_handle *h, yajl_gen g) {
  uint64_t current, limit;
  key(g, "pids");
  yajl_gen_map_open(g);
  if (!read_u64(h->path, "pids.current", &current)) {
    /* No pids controller: count the processes. */
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    nook_error e;
    cgroup_pids(h, &pids, &n, &e);
    current = n;
  }
  kv(g, "current", current);
  if (read_u64(h->path, "pids.max", &limit))
    kv(g, "limit", limit == UINT64_MAX ? 0 : limit);
  yajl_gen_map_close(g);
}

static void gen_blkio_list(yajl_gen g, const char *name, const char *stat, const char *rkey,
                           const char *wkey) {
  key(g, name);
  yajl_gen_array_open(g);
  for (const char *line = stat; line && *line;) {
    unsigned maj, min;
    if (sscanf(line, "%u:%u", &maj, &min) == 2) {
      const char *keys[2] = {rkey, wkey}, *ops[2] = {"Read", "Write"};
      for (int i = 0; i < 2; i++) {
        _cleanup_free_ char *pat = xasprintf(" %s=", keys[i]);
        const char *eol = strchr(line, '\n');
        const char *at = strstr(line, pat);
        if (!at || (eol && at > eol))
          continue;
        yajl_gen_map_open(g);
        kv(g, "major", maj);
        kv(g, "minor", min);
        key(g, "op");
        yajl_gen_string(g, (const unsigned char *)ops[i], strlen(ops[i]));
        kv(g, "value", strtoull(at + strlen(pat), NULL, 10));
        yajl_gen_map_close(g);
      }
    }
    line = strchr(line, '\n');
    if (line)
      line++;
  }
  yajl_gen_array_close(g);
}

static void gen_blkio(const char *path, yajl_gen g) {
  _cleanup_free_ char *stat = read_opt(path, "io.stat");
  key(g, "blkio");
  yajl_gen_map_open(g);
  if (stat) {
    gen_blkio_list(g, "ioServiceBytesRecursive", stat, "rbytes", "wbytes");
    gen_blkio_list(g, "ioServicedRecursive", stat, "rios", "wios");
  }
  yajl_gen_map_close(g);
}

static void gen_hugetlb(const struct cgroup_handle *h, yajl_gen g) {
  _cleanup_free_ char *dir = xasprintf(CGROUP_MOUNT "/%s", h->path + (h->path[0] == '/'));
  _cleanup_closedir_ DIR *d = opendir(dir);
  struct dirent *de;
  key(g, "hugetlb");
  yajl_gen_map_open(g);
  while (d && (de = readdir(d))) {
    /* hugetlb.2MB.current: the size is what runc keys the entry with. */
    const char *name = de->d_name;
    size_t len = strlen(name);
    if (!str_has_prefix(name, "hugetlb.") || len < 17 || strcmp(name + len - 8, ".current") != 0 ||
        strstr(name, ".rsvd."))
      continue;
    _cleanup_free_ char *size = xstrndup(name + 8, len - 16);
    _cleanup_free_ char *maxf = xasprintf("hugetlb.%s.max", size);
    _cleanup_free_ char *eventsf = xasprintf("hugetlb.%s.events", size);
    _cleanup_free_ char *events = read_opt(h->path, eventsf);
    uint64_t usage = 0, max = 0, failcnt = 0;
    read_u64(h->path, name, &usage);
    if (events)
      keyed(events, "max", &failcnt);
    key(g, size);
    yajl_gen_map_open(g);
    kv(g, "usage", usage);
    if (read_u64(h->path, maxf, &max))
      kv(g, "max", max);
    kv(g, "failcnt", failcnt);
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
}

int cgroup_stats_json(const struct cgroup_handle *h, yajl_gen g, nook_error *err) {
  if (!cgroup_handle_active(h))
    return nook_errx(err, ENOTSUP, "the container has no cgroup (cgroup manager disabled), so "
                                   "there are no statistics");
  _cleanup_free_ char *procs = NULL;
  int r = cgroup_read_file(h->path, "cgroup.procs", &procs, err);
  if (r < 0)
    return r;
  yajl_gen_map_open(g);
  gen_cpu(h->path, g);
  gen_memory(h->path, g);
  gen_pids(h, g);
  gen_blkio(h->path, g);
  gen_hugetlb(h, g);
  key(g, "intel_rdt");
  yajl_gen_map_open(g);
  yajl_gen_map_close(g);
  key(g, "network_interfaces");
  yajl_gen_null(g);
  yajl_gen_map_close(g);
  return 0;
}
