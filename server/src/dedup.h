/*
 * Idempotent ingest: the event ids each channel saw lately. An ingest event
 * with an id (IngestEvent.id, unique per channel) that its channel saw within
 * the window is acknowledged and dropped, so a source may retry safely.
 *
 * Bounded: a channel remembers at most `max_per_channel` ids (the oldest go
 * first, shortening its window when a channel is that busy), each as a keyed
 * 128-bit hash, a time and a position (32 bytes in a ring rounded up to a
 * power of two, plus up to 4 slots of 8 bytes in a hash index: at most
 * about 4 MiB for a channel at the default cap of 65536); a channel whose
 * ids have all expired is freed by the sweep. Only channels of valid
 * licenses reach it. Runs on the event-loop thread only.
 */
#ifndef TTB_SERVER_DEDUP_H
#define TTB_SERVER_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_dedup ttb_dedup;

/* window_ms 0 turns it off (nothing is ever a duplicate). NULL on no memory. */
ttb_dedup *ttb_dedup_create(uint64_t window_ms, uint32_t max_per_channel);
void ttb_dedup_free(ttb_dedup *d);

/* Has channel seen id within the window before now_ms? "" is never seen. */
bool ttb_dedup_seen(ttb_dedup *d, const char *channel, const char *id, uint64_t now_ms);

/* Remembers id on channel at now_ms (now_ms never decreasing). -1 on no memory
 * (then the id is not remembered). "" is ignored. */
int ttb_dedup_add(ttb_dedup *d, const char *channel, const char *id, uint64_t now_ms);

/* Forgets the ids older than the window and frees channels left empty;
 * call every second or so. */
void ttb_dedup_sweep(ttb_dedup *d, uint64_t now_ms);

/* Ids remembered now, over every channel (for /metrics and tests). */
size_t ttb_dedup_count(const ttb_dedup *d);

#endif
