/* rootless/idmap: parsing of subordinate id files and writing maps into a
 * real user namespace. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rootless/idmap.h"
#include "unit.h"
#include "util.h"


static void test_parse(void) {
  char path[] = "/tmp/unit-idmap-XXXXXX";
  int fd = mkstemp(path);
  const char *text = "# comment\n\nalice:100000:65536\nbob:200000:1000\n4242:300000:10\n"
                     "alice:500000:5\nalice:bad:5\nalice:1:0\n";
  (void)!write(fd, text, strlen(text));
  close(fd);
  nook_error err;
  struct subid_range *r = NULL;
  size_t n = 0;
  int ret = idmap_read_subids(path, 4242, "alice", &r, &n, &err);
  UNIT_REPORT("parse-by-name-and-uid", ret == 0 && n == 3 && r[0].start == 100000 &&
                                     r[0].count == 65536 && r[1].start == 300000 &&
                                     r[2].start == 500000 && r[2].count == 5,
        "ret %d n %zu", ret, n);
  free(r);
  ret = idmap_read_subids(path, 9999, "carol", &r, &n, &err);
  UNIT_REPORT("parse-no-range", ret == 0 && n == 0, "ret %d n %zu", ret, n);
  free(r);
  ret = idmap_read_subids("/nonexistent/subuid", 1, "x", &r, &n, &err);
  UNIT_REPORT("parse-missing-file", ret == 0 && n == 0, "ret %d", ret);
  free(r);

  struct spec_idmap *m = NULL;
  ret = idmap_build_rootless(path, 4242, 1000, &m, &n, &err);
  /* idmap_build_rootless looks the user up by uid only. */
  UNIT_REPORT("build-rootless", ret == 0 && n == 2 && m[0].container_id == 0 && m[0].host_id == 1000 &&
                              m[0].size == 1 && m[1].container_id == 1 &&
                              m[1].host_id == 300000 && m[1].size == 10,
        "ret %d n %zu", ret, n);
  free(m);
  unlink(path);
}

/* A child in a new user namespace waits for the parent to write its maps,
 * then reports what it sees. */
static void test_userns(void) {
  int go[2], back[2];
  if (pipe(go) < 0 || pipe(back) < 0)
    abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(back[0]);
    if (unshare(CLONE_NEWUSER) < 0)
      _exit(2);
    (void)!write(back[1], "u", 1);
    char c;
    if (read(go[0], &c, 1) != 1)
      _exit(3);
    char buf[4096] = "";
    FILE *f = fopen("/proc/self/uid_map", "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    (void)!write(back[1], buf, n);
    _exit(getuid() == 0 ? 0 : 4);
  }
  close(go[0]);
  close(back[1]);
  char c;
  if (read(back[0], &c, 1) != 1) {
    UNIT_REPORT("userns-maps", false, "child could not unshare a user namespace");
    return;
  }
  nook_error err;
  bool single = false;
  int ret = idmap_setup_rootless(pid, &single, &err);
  (void)!write(go[1], "g", 1);
  char buf[4096];
  ssize_t n = read(back[0], buf, sizeof(buf) - 1);
  buf[n > 0 ? n : 0] = '\0';
  int status;
  waitpid(pid, &status, 0);
  UNIT_REPORT("userns-maps", ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "ret %d (%s) status %d", ret, ret ? err.msg : "", status);
  unsigned lines = 0;
  for (char *p = buf; *p; p++)
    lines += *p == '\n';
  UNIT_REPORT("userns-map-shape", single ? lines == 1 : lines >= 2, "single %d map:\n%s", single, buf);
}

static void test_helper_error(void) {
  nook_error err;
  struct spec_idmap m = {0, 4000000000u, 1};
  /* pid 1's namespace is not ours: newuidmap refuses, and the message says why. */
  int ret = idmap_write_with_helper(1, false, &m, 1, &err);
  UNIT_REPORT("helper-error-one-line", ret < 0 && strchr(err.msg, '\n') == NULL &&
                                     strstr(err.msg, "newuidmap") != NULL,
        "ret %d msg %s", ret, err.msg);
}

int main(void) {
  test_parse();
  test_userns();
  test_helper_error();
  return unit_failures ? 1 : 0;
}
