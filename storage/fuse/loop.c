/* The request loop. One thread receives every request and answers it in
 * place (pool.c says why), through libfuse's own dispatch; around it, this
 * loop does what libfuse 3.14 cannot:
 *
 * - It asks the kernel for FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14 does
 *   not know. Without it the kernel asks for security.capability before
 *   every write() to a file (a GETXATTR round trip per write: FUSE keeps
 *   SB_NOSEC off); with it, once per file.
 * - In exchange this process clears set-id bits when the kernel says so, and
 *   that flag lives in the raw request: libfuse drops it. The loop reads it
 *   and hands it to the handler (ovl_req_kill_suidgid).
 * - With poll_us, in a burst of requests it polls for the next one for a
 *   moment before it sleeps. A process working on the mount sends its next
 *   request a few microseconds after an answer; waking a sleeping daemon
 *   costs more than that (an idle virtual CPU has to be woken by the host),
 *   and a burst of small requests (a create is five round trips) pays it on
 *   every one. Off by default: on a busy machine the polling takes a CPU
 *   the process it waits for needs (measured: random reads 0.6x). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

static __thread bool kill_suidgid;

bool ovl_req_kill_suidgid(void) { return kill_suidgid; }
void ovl_set_req_kill_suidgid(bool kill) { kill_suidgid = kill; }

/* Clears set-user-id, and set-group-id where group execution is allowed, as
 * the kernel does on a write by a process without CAP_FSETID. Returns 1
 * when the mode changed. */
int ovl_kill_suidgid_at(int dirfd, const char *path, int at_flags, int fd) {
  struct stat st;
  if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, path, &st, at_flags)) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode))
    return 0;
  mode_t mode = st.st_mode & 07777, want = mode & ~(mode_t)S_ISUID;
  if (mode & S_IXGRP)
    want &= ~(mode_t)S_ISGID;
  if (want == mode)
    return 0;
  if ((fd >= 0 ? fchmod(fd, want) : fchmodat(dirfd, path, want, 0)) < 0)
    return -errno;
  return 1;
}

/* The kernel does not change its cached mode after a write or an open
 * that had us clear the bits: it has to ask again. */
void ovl_forget_cached_attrs(struct ovl_fs *fs, fuse_ino_t ino) {
  fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* Whether the kernel wants the set-id bits of the file cleared with this
 * request (FUSE_HANDLE_KILLPRIV_V2: a write, truncate or chown by a process
 * without CAP_FSETID). */
static bool request_kills_suidgid(const struct fuse_buf *buf) {
  const struct fuse_in_header *in = buf->mem;
  if (buf->size < sizeof(*in))
    return false;
  const char *arg = (const char *)(in + 1);
  size_t len = buf->size - sizeof(*in);
  switch (in->opcode) {
  case FUSE_WRITE:
    return len >= offsetof(struct fuse_write_in, write_flags) + sizeof(uint32_t) &&
           (((const struct fuse_write_in *)arg)->write_flags & FUSE_WRITE_KILL_SUIDGID);
  case FUSE_SETATTR:
    return len >= sizeof(uint32_t) &&
           (((const struct fuse_setattr_in *)arg)->valid & FATTR_KILL_SUIDGID);
  case FUSE_OPEN:
    return len >= sizeof(struct fuse_open_in) &&
           (((const struct fuse_open_in *)arg)->open_flags & FUSE_OPEN_KILL_SUIDGID);
  default:
    return false;
  }
}

/* INIT: libfuse answers it, into a pipe put in place of /dev/fuse for that
 * one call; the answer goes on with FUSE_HANDLE_KILLPRIV_V2 added. Nothing
 * else uses the device yet. */
static void answer_init(struct ovl_fs *fs, struct fuse_session *se, struct fuse_buf *buf) {
  const struct fuse_in_header *in = buf->mem;
  const struct fuse_init_in *init = (const void *)(in + 1);
  bool offered = buf->size >= sizeof(*in) + offsetof(struct fuse_init_in, flags) + 4 &&
                 (init->flags & FUSE_HANDLE_KILLPRIV_V2);
  int dev = fuse_session_fd(se);
  int pipefd[2];
  _cleanup_close_ int saved = -1;
  if (!offered || !fs->opt.writeback || pipe2(pipefd, O_CLOEXEC) < 0) {
    fuse_session_process_buf(se, buf);
    return;
  }
  _cleanup_close_ int rd = pipefd[0];
  saved = fcntl(dev, F_DUPFD_CLOEXEC, 0);
  if (saved < 0 || dup3(pipefd[1], dev, O_CLOEXEC) < 0) {
    close(pipefd[1]);
    fuse_session_process_buf(se, buf);
    return;
  }
  close(pipefd[1]);
  fuse_session_process_buf(se, buf);
  dup3(saved, dev, O_CLOEXEC);
  char reply[1024];
  ssize_t n = read(rd, reply, sizeof(reply));
  if (n <= 0)
    return;
  struct fuse_out_header *out = (void *)reply;
  struct fuse_init_out *init_out = (void *)(out + 1);
  /* Only with the writeback cache: without it, a write of a set-id file
   * does not come as one we can tell apart (libfuse 3.14 drops the flag,
   * and the loop reads it only from requests it sees whole). */
  if ((size_t)n >= sizeof(*out) + offsetof(struct fuse_init_out, flags) + 4 && out->error == 0 &&
      (init_out->flags & FUSE_WRITEBACK_CACHE))
    init_out->flags |= FUSE_HANDLE_KILLPRIV_V2;
  if (write(dev, reply, (size_t)n) != n)
    fuse_session_exit(se);
}

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int ovl_serve_loop(struct ovl_fs *fs, struct fuse_session *se) {
  int dev = fuse_session_fd(se);
  unsigned int poll_us = fs->opt.poll_us;
  bool nonblocking = false;
  struct fuse_buf buf = {0};
  /* Polling pays while requests follow their answers closely (a burst):
   * after a request that came within poll_us of the last answer, the loop
   * polls up to poll_us for the next one; after a longer pause it sleeps
   * at once, so a mount used now and then costs no CPU. */
  uint64_t answered = 0, poll_until = 0;
  int r = 0;
  while (!fuse_session_exited(se)) {
    r = fuse_session_receive_buf(se, &buf);
    if (r == -EINTR) { /* a signal: fuse_session_exited() tells which */
      r = 0;
      continue;
    }
    if (r == -EAGAIN) {
      r = 0;
      if (poll_until && mono_us() < poll_until) {
        /* Polite polling: a process waiting for this CPU (maybe the one
         * whose answer we just sent) runs first. */
        sched_yield();
        continue;
      }
      struct pollfd pfd = {.fd = dev, .events = POLLIN};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
        r = -errno;
        break;
      }
      continue;
    }
    if (r <= 0)
      break;
    const struct fuse_in_header *in = buf.mem;
    if (in->opcode == FUSE_INIT) {
      answer_init(fs, se, &buf);
      if (poll_us > 0 && !nonblocking) {
        int fl = fcntl(dev, F_GETFL);
        nonblocking = fl >= 0 && fcntl(dev, F_SETFL, fl | O_NONBLOCK) == 0;
      }
      continue;
    }
    bool burst = nonblocking && mono_us() - answered < poll_us;
    kill_suidgid = request_kills_suidgid(&buf);
    fuse_session_process_buf(se, &buf);
    kill_suidgid = false;
    if (nonblocking) {
      answered = mono_us();
      poll_until = burst ? answered + poll_us : 0;
    }
  }
  free(buf.mem);
  fuse_session_reset(se);
  return r < 0 ? r : 0;
}
