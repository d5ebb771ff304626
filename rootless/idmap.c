#include "idmap.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static char *user_name_of(uid_t uid) {
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
    return NULL;
  return xstrdup(res->pw_name);
}

const char *idmap_subid_file(bool gid) {
  const char *env = getenv(gid ? "NOOK_SUBGID_FILE" : "NOOK_SUBUID_FILE");
  if (env && *env)
    return env;
  return gid ? "/etc/subgid" : "/etc/subuid";
}

int idmap_read_subids(const char *file, uid_t uid, const char *user, struct subid_range **r,
                      size_t *n, nook_error *err) {
  *r = NULL;
  *n = 0;
  _cleanup_free_ char *name = user ? xstrdup(user) : user_name_of(uid);
  _cleanup_fclose_ FILE *f = fopen(file, "re");
  if (!f) {
    if (errno == ENOENT)
      return 0;
    return nook_err(err, errno, "open `%s`", file);
  }
  char uidstr[32];
  snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)uid);
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  struct subid_range *ranges = NULL;
  size_t count = 0;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '\0')
      continue;
    char *c1 = strchr(p, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c1 = *c2 = '\0';
    if (!(name && strcmp(p, name) == 0) && strcmp(p, uidstr) != 0)
      continue;
    unsigned long long start, len;
    if (!parse_u64(c1 + 1, &start) || !parse_u64(c2 + 1, &len) || len == 0 ||
        start + len > UINT32_MAX)
      continue; /* shadow's tools skip malformed lines too */
    ranges = xrealloc(ranges, (count + 1) * sizeof(*ranges));
    ranges[count].start = (uint32_t)start;
    ranges[count].count = (uint32_t)len;
    count++;
  }
  *r = ranges;
  *n = count;
  return 0;
}

int idmap_build_rootless(const char *subid_file, uid_t uid, uint32_t id, struct spec_idmap **maps,
                         size_t *n, nook_error *err) {
  _cleanup_free_ struct subid_range *ranges = NULL;
  size_t nr = 0;
  int r = idmap_read_subids(subid_file, uid, NULL, &ranges, &nr, err);
  if (r < 0)
    return r;
  struct spec_idmap *m = xcalloc(nr + 1, sizeof(*m));
  m[0] = (struct spec_idmap){.container_id = 0, .host_id = id, .size = 1};
  uint32_t next = 1;
  for (size_t i = 0; i < nr; i++) {
    m[i + 1] = (struct spec_idmap){.container_id = next, .host_id = ranges[i].start,
                                   .size = ranges[i].count};
    next += ranges[i].count;
  }
  *maps = m;
  *n = nr + 1;
  return 0;
}

int idmap_helper_start(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                       struct idmap_helper *h, nook_error *err) {
  *h = (struct idmap_helper){.target = pid, .gid = gid, .out_fd = -1};
  const char *helper = gid ? "newgidmap" : "newuidmap";
  _cleanup_strv_ char **argv = NULL;
  strv_push(&argv, helper);
  char num[32];
  snprintf(num, sizeof(num), "%d", (int)pid);
  strv_push(&argv, num);
  for (size_t i = 0; i < n; i++) {
    snprintf(num, sizeof(num), "%u", maps[i].container_id);
    strv_push(&argv, num);
    snprintf(num, sizeof(num), "%u", maps[i].host_id);
    strv_push(&argv, num);
    snprintf(num, sizeof(num), "%u", maps[i].size);
    strv_push(&argv, num);
  }

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  /* fork, not posix_spawn: the caller goes on at once while the setuid
   * helper execs on another CPU (a vfork would wait for that exec). */
  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return nook_err(err, e, "fork");
  }
  if (child == 0) {
    dup2(pipefd[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0)
      dup2(devnull, STDOUT_FILENO);
    execvp(helper, argv);
    dprintf(STDERR_FILENO, "\x01%d", errno);
    _exit(127);
  }
  close(pipefd[1]);
  h->pid = child;
  h->out_fd = pipefd[0];
  return 0;
}

