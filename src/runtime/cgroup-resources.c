/* linux.resources (LinuxResources JSON) into cgroup v2 terms: the parser, the
 * conversions runc and crun make from cgroup v1 units, and the file writes
 * that realise a request. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "cgroup.h"
#include "util.h"

/* ---- conversions ---- */

/* ln(m) for m in [1, 2) by the atanh series: z <= 1/3, so 40 terms are far
 * past long double precision. Written out to keep libm out of the core
 * binary. */
static long double ln_mantissa(long double m) {
  long double z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
  for (int k = 0; k < 40; k++) {
    sum += term / (2 * k + 1);
    term *= z2;
  }
  return 2 * sum;
}

static const long double LN2 = 0.693147180559945309417232121458176568L;
static const long double LN10 = 2.302585092994045684017646009693531310L;

static double log2_u64(uint64_t x) {
  int n = 63 - __builtin_clzll(x);
  long double m = (long double)x / (long double)(1ULL << n);
  return (double)(n + ln_mantissa(m) / LN2);
}

/* 10^e for 0 <= e <= 5: e*ln10 = k*ln2 + r with 0 <= r < ln2, exp(r) by
 * Taylor series. */
static double pow10_small(double e) {
  long double x = (long double)e * LN10;
  int k = (int)(x / LN2);
  long double r = x - k * LN2, term = 1, sum = 1;
  for (int i = 1; i < 30; i++) {
    term *= r / i;
    sum += term;
  }
  return (double)(sum * (long double)(1ULL << k));
}

static uint64_t ceil_u64(double v) {
  uint64_t i = (uint64_t)v;
  return (double)i < v ? i + 1 : i;
}

uint64_t cgroup_shares_to_weight(uint64_t shares) {
  if (shares == 0)
    return 0;
  if (shares <= 2)
    return 1;
  if (shares >= 262144)
    return 10000;
  /* crun's mapping: a parabola through (2, 1), (1024, 100), (262144, 10000)
   * in log space, in the same double operations crun does. */
  double l = log2_u64(shares);
  double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return ceil_u64(pow10_small(exponent));
}

uint64_t cgroup_blkio_to_io_weight(uint64_t weight) {
  if (weight == 0)
    return 0;
  if (weight < 10)
    weight = 10;
  if (weight > 1000)
    weight = 1000;
  return 1 + (weight - 10) * 9999 / 990;
}

int cgroup_swap_to_v2(int64_t memory, int64_t swap, int64_t *out, nook_error *err) {
  /* runc's rules: memory unlimited with swap unset means both unlimited. */
  if (memory == -1 && swap == 0) {
    *out = -1;
    return 0;
  }
  if (swap == -1 || swap == 0) {
    *out = swap;
    return 0;
  }
  if (memory == 0 || memory == -1)
    return nook_errx(err, EINVAL,
                     "linux.resources.memory.swap: a swap limit needs memory.limit too "
                     "(swap is memory+swap)");
  if (memory < 0)
    return nook_errx(err, EINVAL, "linux.resources.memory.limit: invalid value %" PRId64, memory);
  if (swap < memory)
    return nook_errx(err, EINVAL,
                     "linux.resources.memory.swap (%" PRId64 ") is memory+swap and must be at "
                     "least memory.limit (%" PRId64 ")",
                     swap, memory);
  *out = swap - memory;
  return 0;
}

int cgroup_cpu_list_mask(const char *list, uint8_t **mask, size_t *n) {
  uint8_t *bits = NULL;
  size_t len = 0;
  const char *p = list;
  while (*p) {
    char *end;
    if (*p < '0' || *p > '9')
      goto bad;
    unsigned long lo = strtoul(p, &end, 10), hi = lo;
    p = end;
    if (*p == '-') {
      p++;
      if (*p < '0' || *p > '9')
        goto bad;
      hi = strtoul(p, &end, 10);
      p = end;
    }
    if (hi < lo || hi >= 8192)
      goto bad;
    if (hi / 8 + 1 > len) {
      bits = xrealloc(bits, hi / 8 + 1);
      memset(bits + len, 0, hi / 8 + 1 - len);
      len = hi / 8 + 1;
    }
    for (unsigned long i = lo; i <= hi; i++)
      bits[i / 8] |= (uint8_t)(1u << (i % 8));
    if (*p == ',')
      p++;
    else if (*p && *p != '\n')
      goto bad;
    else if (*p)
      p++;
  }
  if (!len)
    goto bad;
  *mask = bits;
  *n = len;
  return 0;
bad:
  free(bits);
  return -EINVAL;
}

