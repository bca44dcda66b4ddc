/*
 * platform/platform.h — the few operating-system services the client core
 * needs, behind one small interface: a mutex, a condition variable, a thread,
 * the clocks, and files in
 * a data directory (whole-file read, atomic replace, remove, stale temp-file
 * cleanup). platform_posix.c implements it for Linux, Android, iOS and macOS;
 * a Windows port adds platform_win.c with the same functions.
 * Everything else in mobile/core is plain C11 and calls only these.
 */
#ifndef TTB_PLATFORM_H
#define TTB_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "platform/error.h"

/* An opaque mutex (non-recursive). */
typedef struct ttb__mutex ttb__mutex;

/* Allocates and initialises a mutex into *out. TTB_OK, or TTB_ERR_NOMEM
 * (*out is then NULL). Free it with ttb__mutex_destroy. */
int ttb__mutex_create(ttb__mutex **out);

/* Destroys a mutex that no thread holds. NULL is a no-op. */
void ttb__mutex_destroy(ttb__mutex *m);

/* Locks / unlocks m (never NULL). Lock blocks; there is no error path. */
void ttb__mutex_lock(ttb__mutex *m);
void ttb__mutex_unlock(ttb__mutex *m);

/* An opaque condition variable, used with a ttb__mutex. */
typedef struct ttb__cond ttb__cond;

/* Allocates a condition variable into *out. TTB_OK or TTB_ERR_NOMEM (*out
 * NULL). Free with ttb__cond_destroy (NULL is a no-op). */
int ttb__cond_create(ttb__cond **out);
void ttb__cond_destroy(ttb__cond *c);

/* Wakes every waiter of c. */
void ttb__cond_broadcast(ttb__cond *c);

/* Atomically releases m (held by the caller), waits until woken or at most
 * timeout_ms (< 0: no limit), and re-takes m. Spurious wake-ups happen:
 * callers loop on their condition. */
void ttb__cond_wait_ms(ttb__cond *c, ttb__mutex *m, int timeout_ms);

/* An opaque thread. */
typedef struct ttb__thread ttb__thread;

/* Starts fn(arg) on a new thread; *out is the handle to join. TTB_OK or
 * TTB_ERR_NOMEM (*out NULL; no thread started). */
int ttb__thread_start(ttb__thread **out, void (*fn)(void *), void *arg);

/* Waits for the thread to end and frees the handle. NULL is a no-op. */
void ttb__thread_join(ttb__thread *t);

/* Milliseconds of a monotonic clock (arbitrary origin), for timeouts only. */
int64_t ttb__monotonic_ms(void);

/* Unix time in milliseconds (the wall clock; may jump). */
int64_t ttb__wall_ms(void);

/* Joins dir and name with the platform separator into out (size out_size).
 * TTB_OK, or TTB_ERR_INVALID when NULL or the result does not fit. */
int ttb__path_join(char *out, size_t out_size, const char *dir, const char *name);

/* Reads the whole file dir/name (at most max_len bytes) into a new
 * NUL-terminated buffer *out (length in *out_len, caller frees with free()).
 * Returns TTB_OK; 1 when the file does not exist (*out = NULL); TTB_ERR_IO
 * (unreadable, not a regular file, or larger than max_len); TTB_ERR_NOMEM. */
int ttb__file_read(const char *dir, const char *name, size_t max_len, char **out, size_t *out_len,
                   ttb_error *err);

/* Replaces dir/name atomically with len bytes of data: writes a temp file
 * "name.tmp.XXXXXX" in dir, fsyncs it, renames it over name and fsyncs dir,
 * so a reader sees the old or the new file, never a mix. The temp file is
 * removed on failure. TTB_OK, TTB_ERR_INVALID or TTB_ERR_IO. */
int ttb__file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                           ttb_error *err);

/* Removes dir/name. TTB_OK also when it did not exist; else TTB_ERR_IO. */
int ttb__file_remove(const char *dir, const char *name, ttb_error *err);

/* Removes the temp files "name.tmp.*" that an interrupted
 * ttb__file_write_atomic may have left in dir; returns how many (>= 0), or
 * TTB_ERR_IO when dir cannot be listed. */
int ttb__file_remove_stale_temps(const char *dir, const char *name, ttb_error *err);

#endif /* TTB_PLATFORM_H */
