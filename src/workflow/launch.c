/* `nook launch`: image -> rootfs -> bundle -> container, in the foreground
 * or under a monitor; and the removal of all of it. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "linux.h"
#include "log.h"
#include "net/net.h"
#include "storage/store.h"
#include "util.h"
#include "workflow.h"

char *rfc3339_now(void) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
  return xstrdup(buf);
}

char *launch_bundle_dir(const char *root, const char *id) {
  /* A dot name beside the containers: state_list_ids skips it. */
  return xasprintf("%s/.launch/%s", root, id);
}

static char *name_lock_path(const char *root, const char *id) {
  return xasprintf("%s/.launch/%s.lock", root, id);
}

/* Holds the name for one launch until its state exists, so that parallel
 * launches of one --name cannot both pass the in-use check (and the loser
 * then remove the winner's files). A POSIX record lock: the monitor forked
 * for -d does not inherit it, and it goes with a launch that is killed. */
static int reserve_name(const char *root, const char *id, int *lock_fd, nook_error *err) {
  _cleanup_free_ char *parent = xasprintf("%s/.launch", root);
  int r = mkdir_p(parent, 0700, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = name_lock_path(root, id);
  _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return nook_err(err, errno, "create `%s`", path);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_SETLK, &fl) < 0) {
    if (errno == EAGAIN || errno == EACCES)
      return nook_errx(err, EEXIST, "the name `%s` is already in use by a container being "
                                    "launched: choose another --name", id);
    return nook_err(err, errno, "lock `%s`", path);
  }
  *lock_fd = steal_fd(&fd);
  return 0;
}

/* The lock file goes with the container, unless a launch holds it: the
 * foreground launch of a container just killed ends in a moment, so it is
 * given two seconds. */
static void remove_name_lock(const char *root, const char *id) {
  _cleanup_free_ char *path = name_lock_path(root, id);
  _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  for (int tries = 0; tries < 40; tries++) {
    if (fcntl(fd, F_SETLK, &fl) == 0) {
      unlink(path);
      return;
    }
    struct timespec pause = {0, 50 * 1000000L};
    nanosleep(&pause, NULL);
  }
}

static char *random_id(void) {
  unsigned char b[6];
  if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
    unsigned long long t = now_ns() ^ (unsigned long long)getpid() << 32;
    memcpy(b, &t, sizeof(b));
  }
  return xasprintf("%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

/* A reference that names its registry ("host.name/...", "host:port/...",
 * "localhost/...") can be pulled without guessing one. */
static bool names_a_registry(const char *ref) {
  const char *slash = strchr(ref, '/');
  if (!slash)
    return false;
  _cleanup_free_ char *host = xstrndup(ref, (size_t)(slash - ref));
  return strchr(host, '.') || strchr(host, ':') || !strcmp(host, "localhost");
}

static int pull_image(const char *ref, bool debug, bool tls_no_verify, nook_error *err) {
  _cleanup_free_ char *helper = nook_helper_path("nook-image");
  if (!helper)
    return nook_errx(err, ENOENT, "image `%s` is not in the store and nook-image (to pull it) is "
                                  "not installed", ref);
  /* the helper's error comes back here, to be launch's one line */
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(errpipe[0]);
    close(errpipe[1]);
    return nook_err(err, errno, "fork");
  }
  if (pid == 0) {
    /* progress goes to stderr: stdout belongs to the container */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    int error_fd = fcntl(errpipe[1], F_DUPFD, 3);
    if (error_fd >= 0) {
      char num[16];
      snprintf(num, sizeof(num), "%d", error_fd);
      setenv("NOOK_IMAGE_ERROR_FD", num, 1);
    }
    char *args[6];
    size_t n = 0;
    args[n++] = "nook-image";
    if (debug)
      args[n++] = "--debug";
    args[n++] = "pull";
    if (tls_no_verify)
      args[n++] = "--tls-verify=false";
    args[n++] = (char *)ref;
    args[n] = NULL;
    execv(helper, args);
    _exit(127);
  }
  close(errpipe[1]);
  _cleanup_close_ int error_rd = errpipe[0];
  _cleanup_free_ char *message = NULL;
  size_t len = 0;
  int read_r = read_all(error_rd, &message, &len);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "wait for nook-image");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (read_r == 0 && len > 0)
    return nook_errx(err, ENOENT, "%.*s", (int)len, message);
  return nook_errx(err, ENOENT, "image `%s` could not be pulled (see above)", ref);
}