/* ---- parsing ---- */

static yajl_val field(yajl_val obj, const char *key) {
  if (!obj || !YAJL_IS_OBJECT(obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp(obj->u.object.keys[i], key) == 0)
      return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL : obj->u.object.values[i];
  return NULL;
}

static int get_int(yajl_val obj, const char *key, const char *where, bool *has, int64_t *out,
                   nook_error *err) {
  yajl_val v = field(obj, key);
  *has = false;
  *out = 0;
  if (!v)
    return 0;
  if (!YAJL_IS_INTEGER(v))
    return nook_errx(err, EINVAL, "%s.%s: expected an integer", where, key);
  *has = true;
  *out = YAJL_GET_INTEGER(v);
  return 0;
}

static int get_uint(yajl_val obj, const char *key, const char *where, bool *has, uint64_t *out,
                    nook_error *err) {
  int64_t v = 0;
  int r = get_int(obj, key, where, has, &v, err);
  if (r < 0)
    return r;
  if (*has && v < 0)
    return nook_errx(err, EINVAL, "%s.%s: expected a number >= 0, not %" PRId64, where, key, v);
  *out = (uint64_t)v;
  return 0;
}

static int get_string(yajl_val obj, const char *key, const char *where, char **out,
                      nook_error *err) {
  yajl_val v = field(obj, key);
  if (!v)
    return 0;
  if (!YAJL_IS_STRING(v))
    return nook_errx(err, EINVAL, "%s.%s: expected a string", where, key);
  *out = xstrdup(YAJL_GET_STRING(v));
  return 0;
}

static void note_inexpressible(struct cgroup_limits *l, const char *name) {
  if (!strv_contains(l->inexpressible, name))
    strv_push(&l->inexpressible, name);
}

static int parse_memory(yajl_val mem, struct cgroup_limits *l, nook_error *err) {
  static const char *W = "linux.resources.memory";
  if (!mem)
    return 0;
  if (!YAJL_IS_OBJECT(mem))
    return nook_errx(err, EINVAL, "%s: expected an object", W);
  bool has;
  int64_t limit = 0, reservation = 0, swap = 0, v = 0;
  int r;
  if ((r = get_int(mem, "limit", W, &has, &v, err)) < 0)
    return r;
  if (has)
    limit = v;
  if ((r = get_int(mem, "reservation", W, &has, &v, err)) < 0)
    return r;
  if (has)
    reservation = v;
  if ((r = get_int(mem, "swap", W, &has, &v, err)) < 0)
    return r;
  if (has)
    swap = v;
  if (limit < -1 || reservation < -1 || swap < -1)
    return nook_errx(err, EINVAL, "%s: limit, reservation and swap are bytes or -1 (unlimited)", W);
  if (limit != 0) {
    l->has_memory_max = true;
    l->memory_max = limit == -1 ? CGROUP_MAX : (uint64_t)limit;
  }
  if (reservation != 0) {
    l->has_memory_low = true;
    l->memory_low = reservation == -1 ? CGROUP_MAX : (uint64_t)reservation;
  }
  int64_t swap_v2;
  if ((r = cgroup_swap_to_v2(limit, swap, &swap_v2, err)) < 0)
    return r;
  if (swap_v2 != 0) {
    l->has_swap_max = true;
    l->swap_max = swap_v2 == -1 ? CGROUP_MAX : (uint64_t)swap_v2;
  }
  uint64_t u;
  if ((r = get_uint(mem, "swappiness", W, &has, &u, err)) < 0)
    return r;
  if (has)
    note_inexpressible(l, "memory.swappiness");
  yajl_val b = field(mem, "disableOOMKiller");
  if (b && YAJL_IS_TRUE(b))
    note_inexpressible(l, "memory.disableOOMKiller");
  if ((r = get_int(mem, "kernel", W, &has, &v, err)) < 0)
    return r;
  if (has && v != 0)
    note_inexpressible(l, "memory.kernel");
  if ((r = get_int(mem, "kernelTCP", W, &has, &v, err)) < 0)
    return r;
  if (has && v != 0)
    note_inexpressible(l, "memory.kernelTCP");
  return 0;
}

static int parse_cpu(yajl_val cpu, struct cgroup_limits *l, nook_error *err) {
  static const char *W = "linux.resources.cpu";
  if (!cpu)
    return 0;
  if (!YAJL_IS_OBJECT(cpu))
    return nook_errx(err, EINVAL, "%s: expected an object", W);
  bool has, has_quota, has_period;
  uint64_t u = 0, period = 0;
  int64_t v = 0, quota = 0;
  int r;
  if ((r = get_uint(cpu, "shares", W, &has, &u, err)) < 0)
    return r;
  if (has && u != 0) {
    if (u < 2 || u > 262144)
      return nook_errx(err, EINVAL, "%s.shares: %" PRIu64 " is outside 2-262144", W, u);
    l->has_cpu_weight = true;
    l->cpu_weight = cgroup_shares_to_weight(u);
  }
  if ((r = get_int(cpu, "quota", W, &has_quota, &quota, err)) < 0)
    return r;
  if ((r = get_uint(cpu, "period", W, &has_period, &period, err)) < 0)
    return r;
  if ((has_quota && quota != 0) || (has_period && period != 0)) {
    if (period == 0)
      period = 100000;
    if (period < 1000 || period > 1000000)
      return nook_errx(err, EINVAL, "%s.period: %" PRIu64 " us is outside 1000-1000000", W, period);
    if (quota > 0 && quota < 1000)
      return nook_errx(err, EINVAL, "%s.quota: %" PRId64 " us is below the kernel's 1000", W, quota);
    l->has_cpu_max = true;
    l->cpu_quota = quota > 0 ? (uint64_t)quota : CGROUP_MAX;
    l->cpu_period = period;
  }
  if ((r = get_uint(cpu, "burst", W, &has, &u, err)) < 0)
    return r;
  if (has) {
    l->has_cpu_burst = true;
    l->cpu_burst = u;
  }
  if ((r = get_int(cpu, "idle", W, &has, &v, err)) < 0)
    return r;
  if (has) {
    l->has_cpu_idle = true;
    l->cpu_idle = v;
  }
  if ((r = get_int(cpu, "realtimeRuntime", W, &has, &v, err)) < 0)
    return r;
  if (has && v != 0)
    note_inexpressible(l, "cpu.realtimeRuntime");
  if ((r = get_uint(cpu, "realtimePeriod", W, &has, &u, err)) < 0)
    return r;
  if (has && u != 0)
    note_inexpressible(l, "cpu.realtimePeriod");
  if ((r = get_string(cpu, "cpus", W, &l->cpus, err)) < 0)
    return r;
  if ((r = get_string(cpu, "mems", W, &l->mems, err)) < 0)
    return r;
  char **lists[] = {&l->cpus, &l->mems};
  for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
    uint8_t *mask;
    size_t n;
    if (*lists[i] && !**lists[i]) {
      free(*lists[i]);
      *lists[i] = NULL;
    }
    if (!*lists[i])
      continue;
    if (cgroup_cpu_list_mask(*lists[i], &mask, &n) < 0)
      return nook_errx(err, EINVAL, "%s.%s: `%s` is not a list like 0-3,6", W,
                       i == 0 ? "cpus" : "mems", *lists[i]);
    free(mask);
  }
  return 0;
}

