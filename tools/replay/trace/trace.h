/*
 * Trace files (docs/replay.md): the 8 bytes "TTBTRACE", then a
 * length-delimited TraceHeader (version 1), then length-delimited
 * TraceRecords, each preceded by its length as a varint — what protobuf's
 * writeDelimitedTo writes, so any protobuf library can read one.
 *
 * Functions returning int return 0, or -1 with a message in err; the
 * reader's messages name the byte offset where the file went wrong.
 */
#ifndef TTB_TRACE_H
#define TTB_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttboost/v1/trace.pb-c.h"

#define TTB_TRACE_MAGIC "TTBTRACE"
#define TTB_TRACE_VERSION 1
/* No record is larger than this (a ServerMessage with an audio frame is far smaller). */
#define TTB_TRACE_MAX_RECORD (1u << 20)

typedef struct ttb_trace_writer ttb_trace_writer;

/* Creates path (truncating it) and writes the magic and a header with
 * version 1, created_us = now, source and note (either may be NULL). With
 * append, an existing trace is opened for appending instead (its header is
 * checked and kept). The writer owns its FILE; close it. */
int ttb_trace_writer_open(const char *path, const char *source, const char *note, bool append,
                          ttb_trace_writer **out, char *err, size_t errlen);
/* Microseconds since the trace began (its header's created_us). */
uint64_t ttb_trace_writer_elapsed_us(const ttb_trace_writer *w);
/* Appends one record. Records are buffered; ttb_trace_writer_flush or close writes them. */
int ttb_trace_write(ttb_trace_writer *w, const Ttboost__V1__TraceRecord *rec, char *err,
                    size_t errlen);
int ttb_trace_writer_flush(ttb_trace_writer *w, char *err, size_t errlen);
/* Flushes and closes; 0 or -1 (err) when the last write failed. NULL is a no-op. */
int ttb_trace_writer_close(ttb_trace_writer *w, char *err, size_t errlen);

typedef struct ttb_trace_reader ttb_trace_reader;

/* Opens a trace and reads its magic and header ("not a trace", "version N
 * not supported", truncation: each with the offset). */
int ttb_trace_reader_open(const char *path, ttb_trace_reader **out, char *err, size_t errlen);
/* The header (owned by the reader). */
const Ttboost__V1__TraceHeader *ttb_trace_reader_header(const ttb_trace_reader *r);
/* The next record: 1 with *rec (free with ttboost__v1__trace_record__free_unpacked),
 * 0 at a clean end of file, -1 on truncation or corruption (err names the offset). */
int ttb_trace_next(ttb_trace_reader *r, Ttboost__V1__TraceRecord **rec, char *err, size_t errlen);
/* The byte offset of the next record. */
uint64_t ttb_trace_reader_offset(const ttb_trace_reader *r);
void ttb_trace_reader_close(ttb_trace_reader *r);

#endif
