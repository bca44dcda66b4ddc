/*
 * platform/platform_posix.c — platform.h for POSIX systems (Linux, Android,
 * iOS, macOS). The only file of the client core's audio, filter and
 * persistence parts that calls the operating system directly.
 */
#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ttb__mutex {
  pthread_mutex_t m;
};

int ttb__mutex_create(ttb__mutex **out)
{
  ttb__mutex *m = malloc(sizeof *m);
  *out = NULL;
  if (!m)
    return TTB_ERR_NOMEM;
  if (pthread_mutex_init(&m->m, NULL) != 0) {
    free(m);
    return TTB_ERR_NOMEM;
  }
  *out = m;
  return TTB_OK;
}

void ttb__mutex_destroy(ttb__mutex *m)
{
  if (!m)
    return;
  pthread_mutex_destroy(&m->m);
  free(m);
}

void ttb__mutex_lock(ttb__mutex *m) { pthread_mutex_lock(&m->m); }
void ttb__mutex_unlock(ttb__mutex *m) { pthread_mutex_unlock(&m->m); }

struct ttb__cond {
  pthread_cond_t c;
};

int ttb__cond_create(ttb__cond **out)
{
  ttb__cond *c = malloc(sizeof *c);
  *out = NULL;
  if (!c)
    return TTB_ERR_NOMEM;
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) {
    free(c);
    return TTB_ERR_NOMEM;
  }
#if !defined(__APPLE__)
  /* Timed waits on the monotonic clock, so a wall-clock jump does not
     * stretch them (macOS/iOS lack the attribute; they use relative waits). */
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
  int rc = pthread_cond_init(&c->c, &attr);
  pthread_condattr_destroy(&attr);
  if (rc != 0) {
    free(c);
    return TTB_ERR_NOMEM;
  }
  *out = c;
  return TTB_OK;
}

void ttb__cond_destroy(ttb__cond *c)
{
  if (!c)
    return;
  pthread_cond_destroy(&c->c);
  free(c);
}

void ttb__cond_broadcast(ttb__cond *c) { pthread_cond_broadcast(&c->c); }

void ttb__cond_wait_ms(ttb__cond *c, ttb__mutex *m, int timeout_ms)
{
  if (timeout_ms < 0) {
    pthread_cond_wait(&c->c, &m->m);
    return;
  }
  struct timespec ts;
#if defined(__APPLE__)
  clock_gettime(CLOCK_REALTIME, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&c->c, &m->m, &ts);
}

struct ttb__thread {
  pthread_t t;
  void (*fn)(void *);
  void *arg;
};

static void *thread_main(void *p)
{
  ttb__thread *t = p;
  t->fn(t->arg);
  return NULL;
}

int ttb__thread_start(ttb__thread **out, void (*fn)(void *), void *arg)
{
  ttb__thread *t = malloc(sizeof *t);
  *out = NULL;
  if (!t)
    return TTB_ERR_NOMEM;
  t->fn = fn;
  t->arg = arg;
  if (pthread_create(&t->t, NULL, thread_main, t) != 0) {
    free(t);
    return TTB_ERR_NOMEM;
  }
  *out = t;
  return TTB_OK;
}

void ttb__thread_join(ttb__thread *t)
{
  if (!t)
    return;
  pthread_join(t->t, NULL);
  free(t);
}

int64_t ttb__wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ttb__monotonic_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ttb__path_join(char *out, size_t out_size, const char *dir, const char *name)
{
  if (!out || !dir || !name || out_size == 0)
    return TTB_ERR_INVALID;
  size_t dl = strlen(dir);
  int n = snprintf(out, out_size, "%s%s%s", dir, (dl > 0 && dir[dl - 1] == '/') ? "" : "/", name);
  if (n < 0 || (size_t)n >= out_size)
    return TTB_ERR_INVALID;
  return TTB_OK;
}

int ttb__file_read(const char *dir, const char *name, size_t max_len, char **out, size_t *out_len,
                   ttb_error *err)
{
  char path[1024];
  *out = NULL;
  *out_len = 0;
  if (ttb__path_join(path, sizeof path, dir, name) != TTB_OK)
    return ttb__fail(err, TTB_ERR_INVALID, "path too long or NULL");
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT)
      return 1;
    return ttb__fail(err, TTB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ttb__fail(err, TTB_ERR_IO, "%s is not a regular file", path);
  }
  if ((uintmax_t)st.st_size > (uintmax_t)max_len) {
    close(fd);
    return ttb__fail(err, TTB_ERR_IO, "%s is too large (%jd bytes, limit %zu)", path,
                     (intmax_t)st.st_size, max_len);
  }
  size_t cap = (size_t)st.st_size;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory reading %s", path);
  }
  size_t got = 0;
  while (got < cap) {
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return ttb__fail(err, TTB_ERR_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (r == 0)
      break; /* the file shrank meanwhile: take what is there */
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *out = buf;
  *out_len = got;
  return TTB_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int ttb__file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                           ttb_error *err)
{
  char path[1024], tmp[1100];
  if (!dir || !name || (!data && len > 0))
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  if (ttb__path_join(path, sizeof path, dir, name) != TTB_OK)
    return ttb__fail(err, TTB_ERR_INVALID, "path too long");
  snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return ttb__fail(err, TTB_ERR_IO, "cannot create a temp file in %s: %s", dir, strerror(errno));
  if (write_all(fd, data, len) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return ttb__fail(err, TTB_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return ttb__fail(err, TTB_ERR_IO, "cannot fsync %s: %s", tmp, strerror(e));
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return ttb__fail(err, TTB_ERR_IO, "cannot close %s: %s", tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return ttb__fail(err, TTB_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
  }
  /* Make the rename itself durable. Some file systems refuse fsync on a
     * directory; the data is already safe then, so that is not an error. */
  int dfd = open(dir, O_RDONLY);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return TTB_OK;
}

int ttb__file_remove(const char *dir, const char *name, ttb_error *err)
{
  char path[1024];
  if (ttb__path_join(path, sizeof path, dir, name) != TTB_OK)
    return ttb__fail(err, TTB_ERR_INVALID, "path too long or NULL");
  if (unlink(path) != 0 && errno != ENOENT)
    return ttb__fail(err, TTB_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  return TTB_OK;
}

int ttb__file_remove_stale_temps(const char *dir, const char *name, ttb_error *err)
{
  char prefix[512], path[1024];
  if (!dir || !name)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  int pl = snprintf(prefix, sizeof prefix, "%s.tmp.", name);
  if (pl < 0 || (size_t)pl >= sizeof prefix)
    return ttb__fail(err, TTB_ERR_INVALID, "name too long");
  DIR *d = opendir(dir);
  if (!d)
    return ttb__fail(err, TTB_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, (size_t)pl) != 0)
      continue;
    if (ttb__path_join(path, sizeof path, dir, e->d_name) == TTB_OK && unlink(path) == 0)
      removed++;
  }
  closedir(d);
  return removed;
}
