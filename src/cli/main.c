/* nook: parses the global options, dispatches to one command, and prints the
 * command's error once. */
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "linux.h"
#include "state.h"
#include "log.h"
#include "nook-config.h"
#include "util.h"

static int cmd_help(struct nook_globals *g, int argc, char **argv, nook_error *err);

#define NOOK_TABLE_ENTRY(n, s) {.name = #n, .run = cmd_##n, .summary = s},
const struct nook_command nook_commands[] = {
    NOOK_COMMANDS(NOOK_TABLE_ENTRY){.name = "help", .run = cmd_help,
                                    .summary = "print this help, or a command's: help COMMAND"},
    {.name = "__complete", .run = cmd___complete, .hidden = true},
    {0},
};
#undef NOOK_TABLE_ENTRY

/* Command names use '-' on the command line where C needs '_'. */
static const struct nook_command *find_command(const char *name) {
  for (const struct nook_command *c = nook_commands; c->name; c++) {
    size_t i = 0;
    for (; c->name[i] && name[i]; i++)
      if (c->name[i] != name[i] && !(c->name[i] == '_' && name[i] == '-'))
        break;
    if (!c->name[i] && !name[i])
      return c;
  }
  return NULL;
}

static void print_version(void) {
  printf("nook version %s\ncommit: %s\nspec: %s\n", NOOK_VERSION, NOOK_COMMIT, NOOK_SPEC_VERSION);
  printf("+SECCOMP +CAP +USERNS +IDMAP-SUBID +SLIRP +FUSE-OVERLAY +NATIVE-OVERLAY "
         "+SYSTEMD-CGROUP +CGROUPFS -CRIU -SELINUX -APPARMOR\n");
}

static void print_help(void) {
  printf("Usage: nook [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
         "A rootless OCI container runtime.\n\nCommands:\n");
  for (const struct nook_command *c = nook_commands; c->name; c++) {
    if (c->hidden)
      continue;
    _cleanup_free_ char *name = xstrdup(c->name);
    for (char *p = name; *p; p++)
      if (*p == '_')
        *p = '-';
    printf("  %-16s %s\n", name, c->summary);
  }
  printf("\nGlobal options:\n"
         "  --root DIR              state directory (default $XDG_RUNTIME_DIR/nook)\n"
         "  --log FILE              also write messages to FILE\n"
         "  --log-format text|json  format of the --log file\n"
         "  --debug                 print debug messages\n"
         "  --rootless auto|true|false\n"
         "  --systemd-cgroup        same as --cgroup-manager systemd\n"
         "  --cgroup-manager systemd|cgroupfs|disabled\n"
         "  -v, --version           print the version\n"
         "  -h, --help              print this help\n\n"
         "Run 'nook COMMAND --help' for a command's options.\n");
}

/* `nook help [COMMAND]`, as runc and podman have it. */
static int cmd_help(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  if (argc < 2) {
    print_help();
    return 0;
  }
  if (argc > 2)
    return cli_bad_usage(err, argv[0], "unexpected argument `%s`", argv[2]);
  const struct nook_command *c = find_command(argv[1]);
  if (!c || c->hidden || c->run == cmd_help)
    return nook_errx(err, EINVAL, "help: unknown command `%s` (see 'nook --help')", argv[1]);
  char *args[] = {argv[1], "--help", NULL};
  optind = 0;
  return c->run(g, 2, args, err);
}

int cli_print_usage(const char *usage) {
  fputs(usage, stdout);
  return 0;
}

int cli_bad_usage(nook_error *err, const char *command, const char *fmt, ...) {
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  return nook_errx(err, EINVAL, "%s: %s (see 'nook %s --help')", command, what, command);
}

int cli_want_args(nook_error *err, const char *command, int argc, char **argv, int want,
                  const char *names) {
  if (argc - optind < want)
    return cli_bad_usage(err, command, "missing %s", names);
  if (argc - optind > want)
    return cli_bad_usage(err, command, "unexpected argument `%s`", argv[optind + want]);
  return 0;
}

int cli_state_root(struct nook_globals *g, char **root, nook_error *err) {
  return state_root_resolve(g->root, root, err);
}

int cli_id_and_root(struct nook_globals *g, int argc, char **argv, const char **id, char **root,
                    nook_error *err) {
  int r = cli_want_args(err, argv[0], argc, argv, 1, "a container id");
  if (r < 0)
    return r;
  *id = argv[optind];
  return cli_state_root(g, root, err);
}

/* A command whose operands are only container ids takes its options after
 * them too (`nook rm web -f`, `nook logs web -f`), as runc and podman do;
 * one that takes a command line (exec, run, launch) or a signal that may be
 * written -9 (kill) stops at its first operand ("+"). */
int cli_parse_help_only(int argc, char **argv, const char *usage, nook_error *err) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h') {
      cli_print_usage(usage);
      return 1;
    }
    return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  return 0;
}

