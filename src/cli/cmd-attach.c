#include <getopt.h>
#include <string.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook attach [OPTIONS] ID\n\n"
    "Attach to a container launched with -d (or -it from a terminal): its output\n"
    "here (stdout and stderr apart when it has no terminal), this stdin there\n"
    "(its end closes the container's stdin; with -t: keys and the window size),\n"
    "until it exits (with its exit code) or the detach keys are typed (ctrl-p\n"
    "ctrl-q), which leave it running.\n\n"
    "Options:\n"
    "      --detach-keys KEYS    keys that detach, e.g. ctrl-p,ctrl-q (\"\" for none)\n"
    "      --no-stdin            only show the output, send nothing\n"
    "      --sig-proxy[=BOOL]    pass SIGINT, SIGTERM... to the container (default:\n"
    "                            true without a terminal); false: ctrl-c detaches\n";

int cmd_attach(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  enum { OPT_DETACH_KEYS = 1000, OPT_NO_STDIN, OPT_SIG_PROXY };
  static const struct option opts[] = {{"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
                                       {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
                                       {"sig-proxy", optional_argument, NULL, OPT_SIG_PROXY},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  struct attach_options o = {.detach_keys = "ctrl-p,ctrl-q", .sig_proxy = -1};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == OPT_DETACH_KEYS) {
      o.detach_keys = optarg;
    } else if (c == OPT_NO_STDIN) {
      o.no_stdin = true;
    } else if (c == OPT_SIG_PROXY) {
      if (optarg && strcmp(optarg, "true") && strcmp(optarg, "false"))
        return cli_bad_usage(err, argv[0], "--sig-proxy: `%s` is not true or false", optarg);
      o.sig_proxy = !optarg || !strcmp(optarg, "true");
    } else if (c == 'h') {
      return cli_print_usage(usage);
    } else if (optopt) {
      return cli_bad_usage(err, argv[0], "option `%s` needs a value", argv[optind - 1]);
    } else {
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  int status;
  if ((r = launch_attach(root, id, &o, &status, err)) < 0)
    return r;
  return status > 0 ? status : 0;
}
