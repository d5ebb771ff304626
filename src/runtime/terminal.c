#include "terminal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

int terminal_open_pty(int *master, int *slave, char **slave_path, unsigned rows, unsigned cols,
                      nook_error *err) {
  _cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0)
    return nook_err(err, errno, "open /dev/ptmx for the container's terminal");
  if (unlockpt(m) < 0)
    return nook_err(err, errno, "unlock the pty");
  char name[64];
  if (ptsname_r(m, name, sizeof(name)) != 0)
    return nook_err(err, errno, "name of the pty");
  int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0)
    return nook_err(err, errno, "open the pty slave `%s`", name);
  if (rows || cols) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(s, TIOCSWINSZ, &ws);
  }
  *master = steal_fd(&m);
  *slave = s;
  *slave_path = xstrdup(name);
  return 0;
}

int terminal_make_controlling(int slave, nook_error *err) {
  if (setsid() < 0)
    return nook_err(err, errno, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    return nook_err(err, errno, "make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0)
      return nook_err(err, errno, "dup the pty to fd %d", fd);
  return 0;
}

int send_fd(int sock, int fd, const char *name) {
  char data[256];
  size_t len = strlen(name);
  if (len >= sizeof(data))
    len = sizeof(data) - 1;
  memcpy(data, name, len);
  struct iovec iov = {.iov_base = data, .iov_len = len ? len : 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof(ctl));
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0)
      return 0;
    if (errno != EINTR)
      return -errno;
  }
}

int recv_fd(int sock) {
  char data[256];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
  ssize_t n;
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS)
    return -EBADMSG;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

int console_socket_send(const char *path, int master, nook_error *err) {
  _cleanup_close_ int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return nook_err(err, errno, "console socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path))
    return nook_errx(err, ENAMETOOLONG, "console socket path `%s` is too long", path);
  strcpy(addr.sun_path, path);
  if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return nook_err(err, errno, "connect to the console socket `%s`", path);
  int r = send_fd(sock, master, "/dev/ptmx");
  if (r < 0)
    return nook_err(err, -r, "send the terminal to the console socket `%s`", path);
  return 0;
}

static struct termios saved_termios;
static int saved_termios_fd = -1;

void terminal_restore(void) {
  if (saved_termios_fd >= 0) {
    tcsetattr(saved_termios_fd, TCSANOW, &saved_termios);
    saved_termios_fd = -1;
  }
}

int terminal_apply(int fd, const struct termios *old, const struct termios *t) {
  static bool restore_at_exit;
  saved_termios = *old;
  saved_termios_fd = fd;
  if (!restore_at_exit) {
    atexit(terminal_restore);
    restore_at_exit = true;
  }
  if (tcsetattr(fd, TCSANOW, t) < 0)
    return -errno;
  return 0;
}

int terminal_set_raw(int fd) {
  struct termios old, t;
  if (tcgetattr(fd, &old) < 0)
    return -errno;
  t = old;
  cfmakeraw(&t);
  t.c_oflag |= OPOST; /* keep \n -> \r\n on output as a shell would see it */
  return terminal_apply(fd, &old, &t);
}

void terminal_copy_size(int from_fd, int to_master) {
  struct winsize ws;
  if (ioctl(from_fd, TIOCGWINSZ, &ws) == 0)
    ioctl(to_master, TIOCSWINSZ, &ws);
}