static int parse_device_list(yajl_val list, const char *where, const char *key,
                             struct cgroup_limits *l, nook_error *err) {
  if (!list)
    return 0;
  if (!YAJL_IS_ARRAY(list))
    return nook_errx(err, EINVAL, "%s: expected an array", where);
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val d = list->u.array.values[i];
    _cleanup_free_ char *w = xasprintf("%s[%zu]", where, i);
    bool has_major, has_minor, has;
    int64_t major, minor;
    uint64_t u;
    int r;
    if (!YAJL_IS_OBJECT(d))
      return nook_errx(err, EINVAL, "%s: expected an object", w);
    if ((r = get_int(d, "major", w, &has_major, &major, err)) < 0 ||
        (r = get_int(d, "minor", w, &has_minor, &minor, err)) < 0)
      return r;
    if (!has_major || !has_minor || major < 0 || minor < 0)
      return nook_errx(err, EINVAL, "%s: needs major and minor device numbers", w);
    if (key) {
      if ((r = get_uint(d, "rate", w, &has, &u, err)) < 0)
        return r;
      if (!has)
        return nook_errx(err, EINVAL, "%s: needs a rate", w);
      l->io_limits = xrealloc(l->io_limits, (l->n_io_limits + 1) * sizeof(*l->io_limits));
      l->io_limits[l->n_io_limits++] =
          (struct cgroup_io_limit){.major = major, .minor = minor, .key = key, .rate = u};
    } else {
      if ((r = get_uint(d, "weight", w, &has, &u, err)) < 0)
        return r;
      if (has && (u < 10 || u > 1000))
        return nook_errx(err, EINVAL, "%s.weight: %" PRIu64 " is outside 10-1000", w, u);
      l->io_devices = xrealloc(l->io_devices, (l->n_io_devices + 1) * sizeof(*l->io_devices));
      l->io_devices[l->n_io_devices++] = (struct cgroup_io_device){
          .major = major, .minor = minor, .has_weight = has, .weight = u};
      if ((r = get_uint(d, "leafWeight", w, &has, &u, err)) < 0)
        return r;
      if (has)
        note_inexpressible(l, "blockIO.weightDevice.leafWeight");
    }
  }
  return 0;
}

