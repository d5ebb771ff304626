/* The command line of fuse-overlayfs 1.10:
 *   nook-fuse-overlayfs [-f] [-d] -o lowerdir=A:B,upperdir=U,workdir=W[,...] MOUNTPOINT
 * and the mount.fuse3 form (`SOURCE MOUNTPOINT -o OPTIONS`). Options that
 * fuse-overlayfs or mount(8) takes and that mean nothing here are accepted
 * and ignored, so a caller written for fuse-overlayfs works unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nook-config.h"
#include "ovl.h"
#include "util.h"

static const char usage[] =
    "Usage: nook-fuse-overlayfs [-f] [-d] -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR]"
    "[,OPTION...] MOUNTPOINT\n"
    "       nook-fuse-overlayfs SOURCE MOUNTPOINT -o OPTIONS   (mount.fuse3 form)\n\n"
    "An overlay filesystem in user space, with fuse-overlayfs' options:\n"
    "  -o lowerdir=A:B      lower layers, top first (required)\n"
    "  -o upperdir=DIR      writable layer (without it the mount is read-only)\n"
    "  -o workdir=DIR       scratch directory on the upper's filesystem\n"
    "  -o uidmapping=DISK:SHOWN:LEN[:DISK:SHOWN:LEN...], gidmapping=...\n"
    "  -o squash_to_root, squash_to_uid=N, squash_to_gid=N\n"
    "  -o timeout=SECONDS   kernel cache timeout (default 1000000)\n"
    "  -o writeback=0|1, fsync=0|1, volatile, noxattrs=1\n"
    "  -o max_threads=N     worker threads for copy-ups and fsync (default 4);\n"
    "                       threaded=0 answers everything in one thread\n"
    "  -o poll_us=N         in a burst of requests, poll N microseconds for the\n"
    "                       next one before sleeping (default 0: never; pays\n"
    "                       where a CPU is to spare, costs where none is)\n"
    "  -o allow_other, allow_root\n"
    "  -f                   stay in the foreground\n"
    "  -d, --debug          foreground, log every request\n"
    "Unmount with `fusermount3 -u MOUNTPOINT`.\n";

/* Options taken for compatibility that change nothing here. */
static const char *const ignored_flags[] = {
    "static_nlink", "noacl", "userxattr", "default_permissions", "rw", "dev", "nodev", "suid",
    "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "strictatime", "diratime",
    "nodiratime", "sync", "async", "dirsync", "lazytime", "nolazytime", "defaults", "user",
    "nouser", "users", "auto", "noauto", "nofail", "_netdev", "clone_fd", "kernel_cache",
    "auto_cache", "auto_unmount", "splice_read", "splice_write", "splice_move", "silent",
    "mand", "nomand", "iversion", "noiversion", "bind", "xattr", "fast_ino", NULL};
static const char *const ignored_values[] = {
    "context", "fscontext", "defcontext", "rootcontext", "redirect_dir", "index", "metacopy",
    "xino", "uuid", "nfs_export", "plugins", "xattr_permissions", "fast_ino", "fsname",
    "subtype", "max_idle_threads", "max_read", "blksize", "umask", "uid", "gid", "volatile",
    NULL};

static bool in_list(const char *const *list, const char *s) {
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], s) == 0)
      return true;
  return false;
}

static int parse_mapping(const char *what, const char *s, struct ovl_mapping **out, size_t *n,
                         nook_error *err) {
  _cleanup_free_ char *copy = xstrdup(s);
  unsigned long long v[3];
  int k = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
    if (!parse_u64(tok, &v[k]) || v[k] > 0xffffffffULL)
      return nook_errx(err, EINVAL, "%s: `%s` is not a number in `%s` (want ID:ID:LEN[:...])",
                       what, tok, s);
    if (++k == 3) {
      *out = xrealloc(*out, (*n + 1) * sizeof(**out));
      (*out)[(*n)++] = (struct ovl_mapping){
          .disk = (unsigned int)v[0], .presented = (unsigned int)v[1], .len = (unsigned int)v[2]};
      k = 0;
    }
  }
  if (k != 0 || *n == 0)
    return nook_errx(err, EINVAL, "%s: `%s` is not a list of ID:ID:LEN triples", what, s);
  return 0;
}

