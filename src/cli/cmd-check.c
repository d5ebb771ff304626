/* nook check: examines the host and says, one line per item, what nook can
 * use and what is missing, with the fix. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "hostcheck.h"
#include "util.h"

static const char usage[] =
    "Usage: nook check [--format text|json]\n"
    "\n"
    "Examine this host and print one line per item: what nook can use, and what\n"
    "is missing with the fix (newuidmap/newgidmap, subordinate ids, user\n"
    "namespaces, id mapping, the user bus and systemd user manager, cgroup v2 and\n"
    "its delegation, /dev/fuse, /dev/net/tun, native overlay, XDG_RUNTIME_DIR, the\n"
    "helper executables). User namespaces, id maps and overlay are tried for real\n"
    "in a child process.\n"
    "\n"
    "Exit status 0 when containers can run (user namespaces work, ids can be\n"
    "mapped, and the state directory is writable), 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  --format text|json  json: an array of {item, status, detail, fix}\n"
    "  -h, --help          print this help\n";

static void gen_str(yajl_gen g, const char *s) {
  if (s)
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
  else
    yajl_gen_null(g);
}

static int print_json(const struct hostcheck_report *rep, nook_error *err) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g)
    return nook_errx(err, ENOMEM, "check: out of memory");
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_config(g, yajl_gen_indent_string, "    ");
  yajl_gen_array_open(g);
  for (size_t i = 0; i < rep->n; i++) {
    const struct hostcheck_item *it = &rep->items[i];
    yajl_gen_map_open(g);
    gen_str(g, "item");
    gen_str(g, it->item);
    gen_str(g, "status");
    gen_str(g, hostcheck_status_name(it->status));
    gen_str(g, "detail");
    gen_str(g, it->detail);
    gen_str(g, "fix");
    gen_str(g, it->fix);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  bool ok = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
  yajl_gen_free(g);
  if (!ok)
    return nook_err(err, errno, "check: write to stdout");
  return 0;
}

static int print_text(const struct hostcheck_report *rep, nook_error *err) {
  const char *no_color = getenv("NO_COLOR");
  bool color = isatty(STDOUT_FILENO) && !(no_color && *no_color);
  static const char *const colors[] = {
      [HOSTCHECK_OK] = "\033[32m", [HOSTCHECK_WARNING] = "\033[33m",
      [HOSTCHECK_MISSING] = "\033[31m"};
  size_t warnings = 0, missing = 0;
  for (size_t i = 0; i < rep->n; i++) {
    const struct hostcheck_item *it = &rep->items[i];
    const char *name = hostcheck_status_name(it->status);
    warnings += it->status == HOSTCHECK_WARNING;
    missing += it->status == HOSTCHECK_MISSING;
    printf("%s%s%s%*s%s: %s", color ? colors[it->status] : "", name, color ? "\033[0m" : "",
           (int)(8 - strlen(name)), "", it->item, it->detail);
    if (it->fix)
      printf("; fix: %s", it->fix);
    putchar('\n');
  }
  printf("\n%s (%zu ok, %zu warning%s, %zu missing)\n",
         rep->can_run ? "nook can run containers here" : "nook cannot run containers here",
         rep->n - warnings - missing, warnings, warnings == 1 ? "" : "s", missing);
  if (fflush(stdout) != 0)
    return nook_err(err, errno, "check: write to stdout");
  return 0;
}

int cmd_check(struct nook_globals *gl, int argc, char **argv, nook_error *err) {
  enum { OPT_FORMAT = 1000 };
  static const struct option opts[] = {
      {"format", required_argument, NULL, OPT_FORMAT}, {"help", no_argument, NULL, 'h'}, {0}};
  bool json = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      return cli_print_usage(usage);
    case OPT_FORMAT:
      if (strcmp(optarg, "json") == 0)
        json = true;
      else if (strcmp(optarg, "text") != 0)
        return cli_bad_usage(err, "check", "unknown --format `%s` (use text or json)", optarg);
      break;
    default:
      if (optopt == OPT_FORMAT)
        return cli_bad_usage(err, "check", "--format needs a value (text or json)");
      return cli_bad_usage(err, "check", "unknown option `%s`", argv[optind - 1]);
    }
  }
  int r = cli_want_args(err, "check", argc, argv, 0, "");
  if (r < 0)
    return r;

  struct hostcheck_report rep;
  hostcheck_run(&rep);
  r = json ? print_json(&rep, err) : print_text(&rep, err);
  bool can_run = rep.can_run;
  hostcheck_report_free(&rep);
  if (r < 0)
    return r;
  return can_run ? 0 : 1;
}
