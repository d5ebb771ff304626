/* Unit tests of the cgroup module's resource parsing and conversions. */
#include <inttypes.h>
#include <math.h>

#include "cgroup.h"
#include "unit.h"
#include "util.h"

/* crun's formula with libm, which the core binary does without. */
static uint64_t crun_shares_to_weight(uint64_t shares) {
  if (shares == 0)
    return 0;
  if (shares <= 2)
    return 1;
  if (shares >= 262144)
    return 10000;
  double l = log2((double)shares);
  double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return (uint64_t)ceil(pow(10, exponent));
}

static void test_shares_to_weight_matches_crun(void) {
  CHECK_EQ_INT(cgroup_shares_to_weight(2), 1);
  CHECK_EQ_INT(cgroup_shares_to_weight(1024), 100);
  CHECK_EQ_INT(cgroup_shares_to_weight(262144), 10000);
  for (uint64_t s = 1; s <= 262144; s++)
    if (cgroup_shares_to_weight(s) != crun_shares_to_weight(s))
      UNIT_FAIL("shares %" PRIu64 ": %" PRIu64 ", crun says %" PRIu64, s,
                cgroup_shares_to_weight(s), crun_shares_to_weight(s));
}

static void test_blkio_weight(void) {
  CHECK_EQ_INT(cgroup_blkio_to_io_weight(10), 1);
  CHECK_EQ_INT(cgroup_blkio_to_io_weight(500), 4950);
  CHECK_EQ_INT(cgroup_blkio_to_io_weight(1000), 10000);
}

static void test_swap(void) {
  int64_t out;
  nook_error err = {0};
  CHECK(cgroup_swap_to_v2(100, 300, &out, &err) == 0);
  CHECK_EQ_INT(out, 200);
  CHECK(cgroup_swap_to_v2(100, 100, &out, &err) == 0);
  CHECK_EQ_INT(out, 0);
  CHECK(cgroup_swap_to_v2(100, -1, &out, &err) == 0);
  CHECK_EQ_INT(out, -1);
  CHECK(cgroup_swap_to_v2(-1, 0, &out, &err) == 0);
  CHECK_EQ_INT(out, -1);
  CHECK(cgroup_swap_to_v2(0, 0, &out, &err) == 0);
  CHECK_EQ_INT(out, 0);
  CHECK(cgroup_swap_to_v2(0, 100, &out, &err) == -EINVAL);
  CHECK(strstr(err.msg, "memory.swap"));
  CHECK(cgroup_swap_to_v2(100, 50, &out, &err) == -EINVAL);
  CHECK(strstr(err.msg, "at least memory.limit"));
}

static void test_cpu_list_mask(void) {
  _cleanup_free_ uint8_t *mask = NULL;
  size_t n;
  CHECK(cgroup_cpu_list_mask("0-3,8", &mask, &n) == 0);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(mask[0], 0x0f);
  CHECK_EQ_INT(mask[1], 0x01);
  uint8_t *bad;
  CHECK(cgroup_cpu_list_mask("3-1", &bad, &n) == -EINVAL);
  CHECK(cgroup_cpu_list_mask("a", &bad, &n) == -EINVAL);
  CHECK(cgroup_cpu_list_mask("", &bad, &n) == -EINVAL);
  CHECK(cgroup_cpu_list_mask("1,,", &bad, &n) == -EINVAL);
}

static const char *find_write(struct cgroup_write *w, size_t n, const char *file) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(w[i].file, file) == 0)
      return w[i].value;
  return NULL;
}

static int parse(const char *json, struct cgroup_limits *l, nook_error *err) {
  yajl_val tree = yajl_tree_parse(json, NULL, 0);
  if (!tree)
    return nook_errx(err, EINVAL, "test JSON does not parse");
  int r = cgroup_limits_parse(tree, l, err);
  yajl_tree_free(tree);
  return r;
}