static int parse_bool(const char *name, const char *value, bool *out, nook_error *err) {
  if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
    *out = true;
  else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0)
    *out = false;
  else
    return nook_errx(err, EINVAL, "option %s=%s: want 0 or 1", name, value);
  return 0;
}

static int set_string(char **field, const char *name, const char *value, nook_error *err) {
  if (!*value)
    return nook_errx(err, EINVAL, "option %s= needs a value", name);
  free(*field);
  *field = xstrdup(value);
  return 0;
}

static int parse_one(struct ovl_options *o, char *opt, nook_error *err) {
  char *eq = strchr(opt, '=');
  if (!eq) {
    if (strcmp(opt, "squash_to_root") == 0)
      o->squash_to_root = true;
    else if (strcmp(opt, "debug") == 0)
      o->debug = o->foreground = true;
    else if (strcmp(opt, "volatile") == 0)
      o->fsync = false;
    else if (strcmp(opt, "allow_other") == 0)
      o->allow_other = true;
    else if (strcmp(opt, "allow_root") == 0)
      o->allow_root = true;
    else if (strcmp(opt, "ro") == 0)
      o->read_only = true;
    else if (strcmp(opt, "noxattrs") == 0)
      o->noxattrs = true;
    else if (!in_list(ignored_flags, opt) && !str_has_prefix(opt, "x-"))
      return nook_errx(err, EINVAL, "unknown option `%s` (see --help)", opt);
    return 0;
  }
  *eq = '\0';
  const char *name = opt, *value = eq + 1;
  bool b;
  int r = 0;
  if (strcmp(name, "lowerdir") == 0)
    r = set_string(&o->lowerdir, name, value, err);
  else if (strcmp(name, "upperdir") == 0)
    r = set_string(&o->upperdir, name, value, err);
  else if (strcmp(name, "workdir") == 0)
    r = set_string(&o->workdir, name, value, err);
  else if (strcmp(name, "uidmapping") == 0)
    r = parse_mapping("uidmapping", value, &o->uid_map, &o->n_uid_map, err);
  else if (strcmp(name, "gidmapping") == 0)
    r = parse_mapping("gidmapping", value, &o->gid_map, &o->n_gid_map, err);
  else if (strcmp(name, "squash_to_uid") == 0 || strcmp(name, "squash_to_gid") == 0) {
    long long v;
    if (!parse_i64(value, &v) || v < 0 || v > 0xfffffffeLL)
      return nook_errx(err, EINVAL, "option %s=%s: want an id", name, value);
    if (name[10] == 'u')
      o->squash_to_uid = v;
    else
      o->squash_to_gid = v;
  } else if (strcmp(name, "timeout") == 0) {
    char *end;
    double t = strtod(value, &end);
    if (*end || t < 0)
      return nook_errx(err, EINVAL, "option timeout=%s: want seconds", value);
    o->timeout = t;
  } else if (strcmp(name, "writeback") == 0) {
    r = parse_bool(name, value, &o->writeback, err);
  } else if (strcmp(name, "fsync") == 0) {
    r = parse_bool(name, value, &o->fsync, err);
  } else if (strcmp(name, "noxattrs") == 0) {
    r = parse_bool(name, value, &o->noxattrs, err);
  } else if (strcmp(name, "threaded") == 0) {
    r = parse_bool(name, value, &b, err);
    if (r == 0 && !b)
      o->max_threads = 1;
  } else if (strcmp(name, "max_threads") == 0) {
    unsigned long long v;
    if (!parse_u64(value, &v) || v == 0 || v > 1024)
      return nook_errx(err, EINVAL, "option max_threads=%s: want 1 to 1024", value);
    o->max_threads = (unsigned int)v;
  } else if (strcmp(name, "poll_us") == 0) {
    unsigned long long v;
    if (!parse_u64(value, &v) || v > 1000000)
      return nook_errx(err, EINVAL, "option poll_us=%s: want microseconds, 0 to 1000000", value);
    o->poll_us = (unsigned int)v;
  } else if (strcmp(name, "debug") == 0) {
    r = parse_bool(name, value, &o->debug, err);
  } else if (!in_list(ignored_values, name)) {
    return nook_errx(err, EINVAL, "unknown option `%s=%s` (see --help)", name, value);
  }
  return r;
}

