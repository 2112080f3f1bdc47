/* An LD_PRELOAD tracer for CPython's GIL hand-offs (docs/gil.md section 5).
 *
 * Wraps pthread_cond_timedwait, pthread_cond_wait and pthread_cond_signal
 * and logs, per call: the thread, the condition variable, when the call
 * began and returned, the absolute timeout, the result (0 or ETIMEDOUT) and
 * the CPU before and after. CPython's take_gil waits on gil->cond with a
 * timeout and signals switch_cond when it takes the GIL; drop_gil signals
 * gil->cond; a forced drop waits on switch_cond. That is enough to see who
 * took the GIL at each switch and how it was woken.
 *
 *   gcc -O2 -shared -fPIC -o shim.so shim.c -ldl
 *   SHIM_OUT=trace.txt LD_PRELOAD=./shim.so python3 analyse.py --run
 *
 * The log is written at exit; records cost two clock reads and one
 * sched_getcpu, ~0.1 us, on the traced path.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    long t0, t1, abst;
    int tid, kind, ret, cpu0, cpu1;
    void *cond;
} rec_t;

#define MAX_RECS 4000000
static rec_t recs[MAX_RECS];
static atomic_long nrec;
static __thread int mytid;

static long now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}
static int tid(void) {
    if (!mytid) mytid = syscall(SYS_gettid);
    return mytid;
}
static rec_t *newrec(void) {
    long i = atomic_fetch_add(&nrec, 1);
    return i < MAX_RECS ? &recs[i] : 0;
}
static void fill(rec_t *r, int kind, void *c, long t0, long abst, int ret, int cpu0) {
    if (!r) return;
    r->t0 = t0; r->t1 = now(); r->abst = abst; r->tid = tid(); r->kind = kind;
    r->ret = ret; r->cond = c; r->cpu0 = cpu0; r->cpu1 = sched_getcpu();
}

typedef int (*tw_t)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
typedef int (*w_t)(pthread_cond_t *, pthread_mutex_t *);
typedef int (*s_t)(pthread_cond_t *);
static tw_t real_tw;
static w_t real_w;
static s_t real_s;

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *a) {
    if (!real_tw) real_tw = (tw_t)dlsym(RTLD_NEXT, "pthread_cond_timedwait");
    rec_t *r = newrec();
    long t0 = now();
    int cpu0 = sched_getcpu();
    int ret = real_tw(c, m, a);
    fill(r, 1, c, t0, a->tv_sec * 1000000000L + a->tv_nsec, ret, cpu0);
    return ret;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
    if (!real_w) real_w = (w_t)dlsym(RTLD_NEXT, "pthread_cond_wait");
    rec_t *r = newrec();
    long t0 = now();
    int cpu0 = sched_getcpu();
    int ret = real_w(c, m);
    fill(r, 2, c, t0, 0, ret, cpu0);
    return ret;
}

int pthread_cond_signal(pthread_cond_t *c) {
    if (!real_s) real_s = (s_t)dlsym(RTLD_NEXT, "pthread_cond_signal");
    rec_t *r = newrec();
    long t0 = now();
    int cpu0 = sched_getcpu();
    int ret = real_s(c);
    fill(r, 3, c, t0, 0, ret, cpu0);
    return ret;
}

__attribute__((destructor)) static void dump(void) {
    const char *p = getenv("SHIM_OUT");
    if (!p) return;
    FILE *f = fopen(p, "w");
    if (!f) return;
    long n = atomic_load(&nrec);
    if (n > MAX_RECS) n = MAX_RECS;
    for (long i = 0; i < n; i++) {
        rec_t *r = &recs[i];
        if (!r->tid) continue;
        fprintf(f, "%d %d %p %ld %ld %ld %d %d %d\n", r->kind, r->tid, r->cond, r->t0,
                r->t1, r->abst, r->ret, r->cpu0, r->cpu1);
    }
    fclose(f);
}
