#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exec.h"
#include "util.h"

static const char usage[] =
    "Usage: nook exec [OPTIONS] ID COMMAND [ARG...]\n"
    "       nook exec [OPTIONS] --process FILE ID\n\n"
    "Run a new process inside a running container: it joins the container's\n"
    "namespaces and cgroup, with its seccomp filter, capabilities and rlimits.\n"
    "In the foreground nook exits with the process's status.\n\n"
    "Options:\n"
    "  -p, --process FILE        the process as an OCI process JSON object; the\n"
    "                            options below still change it\n"
    "  -d, --detach              return once the process has started\n"
    "  -t, --tty                 give the process a terminal\n"
    "      --console-socket SOCK send the terminal's master fd to the unix socket SOCK\n"
    "      --pid-file FILE       write the process's pid to FILE\n"
    "      --cwd DIR             working directory inside the container\n"
    "  -e, --env KEY=VALUE       set an environment variable (repeatable)\n"
    "  -u, --user UID[:GID]      run as this user and group\n"
    "  -g, --additional-gids GID add a supplementary group (repeatable)\n"
    "  -c, --cap CAP             add a capability (repeatable)\n"
    "      --no-new-privs        set no_new_privs for the process\n"
    "      --preserve-fds N      pass N extra fds (from fd 3) to the process\n"
    "      --cgroup [CTRL:]PATH  run in this sub-cgroup of the container's cgroup\n"
    "      --process-label LABEL accepted with a warning; SELinux is not applied\n"
    "      --apparmor PROFILE    accepted with a warning; AppArmor is not applied\n"
    "      --ignore-paused       exec into a paused container: the process starts\n"
    "                            when it is resumed\n";

enum {
  OPT_CONSOLE_SOCKET = 1000,
  OPT_PID_FILE,
  OPT_CWD,
  OPT_NO_NEW_PRIVS,
  OPT_PRESERVE_FDS,
  OPT_CGROUP,
  OPT_PROCESS_LABEL,
  OPT_APPARMOR,
  OPT_IGNORE_PAUSED,
};

