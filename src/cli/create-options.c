#include "create-options.h"

#include <string.h>

#include "util.h"

int create_options_parse(struct nook_globals *g, int argc, char **argv, bool with_run,
                         const char *usage, struct create_options *o, char **root,
                         nook_error *err) {
  static const struct option opts[] = {
      {"bundle", required_argument, NULL, CREATE_OPT_BUNDLE},
      {"pid-file", required_argument, NULL, CREATE_OPT_PID_FILE},
      {"console-socket", required_argument, NULL, CREATE_OPT_CONSOLE_SOCKET},
      {"preserve-fds", required_argument, NULL, CREATE_OPT_PRESERVE_FDS},
      {"no-pivot", no_argument, NULL, CREATE_OPT_NO_PIVOT},
      {"no-new-keyring", no_argument, NULL, CREATE_OPT_NO_NEW_KEYRING},
      {"no-subreaper", no_argument, NULL, CREATE_OPT_NO_SUBREAPER},
      {"detach", no_argument, NULL, CREATE_OPT_DETACH},
      {"keep", no_argument, NULL, CREATE_OPT_KEEP},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  const char *cmd = argv[0];
  memset(o, 0, sizeof(*o));
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, with_run ? "+:b:dh" : "+:b:h", opts, NULL)) != -1) {
    switch (c) {
    case CREATE_OPT_BUNDLE:
      o->bundle = optarg;
      break;
    case CREATE_OPT_PID_FILE:
      o->pid_file = optarg;
      break;
    case CREATE_OPT_CONSOLE_SOCKET:
      o->console_socket = optarg;
      break;
    case CREATE_OPT_PRESERVE_FDS: {
      unsigned long long n;
      if (!parse_u64(optarg, &n) || n > 65536)
        return cli_bad_usage(err, cmd, "--preserve-fds: `%s` is not a number of fds", optarg);
      o->preserve_fds = (int)n;
      break;
    }
    case CREATE_OPT_NO_PIVOT:
      o->no_pivot = true;
      break;
    case CREATE_OPT_NO_NEW_KEYRING:
      o->no_new_keyring = true;
      break;
    case CREATE_OPT_NO_SUBREAPER:
      break; /* nook's foreground run waits for its own child; nothing to change */
    case CREATE_OPT_DETACH:
      if (!with_run)
        goto bad;
      o->detach = true;
      break;
    case CREATE_OPT_KEEP:
      if (!with_run)
        goto bad;
      o->keep = true;
      break;
    case 'h':
      cli_print_usage(usage);
      return 1;
    default:
    bad:
      return cli_bad_usage(err, cmd,
                         c == ':' ? "option `%s` needs a value" : "unknown option `%s`",
                         argv[optind - 1]);
    }
  }
  int r = cli_want_args(err, cmd, argc, argv, 1, "a container id");
  if (r < 0)
    return r;
  o->id = argv[optind];
  cli_cgroup_options(g, o);
  r = cli_state_root(g, root, err);
  if (r < 0)
    return r;
  o->root = *root;
  return 0;
}
