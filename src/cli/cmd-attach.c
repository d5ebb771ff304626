#include <getopt.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook attach [OPTIONS] ID\n\n"
    "Attach this terminal to a container launched with -d -t: its output here,\n"
    "keys and the window size there, until it exits (with its exit code) or the\n"
    "detach keys are typed (ctrl-p ctrl-q), which leave it running.\n\n"
    "Options:\n"
    "      --detach-keys KEYS    keys that detach, e.g. ctrl-p,ctrl-q (\"\" for none)\n"
    "      --no-stdin            only show the output, send no keys\n";

int cmd_attach(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  enum { OPT_DETACH_KEYS = 1000, OPT_NO_STDIN };
  static const struct option opts[] = {{"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
                                       {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  const char *keys = "ctrl-p,ctrl-q";
  bool no_stdin = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    if (c == OPT_DETACH_KEYS)
      keys = optarg;
    else if (c == OPT_NO_STDIN)
      no_stdin = true;
    else if (c == 'h')
      return cli_print_usage(usage);
    else if (optopt)
      return cli_bad_usage(err, argv[0], "option `%s` needs a value", argv[optind - 1]);
    else
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  int status;
  if ((r = launch_attach(root, id, keys, no_stdin, &status, err)) < 0)
    return r;
  return status > 0 ? status : 0;
}