static int parse_blkio(yajl_val io, struct cgroup_limits *l, nook_error *err) {
  static const char *W = "linux.resources.blockIO";
  static const struct {
    const char *json, *key;
  } throttles[] = {{"throttleReadBpsDevice", "rbps"},
                   {"throttleWriteBpsDevice", "wbps"},
                   {"throttleReadIOPSDevice", "riops"},
                   {"throttleWriteIOPSDevice", "wiops"}};
  if (!io)
    return 0;
  if (!YAJL_IS_OBJECT(io))
    return nook_errx(err, EINVAL, "%s: expected an object", W);
  bool has;
  uint64_t u;
  int r;
  if ((r = get_uint(io, "weight", W, &has, &u, err)) < 0)
    return r;
  if (has && u != 0) {
    if (u < 10 || u > 1000)
      return nook_errx(err, EINVAL, "%s.weight: %" PRIu64 " is outside 10-1000", W, u);
    l->has_io_weight = true;
    l->blkio_weight = u;
  }
  if ((r = get_uint(io, "leafWeight", W, &has, &u, err)) < 0)
    return r;
  if (has && u != 0)
    note_inexpressible(l, "blockIO.leafWeight");
  _cleanup_free_ char *wd = xasprintf("%s.weightDevice", W);
  if ((r = parse_device_list(field(io, "weightDevice"), wd, NULL, l, err)) < 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE(throttles); i++) {
    _cleanup_free_ char *w = xasprintf("%s.%s", W, throttles[i].json);
    if ((r = parse_device_list(field(io, throttles[i].json), w, throttles[i].key, l, err)) < 0)
      return r;
  }
  return 0;
}

static int parse_hugetlb(yajl_val list, struct cgroup_limits *l, nook_error *err) {
  static const char *W = "linux.resources.hugepageLimits";
  if (!list)
    return 0;
  if (!YAJL_IS_ARRAY(list))
    return nook_errx(err, EINVAL, "%s: expected an array", W);
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val h = list->u.array.values[i];
    _cleanup_free_ char *w = xasprintf("%s[%zu]", W, i);
    _cleanup_free_ char *size = NULL;
    bool has;
    uint64_t limit;
    int r;
    if (!YAJL_IS_OBJECT(h))
      return nook_errx(err, EINVAL, "%s: expected an object", w);
    if ((r = get_string(h, "pageSize", w, &size, err)) < 0 ||
        (r = get_uint(h, "limit", w, &has, &limit, err)) < 0)
      return r;
    if (!size || !has)
      return nook_errx(err, EINVAL, "%s: needs pageSize and limit", w);
    if (strspn(size, "0123456789KMGB") != strlen(size))
      return nook_errx(err, EINVAL, "%s.pageSize: `%s` is not a size like 2MB", w, size);
    l->hugetlb = xrealloc(l->hugetlb, (l->n_hugetlb + 1) * sizeof(*l->hugetlb));
    l->hugetlb[l->n_hugetlb++] = (struct cgroup_hugetlb){.page_size = steal_pointer(&size),
                                                         .limit = limit};
  }
  return 0;
}

