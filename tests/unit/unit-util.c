/* Unit tests of src/runtime/util.c, and of the process probes of state.c. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state.h"
#include "unit.h"
#include "util.h"

static char *make_temp_dir(void) {
  const char *base = getenv("TMPDIR");
  char *dir = xasprintf("%s/unit-util.XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(2);
  }
  return dir;
}

static void test_parse_u64(void) {
  unsigned long long v = 7;
  CHECK(parse_u64("0", &v));
  CHECK_EQ_INT(v, 0);
  CHECK(parse_u64("42", &v));
  CHECK_EQ_INT(v, 42);
  CHECK(parse_u64("18446744073709551615", &v));
  CHECK(v == ULLONG_MAX);
  v = 7;
  CHECK(!parse_u64("18446744073709551616", &v));
  CHECK(!parse_u64("", &v));
  CHECK(!parse_u64(NULL, &v));
  CHECK(!parse_u64("-1", &v));
  CHECK(!parse_u64("+1", &v));
  CHECK(!parse_u64("12a", &v));
  CHECK(!parse_u64("1 ", &v));
  CHECK(!parse_u64("0x10", &v));
  CHECK_EQ_INT(v, 7); /* untouched by a failed parse */
}

static void test_parse_i64(void) {
  long long v = 0;
  CHECK(parse_i64("-9223372036854775808", &v));
  CHECK(v == LLONG_MIN);
  CHECK(parse_i64("9223372036854775807", &v));
  CHECK(v == LLONG_MAX);
  CHECK(!parse_i64("9223372036854775808", &v));
  CHECK(!parse_i64("", &v));
  CHECK(!parse_i64("1.5", &v));
}

static void test_strv(void) {
  _cleanup_strv_ char **v = NULL;
  CHECK_EQ_INT(strv_len(v), 0);
  CHECK(!strv_contains(v, "a"));
  strv_push(&v, "a");
  strv_push(&v, "bc");
  strv_push(&v, "");
  CHECK_EQ_INT(strv_len(v), 3);
  CHECK_EQ_STR(v[0], "a");
  CHECK_EQ_STR(v[1], "bc");
  CHECK_EQ_STR(v[2], "");
  CHECK(v[3] == NULL);
  CHECK(strv_contains(v, "bc"));
  CHECK(strv_contains(v, ""));
  CHECK(!strv_contains(v, "b"));

  _cleanup_strv_ char **copy = strv_dup(v);
  CHECK_EQ_INT(strv_len(copy), 3);
  CHECK(copy[0] != v[0]);
  copy[0][0] = 'z';
  CHECK_EQ_STR(v[0], "a");
  strv_free(NULL);
}

static void test_str_helpers(void) {
  CHECK(str_has_prefix("container", "cont"));
  CHECK(str_has_prefix("x", ""));
  CHECK(!str_has_prefix("co", "cont"));
  _cleanup_free_ char *s = xasprintf("%s-%d", "id", 12);
  CHECK_EQ_STR(s, "id-12");
}

