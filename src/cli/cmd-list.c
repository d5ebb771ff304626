#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] =
    "Usage: nook list [--format table|json] [-q]\n\n"
    "List the containers.\n\n"
    "Options:\n"
    "  -f, --format FORMAT   table (default) or json\n"
    "  -q, --quiet           print the ids only, whatever the format\n";

static void print_json(const char *root, char **ids) {
  printf("[");
  bool first = true;
  for (size_t i = 0; ids[i]; i++) {
    _cleanup_container_ struct container c = {.dirfd = -1};
    nook_error ignored;
    if (container_load(root, ids[i], &c, &ignored) < 0)
      continue;
    _cleanup_free_ char *json = state_to_oci_json(&c.state, c.status, false);
    printf("%s%s", first ? "" : ",", json);
    first = false;
  }
  printf("]\n");
}

int cmd_list(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool quiet = false, json = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+f:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      if (strcmp(optarg, "json") == 0)
        json = true;
      else if (strcmp(optarg, "table") != 0)
        return cli_bad_usage(err, argv[0], "--format: `%s` is not table or json", optarg);
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      return cli_print_usage(usage);
    default:
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  int r = cli_want_args(err, argv[0], argc, argv, 0, "");
  if (r < 0)
    return r;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  _cleanup_strv_ char **ids = NULL;
  if ((r = state_list_ids(root, &ids, err)) < 0)
    return r;
  /* runc's -q wins over --format json */
  if (json && !quiet) {
    print_json(root, ids);
    return 0;
  }
  if (!quiet)
    printf("%-20s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
           "OWNER");
  for (size_t i = 0; ids[i]; i++) {
    if (quiet) {
      printf("%s\n", ids[i]);
      continue;
    }
    _cleanup_container_ struct container ct = {.dirfd = -1};
    nook_error ignored;
    if (container_load(root, ids[i], &ct, &ignored) < 0)
      continue;
    printf("%-20s %-8d %-10s %-40s %-31s %s\n", ids[i],
           ct.status == STATUS_STOPPED ? 0 : ct.state.pid, state_status_name(ct.status),
           ct.state.bundle ? ct.state.bundle : "", ct.state.created ? ct.state.created : "",
           ct.state.owner ? ct.state.owner : "");
  }
  return 0;
}