void cli_cgroup_options(const struct nook_globals *g, struct create_options *o) {
  o->cgroup_manager = g->cgroup_manager;
  o->cgroup_manager_explicit = g->cgroup_manager != NULL;
}

enum { OPT_ROOT = 1000, OPT_LOG, OPT_LOG_FORMAT, OPT_DEBUG, OPT_ROOTLESS, OPT_SYSTEMD_CGROUP,
       OPT_CGROUP_MANAGER, OPT_CRIU };

static int parse_globals(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"root", required_argument, NULL, OPT_ROOT},
      {"log", required_argument, NULL, OPT_LOG},
      {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
      {"debug", no_argument, NULL, OPT_DEBUG},
      {"rootless", required_argument, NULL, OPT_ROOTLESS},
      {"systemd-cgroup", no_argument, NULL, OPT_SYSTEMD_CGROUP},
      {"cgroup-manager", required_argument, NULL, OPT_CGROUP_MANAGER},
      {"criu", required_argument, NULL, OPT_CRIU},
      {"version", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
    switch (c) {
    case OPT_ROOT:
      g->root = optarg;
      break;
    case OPT_LOG:
      g->log_file = optarg;
      break;
    case OPT_LOG_FORMAT:
      if (strcmp(optarg, "json") == 0)
        g->log_json = true;
      else if (strcmp(optarg, "text") == 0)
        g->log_json = false;
      else
        return nook_errx(err, EINVAL, "--log-format: unknown format `%s` (text or json)", optarg);
      break;
    case OPT_DEBUG:
      g->debug = true;
      break;
    case OPT_ROOTLESS:
      if (strcmp(optarg, "auto") == 0)
        g->rootless = NOOK_ROOTLESS_AUTO;
      else if (strcmp(optarg, "true") == 0)
        g->rootless = NOOK_ROOTLESS_TRUE;
      else if (strcmp(optarg, "false") == 0)
        g->rootless = NOOK_ROOTLESS_FALSE;
      else
        return nook_errx(err, EINVAL, "--rootless: expected auto, true or false, not `%s`", optarg);
      break;
    case OPT_SYSTEMD_CGROUP:
      g->cgroup_manager = "systemd";
      break;
    case OPT_CGROUP_MANAGER:
      if (strcmp(optarg, "systemd") && strcmp(optarg, "cgroupfs") && strcmp(optarg, "disabled"))
        return nook_errx(err, EINVAL,
                         "--cgroup-manager: expected systemd, cgroupfs or disabled, not `%s`",
                         optarg);
      g->cgroup_manager = optarg;
      break;
    case OPT_CRIU:
      break; /* accepted for runc compatibility; checkpointing is not supported */
    case 'v':
      print_version();
      exit(0);
    case 'h':
      print_help();
      exit(0);
    default:
      return nook_errx(err, EINVAL, "unknown global option `%s` (see 'nook --help')",
                       argv[optind - 1]);
    }
  }
  return optind;
}

/* Under the name of a peer tool (a link installed by meson), nook behaves as
 * that tool: the helper executables do the work. */
static const struct {
  const char *invoked_as;
  const char *command;
} personalities[] = {
    {"nook-slirp4netns", "slirp4netns"},
    {"nook-fuse-overlayfs", "fuse-overlayfs"},
};

int main(int argc, char **argv) {
  struct nook_globals g = {.argv0 = argv[0]};
  nook_error err;
  nook_err_clear(&err);
  int ret;

  const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  for (size_t i = 0; i < ARRAY_SIZE(personalities); i++) {
    if (strcmp(self, personalities[i].invoked_as) == 0) {
      const struct nook_command *c = find_command(personalities[i].command);
      ret = c->run(&g, argc, argv, &err);
      goto out;
    }
  }

  ret = parse_globals(&g, argc, argv, &err);
  if (ret < 0)
    goto out;
  int first = ret;
  if (first >= argc) {
    print_help();
    return 1;
  }
  if (g.rootless != NOOK_ROOTLESS_AUTO)
    linux_set_rootless_override(g.rootless == NOOK_ROOTLESS_TRUE);
  if (nook_log_init(g.log_file, g.log_json, g.debug) < 0) {
    ret = nook_err(&err, errno, "open log file `%s`", g.log_file);
    goto out;
  }
  const struct nook_command *c = find_command(argv[first]);
  if (!c) {
    ret = nook_errx(&err, EINVAL, "unknown command `%s` (see 'nook --help')", argv[first]);
    goto out;
  }
  optind = 0; /* each command parses its own options from its name on */
  ret = c->run(&g, argc - first, argv + first, &err);

out:
  fflush(stdout);
  if (ret < 0) {
    nook_log(NOOK_LOG_ERROR, "%s", err.msg);
    fprintf(stderr, "nook: %s\n", err.msg);
    return err.exit_status ? err.exit_status : 1;
  }
  return ret;
}