static void test_writes(void) {
  struct cgroup_limits l;
  nook_error err = {0};
  int r = parse("{\"memory\":{\"limit\":52428800,\"reservation\":1048576,\"swap\":104857600},"
                "\"pids\":{\"limit\":32},"
                "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"cpus\":\"0\"},"
                "\"blockIO\":{\"weight\":500,\"throttleReadBpsDevice\":[{\"major\":8,"
                "\"minor\":0,\"rate\":1048576}]},"
                "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}],"
                "\"unified\":{\"memory.high\":\"40000000\"}}",
                &l, &err);
  if (r < 0)
    UNIT_FAIL("%s", err.msg);
  struct cgroup_write *w;
  size_t n;
  cgroup_limits_writes(&l, false, &w, &n);
  CHECK_EQ_STR(find_write(w, n, "memory.max"), "52428800");
  CHECK_EQ_STR(find_write(w, n, "memory.low"), "1048576");
  CHECK_EQ_STR(find_write(w, n, "memory.swap.max"), "52428800");
  CHECK_EQ_STR(find_write(w, n, "pids.max"), "32");
  CHECK_EQ_STR(find_write(w, n, "cpu.weight"), "100");
  CHECK_EQ_STR(find_write(w, n, "cpu.max"), "50000 100000");
  CHECK_EQ_STR(find_write(w, n, "cpuset.cpus"), "0");
  CHECK_EQ_STR(find_write(w, n, "io.weight"), "default 4950");
  CHECK_EQ_STR(find_write(w, n, "io.bfq.weight"), "500");
  CHECK_EQ_STR(find_write(w, n, "io.max"), "8:0 rbps=1048576");
  CHECK_EQ_STR(find_write(w, n, "hugetlb.2MB.max"), "0");
  CHECK_EQ_STR(find_write(w, n, "memory.high"), "40000000");
  cgroup_writes_free(w, n);

  /* The systemd driver sets these as properties; the rest stays files. */
  cgroup_limits_writes(&l, true, &w, &n);
  CHECK(!find_write(w, n, "memory.max"));
  CHECK(!find_write(w, n, "cpu.max"));
  CHECK_EQ_STR(find_write(w, n, "io.max"), "8:0 rbps=1048576");
  CHECK_EQ_STR(find_write(w, n, "hugetlb.2MB.max"), "0");
  cgroup_writes_free(w, n);

  char **names, **ctrls;
  cgroup_limits_requested(&l, &names, &ctrls);
  CHECK(strv_contains(names, "memory.limit"));
  CHECK(strv_contains(names, "unified.memory.high"));
  CHECK(strv_contains(ctrls, "hugetlb"));
  strv_free(names);
  strv_free(ctrls);
  cgroup_limits_clear(&l);
}

static void test_unlimited_and_unset(void) {
  struct cgroup_limits l;
  nook_error err = {0};
  if (parse("{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1},\"cpu\":{\"quota\":-1}}", &l,
            &err) < 0)
    UNIT_FAIL("%s", err.msg);
  struct cgroup_write *w;
  size_t n;
  cgroup_limits_writes(&l, false, &w, &n);
  CHECK_EQ_STR(find_write(w, n, "memory.max"), "max");
  CHECK_EQ_STR(find_write(w, n, "memory.swap.max"), "max");
  CHECK_EQ_STR(find_write(w, n, "pids.max"), "max");
  CHECK_EQ_STR(find_write(w, n, "cpu.max"), "max 100000");
  cgroup_writes_free(w, n);
  cgroup_limits_clear(&l);

  /* What a default config.json carries (devices only) asks for nothing. */
  if (parse("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}", &l, &err) < 0)
    UNIT_FAIL("%s", err.msg);
  CHECK(cgroup_limits_empty(&l));
  cgroup_limits_clear(&l);
}

static void test_inexpressible(void) {
  struct cgroup_limits l;
  nook_error err = {0};
  if (parse("{\"memory\":{\"swappiness\":10,\"disableOOMKiller\":true},"
            "\"cpu\":{\"realtimeRuntime\":1000}}",
            &l, &err) < 0)
    UNIT_FAIL("%s", err.msg);
  CHECK(strv_contains(l.inexpressible, "memory.swappiness"));
  CHECK(strv_contains(l.inexpressible, "memory.disableOOMKiller"));
  CHECK(strv_contains(l.inexpressible, "cpu.realtimeRuntime"));
  CHECK(!cgroup_limits_empty(&l));
  cgroup_limits_clear(&l);
}

static void test_bad_input_names_the_field(void) {
  struct cgroup_limits l;
  nook_error err = {0};
  CHECK(parse("{\"cpu\":{\"shares\":1}}", &l, &err) == -EINVAL);
  CHECK_EQ_STR(err.msg, "linux.resources.cpu.shares: 1 is outside 2-262144");
  CHECK(parse("{\"cpu\":{\"cpus\":\"0-a\"}}", &l, &err) == -EINVAL);
  CHECK_EQ_STR(err.msg, "linux.resources.cpu.cpus: `0-a` is not a list like 0-3,6");
  CHECK(parse("{\"memory\":{\"limit\":\"1G\"}}", &l, &err) == -EINVAL);
  CHECK_EQ_STR(err.msg, "linux.resources.memory.limit: expected an integer");
  CHECK(parse("{\"unified\":{\"../x\":\"1\"}}", &l, &err) == -EINVAL);
  CHECK(strstr(err.msg, "linux.resources.unified: `../x`"));
  CHECK(parse("{\"blockIO\":{\"weightDevice\":[{\"weight\":100}]}}", &l, &err) == -EINVAL);
  CHECK_EQ_STR(err.msg, "linux.resources.blockIO.weightDevice[0]: needs major and minor device "
                        "numbers");
  CHECK(parse("{\"cpu\":{\"quota\":500}}", &l, &err) == -EINVAL);
  CHECK(strstr(err.msg, "linux.resources.cpu.quota"));
}

int main(void) {
  return unit_run(UNIT_CASES(UNIT_CASE(test_shares_to_weight_matches_crun), UNIT_CASE(test_blkio_weight),
                             UNIT_CASE(test_swap), UNIT_CASE(test_cpu_list_mask),
                             UNIT_CASE(test_writes), UNIT_CASE(test_unlimited_and_unset),
                             UNIT_CASE(test_inexpressible),
                             UNIT_CASE(test_bad_input_names_the_field)));
}
