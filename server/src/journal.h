/*
 * The event journal: an append-only file in the data directory that keeps
 * what the hub must not forget across a restart (docs/operations.md "What
 * survives a restart"): each channel's published events with their seq,
 * the events accepted but not yet published (chats waiting for their
 * speech, gifts waiting behind them), and the open gift streaks.
 *
 * Records are added to a buffer; ttb_journal_sync() writes the buffer and
 * fdatasyncs it as one commit. A commit is all or nothing: on open, records
 * are replayed up to the last complete commit, and a torn or corrupt tail
 * (length, CRC-32) is cut off. ttb_journal_compact() rewrites the file from
 * the live state when it has grown. Single-threaded (the event loop).
 *
 * File: "TTBJNL1\n", then records: u32 length, u32 CRC-32 of the payload,
 * payload (a type byte and the fields; integers little-endian, strings and
 * bytes as u32 length + bytes).
 */
#ifndef TTB_SERVER_JOURNAL_H
#define TTB_SERVER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_journal ttb_journal;

typedef enum ttb_jrec_type {
  TTB_JREC_CHANNEL = 1, /* channel: its seq and fifo high-water marks (compaction) */
  TTB_JREC_EVENT = 2,   /* channel, seq, fifo, chat, data = the ServerMessage (protobuf) */
  TTB_JREC_QUEUED = 3,  /* channel, fifo, chat, user, text, url, count: accepted, not yet out */
  TTB_JREC_DROPPED = 4, /* channel, fifo: the item left the queue without an event */
  TTB_JREC_STREAKS = 5, /* data = the open gift streaks (streak.h), the last one counts */
  TTB_JREC_SEEN = 6,    /* channel, text = an ingest event id accepted, seq = when (Unix ms) */
} ttb_jrec_type;

/* One record. Strings are NUL-terminated; pointers are valid during the
 * replay callback / the add call only. */
typedef struct ttb_jrec {
  ttb_jrec_type type;
  const char *channel;
  uint64_t seq;  /* EVENT; CHANNEL: the channel's newest seq; SEEN: Unix ms */
  uint64_t fifo; /* EVENT, QUEUED, DROPPED: the item's place in the channel's queue;
                    CHANNEL: every item up to this one is out */
  bool chat;     /* EVENT, QUEUED: a chat, else a gift */
  const char *user, *text, *url; /* QUEUED: text = message or gift name, url = sound_url */
  uint32_t count;                /* QUEUED gift */
  const uint8_t *data;           /* EVENT, STREAKS */
  size_t len;
} ttb_jrec;

typedef void (*ttb_journal_replay_fn)(void *arg, const ttb_jrec *r);

/* Opens (or creates) the journal at path and replays its complete commits
 * through fn, in order; a damaged tail is cut off (and said on stderr).
 * NULL with a message in err when the file cannot be opened or written. */
ttb_journal *ttb_journal_open(const char *path, ttb_journal_replay_fn fn, void *arg, char *err,
                              size_t errlen);

/* sync false: commits are written but not fdatasync'ed (they survive the
 * process being killed, not a power cut). Default true. */
void ttb_journal_set_fsync(ttb_journal *j, bool sync);

/* Closes the file (what was not synced is dropped). */
void ttb_journal_close(ttb_journal *j);

/* Adds a record to the next commit. -1 on no memory or a record too big. */
int ttb_journal_add(ttb_journal *j, const ttb_jrec *r);

/* True when records wait for ttb_journal_sync(). */
bool ttb_journal_dirty(const ttb_journal *j);

/* Writes the waiting records as one commit and fdatasyncs the file. 0 when
 * they are on disk; -1 with err (they stay waiting; the next call retries). */
int ttb_journal_sync(ttb_journal *j, char *err, size_t errlen);

/* True when the file has grown enough that ttb_journal_compact() is due. */
bool ttb_journal_wants_compaction(const ttb_journal *j);

/* Rewrites the journal from the live state: dump(arg, j) must add every
 * record the state needs (ttb_journal_add goes to the new file meanwhile);
 * then the new file replaces the old one atomically (synced, renamed, the
 * directory synced). Nothing must be waiting (sync first). 0, or -1 with
 * err (the old file stays in use). */
int ttb_journal_compact(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                        char *err, size_t errlen);

/* During ttb_journal_compact's dump only: copies into the new file the
 * records of `type` of the current one whose seq is at least min_seq (e.g.
 * the SEEN ids still within their window). -1 on no memory or a read error. */
int ttb_journal_carry(ttb_journal *j, ttb_jrec_type type, uint64_t min_seq);

/* The file's size in bytes (for metrics and tests). */
uint64_t ttb_journal_size(const ttb_journal *j);

#endif