static bool parse_u32(const char *s, uint32_t *out) {
  unsigned long long v;
  if (!parse_u64(s, &v) || v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

struct exec_cli {
  struct exec_changes ch;
  struct exec_options o;
  const char *process_file;
  const char *apparmor_profile;
  const char *selinux_label;
};

/* runc's --cgroup is [CONTROLLER[,CONTROLLER...]:]PATH; the controllers
 * only choose among cgroup v1 hierarchies. */
static const char *sub_cgroup_path(const char *arg) {
  const char *colon = strchr(arg, ':');
  if (!colon)
    return arg;
  for (const char *p = arg; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || *p == '_' || *p == ','))
      return arg;
  return colon + 1;
}

static void replace_string(char **field, const char *value) {
  if (!value)
    return;
  free(*field);
  *field = xstrdup(value);
}

static void exec_cli_clear(struct exec_cli *x) {
  strv_free(x->ch.env);
  strv_free(x->ch.caps);
  free(x->ch.additional_gids);
}

static int parse_options(struct exec_cli *x, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"process", required_argument, NULL, 'p'},
      {"detach", no_argument, NULL, 'd'},
      {"tty", no_argument, NULL, 't'},
      {"console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET},
      {"pid-file", required_argument, NULL, OPT_PID_FILE},
      {"cwd", required_argument, NULL, OPT_CWD},
      {"env", required_argument, NULL, 'e'},
      {"user", required_argument, NULL, 'u'},
      {"additional-gids", required_argument, NULL, 'g'},
      {"cap", required_argument, NULL, 'c'},
      {"no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS},
      {"preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS},
      {"cgroup", required_argument, NULL, OPT_CGROUP},
      {"process-label", required_argument, NULL, OPT_PROCESS_LABEL},
      {"apparmor", required_argument, NULL, OPT_APPARMOR},
      {"ignore-paused", no_argument, NULL, OPT_IGNORE_PAUSED},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+p:dte:u:g:c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'p':
      x->process_file = optarg;
      break;
    case 'd':
      x->o.detach = true;
      break;
    case 't':
      x->ch.tty = true;
      break;
    case OPT_CONSOLE_SOCKET:
      x->o.console_socket = optarg;
      break;
    case OPT_PID_FILE:
      x->o.pid_file = optarg;
      break;
    case OPT_CWD:
      if (optarg[0] != '/')
        return cli_bad_usage(err, argv[0], "--cwd `%s`: give an absolute path", optarg);
      x->ch.cwd = optarg;
      break;
    case 'e':
      if (!strchr(optarg, '=') || optarg[0] == '=')
        return cli_bad_usage(err, argv[0], "--env `%s`: write it as KEY=VALUE", optarg);
      strv_push(&x->ch.env, optarg);
      break;
    case 'u': {
      _cleanup_free_ char *u = xstrdup(optarg);
      char *colon = strchr(u, ':');
      if (colon)
        *colon = '\0';
      if (!parse_u32(u, &x->ch.uid) || (colon && !parse_u32(colon + 1, &x->ch.gid)))
        return cli_bad_usage(err, argv[0], "--user `%s`: expected UID or UID:GID (numbers)",
                             optarg);
      x->ch.has_user = true;
      x->ch.has_gid = colon != NULL;
      break;
    }
    case 'g': {
      uint32_t gid;
      if (!parse_u32(optarg, &gid))
        return cli_bad_usage(err, argv[0], "--additional-gids `%s`: expected a number", optarg);
      x->ch.additional_gids =
          xrealloc(x->ch.additional_gids, (x->ch.n_additional_gids + 1) * sizeof(uint32_t));
      x->ch.additional_gids[x->ch.n_additional_gids++] = gid;
      break;
    }
    case 'c':
      strv_push(&x->ch.caps, optarg);
      break;
    case OPT_NO_NEW_PRIVS:
      x->ch.no_new_privs = true;
      break;
    case OPT_PRESERVE_FDS: {
      unsigned long long n;
      if (!parse_u64(optarg, &n) || n > 65536)
        return cli_bad_usage(err, argv[0], "--preserve-fds `%s`: expected a count", optarg);
      x->o.preserve_fds = (int)n;
      break;
    }
    case OPT_CGROUP: {
      const char *path = sub_cgroup_path(optarg);
      if (!*path || strstr(path, "..") || path[0] == '/')
        return cli_bad_usage(err, argv[0], "--cgroup `%s`: give a path below the container's "
                                           "cgroup, as [CONTROLLER:]PATH", optarg);
      /* runc takes one --cgroup a controller; cgroup v2 has one tree */
      if (x->o.sub_cgroup && strcmp(x->o.sub_cgroup, path) != 0)
        return cli_bad_usage(err, argv[0], "--cgroup `%s`: every --cgroup must name the same "
                                           "path (cgroup v2 has one hierarchy)", optarg);
      x->o.sub_cgroup = path;
      break;
    }
    case OPT_PROCESS_LABEL:
      x->selinux_label = optarg;
      break;
    case OPT_APPARMOR:
      x->apparmor_profile = optarg;
      break;
    case OPT_IGNORE_PAUSED:
      x->o.ignore_paused = true;
      break;
    case 'h':
      return 1;
    default:
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  return 0;
}

int cmd_exec(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  struct exec_cli x = {0};
  int r = parse_options(&x, argc, argv, err);
  if (r != 0) {
    exec_cli_clear(&x);
    return r > 0 ? cli_print_usage(usage) : r;
  }
  if (optind >= argc) {
    exec_cli_clear(&x);
    return cli_bad_usage(err, argv[0], "missing a container id");
  }
  x.o.id = argv[optind];
  char **command = argv + optind + 1;
  if (x.process_file && command[0]) {
    exec_cli_clear(&x);
    return cli_bad_usage(err, argv[0], "give either --process FILE or a command, not both");
  }
  if (!x.process_file && !command[0]) {
    exec_cli_clear(&x);
    return cli_bad_usage(err, argv[0], "missing the command to run after the container id");
  }

  _cleanup_free_ char *root = NULL;
  struct spec_process process = {0};
  if ((r = cli_state_root(g, &root, err)) < 0)
    goto out;
  x.o.root = root;
  if (x.process_file) {
    _cleanup_free_ char *json = NULL;
    if ((r = read_file_at(AT_FDCWD, x.process_file, &json, NULL, err)) < 0) {
      r = nook_err_prefix(err, r, "--process");
      goto out;
    }
    if ((r = spec_parse_process(json, &process, err)) < 0) {
      r = nook_err_prefix(err, r, "--process %s", x.process_file);
      goto out;
    }
    exec_apply_changes(&process, &x.ch);
  } else {
    x.ch.args = command;
    if ((r = exec_process_from_config(root, x.o.id, &x.ch, &process, err)) < 0)
      goto out;
  }
  replace_string(&process.apparmor_profile, x.apparmor_profile);
  replace_string(&process.selinux_label, x.selinux_label);
  x.o.process = &process;
  r = exec_run(&x.o, err);
out:
  spec_process_clear(&process);
  exec_cli_clear(&x);
  return r;
}
