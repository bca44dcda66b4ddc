/*
 * plat_posix.c — the platform shim of the network layer on POSIX threads
 * (Linux, Android, iOS, macOS). The rest of net/ uses only these calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "net.h"

int ttb__net_mutex_init(ttb__net_mutex *m) {
    pthread_mutex_t *p = malloc(sizeof *p);
    if (!p) return TTB_ERR_NOMEM;
    if (pthread_mutex_init(p, NULL) != 0) {
        free(p);
        return TTB_ERR_NOMEM;
    }
    m->p = p;
    return TTB_OK;
}

void ttb__net_mutex_finish(ttb__net_mutex *m) {
    if (!m->p) return;
    pthread_mutex_destroy(m->p);
    free(m->p);
    m->p = NULL;
}

void ttb__net_mutex_lock(ttb__net_mutex *m) { pthread_mutex_lock(m->p); }
void ttb__net_mutex_unlock(ttb__net_mutex *m) { pthread_mutex_unlock(m->p); }

int ttb__net_cond_init(ttb__net_cond *c) {
    pthread_cond_t *p = malloc(sizeof *p);
    if (!p) return TTB_ERR_NOMEM;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
#if !defined(__APPLE__)
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
#endif
    int rc = pthread_cond_init(p, &a);
    pthread_condattr_destroy(&a);
    if (rc != 0) {
        free(p);
        return TTB_ERR_NOMEM;
    }
    c->p = p;
    return TTB_OK;
}

void ttb__net_cond_finish(ttb__net_cond *c) {
    if (!c->p) return;
    pthread_cond_destroy(c->p);
    free(c->p);
    c->p = NULL;
}

void ttb__net_cond_signal_all(ttb__net_cond *c) { pthread_cond_broadcast(c->p); }

void ttb__net_cond_wait_ms(ttb__net_cond *c, ttb__net_mutex *m, int timeout_ms) {
    struct timespec ts;
#if defined(__APPLE__)
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    if (timeout_ms < 0) timeout_ms = 0;
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(c->p, m->p, &ts);
}

typedef struct thread_start {
    void (*fn)(void *);
    void *arg;
} thread_start;

static void *thread_main(void *p) {
    thread_start s = *(thread_start *)p;
    free(p);
    s.fn(s.arg);
    return NULL;
}

int ttb__net_thread_start(ttb__net_thread *t, void (*fn)(void *), void *arg) {
    pthread_t *th = malloc(sizeof *th);
    thread_start *s = malloc(sizeof *s);
    if (!th || !s) goto fail;
    s->fn = fn;
    s->arg = arg;
    if (pthread_create(th, NULL, thread_main, s) != 0) goto fail;
    t->p = th;
    return TTB_OK;
fail:
    free(th);
    free(s);
    return TTB_ERR_NOMEM;
}

void ttb__net_thread_join(ttb__net_thread *t) {
    if (!t->p) return;
    pthread_join(*(pthread_t *)t->p, NULL);
    free(t->p);
    t->p = NULL;
}

uint64_t ttb__net_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t ttb__net_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ttb__net_sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