static int parse_unified(yajl_val obj, struct cgroup_limits *l, nook_error *err) {
  static const char *W = "linux.resources.unified";
  if (!obj)
    return 0;
  if (!YAJL_IS_OBJECT(obj))
    return nook_errx(err, EINVAL, "%s: expected an object of file names to values", W);
  for (size_t i = 0; i < obj->u.object.len; i++) {
    const char *key = obj->u.object.keys[i];
    yajl_val v = obj->u.object.values[i];
    if (!*key || strchr(key, '/') || !strchr(key, '.') || key[0] == '.')
      return nook_errx(err, EINVAL, "%s: `%s` is not a cgroup file name like memory.high", W, key);
    if (!YAJL_IS_STRING(v))
      return nook_errx(err, EINVAL, "%s.%s: expected a string", W, key);
    l->unified = xrealloc(l->unified, (l->n_unified + 1) * sizeof(*l->unified));
    l->unified[l->n_unified++] =
        (struct spec_kv){.key = xstrdup(key), .value = xstrdup(YAJL_GET_STRING(v))};
  }
  return 0;
}

int cgroup_limits_parse(yajl_val res, struct cgroup_limits *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  if (!res)
    return 0;
  if (!YAJL_IS_OBJECT(res)) {
    return nook_errx(err, EINVAL, "linux.resources: expected an object");
  }
  yajl_val pids = field(res, "pids");
  int r;
  if ((r = parse_memory(field(res, "memory"), out, err)) < 0 ||
      (r = parse_cpu(field(res, "cpu"), out, err)) < 0 ||
      (r = parse_blkio(field(res, "blockIO"), out, err)) < 0 ||
      (r = parse_hugetlb(field(res, "hugepageLimits"), out, err)) < 0 ||
      (r = parse_unified(field(res, "unified"), out, err)) < 0)
    goto fail;
  if (pids) {
    bool has;
    int64_t v;
    if ((r = get_int(pids, "limit", "linux.resources.pids", &has, &v, err)) < 0)
      goto fail;
    if (has && v != 0) {
      out->has_pids_max = true;
      out->pids_max = v < 0 ? CGROUP_MAX : (uint64_t)v;
    }
  }
  yajl_val net = field(res, "network");
  if (net && (field(net, "classID") || field(net, "priorities")))
    note_inexpressible(out, "network");
  yajl_val rdma = field(res, "rdma");
  if (rdma && YAJL_IS_OBJECT(rdma) && rdma->u.object.len > 0)
    note_inexpressible(out, "rdma");
  return 0;
fail:
  cgroup_limits_clear(out);
  return r;
}

int cgroup_limits_parse_file(const char *file, struct cgroup_limits *out, nook_error *err) {
  _cleanup_free_ char *text = NULL;
  int r;
  if (strcmp(file, "-") == 0) {
    r = read_all(STDIN_FILENO, &text, NULL);
    if (r < 0)
      return nook_err(err, -r, "read resources from stdin");
  } else if ((r = read_file_at(AT_FDCWD, file, &text, NULL, err)) < 0) {
    return r;
  }
  char errbuf[512];
  yajl_val tree = yajl_tree_parse(text, errbuf, sizeof(errbuf));
  if (!tree) {
    char *nl = strchr(errbuf, '\n');
    if (nl)
      *nl = '\0';
    return nook_errx(err, EINVAL, "%s: not valid JSON: %s", file, errbuf);
  }
  r = cgroup_limits_parse(tree, out, err);
  yajl_tree_free(tree);
  if (r < 0)
    return nook_err_prefix(err, r, "%s", file);
  return 0;
}

