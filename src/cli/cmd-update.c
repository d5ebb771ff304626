#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "cli.h"
#include "container.h"
#include "spec-json.h"
#include "util.h"

static const char usage[] =
    "Usage: nook update [OPTIONS] ID\n\n"
    "Change the resource limits of a container. --resources takes an OCI\n"
    "LinuxResources JSON object; the other options override its fields. Sizes\n"
    "take the suffixes k, m, g, t (powers of 1024); -1 means unlimited.\n\n"
    "Options:\n"
    "  -r, --resources FILE         LinuxResources JSON from FILE, or - for stdin\n"
    "      --memory SIZE            memory limit\n"
    "      --memory-reservation SIZE memory soft limit\n"
    "      --memory-swap SIZE       memory plus swap limit\n"
    "      --pids-limit N           maximum number of processes\n"
    "      --cpu-shares N           CPU shares (relative weight; also --cpu-share)\n"
    "      --cpu-quota US           CPU time per period, in microseconds\n"
    "      --cpu-period US          length of the CPU period, in microseconds\n"
    "      --cpu-rt-period US       realtime period (not on cgroup v2)\n"
    "      --cpu-rt-runtime US      realtime runtime (not on cgroup v2)\n"
    "      --cpuset-cpus LIST       CPUs to run on (0-3,6)\n"
    "      --cpuset-mems LIST       memory nodes to use\n"
    "      --blkio-weight N         block I/O weight, 10 to 1000\n"
    "      --l3-cache-schema, --mem-bw-schema  refused: nook has no Intel RDT\n";

/* Docker's RAMInBytes, as runc reads sizes: a number with an optional binary
 * suffix (k, kb, kib ... p), or -1. */
static bool parse_size(const char *s, long long *out) {
  if (strcmp(s, "-1") == 0) {
    *out = -1;
    return true;
  }
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0)
    return false;
  char unit[8] = "";
  size_t n = 0;
  for (const char *p = end; *p && n < sizeof(unit) - 1; p++)
    unit[n++] = (char)tolower((unsigned char)*p);
  unit[n] = '\0';
  if (strlen(end) != n)
    return false;
  static const char *const units = "bkmgtp";
  double mult = 1;
  if (n) {
    const char *u = strchr(units, unit[0]);
    if (!u || (n > 1 && strcmp(unit + 1, "b") && strcmp(unit + 1, "ib")) ||
        (unit[0] == 'b' && n > 1))
      return false;
    for (long i = 0; i < u - units; i++)
      mult *= 1024;
  }
  *out = (long long)(v * mult);
  return true;
}

enum field_kind { FIELD_SIZE, FIELD_INT, FIELD_UINT, FIELD_STRING };

/* Each option and the LinuxResources field it sets. */
static const struct update_field {
  const char *option;
  const char *section; /* "memory", "cpu", "pids", "blockIO" */
  const char *key;
  enum field_kind kind;
} fields[] = {
    {"memory", "memory", "limit", FIELD_SIZE},
    {"memory-reservation", "memory", "reservation", FIELD_SIZE},
    {"memory-swap", "memory", "swap", FIELD_SIZE},
    {"kernel-memory", "memory", "kernel", FIELD_SIZE},
    {"kernel-memory-tcp", "memory", "kernelTCP", FIELD_SIZE},
    {"pids-limit", "pids", "limit", FIELD_INT},
    {"cpu-shares", "cpu", "shares", FIELD_UINT},
    {"cpu-share", "cpu", "shares", FIELD_UINT},
    {"cpu-quota", "cpu", "quota", FIELD_INT},
    {"cpu-period", "cpu", "period", FIELD_UINT},
    {"cpu-rt-period", "cpu", "realtimePeriod", FIELD_UINT},
    {"cpu-rt-runtime", "cpu", "realtimeRuntime", FIELD_INT},
    {"cpuset-cpus", "cpu", "cpus", FIELD_STRING},
    {"cpuset-mems", "cpu", "mems", FIELD_STRING},
    {"blkio-weight", "blockIO", "weight", FIELD_UINT},
};

