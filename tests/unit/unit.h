/* A very small unit test harness: each case is a function; a failed CHECK
 * ends its case. The output is one `ok NAME` or `not ok NAME - why` line per
 * case, which tests/run counts; the exit status is 1 when a case failed.
 *
 *   static void test_parse(void) { CHECK(parse_u64("1", &v)); CHECK_EQ_INT(v, 1); }
 *   int main(void) { return unit_run(UNIT_CASES(UNIT_CASE(test_parse))); }
 */
#pragma once

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rootless/idmap.h"

struct unit_case {
  const char *name;
  void (*fn)(void);
};

static char unit_why[1024];

#define UNIT_FAIL(...)                                                                             \
  do {                                                                                             \
    int unit_n_ = snprintf(unit_why, sizeof(unit_why), "%s:%d: ", __FILE__, __LINE__);            \
    snprintf(unit_why + unit_n_, sizeof(unit_why) - (size_t)unit_n_, __VA_ARGS__);                 \
    return;                                                                                        \
  } while (0)

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      UNIT_FAIL("%s", #cond);                                                                      \
  } while (0)

#define CHECK_EQ_INT(got, want)                                                                    \
  do {                                                                                             \
    long long unit_g_ = (long long)(got), unit_w_ = (long long)(want);                             \
    if (unit_g_ != unit_w_)                                                                        \
      UNIT_FAIL("%s is %lld, want %lld", #got, unit_g_, unit_w_);                                  \
  } while (0)

#define CHECK_EQ_STR(got, want)                                                                    \
  do {                                                                                             \
    const char *unit_g_ = (got), *unit_w_ = (want);                                                \
    if (!unit_g_ || strcmp(unit_g_, unit_w_) != 0)                                                 \
      UNIT_FAIL("%s is \"%s\", want \"%s\"", #got, unit_g_ ? unit_g_ : "(null)", unit_w_);        \
  } while (0)

#define UNIT_CASE(fn) {#fn, fn}
#define UNIT_CASES(...) (const struct unit_case[]){__VA_ARGS__, {NULL, NULL}}

static inline int unit_run(const struct unit_case *cases) {
  int failed = 0;
  for (const struct unit_case *c = cases; c->name; c++) {
    unit_why[0] = '\0';
    c->fn();
    const char *name = strncmp(c->name, "test_", 5) == 0 ? c->name + 5 : c->name;
    if (unit_why[0]) {
      printf("not ok %s - %s\n", name, unit_why);
      failed = 1;
    } else {
      printf("ok %s\n", name);
    }
    fflush(stdout);
  }
  return failed;
}

/* For tests written as a sequence of named checks rather than cases: one
 * `ok NAME` or `not ok NAME - why` line per check; main returns
 * unit_failures != 0. */
static int unit_failures __attribute__((unused));

#define UNIT_REPORT(name, cond, ...)                                                               \
  do {                                                                                             \
    if (cond) {                                                                                    \
      printf("ok %s\n", name);                                                                     \
    } else {                                                                                       \
      printf("not ok %s - ", name);                                                                \
      printf(__VA_ARGS__);                                                                         \
      printf("\n");                                                                                \
      unit_failures++;                                                                             \
    }                                                                                              \
  } while (0)

/* Unshares a user namespace (plus `extra_flags`) in which the caller's own
 * uid and gid are root, as an unprivileged test needs for mknod of a
 * whiteout or a mount. 0, or the step that failed (1 unshare, 2 the maps). */
__attribute__((unused)) static inline int unit_enter_single_id_userns(int extra_flags) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | extra_flags) < 0)
    return 1;
  struct spec_idmap u = {0, uid, 1}, g = {0, gid, 1};
  nook_error err;
  if (idmap_write_direct(getpid(), false, &u, 1, &err) < 0 ||
      idmap_write_direct(getpid(), true, &g, 1, &err) < 0)
    return 2;
  return 0;
}
