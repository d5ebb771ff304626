/* A test driver for the cgroup module, for what no nook command reaches yet
 * (and for the module alone, where a whole container would hide the cause):
 *
 *   cgroup-driver enter [--manager M] [--explicit] [--rootless|--root]
 *                       [--cgroups-path P] [--resources FILE] ID -- CMD [ARGS...]
 *       starts CMD held before exec, puts it into a cgroup, lets it run and
 *       prints the handle: {"pid":N,"path":"...","manager":"...","unit":"..."}
 *   cgroup-driver OP --path P [--manager M] [--unit U] [ARG]
 *       OP: freeze, thaw, frozen, kill SIGNAL, pids, stats, update FILE, destroy
 *
 * Not installed; tests/cgroup/test-*.sh run it as $NOOK_BUILD/tests/cgroup-driver. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <yajl/yajl_gen.h>

#include "cgroup.h"
#include "util.h"

static int die(const nook_error *err) {
  fprintf(stderr, "cgroup-driver: %s\n", err->msg);
  return 1;
}

static void gen_str(yajl_gen g, const char *s) {
  if (s)
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
  else
    yajl_gen_null(g);
}

static void print_gen(yajl_gen g) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  printf("%.*s\n", (int)len, buf);
}

static int cmd_enter(int argc, char **argv) {
  struct cgroup_request req = {.rootless = geteuid() != 0};
  const char *resources_file = NULL;
  static const struct option opts[] = {{"manager", required_argument, NULL, 'm'},
                                       {"explicit", no_argument, NULL, 'e'},
                                       {"rootless", no_argument, NULL, 'r'},
                                       {"root", no_argument, NULL, 'R'},
                                       {"cgroups-path", required_argument, NULL, 'c'},
                                       {"resources", required_argument, NULL, 'f'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    switch (c) {
    case 'm': req.manager = optarg; break;
    case 'e': req.manager_explicit = true; break;
    case 'r': req.rootless = true; break;
    case 'R': req.rootless = false; break;
    case 'c': req.cgroups_path = optarg; break;
    case 'f': resources_file = optarg; break;
    default: return 2;
    }
  }
  if (argc - optind < 2) {
    fprintf(stderr, "cgroup-driver enter: want ID -- CMD\n");
    return 2;
  }
  req.container_id = argv[optind++];
  if (strcmp(argv[optind], "--") == 0)
    optind++;
  if (optind >= argc) {
    fprintf(stderr, "cgroup-driver enter: want ID -- CMD\n");
    return 2;
  }
  char **cmd = argv + optind;

  nook_error err = {0};
  yajl_val tree = NULL;
  if (resources_file) {
    _cleanup_free_ char *text = NULL;
    if (read_file_at(AT_FDCWD, resources_file, &text, NULL, &err) < 0)
      return die(&err);
    char msg[256];
    tree = yajl_tree_parse(text, msg, sizeof(msg));
    if (!tree) {
      fprintf(stderr, "cgroup-driver: %s: %s\n", resources_file, msg);
      return 1;
    }
  }
  req.resources = tree;

  /* The child waits on the pipe, as a container's init waits before it
   * runs user code. */
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0)
    return perror("pipe"), 1;
  pid_t pid = fork();
  if (pid < 0)
    return perror("fork"), 1;
  if (pid == 0) {
    close(gate[1]);
    char b;
    if (read(gate[0], &b, 1) != 1)
      _exit(127);
    setsid();
    execvp(cmd[0], cmd);
    _exit(127);
  }
  close(gate[0]);
  struct cgroup_handle h = {0};
  int r = cgroup_enter(&req, pid, &h, &err);
  yajl_tree_free(tree);
  if (r < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return die(&err);
  }
  if (write(gate[1], "x", 1) != 1)
    return perror("write"), 1;
  close(gate[1]);

  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_str(g, "pid");
  yajl_gen_integer(g, pid);
  gen_str(g, "path");
  gen_str(g, h.path);
  gen_str(g, "manager");
  gen_str(g, h.manager);
  gen_str(g, "unit");
  gen_str(g, h.unit);
  yajl_gen_map_close(g);
  print_gen(g);
  yajl_gen_free(g);
  cgroup_handle_clear(&h);
  return 0;
}

static int cmd_op(const char *op, int argc, char **argv) {
  struct cgroup_handle h = {0};
  static const struct option opts[] = {{"path", required_argument, NULL, 'p'},
                                       {"manager", required_argument, NULL, 'm'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    switch (c) {
    case 'p': h.path = optarg; break;
    case 'm': h.manager = optarg; break;
    case 'u': h.unit = *optarg ? optarg : NULL; break;
    default: return 2;
    }
  }
  if (!h.manager)
    h.manager = h.unit ? "systemd" : "cgroupfs";
  const char *arg = optind < argc ? argv[optind] : NULL;
  nook_error err = {0};
  int r;
  if (strcmp(op, "freeze") == 0 || strcmp(op, "thaw") == 0) {
    r = cgroup_freeze(&h, strcmp(op, "freeze") == 0, &err);
  } else if (strcmp(op, "frozen") == 0) {
    printf("%s\n", cgroup_is_frozen(&h) ? "true" : "false");
    r = 0;
  } else if (strcmp(op, "kill") == 0) {
    r = cgroup_kill_all(&h, arg ? atoi(arg) : SIGKILL, &err);
  } else if (strcmp(op, "pids") == 0) {
    _cleanup_free_ pid_t *pids = NULL;
    size_t n;
    r = cgroup_pids(&h, &pids, &n, &err);
    for (size_t i = 0; r == 0 && i < n; i++)
      printf("%d\n", (int)pids[i]);
  } else if (strcmp(op, "stats") == 0) {
    yajl_gen g = yajl_gen_alloc(NULL);
    r = cgroup_stats_json(&h, g, &err);
    if (r == 0)
      print_gen(g);
    yajl_gen_free(g);
  } else if (strcmp(op, "update") == 0) {
    if (!arg)
      return fprintf(stderr, "cgroup-driver update: want FILE\n"), 2;
    _cleanup_free_ char *text = NULL;
    if (read_file_at(AT_FDCWD, arg, &text, NULL, &err) < 0)
      return die(&err);
    yajl_val tree = yajl_tree_parse(text, NULL, 0);
    if (!tree)
      return fprintf(stderr, "cgroup-driver: %s: not JSON\n", arg), 1;
    r = cgroup_update(&h, tree, &err);
    yajl_tree_free(tree);
  } else if (strcmp(op, "destroy") == 0) {
    r = cgroup_destroy(&h, &err);
  } else {
    fprintf(stderr, "cgroup-driver: unknown operation `%s`\n", op);
    return 2;
  }
  return r < 0 ? die(&err) : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cgroup-driver enter|freeze|thaw|frozen|kill|pids|stats|update|destroy ...\n");
    return 2;
  }
  if (strcmp(argv[1], "enter") == 0)
    return cmd_enter(argc - 1, argv + 1);
  return cmd_op(argv[1], argc - 1, argv + 1);
}