struct field_value {
  const struct update_field *field;
  const char *text;
  long long number;
};

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_value(yajl_gen g, yajl_val v);

static void gen_number(yajl_gen g, yajl_val v) {
  const char *text = YAJL_GET_NUMBER(v);
  yajl_gen_number(g, text, strlen(text));
}

/* Writes a merged with the options' values for section (NULL: top level). */
static void gen_object_with(yajl_gen g, yajl_val a, const char *section,
                            const struct field_value *vals, size_t n) {
  yajl_gen_map_open(g);
  size_t len = YAJL_IS_OBJECT(a) ? YAJL_GET_OBJECT(a)->len : 0;
  for (size_t i = 0; i < len; i++) {
    const char *key = YAJL_GET_OBJECT(a)->keys[i];
    yajl_val v = YAJL_GET_OBJECT(a)->values[i];
    bool overridden = false;
    for (size_t j = 0; j < n; j++) {
      if (section ? strcmp(vals[j].field->section, section) == 0 &&
                        strcmp(vals[j].field->key, key) == 0
                  : strcmp(vals[j].field->section, key) == 0)
        overridden = true;
    }
    if (overridden && section)
      continue; /* the option's value is written below */
    gen_str(g, key);
    if (overridden)
      gen_object_with(g, v, key, vals, n);
    else
      gen_value(g, v);
  }
  if (section) {
    for (size_t j = 0; j < n; j++) {
      if (strcmp(vals[j].field->section, section) != 0)
        continue;
      gen_str(g, vals[j].field->key);
      if (vals[j].field->kind == FIELD_STRING)
        gen_str(g, vals[j].text);
      else
        yajl_gen_integer(g, vals[j].number);
    }
  } else {
    /* sections the file does not have */
    for (size_t j = 0; j < n; j++) {
      const char *s = vals[j].field->section;
      bool seen = false;
      for (size_t i = 0; i < len && !seen; i++)
        seen = strcmp(YAJL_GET_OBJECT(a)->keys[i], s) == 0;
      for (size_t k = 0; k < j && !seen; k++)
        seen = strcmp(vals[k].field->section, s) == 0;
      if (seen)
        continue;
      gen_str(g, s);
      gen_object_with(g, NULL, s, vals, n);
    }
  }
  yajl_gen_map_close(g);
}

static void gen_value(yajl_gen g, yajl_val v) {
  if (YAJL_IS_OBJECT(v)) {
    gen_object_with(g, v, "", NULL, 0);
  } else if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < YAJL_GET_ARRAY(v)->len; i++)
      gen_value(g, YAJL_GET_ARRAY(v)->values[i]);
    yajl_gen_array_close(g);
  } else if (YAJL_IS_STRING(v)) {
    gen_str(g, YAJL_GET_STRING(v));
  } else if (YAJL_IS_NUMBER(v)) {
    gen_number(g, v);
  } else if (YAJL_IS_TRUE(v)) {
    yajl_gen_bool(g, 1);
  } else if (YAJL_IS_FALSE(v)) {
    yajl_gen_bool(g, 0);
  } else {
    yajl_gen_null(g);
  }
}

static int read_resources(const char *file, char **out, nook_error *err) {
  if (strcmp(file, "-") == 0) {
    size_t len;
    int r = read_all(STDIN_FILENO, out, &len);
    return r < 0 ? nook_err(err, -r, "--resources -: read standard input") : 0;
  }
  int r = read_file_at(AT_FDCWD, file, out, NULL, err);
  return r < 0 ? nook_err_prefix(err, r, "--resources") : 0;
}