static void test_write_file_atomic_at(void) {
  _cleanup_free_ char *dir = make_temp_dir();
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(dfd >= 0);
  nook_error err = {0};

  mode_t old_umask = umask(022);
  CHECK_EQ_INT(write_file_atomic_at(dfd, "state.json", "{\"a\":1}", 7, 0640, &err), 0);
  struct stat st;
  CHECK_EQ_INT(fstatat(dfd, "state.json", &st, 0), 0);
  CHECK_EQ_INT(st.st_mode & 07777, 0640);

  /* A reader holding the old file keeps its content: the new one is a new
   * inode renamed into place, never the old one rewritten. */
  _cleanup_close_ int old_fd = openat(dfd, "state.json", O_RDONLY | O_CLOEXEC);
  CHECK(old_fd >= 0);
  CHECK_EQ_INT(write_file_atomic_at(dfd, "state.json", "{\"a\":22}", 8, 0640, &err), 0);
  _cleanup_free_ char *old_content = NULL;
  CHECK_EQ_INT(read_all(old_fd, &old_content, NULL), 0);
  CHECK_EQ_STR(old_content, "{\"a\":1}");
  _cleanup_free_ char *content = NULL;
  size_t len = 0;
  CHECK_EQ_INT(read_file_at(dfd, "state.json", &content, &len, &err), 0);
  CHECK_EQ_STR(content, "{\"a\":22}");
  CHECK_EQ_INT(len, 8);

  /* No temporary file is left beside it. */
  _cleanup_closedir_ DIR *d = opendir(dir);
  CHECK(d != NULL);
  int entries = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      entries++;
  CHECK_EQ_INT(entries, 1);

  /* A failure says what failed and leaves nothing behind. */
  nook_err_clear(&err);
  CHECK_EQ_INT(write_file_atomic_at(dfd, "missing/state.json", "x", 1, 0600, &err), -ENOENT);
  CHECK_EQ_INT(err.code, ENOENT);
  CHECK(strstr(err.msg, "missing/state.json") != NULL);
  umask(old_umask);

  CHECK_EQ_INT(rm_rf_at(AT_FDCWD, dir), 0);
}

static void test_read_file_at_missing(void) {
  nook_error err = {0};
  char *content = NULL;
  CHECK_EQ_INT(read_file_at(AT_FDCWD, "/nonexistent/nook-unit", &content, NULL, &err), -ENOENT);
  CHECK(content == NULL);
  CHECK(strstr(err.msg, "/nonexistent/nook-unit") != NULL);
  CHECK(strstr(err.msg, strerror(ENOENT)) != NULL);
}

static void test_mkdir_p(void) {
  _cleanup_free_ char *dir = make_temp_dir();
  _cleanup_free_ char *deep = xasprintf("%s/a/b/c", dir);
  nook_error err = {0};
  CHECK_EQ_INT(mkdir_p(deep, 0755, &err), 0);
  CHECK_EQ_INT(mkdir_p(deep, 0755, &err), 0); /* existing is fine */
  struct stat st;
  CHECK_EQ_INT(stat(deep, &st), 0);
  CHECK(S_ISDIR(st.st_mode));
  _cleanup_free_ char *file = xasprintf("%s/a/file", dir);
  CHECK_EQ_INT(write_file_at(AT_FDCWD, file, "x", 1, 0600, &err), 0);
  _cleanup_free_ char *under_file = xasprintf("%s/a/file/sub", dir);
  CHECK(mkdir_p(under_file, 0755, &err) < 0);
  CHECK(strstr(err.msg, "a/file") != NULL);
  CHECK_EQ_INT(rm_rf_at(AT_FDCWD, dir), 0);
}

