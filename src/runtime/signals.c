#include "signals.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct {
  const char *name;
  int sig;
} signal_names[] = {
    {"SIGABRT", SIGABRT}, {"SIGALRM", SIGALRM}, {"SIGBUS", SIGBUS},   {"SIGCHLD", SIGCHLD},
    {"SIGCONT", SIGCONT}, {"SIGFPE", SIGFPE},   {"SIGHUP", SIGHUP},   {"SIGILL", SIGILL},
    {"SIGINT", SIGINT},   {"SIGIO", SIGIO},     {"SIGIOT", SIGIOT},   {"SIGKILL", SIGKILL},
    {"SIGPIPE", SIGPIPE}, {"SIGPOLL", SIGPOLL}, {"SIGPROF", SIGPROF}, {"SIGPWR", SIGPWR},
    {"SIGQUIT", SIGQUIT}, {"SIGSEGV", SIGSEGV}, {"SIGSTKFLT", SIGSTKFLT},
    {"SIGSTOP", SIGSTOP}, {"SIGSYS", SIGSYS},   {"SIGTERM", SIGTERM}, {"SIGTRAP", SIGTRAP},
    {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG},
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGVTALRM", SIGVTALRM},
    {"SIGWINCH", SIGWINCH}, {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
};

int signal_parse(const char *text, int *sig, nook_error *err) {
  long long n;
  if (parse_i64(text, &n)) {
    /* 0 sends nothing but still fails for a stopped container: clients
     * probe with it, as with kill(2) */
    if (n < 0 || n >= NSIG)
      return nook_errx(err, EINVAL, "invalid signal `%s`: numbers go from 0 to %d", text,
                       NSIG - 1);
    *sig = (int)n;
    return 0;
  }
  const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
  for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
    if (strcasecmp(signal_names[i].name + 3, name) == 0) {
      *sig = signal_names[i].sig;
      return 0;
    }
  int offset = 0;
  char sign = 0;
  if (strncasecmp(name, "RTMIN", 5) == 0 &&
      (name[5] == '\0' || sscanf(name + 5, "%c%d", &sign, &offset) == 2)) {
    int s = SIGRTMIN + (sign == '-' ? -offset : offset);
    if (s >= SIGRTMIN && s <= SIGRTMAX) {
      *sig = s;
      return 0;
    }
  }
  if (strncasecmp(name, "RTMAX", 5) == 0 &&
      (name[5] == '\0' || sscanf(name + 5, "%c%d", &sign, &offset) == 2)) {
    int s = SIGRTMAX + (sign == '+' ? offset : -offset);
    if (s >= SIGRTMIN && s <= SIGRTMAX) {
      *sig = s;
      return 0;
    }
  }
  return nook_errx(err, EINVAL, "invalid signal `%s` (a name such as TERM or KILL, or a number)",
                   text);
}

const char *signal_name(int sig) {
  for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
    if (signal_names[i].sig == sig)
      return signal_names[i].name;
  return NULL;
}

void signal_list_names(void (*each)(const char *name, void *data), void *data) {
  for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
    each(signal_names[i].name + 3, data);
}
