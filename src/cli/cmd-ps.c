#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] =
    "Usage: nook ps [--format table|json] ID [PS ARGS...]\n\n"
    "List the processes of a container: json prints a JSON array of pids; table\n"
    "runs ps(1) with PS ARGS (default -ef; a \"--\" before them is dropped) and\n"
    "keeps the container's lines.\n\n"
    "Options:\n"
    "  -f, --format table|json  output format (default table)\n";

/* Without a cgroup, the container's processes are those in its pid
 * namespace (when it has one of its own). */
static int pids_by_namespace(const struct container *c, pid_t **pids, size_t *n,
                             nook_error *err) {
  char path[64];
  struct stat init_ns, own_ns, st;
  snprintf(path, sizeof(path), "/proc/%d/ns/pid", c->state.pid);
  if (stat(path, &init_ns) < 0)
    return nook_err(err, errno, "container \"%s\": %s", c->state.id, path);
  if (stat("/proc/self/ns/pid", &own_ns) == 0 && own_ns.st_ino == init_ns.st_ino)
    return nook_errx(err, ENOTSUP, "container \"%s\" has neither a cgroup nor a pid namespace "
                                   "of its own: its processes cannot be told apart",
                     c->state.id);
  _cleanup_closedir_ DIR *d = opendir("/proc");
  if (!d)
    return nook_err(err, errno, "/proc");
  struct dirent *e;
  while ((e = readdir(d))) {
    unsigned long long pid;
    if (!parse_u64(e->d_name, &pid))
      continue;
    snprintf(path, sizeof(path), "/proc/%llu/ns/pid", pid);
    if (stat(path, &st) == 0 && st.st_ino == init_ns.st_ino && st.st_dev == init_ns.st_dev) {
      *pids = xrealloc(*pids, (*n + 1) * sizeof(pid_t));
      (*pids)[(*n)++] = (pid_t)pid;
    }
  }
  return 0;
}

static bool has_pid(const pid_t *pids, size_t n, long pid) {
  for (size_t i = 0; i < n; i++)
    if (pids[i] == pid)
      return true;
  return false;
}

/* The first line ps wrote to stderr (its complaint about the options), for
 * an error of one line; "" when it said nothing. */
static char *first_line_of(int fd) {
  _cleanup_free_ char *text = NULL;
  size_t len;
  if (read_all(fd, &text, &len) < 0 || !text)
    return xstrdup("");
  char *p = text + strspn(text, " \t\n");
  return xstrndup(p, strcspn(p, "\n"));
}

/* runc's table: ps's header, then the lines whose PID column is one of the
 * container's. */
static int print_table(char **ps_args, const pid_t *pids, size_t n, nook_error *err) {
  int fds[2], errfds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  _cleanup_close_ int rd = fds[0];
  if (pipe2(errfds, O_CLOEXEC) < 0) {
    close(fds[1]);
    return nook_err(err, errno, "pipe");
  }
  _cleanup_close_ int err_rd = errfds[0];
  char *default_args[] = {"-ef", NULL};
  /* `ps ID -- ARGS`: procps takes no "--", the caller meant ARGS */
  if (ps_args && ps_args[0] && strcmp(ps_args[0], "--") == 0)
    ps_args++;
  char **args = ps_args && ps_args[0] ? ps_args : default_args;
  size_t nargs = strv_len(args);
  _cleanup_free_ char **argv = xcalloc(nargs + 2, sizeof(char *));
  argv[0] = "ps";
  memcpy(argv + 1, args, nargs * sizeof(char *));
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    close(fds[1]);
    close(errfds[1]);
    return nook_err(err, errno, "fork");
  }
  if (child == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(errfds[1], STDERR_FILENO);
    execvp("ps", argv);
    fprintf(stderr, "%s\n", strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  close(errfds[1]);
  _cleanup_free_ char *out = NULL;
  size_t len;
  int r = read_all(rd, &out, &len);
  /* ps's complaints are a few lines: the pipe holds them while stdout drains */
  _cleanup_free_ char *complaint = first_line_of(err_rd);
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (r < 0)
    return nook_err(err, -r, "read the output of ps");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    _cleanup_free_ char *joined = strv_join(args, " ");
    return nook_errx(err, EIO, "ps %s failed (exit %d)%s%s", joined,
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                     *complaint ? ": " : "", complaint);
  }
  char *save = NULL;
  char *header = strtok_r(out, "\n", &save);
  if (!header)
    return 0;
  /* the column whose header is PID */
  int pid_col = -1, col = 0;
  _cleanup_free_ char *h = xstrdup(header);
  char *hs = NULL;
  for (char *w = strtok_r(h, " \t", &hs); w; w = strtok_r(NULL, " \t", &hs), col++)
    if (strcmp(w, "PID") == 0)
      pid_col = col;
  if (pid_col < 0)
    return nook_errx(err, EINVAL, "ps output has no PID column: keep pid in the -o list");
  printf("%s\n", header);
  for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    _cleanup_free_ char *copy = xstrdup(line);
    char *ls = NULL, *w = strtok_r(copy, " \t", &ls);
    for (int i = 0; w && i < pid_col; i++)
      w = strtok_r(NULL, " \t", &ls);
    long long pid;
    if (w && parse_i64(w, &pid) && has_pid(pids, n, (long)pid))
      printf("%s\n", line);
  }
  return 0;
}

int cmd_ps(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
  bool json = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
    if (c == 'f') {
      if (strcmp(optarg, "json") == 0)
        json = true;
      else if (strcmp(optarg, "table") == 0)
        json = false;
      else
        return cli_bad_usage(err, argv[0], "--format `%s`: expected table or json", optarg);
    } else if (c == 'h') {
      return cli_print_usage(usage);
    } else {
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return cli_bad_usage(err, argv[0], "missing a container id");
  if (json && argc - optind > 1)
    return cli_bad_usage(err, argv[0], "ps arguments are for --format table");
  int r;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  const char *id = argv[optind];
  _cleanup_container_ struct container ct = {.dirfd = -1};
  r = container_load_for(root, id, "list the processes of",
                         1u << STATUS_RUNNING | 1u << STATUS_PAUSED | 1u << STATUS_CREATED |
                             1u << STATUS_STOPPED,
                         &ct, err);
  if (r < 0)
    return r;
  struct cgroup_handle h = state_cgroup(&ct.state);
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (cgroup_handle_active(&h))
    r = cgroup_pids(&h, &pids, &n, err);
  else if (ct.status != STATUS_STOPPED)
    r = pids_by_namespace(&ct, &pids, &n, err);
  /* A stopped container has no processes left, as runc answers (containerd
   * asks for the pids of an exited task); its cgroup may be gone already. */
  if (r == -ENOENT && ct.status == STATUS_STOPPED)
    r = 0;
  if (r < 0)
    return r;
  if (json) {
    printf("[");
    for (size_t i = 0; i < n; i++)
      printf("%s%d", i ? "," : "", pids[i]);
    printf("]\n");
    return 0;
  }
  return print_table(argv + optind + 1, pids, n, err);
}