static int resolve_image(const struct launch_options *o, bool debug, nook_error *err) {
  _cleanup_free_ char *root = store_root(NULL);
  int lockfd = -1;
  int r = store_lock(root, false, &lockfd, err);
  if (r < 0)
    return r;
  struct store_image img;
  nook_error find_err;
  r = store_find_image(root, o->image, &img, &find_err);
  close(lockfd);
  if (r == 0)
    store_image_free(&img);
  if (r == 0 && o->pull != LAUNCH_PULL_ALWAYS)
    return 0;
  if (r < 0 && r != -ENOENT) {
    *err = find_err;
    return r;
  }
  if (r < 0 && o->pull == LAUNCH_PULL_NEVER)
    return nook_errx(err, ENOENT, "image `%s` is not in the store and --pull never forbids "
                                  "pulling it: pull or import it first, or drop --pull never",
                     o->image);
  if (!names_a_registry(o->image) && r == 0)
    return nook_errx(err, EINVAL, "--pull always: `%s` names no registry to pull from: give "
                                  "REGISTRY/%s, or drop --pull always", o->image, o->image);
  if (!names_a_registry(o->image))
    return nook_errx(err, ENOENT, "image `%s` is not in the store: import it (nook image import "
                                  "ARCHIVE %s) or pull it with its registry (nook image pull "
                                  "REGISTRY/%s)", o->image, o->image, o->image);
  fprintf(stderr, "Pulling %s\n", o->image);
  return pull_image(o->image, debug, o->tls_no_verify, err);
}

/* 126/127 for a command that cannot run, as docker tells them apart. */
static int launch_error_status(const nook_error *err) {
  if (strstr(err->msg, "exec: \"")) {
    if (err->code == ENOENT)
      return LAUNCH_EXIT_NOT_FOUND;
    if (err->code == EACCES || err->code == EISDIR || err->code == ENOEXEC)
      return LAUNCH_EXIT_NOT_EXECUTABLE;
  }
  return LAUNCH_EXIT_ERROR;
}

int launch_remove(const char *root, const char *id, bool force, nook_error *err) {
  /* Killed first, then its files, then its state: once the state is gone,
   * everything is (what a watcher of the state dir relies on). */
  int r = launch_kill(root, id, err);
  if (r < 0 && r != -ENOENT)
    return r;
  nook_stage("rm: killed");
  /* What a container wrote as its root is ours on the host and goes
   * without a user namespace; files made for other ids (or the kernel's
   * 000 work dirs) take rootfs_remove's. */
  _cleanup_free_ char *store = store_root(NULL);
  _cleanup_free_ char *cparent = xasprintf("%s/containers", store);
  _cleanup_close_ int cfd = open(cparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cfd >= 0) {
    /* the kernel leaves its work dir with mode 000, owned by the
     * container's root: us */
    _cleanup_free_ char *kwork = xasprintf("%s/work/work", id);
    fchmodat(cfd, kwork, 0700, AT_SYMLINK_NOFOLLOW);
  }
  if (cfd >= 0 && faccessat(cfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
      (rm_rf_at(cfd, id) < 0 || faccessat(cfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0) &&
      (r = rootfs_remove(id, err)) < 0)
    return r;
  nook_stage("rm: rootfs removed");
  _cleanup_free_ char *parent = xasprintf("%s/.launch", root);
  _cleanup_close_ int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (pfd >= 0)
    rm_rf_at(pfd, id);
  nook_stage("rm: bundle removed");
  nook_error e;
  r = container_delete(root, id, force, &e);
  if (r < 0 && !strstr(e.msg, "does not exist")) {
    *err = e;
    return r;
  }
  remove_name_lock(root, id);
  return 0;
}

/* Files of id without its state: left by a container whose state went with
 * the runtime dir (a reboot, a CI session's end), or by a launch killed
 * before it wrote one (a bare state dir). */
static bool has_leftovers(const char *root, const char *id) {
  _cleanup_free_ char *store = store_root(NULL);
  _cleanup_free_ char *rootfs = xasprintf("%s/containers/%s", store, id);
  _cleanup_free_ char *bundle = launch_bundle_dir(root, id);
  _cleanup_free_ char *state = xasprintf("%s/%s", root, id);
  return access(rootfs, F_OK) == 0 || access(bundle, F_OK) == 0 || access(state, F_OK) == 0;
}

int launch_remove_leftovers(const char *root, const char *id, nook_error *err) {
  nook_error e;
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, &e);
  if (r != -ENOENT)
    return 0;
  if (!has_leftovers(root, id))
    return 0;
  r = launch_remove(root, id, true, err);
  return r < 0 ? r : 1;
}

void launch_record_exit(const char *root, const char *id, int status) {
  nook_error err;
  _cleanup_container_ struct container c = {.dirfd = -1};
  if (container_load(root, id, &c, &err) < 0)
    return;
  _cleanup_close_ int lock = state_lock(c.dirfd, &err);
  if (lock < 0)
    return;
  state_clear(&c.state);
  if (state_load(c.dirfd, id, &c.state, &err) < 0)
    return;
  if (c.state.net_helper_pid > 0) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", root, id);
    if (net_teardown(c.state.net_helper_pid, dir, &err) < 0)
      nook_warn("%s", err.msg);
    c.state.net_helper_pid = 0;
  }
  if (status >= 0) {
    c.state.has_exit_status = true;
    c.state.exit_status = status;
    free(c.state.finished);
    c.state.finished = rfc3339_now();
  }
  if (state_save(c.dirfd, &c.state, &err) < 0)
    nook_warn("%s", err.msg);
}

