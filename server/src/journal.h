/*
 * The event journal: an append-only file in the data directory that keeps
 * what the hub must not forget across a restart (docs/operations.md "What
 * survives a restart"): each channel's published events with their seq,
 * the events accepted but not yet published (chats waiting for their
 * speech, gifts waiting behind them), and the open gift streaks.
 *
 * Records are added to a buffer; a commit is what was added since the last
 * one. A commit is all or nothing: on open, records are replayed up to the
 * last complete commit, and a torn or corrupt tail (length, CRC-32) is cut
 * off. Compaction rewrites the file from the live state when it has grown.
 *
 * Two ways to run it. Without a thread, ttb_journal_sync() writes and
 * fdatasyncs on the caller's thread. With ttb_journal_start(), a journal
 * thread does the disk work: ttb_journal_submit() hands the waiting records
 * over as one commit and returns its ticket; the thread writes every commit
 * handed over since its last write and covers them all with one fdatasync
 * (group commit), then says which tickets are synced
 * (ttb_journal_status) and writes a byte to the wake fd. Compaction:
 * ttb_journal_compact_start() snapshots the live state on the caller's
 * thread (a copy of the records, no I/O) and the thread writes the new file,
 * appends the commits that came after the snapshot, and renames it in.
 * Every function except the thread's own is for one thread (the event
 * loop); ttb_journal_status and ttb_journal_size may be called from it
 * while the thread runs.
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
  uint64_t seq;                  /* EVENT; CHANNEL: the channel's newest seq; SEEN: Unix ms */
  uint64_t fifo;                 /* EVENT, QUEUED, DROPPED: the item's place in the channel's queue;
                    CHANNEL: every item up to this one is out */
  bool chat;                     /* EVENT, QUEUED: a chat, else a gift */
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

/* Starts the journal thread (see above). wake_fd (the caller's, e.g. the
 * write end of a non-blocking pipe; -1: none) gets a byte whenever a write,
 * a sync or a compaction ended. The environment variable
 * TTB_TEST_JOURNAL_FSYNC_DELAY_MS (tests only) makes every sync that much
 * slower, as a slow disk would. 0, or -1 with err. */
int ttb_journal_start(ttb_journal *j, int wake_fd, char *err, size_t errlen);

/* With the thread: hands every record added so far to it as one commit.
 * *ticket is the ticket that covers them (the newest one given when none
 * were waiting; 0 when none ever were). -1 on no memory (they stay
 * waiting). */
int ttb_journal_submit(ttb_journal *j, uint64_t *ticket);

/* The ticket that the records added now will have (the next submit's). */
uint64_t ttb_journal_next_ticket(const ttb_journal *j);

typedef struct ttb_journal_stat {
  uint64_t synced;     /* every ticket up to this one is on disk */
  uint64_t failed;     /* the newest ticket whose write or sync failed (retried by the thread) */
  char error[800];     /* what the last failure said */
  uint64_t size;       /* bytes synced in the file */
  double sync_seconds; /* spent writing and fdatasyncing commits */
  bool compacting;
  uint64_t compactions, compact_errors;
  char compact_error[800];
} ttb_journal_stat;

/* Where the journal stands (any time; with or without the thread). */
void ttb_journal_status(ttb_journal *j, ttb_journal_stat *st);

/* Stops the thread (after it wrote what was handed over) and closes the
 * file (what was not submitted or synced is dropped). */
void ttb_journal_close(ttb_journal *j);

/* Adds a record to the next commit. -1 on no memory or a record too big. */
int ttb_journal_add(ttb_journal *j, const ttb_jrec *r);

/* True when records wait for ttb_journal_sync(). */
bool ttb_journal_dirty(const ttb_journal *j);

/* Writes the waiting records as one commit and fdatasyncs the file. 0 when
 * they are on disk; -1 with err (they stay waiting; the next call retries).
 * With the thread: submits and waits for the thread's sync. */
int ttb_journal_sync(ttb_journal *j, char *err, size_t errlen);

/* True when the file has grown enough that a compaction is due: by more
 * than 4 times what the live state took at the last one, and at least
 * 64 MiB (so its cost is proportional to the live state and a fraction of
 * the appends); false while one runs. */
bool ttb_journal_wants_compaction(ttb_journal *j);

/* Rewrites the journal from the live state: dump(arg, j) must add every
 * record the state needs (ttb_journal_add goes to the new file meanwhile);
 * then the new file replaces the old one atomically (synced, renamed, the
 * directory synced). Nothing must be waiting (sync first). 0, or -1 with
 * err (the old file stays in use). With the thread: waits for it. */
int ttb_journal_compact(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                        char *err, size_t errlen);

/* With the thread: submits what waits, runs dump now (into a snapshot in
 * memory: ttb_journal_add goes there meanwhile) and hands the rest to the
 * thread; records added afterwards go on as usual and end up in the new
 * file after the snapshot. Its end shows in ttb_journal_status. 0, or -1
 * with err (nothing started). */
int ttb_journal_compact_start(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                              char *err, size_t errlen);

/* During a compaction's dump only: the new file gets the records of `type`
 * (SEEN, EVENT or CHANNEL) of the current one whose seq is at least min_seq
 * (e.g. the SEEN ids still within their window); they are copied as they
 * are when the file is written (on the thread). -1 for another type. */
int ttb_journal_carry(ttb_journal *j, ttb_jrec_type type, uint64_t min_seq);

/* The file's size in bytes (for metrics and tests). */
uint64_t ttb_journal_size(ttb_journal *j);

#endif
