#include <getopt.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook port ID [PORT[/tcp|udp]]\n\n"
    "List the ports a container made by nook launch publishes, one a line as\n"
    "CONTAINERPORT/PROTO -> HOSTIP:HOSTPORT; with PORT, only its host address.\n";

int cmd_port(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  int r = cli_parse_help_only(argc, argv, usage, err);
  if (r != 0)
    return r < 0 ? r : 0;
  if (argc - optind < 1 || argc - optind > 2)
    return cli_bad_usage(err, argv[0], "give a container id and at most one port");
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  return launch_port_print(root, argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL, err);
}
