/*
 * Additions to trace.h for the replay tools (not used by the server).
 */
#ifndef TTB_TRACE_EXT_H
#define TTB_TRACE_EXT_H

#include "trace.h"

/* As ttb_trace_writer_open without append, with the header's created_us
 * given (make-demo-trace writes a fixed one, so its output is reproducible). */
int ttb_trace_writer_open_at(const char *path, const char *source, const char *note,
                             uint64_t created_us, ttb_trace_writer **out, char *err, size_t errlen);

/* Wall clock, microseconds since the Unix epoch. */
uint64_t ttb_trace_now_us(void);

#endif
