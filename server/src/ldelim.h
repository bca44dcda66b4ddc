/*
 * Length-delimited protobuf batches (the body of POST /ingest/events with
 * Content-Type application/x-protobuf): each item is a varint length, then
 * that many bytes of one message, as protobuf's writeDelimitedTo writes.
 */
#ifndef TTB_SERVER_LDELIM_H
#define TTB_SERVER_LDELIM_H

#include <stddef.h>
#include <stdint.h>

/* Takes the next item off the batch at *p (*left bytes): 1 with *item and
 * *item_len set and *p, *left advanced past it; 0 at the end of the batch;
 * -1 when the rest is malformed (*why says how: a truncated or over-long
 * length prefix, or an item longer than what is left). */
int ttb_ldelim_next(const uint8_t **p, size_t *left, const uint8_t **item, size_t *item_len,
                    const char **why);

#endif