void cgroup_limits_clear(struct cgroup_limits *l) {
  free(l->cpus);
  free(l->mems);
  free(l->io_devices);
  free(l->io_limits);
  for (size_t i = 0; i < l->n_hugetlb; i++)
    free(l->hugetlb[i].page_size);
  free(l->hugetlb);
  for (size_t i = 0; i < l->n_unified; i++) {
    free(l->unified[i].key);
    free(l->unified[i].value);
  }
  free(l->unified);
  strv_free(l->inexpressible);
  memset(l, 0, sizeof(*l));
}

/* ---- what a request needs, and its file writes ---- */

static void push_req(char ***names, char ***ctrls, const char *name, const char *ctrl) {
  if (strv_contains(*names, name))
    return;
  strv_push(names, name);
  strv_push(ctrls, ctrl);
}

void cgroup_limits_requested(const struct cgroup_limits *l, char ***names, char ***ctrls) {
  *names = xcalloc(1, sizeof(char *));
  *ctrls = xcalloc(1, sizeof(char *));
  if (l->has_memory_max)
    push_req(names, ctrls, "memory.limit", "memory");
  if (l->has_memory_low)
    push_req(names, ctrls, "memory.reservation", "memory");
  if (l->has_swap_max)
    push_req(names, ctrls, "memory.swap", "memory");
  if (l->has_pids_max)
    push_req(names, ctrls, "pids.limit", "pids");
  if (l->has_cpu_weight)
    push_req(names, ctrls, "cpu.shares", "cpu");
  if (l->has_cpu_max)
    push_req(names, ctrls, "cpu.quota", "cpu");
  if (l->has_cpu_burst)
    push_req(names, ctrls, "cpu.burst", "cpu");
  if (l->has_cpu_idle)
    push_req(names, ctrls, "cpu.idle", "cpu");
  if (l->cpus)
    push_req(names, ctrls, "cpu.cpus", "cpuset");
  if (l->mems)
    push_req(names, ctrls, "cpu.mems", "cpuset");
  if (l->has_io_weight)
    push_req(names, ctrls, "blockIO.weight", "io");
  if (l->n_io_devices)
    push_req(names, ctrls, "blockIO.weightDevice", "io");
  if (l->n_io_limits)
    push_req(names, ctrls, "blockIO.throttle", "io");
  if (l->n_hugetlb)
    push_req(names, ctrls, "hugepageLimits", "hugetlb");
  for (size_t i = 0; i < l->n_unified; i++) {
    _cleanup_free_ char *name = xasprintf("unified.%s", l->unified[i].key);
    _cleanup_free_ char *ctrl = xstrndup(l->unified[i].key, strcspn(l->unified[i].key, "."));
    push_req(names, ctrls, name, strcmp(ctrl, "cgroup") == 0 ? "" : ctrl);
  }
}

bool cgroup_limits_empty(const struct cgroup_limits *l) {
  _cleanup_strv_ char **names = NULL, **ctrls = NULL;
  cgroup_limits_requested(l, &names, &ctrls);
  return !names[0] && !l->inexpressible;
}

static char *max_or(uint64_t v) {
  return v == CGROUP_MAX ? xstrdup("max") : xasprintf("%" PRIu64, v);
}

static void add(struct cgroup_write **w, size_t *n, const char *ctrl, const char *what,
                bool systemd, bool optional, char *file, char *value) {
  *w = xrealloc(*w, (*n + 1) * sizeof(**w));
  (*w)[(*n)++] = (struct cgroup_write){.controller = ctrl,
                                       .what = what,
                                       .file = file,
                                       .value = value,
                                       .systemd = systemd,
                                       .optional = optional};
}

