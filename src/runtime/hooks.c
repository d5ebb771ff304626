#include "hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int run_hook(const struct spec_hook *h, const char *kind, const char *state_json,
                    nook_error *err) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return nook_err(err, errno, "%s hook `%s`: pipe", kind, h->path);
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return nook_err(err, errno, "%s hook `%s`: fork", kind, h->path);
  }
  if (pid == 0) {
    dup2(pipefd[0], STDIN_FILENO);
    char *const *args = h->args;
    char *fallback[] = {h->path, NULL};
    if (!args || !args[0])
      args = fallback;
    char *empty_env[] = {NULL};
    execve(h->path, args, h->env ? h->env : empty_env);
    dprintf(STDERR_FILENO, "nook: %s hook `%s`: %s\n", kind, h->path, strerror(errno));
    _exit(127);
  }
  close(pipefd[0]);
  /* A hook that does not read its stdin must not block the runtime. */
  signal(SIGPIPE, SIG_IGN);
  (void)write_all(pipefd[1], state_json, strlen(state_json));
  close(pipefd[1]);

  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int status = 0;
  if (h->timeout > 0 && pidfd >= 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int n;
    do
      n = poll(&p, 1, h->timeout * 1000);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return nook_errx(err, ETIMEDOUT, "%s hook `%s` did not finish within its timeout of %d s",
                       kind, h->path, h->timeout);
    }
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "%s hook `%s`: wait", kind, h->path);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFSIGNALED(status))
    return nook_errx(err, ECANCELED, "%s hook `%s` was killed by signal %d", kind, h->path,
                     WTERMSIG(status));
  return nook_errx(err, ECANCELED, "%s hook `%s` failed with exit status %d", kind, h->path,
                   WEXITSTATUS(status));
}

int hooks_run(const struct spec *spec, enum spec_hook_kind kind, const char *state_json,
              nook_error *err) {
  const struct spec_hook_list *list = &spec->hooks[kind];
  for (size_t i = 0; i < list->n; i++) {
    nook_debug("running %s hook %s", spec_hook_names[kind], list->hooks[i].path);
    int r = run_hook(&list->hooks[i], spec_hook_names[kind], state_json, err);
    if (r < 0)
      return r;
  }
  return 0;
}