static int make_bundle_dir(const char *root, const char *bundle, nook_error *err) {
  _cleanup_free_ char *parent = xasprintf("%s/.launch", root);
  int r = mkdir_p(parent, 0700, err);
  if (r < 0)
    return r;
  if (mkdir(bundle, 0700) < 0) {
    if (errno != EEXIST)
      return nook_err(err, errno, "create `%s`", bundle);
    /* left by a launch that died: the container itself is known gone */
    _cleanup_close_ int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd >= 0)
      rm_rf_at(pfd, strrchr(bundle, '/') + 1);
    if (mkdir(bundle, 0700) < 0)
      return nook_err(err, errno, "create `%s`", bundle);
  }
  return 0;
}

static int run_foreground(struct nook_globals *g, const struct launch_options *o,
                          const char *root, const char *id, const char *bundle, nook_error *err) {
  struct create_options co = {.root = root, .id = id, .bundle = bundle, .keep = true,
                              .removed_after = o->rm};
  cli_cgroup_options(g, &co);
  if (!o->interactive) {
    _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0)
      dup2(null, STDIN_FILENO);
  }
  int status = container_run(&co, err);
  if (status < 0)
    return status;
  nook_error e;
  nook_stage("container exited");
  if (o->rm) {
    if (launch_remove(root, id, true, &e) < 0)
      nook_warn("%s", e.msg);
    nook_stage("removed");
  } else {
    launch_record_exit(root, id, status);
  }
  return status;
}

/* -it from a terminal: under a monitor, as with -d, attached right away,
 * so that the detach keys can leave it running for a later nook attach.
 * The container starts once attached (all its output is seen) with this
 * terminal's size. */
static int run_attached(struct nook_globals *g, const struct launch_options *o, const char *root,
                        const char *id, const char *bundle, nook_error *err) {
  struct winsize ws = {0};
  ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
  struct monitor_options mo = {.rm = o->rm, .tty = true, .interactive = true, .foreground = true,
                               .rows = ws.ws_row, .cols = ws.ws_col};
  int start_fd = -1;
  int r = monitor_launch(root, id, bundle, g, &mo, &start_fd, err);
  if (r < 0)
    return r;
  struct attach_session s;
  /* without a start, the monitor removes what it made */
  if ((r = attach_open(root, id, &s, err)) < 0) {
    close(start_fd);
    return r;
  }
  if ((r = monitor_start(start_fd, id, err)) < 0) {
    close(s.sock);
    return r;
  }
  struct attach_options ao = {.detach_keys = o->detach_keys, .sig_proxy = 1};
  int status;
  if ((r = attach_run(&s, &ao, &status, err)) < 0)
    return r;
  if (status == -2)
    return 0; /* detached: it runs on */
  return status < 0 ? LAUNCH_EXIT_ERROR : status;
}

/* Whether one of interrupts waits, blocked, and would end us once let
 * through (not one the caller ignores, as nohup does SIGHUP). */
static bool interrupt_pending(const sigset_t *interrupts) {
  sigset_t pending;
  if (sigpending(&pending) < 0)
    return false;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sigismember(interrupts, sig) == 1 && sigismember(&pending, sig) == 1 &&
        sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
      return true;
  }
  return false;
}