int cmd_update(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  enum { OPT_FIELD = 1000, OPT_RDT = 2000 };
  /* runc's Intel RDT options, known so that they are refused by name */
  static const char *const rdt_options[] = {"l3-cache-schema", "mem-bw-schema"};
  struct option opts[ARRAY_SIZE(fields) + ARRAY_SIZE(rdt_options) + 3];
  for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
    opts[i] = (struct option){fields[i].option, required_argument, NULL, OPT_FIELD + (int)i};
  size_t k = ARRAY_SIZE(fields);
  for (size_t i = 0; i < ARRAY_SIZE(rdt_options); i++)
    opts[k++] = (struct option){rdt_options[i], required_argument, NULL, OPT_RDT + (int)i};
  opts[k++] = (struct option){"resources", required_argument, NULL, 'r'};
  opts[k++] = (struct option){"help", no_argument, NULL, 'h'};
  opts[k] = (struct option){0};

  const char *resources_file = NULL;
  struct field_value vals[ARRAY_SIZE(fields)];
  size_t n = 0;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
    if (c == 'r') {
      resources_file = optarg;
    } else if (c == 'h') {
      return cli_print_usage(usage);
    } else if (c >= OPT_RDT && c < OPT_RDT + (int)ARRAY_SIZE(rdt_options)) {
      return nook_errx(err, ENOTSUP,
                       "update: --%s: nook does not support Intel RDT (resctrl); leave it out",
                       rdt_options[c - OPT_RDT]);
    } else if (c >= OPT_FIELD && c < OPT_FIELD + (int)ARRAY_SIZE(fields)) {
      const struct update_field *f = &fields[c - OPT_FIELD];
      struct field_value v = {.field = f, .text = optarg};
      bool ok = true;
      if (f->kind == FIELD_SIZE) {
        ok = parse_size(optarg, &v.number);
      } else if (f->kind == FIELD_INT) {
        ok = parse_i64(optarg, &v.number);
      } else if (f->kind == FIELD_UINT) {
        unsigned long long u;
        ok = parse_u64(optarg, &u) && u <= INT64_MAX;
        v.number = (long long)u;
      }
      if (!ok)
        return cli_bad_usage(err, argv[0], "--%s `%s`: expected %s", f->option, optarg,
                             f->kind == FIELD_SIZE ? "a size such as 512m or -1" : "a number");
      /* a repeated option: the last one counts */
      size_t j = 0;
      while (j < n && (strcmp(vals[j].field->key, f->key) ||
                       strcmp(vals[j].field->section, f->section)))
        j++;
      vals[j] = v;
      if (j == n)
        n++;
    } else {
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  if (!resources_file && n == 0)
    return cli_bad_usage(err, argv[0], "nothing to update: give --resources FILE or a limit "
                                       "such as --memory 512m");

  _cleanup_free_ char *text = NULL;
  if (resources_file && (r = read_resources(resources_file, &text, err)) < 0)
    return r;
  char errbuf[512];
  yajl_val given = NULL;
  if (text) {
    _cleanup_free_ char *what = xasprintf("--resources %s", resources_file);
    given = json_parse_tree(text, what, err);
    if (!given)
      return -EINVAL;
    if (!YAJL_IS_OBJECT(given)) {
      yajl_tree_free(given);
      return nook_errx(err, EINVAL, "%s: not a JSON object", what);
    }
  }
  yajl_gen gen = yajl_gen_alloc(NULL);
  gen_object_with(gen, given, NULL, vals, n);
  yajl_tree_free(given);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(gen, &buf, &len);
  _cleanup_free_ char *merged = xstrndup((const char *)buf, len);
  yajl_gen_free(gen);
  yajl_val resources = yajl_tree_parse(merged, errbuf, sizeof(errbuf));
  if (!resources)
    return nook_errx(err, EINVAL, "update: %s", errbuf);

  _cleanup_container_ struct container ct = {.dirfd = -1};
  r = container_load_for(root, id, "update",
                         1u << STATUS_RUNNING | 1u << STATUS_PAUSED | 1u << STATUS_CREATED, &ct,
                         err);
  if (r == 0) {
    struct cgroup_handle h = state_cgroup(&ct.state);
    r = cgroup_update(&h, resources, err);
    if (r < 0)
      nook_err_prefix(err, r, "update container \"%s\"", id);
  }
  yajl_tree_free(resources);
  return r;
}