void cgroup_limits_writes(const struct cgroup_limits *l, bool skip_systemd, struct cgroup_write **w,
                          size_t *n) {
  struct cgroup_write *all = NULL;
  size_t count = 0;
  /* cpuset first: the other controllers do not depend on it, but a
   * cpuset.mems change moves memory and is best done before it grows. */
  if (l->cpus)
    add(&all, &count, "cpuset", "cpu.cpus", true, false, xstrdup("cpuset.cpus"), xstrdup(l->cpus));
  if (l->mems)
    add(&all, &count, "cpuset", "cpu.mems", true, false, xstrdup("cpuset.mems"), xstrdup(l->mems));
  if (l->has_memory_low)
    add(&all, &count, "memory", "memory.reservation", true, false, xstrdup("memory.low"),
        max_or(l->memory_low));
  if (l->has_memory_max)
    add(&all, &count, "memory", "memory.limit", true, false, xstrdup("memory.max"),
        max_or(l->memory_max));
  if (l->has_swap_max)
    add(&all, &count, "memory", "memory.swap", true, false, xstrdup("memory.swap.max"),
        max_or(l->swap_max));
  if (l->has_pids_max)
    add(&all, &count, "pids", "pids.limit", true, false, xstrdup("pids.max"), max_or(l->pids_max));
  if (l->has_cpu_weight)
    add(&all, &count, "cpu", "cpu.shares", true, false, xstrdup("cpu.weight"),
        xasprintf("%" PRIu64, l->cpu_weight));
  if (l->has_cpu_max) {
    char *q = max_or(l->cpu_quota);
    add(&all, &count, "cpu", "cpu.quota", true, false, xstrdup("cpu.max"),
        xasprintf("%s %" PRIu64, q, l->cpu_period));
    free(q);
  }
  if (l->has_cpu_burst)
    add(&all, &count, "cpu", "cpu.burst", false, false, xstrdup("cpu.max.burst"),
        xasprintf("%" PRIu64, l->cpu_burst));
  if (l->has_cpu_idle)
    add(&all, &count, "cpu", "cpu.idle", false, false, xstrdup("cpu.idle"),
        xasprintf("%" PRId64, l->cpu_idle));
  if (l->has_io_weight) {
    /* BFQ takes the blkio range as is; io.weight its 1-10000 conversion. */
    add(&all, &count, "io", "blockIO.weight", true, true, xstrdup("io.bfq.weight"),
        xasprintf("%" PRIu64, l->blkio_weight));
    add(&all, &count, "io", "blockIO.weight", true, false, xstrdup("io.weight"),
        xasprintf("default %" PRIu64, cgroup_blkio_to_io_weight(l->blkio_weight)));
  }
  for (size_t i = 0; i < l->n_io_devices; i++) {
    const struct cgroup_io_device *d = &l->io_devices[i];
    if (!d->has_weight)
      continue;
    add(&all, &count, "io", "blockIO.weightDevice", false, true, xstrdup("io.bfq.weight"),
        xasprintf("%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor, d->weight));
    add(&all, &count, "io", "blockIO.weightDevice", false, false, xstrdup("io.weight"),
        xasprintf("%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
                  cgroup_blkio_to_io_weight(d->weight)));
  }
  for (size_t i = 0; i < l->n_io_limits; i++) {
    const struct cgroup_io_limit *t = &l->io_limits[i];
    add(&all, &count, "io", "blockIO.throttle", false, false, xstrdup("io.max"),
        xasprintf("%" PRId64 ":%" PRId64 " %s=%" PRIu64, t->major, t->minor, t->key, t->rate));
  }
  for (size_t i = 0; i < l->n_hugetlb; i++)
    add(&all, &count, "hugetlb", "hugepageLimits", false, false,
        xasprintf("hugetlb.%s.max", l->hugetlb[i].page_size),
        xasprintf("%" PRIu64, l->hugetlb[i].limit));
  for (size_t i = 0; i < l->n_unified; i++) {
    const char *key = l->unified[i].key;
    static const char *const known[] = {"memory", "pids", "cpu", "cpuset", "io", "hugetlb", "rdma",
                                        "misc"};
    const char *ctrl = NULL;
    for (size_t k = 0; k < ARRAY_SIZE(known); k++)
      if (str_has_prefix(key, known[k]) && key[strlen(known[k])] == '.')
        ctrl = known[k];
    add(&all, &count, ctrl, "unified", false, false, xstrdup(key), xstrdup(l->unified[i].value));
  }

  *w = NULL;
  *n = 0;
  for (size_t i = 0; i < count; i++) {
    if (skip_systemd && all[i].systemd) {
      free(all[i].file);
      free(all[i].value);
      continue;
    }
    *w = xrealloc(*w, (*n + 1) * sizeof(**w));
    (*w)[(*n)++] = all[i];
  }
  free(all);
}

void cgroup_writes_free(struct cgroup_write *w, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(w[i].file);
    free(w[i].value);
  }
  free(w);
}