/* launch_main once it holds the name. */
static int launch_reserved(struct nook_globals *g, struct launch_options *o, const char *root,
                           const char *id, nook_error *err) {
  int r;
  /* The image and the bundle take a millisecond or two: time for the
   * cgroup manager's connection and the kernel's migration wait to start. */
  cgroup_connect_early(g->cgroup_manager, linux_running_rootless());
  nook_stage("launch");
  if ((r = resolve_image(o, g->debug, err)) < 0)
    return r;
  nook_stage("image found");
  /* An interrupt (ctrl-c, a CI runner's SIGTERM) while the rootfs and the
   * bundle are made waits until they are, and then removes them: dying
   * halfway would leave them with no state that rm or the list could find
   * them by. Let through again before the container is made, which passes
   * signals on to it. */
  sigset_t interrupts, saved_mask;
  sigemptyset(&interrupts);
  sigaddset(&interrupts, SIGINT);
  sigaddset(&interrupts, SIGTERM);
  sigaddset(&interrupts, SIGHUP);
  sigprocmask(SIG_BLOCK, &interrupts, &saved_mask);
  /* A new container starts from the image, never from what an old one of
   * the same name wrote. */
  if ((r = launch_remove_leftovers(root, id, err)) < 0)
    return r;
  struct rootfs_info info;
  if ((r = rootfs_prepare(o->image, id, &info, err)) < 0)
    return r;
  nook_stage("rootfs prepared");
  _cleanup_free_ char *bundle = launch_bundle_dir(root, id);
  struct launch_plan plan = {.opts = o, .id = id, .bundle = bundle, .rootfs = &info,
                             .debug = g->debug};
  r = make_bundle_dir(root, bundle, err);
  if (r == 0)
    r = launch_write_bundle(&plan, err);
  rootfs_info_free(&info);
  nook_stage("bundle written");
  if (r == 0 && interrupt_pending(&interrupts)) {
    nook_error e;
    if (launch_remove(root, id, true, &e) < 0)
      nook_warn("%s", e.msg);
    /* the signal ends us here, as it would have */
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
    return nook_errx(err, EINTR, "launch interrupted");
  }
  /* (a failure removes what was made first, still safe from interrupts) */
  if (r == 0)
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
  if (r == 0) {
    if (o->detach) {
      struct monitor_options mo = {.rm = o->rm, .tty = o->tty, .interactive = o->interactive};
      r = monitor_launch(root, id, bundle, g, &mo, NULL, err);
      if (r == 0) {
        printf("%s\n", id);
        return 0;
      }
    } else if (o->interactive && o->tty && isatty(STDIN_FILENO)) {
      r = run_attached(g, o, root, id, bundle, err);
      if (r >= 0)
        return r;
    } else {
      /* as podman warns: the container's terminal waits for keys a pipe
       * never sends, and the pipe's end does not reach it */
      if (o->interactive && o->tty)
        nook_warn("-it: stdin is not a terminal: the input's end does not end the container "
                  "(use -i without -t to pipe input into it)");
      r = run_foreground(g, o, root, id, bundle, err);
      if (r >= 0)
        return r;
    }
    err->exit_status = launch_error_status(err);
  }
  nook_error e;
  if (launch_remove(root, id, true, &e) < 0)
    nook_warn("%s", e.msg);
  return r;
}

int launch_main(struct nook_globals *g, struct launch_options *o, nook_error *err) {
  _cleanup_free_ char *root = NULL;
  int r = cli_state_root(g, &root, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *id = o->name ? xstrdup(o->name) : random_id();
  if ((r = state_validate_id(id, err)) < 0)
    return r;
  _cleanup_close_ int name_lock = -1;
  if ((r = reserve_name(root, id, &name_lock, err)) < 0)
    return r;
  {
    nook_error e;
    _cleanup_container_ struct container c = {.dirfd = -1};
    if (container_load(root, id, &c, &e) != -ENOENT)
      return nook_errx(err, EEXIST, "the name `%s` is already in use by a container: remove it "
                                    "(nook rm %s) or choose another --name", id, id);
  }
  r = launch_reserved(g, o, root, id, err);
  /* A launch that failed made nothing that stays, not even the lock file;
   * nor does one whose container was removed (nook rm -f) while it ran. */
  nook_error e;
  _cleanup_container_ struct container c = {.dirfd = -1};
  if (r < 0 || container_load(root, id, &c, &e) == -ENOENT)
    remove_name_lock(root, id);
  return r;
}