int idmap_helper_finish(struct idmap_helper *h, nook_error *err) {
  const char *helper = h->gid ? "newgidmap" : "newuidmap";
  const char *file = h->gid ? "/etc/subgid" : "/etc/subuid";
  _cleanup_free_ char *out = NULL;
  int rr = read_all(h->out_fd, &out, NULL);
  close(h->out_fd);
  h->out_fd = -1;
  int status;
  while (waitpid(h->pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "wait for %s", helper);
  h->pid = 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (rr == 0 && out[0] == '\x01') {
    int e = atoi(out + 1);
    if (e == ENOENT)
      return nook_errx(err, ENOENT,
                       "%s not found: install the uidmap package (apt-get install uidmap) to use "
                       "the subordinate ids of %s",
                       helper, file);
    return nook_err(err, e, "run %s", helper);
  }
  char *msg = rr == 0 ? out : NULL;
  if (msg) {
    msg[strcspn(msg, "\n")] = '\0';
    if (str_has_prefix(msg, helper) && msg[strlen(helper)] == ':')
      msg += strlen(helper) + 1;
    msg += strspn(msg, " ");
  }
  return nook_errx(err, EPERM,
                   "%s for pid %d failed (%s): check that %s gives your user a range "
                   "(e.g. usermod --add-%s 100000-165535 USER) and that %s is setuid root",
                   helper, (int)h->target, msg && *msg ? msg : "no message", file,
                   h->gid ? "subgids" : "subuids", helper);
}

int idmap_write_with_helper(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                            nook_error *err) {
  struct idmap_helper h;
  int r = idmap_helper_start(pid, gid, maps, n, &h, err);
  return r < 0 ? r : idmap_helper_finish(&h, err);
}

int idmap_write_direct(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                       nook_error *err) {
  char path[64];
  if (gid) {
    snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    /* Kernels before 3.19 have no setgroups file and need no "deny". */
    if (fd < 0 && errno != ENOENT)
      return nook_err(err, errno, "open `%s`", path);
    if (fd >= 0 && write_all(fd, "deny", 4) < 0)
      return nook_err(err, errno, "write `%s`", path);
  }
  size_t cap = 64 * (n + 1), len = 0;
  _cleanup_free_ char *buf = xmalloc(cap);
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%u %u %u\n", maps[i].container_id,
                            maps[i].host_id, maps[i].size);
  snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, gid ? "gid_map" : "uid_map");
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open `%s`", path);
  /* The kernel takes the whole map in one write. */
  ssize_t w = write(fd, buf, len);
  if (w < 0)
    return nook_err(err, errno, "write `%s`", path);
  if ((size_t)w != len)
    return nook_errx(err, EIO, "write `%s`: short write", path);
  return 0;
}

int idmap_setup_rootless(pid_t pid, bool *single_id, nook_error *err) {
  _cleanup_free_ struct spec_idmap *umaps = NULL, *gmaps = NULL;
  size_t nu = 0, ng = 0;
  int r = idmap_build_rootless(idmap_subid_file(false), getuid(), (uint32_t)geteuid(), &umaps,
                               &nu, err);
  if (r < 0)
    return r;
  r = idmap_build_rootless(idmap_subid_file(true), getuid(), (uint32_t)getegid(), &gmaps, &ng, err);
  if (r < 0)
    return r;
  if (nu > 1 && ng > 1) {
    *single_id = false;
    /* The two helpers write different files: they run side by side. */
    struct idmap_helper hu, hg;
    r = idmap_helper_start(pid, false, umaps, nu, &hu, err);
    if (r < 0)
      return r;
    nook_error gerr;
    int rg = idmap_helper_start(pid, true, gmaps, ng, &hg, &gerr);
    r = idmap_helper_finish(&hu, err);
    if (rg == 0)
      rg = idmap_helper_finish(&hg, &gerr);
    if (r == 0 && rg < 0)
      *err = gerr;
    return r < 0 ? r : rg;
  }
  *single_id = true;
  r = idmap_write_direct(pid, false, umaps, 1, err);
  if (r < 0)
    return r;
  return idmap_write_direct(pid, true, gmaps, 1, err);
}
