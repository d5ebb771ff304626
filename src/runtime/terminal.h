/* Terminals: the container's pty, handing its master to a client over a
 * console socket (SCM_RIGHTS, as runc does), and relaying it in the
 * foreground. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Opens a new pty pair from /dev/ptmx (the container's devpts once pivoted);
 * *slave_path names the slave. */
int terminal_open_pty(int *master, int *slave, char **slave_path, unsigned rows, unsigned cols,
                      nook_error *err);
/* Makes fd the controlling terminal and stdio of the calling process. */
int terminal_make_controlling(int slave, nook_error *err);

int send_fd(int sock, int fd, const char *name);
/* Receives one fd; returns it or -errno. */
int recv_fd(int sock);

/* Connects to the console socket at path and sends master to it. */
int console_socket_send(const char *path, int master, nook_error *err);

/* Puts the local terminal on fd into raw mode, saving the old settings so
 * terminal_restore can put them back (also at exit). */
int terminal_set_raw(int fd);
void terminal_restore(void);
/* Puts t on the terminal on fd, old (its settings before) being what
 * terminal_restore puts back. */
struct termios;
int terminal_apply(int fd, const struct termios *old, const struct termios *t);
/* Copies the size of the local terminal to the pty. */
void terminal_copy_size(int from_fd, int to_master);