static void test_rm_rf_at(void) {
  _cleanup_free_ char *dir = make_temp_dir();
  _cleanup_free_ char *outside = make_temp_dir();
  _cleanup_free_ char *outside_file = xasprintf("%s/keep", outside);
  nook_error err = {0};
  CHECK_EQ_INT(write_file_at(AT_FDCWD, outside_file, "k", 1, 0600, &err), 0);

  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(dfd >= 0);
  CHECK_EQ_INT(mkdirat(dfd, "tree", 0755), 0);
  CHECK_EQ_INT(mkdirat(dfd, "tree/sub", 0755), 0);
  CHECK_EQ_INT(mkdirat(dfd, "tree/sub/empty", 0700), 0);
  CHECK_EQ_INT(write_file_at(dfd, "tree/sub/f", "1", 1, 0400, &err), 0);
  CHECK_EQ_INT(write_file_at(dfd, "tree/g", "2", 1, 0644, &err), 0);
  /* Links are removed, never followed. */
  CHECK_EQ_INT(symlinkat(outside, dfd, "tree/link-to-dir"), 0);
  CHECK_EQ_INT(symlinkat(outside_file, dfd, "tree/sub/link-to-file"), 0);
  CHECK_EQ_INT(mkfifoat(dfd, "tree/fifo", 0600), 0);

  CHECK_EQ_INT(rm_rf_at(dfd, "tree"), 0);
  CHECK(faccessat(dfd, "tree", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
  CHECK_EQ_INT(access(outside_file, F_OK), 0);

  /* Missing is fine; a plain file and a link at the top are removed. */
  CHECK_EQ_INT(rm_rf_at(dfd, "tree"), 0);
  CHECK_EQ_INT(write_file_at(dfd, "plain", "p", 1, 0600, &err), 0);
  CHECK_EQ_INT(rm_rf_at(dfd, "plain"), 0);
  CHECK_EQ_INT(symlinkat(outside, dfd, "top-link"), 0);
  CHECK_EQ_INT(rm_rf_at(dfd, "top-link"), 0);
  CHECK_EQ_INT(access(outside_file, F_OK), 0);

  CHECK_EQ_INT(rm_rf_at(AT_FDCWD, dir), 0);
  CHECK_EQ_INT(rm_rf_at(AT_FDCWD, outside), 0);
  CHECK(access(outside, F_OK) < 0);
}

static void test_write_all_read_all_pipe(void) {
  int fds[2];
  CHECK_EQ_INT(pipe2(fds, O_CLOEXEC), 0);
  _cleanup_close_ int rfd = fds[0];
  int wfd = fds[1];
  char big[6000];
  memset(big, 'x', sizeof(big));
  CHECK_EQ_INT(write_all(wfd, big, sizeof(big)), 0);
  close(wfd);
  _cleanup_free_ char *got = NULL;
  size_t len = 0;
  CHECK_EQ_INT(read_all(rfd, &got, &len), 0);
  CHECK_EQ_INT(len, sizeof(big));
  CHECK_EQ_INT(got[len], '\0');
  CHECK_EQ_INT(write_all(-1, "x", 1), -EBADF);
}

/* A container's init that failed its set-up is seen as gone from its zombie
 * on, so no cgroup driver is blamed for not having moved it. */
static void test_pid_liveness(void) {
  int ready[2];
  CHECK_EQ_INT(pipe2(ready, O_CLOEXEC), 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    close(ready[0]);
    (void)!write(ready[1], "r", 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  CHECK_EQ_INT(read(ready[0], &c, 1), 1);
  close(ready[0]);
  CHECK(pid_start_time(child) != 0);
  CHECK(!pid_is_exiting_or_gone(child));
  CHECK(pid_is_same_process(child, pid_start_time(child)));
  CHECK(!pid_is_same_process(child, pid_start_time(child) + 1));

  CHECK_EQ_INT(kill(child, SIGKILL), 0);
  siginfo_t si;
  CHECK_EQ_INT(waitid(P_PID, child, &si, WEXITED | WNOWAIT), 0);
  /* A zombie now: its /proc entry is still there. */
  CHECK_EQ_INT(kill(child, 0), 0);
  CHECK(pid_is_exiting_or_gone(child));
  CHECK_EQ_INT(pid_start_time(child), 0);

  CHECK_EQ_INT(waitpid(child, NULL, 0), child);
  CHECK(pid_is_exiting_or_gone(child));
  CHECK(pid_is_exiting_or_gone(getpid()) == false);
}

int main(void) {
  return unit_run(UNIT_CASES(UNIT_CASE(test_parse_u64), UNIT_CASE(test_parse_i64),
                             UNIT_CASE(test_strv), UNIT_CASE(test_str_helpers),
                             UNIT_CASE(test_write_file_atomic_at),
                             UNIT_CASE(test_read_file_at_missing), UNIT_CASE(test_mkdir_p),
                             UNIT_CASE(test_rm_rf_at), UNIT_CASE(test_write_all_read_all_pipe),
                             UNIT_CASE(test_pid_liveness)));
}
