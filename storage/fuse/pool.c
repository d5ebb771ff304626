/* Worker threads for the requests that may take long (a copy-up, fsync):
 * every other request is answered by the thread that received it.
 *
 * Measured here: with libfuse's thread-per-request loop the kernel wakes a
 * different idle thread for each request (its readers queue up first in,
 * first out), and a create costing six requests spends more time waking
 * threads than working; one receiving thread answering in place is 1.3 to
 * 1.7 times faster on creates, stats and sequential reads. The pool keeps a
 * long copy-up from stopping reads and writes of open files meanwhile. */
#include <stdlib.h>
#include <string.h>

#include "ovl.h"
#include "util.h"

static struct {
  pthread_mutex_t lock;
  pthread_cond_t more;
  struct ovl_job *head, *tail;
  unsigned int threads;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static __thread bool in_worker;

bool ovl_in_worker(void) { return in_worker; }

static void *worker(void *arg) {
  in_worker = true;
  for (;;) {
    pthread_mutex_lock(&pool.lock);
    while (!pool.head)
      pthread_cond_wait(&pool.more, &pool.lock);
    struct ovl_job *j = pool.head;
    pool.head = j->next;
    if (!pool.head)
      pool.tail = NULL;
    pthread_mutex_unlock(&pool.lock);
    ovl_set_req_kill_suidgid(j->kill_suidgid);
    j->run(j);
    ovl_set_req_kill_suidgid(false);
    free(j->s1);
    free(j->s2);
    free(j->data);
    free(j);
  }
  return NULL;
}

int ovl_pool_start(unsigned int threads) {
  for (unsigned int i = 0; i < threads; i++) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, worker, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0)
      return -r;
    pool.threads++;
  }
  return 0;
}

bool ovl_defer(struct ovl_job *j) {
  if (pool.threads == 0 || in_worker) {
    free(j->s1);
    free(j->s2);
    free(j->data);
    free(j);
    return false;
  }
  j->next = NULL;
  pthread_mutex_lock(&pool.lock);
  if (pool.tail)
    pool.tail->next = j;
  else
    pool.head = j;
  pool.tail = j;
  pthread_cond_signal(&pool.more);
  pthread_mutex_unlock(&pool.lock);
  return true;
}

struct ovl_job *ovl_job_new(void (*run)(struct ovl_job *), fuse_req_t req) {
  struct ovl_job *j = xcalloc(1, sizeof(*j));
  j->run = run;
  j->req = req;
  j->kill_suidgid = ovl_req_kill_suidgid();
  return j;
}

bool ovl_node_needs_copy_up(struct ovl_fs *fs, fuse_ino_t ino) {
  pthread_mutex_lock(&fs->lock);
  bool r = id_node(fs, ino)->layer > 0;
  pthread_mutex_unlock(&fs->lock);
  return r;
}
