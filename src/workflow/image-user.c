/* USER of an image or -u, resolved the way docker does: names from the
 * image's own /etc/passwd and /etc/group (never the host's), a numeric uid
 * taking its group from passwd when listed there, root's group otherwise. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"
#include "workflow.h"

/* The file as the overlay shows it: the topmost layer that has it wins, a
 * whiteout there hides the lower ones. */
static char *read_from_layers(char *const *lowerdirs, const char *path) {
  for (size_t i = 0; lowerdirs && lowerdirs[i]; i++) {
    _cleanup_close_ int dir = open(lowerdirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
      continue;
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
    if (fd < 0) {
      struct stat st;
      if (fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode))
        return NULL; /* whiteout */
      continue;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    char *text = NULL;
    if (read_all(fd, &text, NULL) == 0)
      return text;
  }
  return NULL;
}

/* Finds the line whose field 0 (name) or field 2 (id) matches; fills the
 * fields (split in place). */
static bool find_entry(char *text, const char *key, bool by_id, char **fields, size_t nfields) {
  char *save = NULL;
  for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
       line = strtok_r(NULL, "\n", &save)) {
    size_t n = 0;
    char *p = line;
    for (; n < nfields; n++) {
      fields[n] = p;
      char *colon = strchr(p, ':');
      if (!colon) {
        n++;
        break;
      }
      *colon = '\0';
      p = colon + 1;
    }
    if (n < 3)
      continue;
    if (!strcmp(by_id ? fields[2] : fields[0], key))
      return true;
  }
  return false;
}

int launch_resolve_user(char *const *lowerdirs, const char *spec, struct launch_user *out,
                        nook_error *err) {
  memset(out, 0, sizeof(*out));
  if (!spec || !*spec) {
    out->home = xstrdup("/root");
    return 0;
  }
  _cleanup_free_ char *copy = xstrdup(spec);
  char *group = strchr(copy, ':');
  if (group)
    *group++ = '\0';
  unsigned long long n;
  bool have_gid = false;
  _cleanup_free_ char *passwd = read_from_layers(lowerdirs, "etc/passwd");
  char *f[7] = {0};
  if (parse_u64(copy, &n) && n < UINT32_MAX) {
    out->uid = (uint32_t)n;
    if (find_entry(passwd, copy, true, f, 7) && f[3] && parse_u64(f[3], &n)) {
      out->gid = (uint32_t)n;
      have_gid = true;
      out->home = f[5] ? xstrdup(f[5]) : NULL;
    }
  } else {
    if (!find_entry(passwd, copy, false, f, 7) || !parse_u64(f[2], &n))
      return nook_errx(err, ENOENT, "unable to find user %s: no matching entries in the image's "
                                    "/etc/passwd", copy);
    out->uid = (uint32_t)n;
    if (f[3] && parse_u64(f[3], &n)) {
      out->gid = (uint32_t)n;
      have_gid = true;
    }
    out->home = f[5] ? xstrdup(f[5]) : NULL;
  }
  if (group && *group) {
    if (parse_u64(group, &n) && n < UINT32_MAX) {
      out->gid = (uint32_t)n;
    } else {
      _cleanup_free_ char *groups = read_from_layers(lowerdirs, "etc/group");
      char *g[4] = {0};
      if (!find_entry(groups, group, false, g, 4) || !parse_u64(g[2], &n)) {
        free(out->home);
        out->home = NULL;
        return nook_errx(err, ENOENT, "unable to find group %s: no matching entries in the "
                                      "image's /etc/group", group);
      }
      out->gid = (uint32_t)n;
    }
  } else if (!have_gid) {
    out->gid = 0;
  }
  if (!out->home || !*out->home) {
    free(out->home);
    out->home = xstrdup(out->uid == 0 ? "/root" : "/");
  }
  return 0;
}

int launch_resolve_group(char *const *lowerdirs, const char *name, uint32_t *gid,
                         nook_error *err) {
  unsigned long long n;
  if (parse_u64(name, &n)) {
    if (n >= UINT32_MAX)
      return nook_errx(err, EINVAL, "--group-add: `%s` is not a gid", name);
    *gid = (uint32_t)n;
    return 0;
  }
  _cleanup_free_ char *groups = read_from_layers(lowerdirs, "etc/group");
  char *g[4] = {0};
  if (!find_entry(groups, name, false, g, 4) || !parse_u64(g[2], &n) || n >= UINT32_MAX)
    return nook_errx(err, ENOENT, "--group-add: unable to find group %s: no matching entries in "
                                  "the image's /etc/group (give a gid instead)", name);
  *gid = (uint32_t)n;
  return 0;
}