/* Splits a -o list at commas; a backslash keeps the next character. */
static int parse_option_list(struct ovl_options *o, const char *list, nook_error *err) {
  _cleanup_free_ char *buf = xmalloc(strlen(list) + 1);
  const char *p = list;
  while (*p) {
    size_t n = 0;
    while (*p && *p != ',') {
      if (*p == '\\' && p[1])
        p++;
      buf[n++] = *p++;
    }
    buf[n] = '\0';
    if (*p == ',')
      p++;
    if (n == 0)
      continue;
    int r = parse_one(o, buf, err);
    if (r < 0)
      return r;
  }
  return 0;
}

int ovl_parse_args(int argc, char **argv, struct ovl_options *o, nook_error *err) {
  *o = (struct ovl_options){
      .squash_to_uid = -1, .squash_to_gid = -1, .fsync = true, .writeback = true,
      .timeout = 1000000.0, .poll_us = 0};
  char *positional[2];
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-o") == 0) {
      if (++i >= argc)
        return nook_errx(err, EINVAL, "-o needs a list of options (see --help)");
      int r = parse_option_list(o, argv[i], err);
      if (r < 0)
        return r;
    } else if (str_has_prefix(a, "-o")) {
      int r = parse_option_list(o, a + 2, err);
      if (r < 0)
        return r;
    } else if (strcmp(a, "-f") == 0) {
      o->foreground = true;
    } else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
      o->debug = o->foreground = true;
    } else if (strcmp(a, "-s") == 0) {
      o->max_threads = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 1;
    } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("nook-fuse-overlayfs: version %s (fuse-overlayfs 1.10 compatible)\n"
             "FUSE library version %s\n",
             NOOK_VERSION, fuse_pkgversion());
      return 1;
    } else if (a[0] == '-' && a[1]) {
      return nook_errx(err, EINVAL, "unknown argument `%s` (see --help)", a);
    } else {
      if (npos == 2)
        return nook_errx(err, EINVAL,
                         "unexpected argument `%s`: give [SOURCE] MOUNTPOINT (see --help)", a);
      positional[npos++] = argv[i];
    }
  }
  if (npos == 0)
    return nook_errx(err, EINVAL, "no mount point given (see --help)");
  o->mountpoint = xstrdup(positional[npos - 1]);
  o->source = xstrdup(npos == 2 ? positional[0] : "fuse-overlayfs");
  if (!o->lowerdir)
    return nook_errx(err, EINVAL, "no lower layer given: add -o lowerdir=DIR[:DIR...]");
  if (o->upperdir && !o->workdir)
    return nook_errx(err, EINVAL, "upperdir needs a workdir: add -o workdir=DIR");
  if (!o->upperdir && o->workdir)
    return nook_errx(err, EINVAL, "workdir without upperdir: add -o upperdir=DIR");
  if (!o->upperdir)
    o->read_only = true;
  return 0;
}

void ovl_options_free(struct ovl_options *o) {
  free(o->source);
  free(o->mountpoint);
  free(o->lowerdir);
  free(o->upperdir);
  free(o->workdir);
  free(o->uid_map);
  free(o->gid_map);
}
