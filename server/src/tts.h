/*
 * Text to speech: espeak-ng speech encoded as Ogg Opus, made by worker
 * processes (ttboost-tts-worker, one espeak-ng each: it keeps global state)
 * and streamed to whoever listens while it is made; the file is written
 * alongside into a content-addressed cache directory (size cap, LRU).
 *
 * A speech's id is the hex BLAKE2b-128 of "voice\n" + text (after
 * cleaning), so the URL is known before anything is made. ttb_tts_prepare
 * computes it and remembers what it stands for (bounded, oldest forgotten
 * first); ttb_tts_listen then makes it on demand, or joins the synthesis
 * under way (one synthesis per id, however many listeners).
 *
 * Scheduling: each job belongs to a queue (the channel); free workers take
 * jobs from the queues in turn (round-robin, one job per queue per turn; a
 * queue that becomes busy joins the end of the round), so a job waits for
 * at most one job of each other busy queue, never for another's flood.
 * Each job is also due at a time: now for a listener who waits
 * (ttb_tts_listen), later for one who will play it after other audio
 * (ttb_tts_listen_lead: a binary client's SpeechWanted.lead_ms). The round
 * takes only queues whose first job is due within half a second; when no
 * queue has one, the job due soonest goes (workers never idle while jobs
 * wait). So a listener's next chat, asked for seconds ahead, does not
 * delay another listener's chat that must play now. A queue holds at most `backlog` waiting jobs:
 * beyond, the oldest waiting job is dropped (its listeners are told). A
 * running job has a deadline: past it, the worker is killed and replaced
 * and the job fails.
 *
 * Single-threaded: everything runs on the caller's (event loop) thread.
 * ttb_tts_fd is an epoll descriptor that becomes readable when a worker has
 * written or a deadline passed; the loop then calls ttb_tts_dispatch.
 * Callbacks run only from ttb_tts_dispatch (and ttb_tts_stop), never from
 * the call that registered them.
 */
#ifndef TTB_SERVER_TTS_H
#define TTB_SERVER_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTB_TTS_ID_LEN 32 /* hex characters of an id */

typedef struct ttb_tts ttb_tts;

typedef struct ttb_tts_config {
  const char *cache_dir;  /* created when absent */
  size_t cache_max_bytes; /* LRU eviction above this (0 = no cap) */
  size_t queue_max;       /* jobs waiting in all queues; beyond, a new job is refused (busy) */
  size_t max_text_bytes;  /* longer text is cut at a UTF-8 boundary (0 = no cut) */
  uint32_t bitrate;       /* Opus bits/s, 6000..510000 */
  const char
      *worker_path; /* NULL: $TTBOOST_TTS_WORKER, else ttboost-tts-worker beside this program */
  unsigned workers; /* worker processes (0: the number of cores, or none when remote > 0) */
  /* Remote slots: more workers of the pool, each a relay process (the
   * worker program with these arguments, NULL-terminated, e.g.
   * {"--relay-nats", url, NULL}) spoken to like a local worker; their jobs
   * are made elsewhere. Scheduling, deadlines and restarts are the same. */
  unsigned remote;
  const char *const *remote_args;
  /* Serving children: the worker program with these arguments (e.g.
   * {"--nats", url, "--child", NULL}), never given a job here: they serve
   * other nodes (a NATS queue group). They say hello on stdout, are
   * restarted when they die and killed by ttb_tts_stop. */
  unsigned serve;
  const char *const *serve_args;
  uint32_t deadline_ms; /* a running job's limit (0: 10000) */
  size_t backlog;       /* waiting jobs per queue (0: 16) */
  size_t remember;      /* ids ttb_tts_prepare remembers (0: 8192) */
  /* optional: called when a job that ran on a worker ended (ok: its file
   * exists), with the time it took there */
  void (*on_end)(void *arg, bool ok, double seconds);
  void *on_end_arg;
} ttb_tts_config;

/* Counters, for /metrics. */
typedef struct ttb_tts_stats {
  uint64_t syntheses;       /* jobs that made a file */
  uint64_t failures;        /* jobs that failed (deadline and dropped included) */
  uint64_t deadline_kills;  /* workers killed past a job's deadline */
  uint64_t worker_restarts; /* workers replaced (killed or died) */
  uint64_t backlog_dropped; /* waiting jobs dropped, oldest first, from a full queue */
  uint64_t waiting;         /* jobs waiting now */
  uint64_t running;         /* jobs being made now */
  unsigned workers;         /* live workers now (local and remote slots) */
  uint64_t remote_jobs;     /* jobs started on a remote slot */
  unsigned serving;         /* live serving children now */
} ttb_tts_stats;

/* Starts the workers and waits (up to 10 s) for the first to report what it
 * can do. NULL with a message in err (no worker program, espeak-ng missing
 * data, cache dir not writable, no memory). Temp files left in the cache
 * dir by a crash are removed. */
ttb_tts *ttb_tts_start(const ttb_tts_config *cfg, char *err, size_t errlen);
/* Kills the workers; listeners of unfinished jobs are told (failed), then
 * everything is freed. Listeners must be detached (ttb_tts_unlisten) by
 * their owners in or after that callback, before t is gone: i.e. call
 * ttb_tts_unlisten from the callback, or not at all after this. */
void ttb_tts_stop(ttb_tts *t);

/* The descriptor the event loop watches (readable: call ttb_tts_dispatch). */
int ttb_tts_fd(const ttb_tts *t);
/* Reads the workers' output, handles deadlines, runs callbacks. */
void ttb_tts_dispatch(ttb_tts *t);

/* Cleans text, picks the voice (NULL or "": by the text's script: Cyrillic
 * with Kazakh letters -> kk when available, other Cyrillic -> ru, else en;
 * an explicit voice must be one of en ru kk de fr es it pt uk tr pl that the
 * workers loaded, optionally with a variant as ttb_tts_has_voice takes), writes the id into id[TTB_TTS_ID_LEN + 1] and remembers
 * it with its queue (a channel; copied), so that ttb_tts_listen can make
 * it. Control characters (C0, DEL, C1) and Unicode spaces become spaces,
 * runs collapse, ends are trimmed; invalid UTF-8 is refused. 0 on success;
 * -1 with a message in err (empty after cleaning, unknown voice, no memory). */
int ttb_tts_prepare(ttb_tts *t, const char *text, const char *voice, const char *queue,
                    char id[TTB_TTS_ID_LEN + 1], char *err, size_t errlen);

/* espeak-ng's speech rate bounds (words a minute). */
#define TTB_TTS_RATE_MIN 80
#define TTB_TTS_RATE_MAX 450
/* What a chat's speech may set beyond ttb_tts_prepare's. */
typedef struct ttb_tts_opts {
  /* Words a minute (TTB_TTS_RATE_MIN..MAX) and pitch (1..99); 0 =
   * espeak-ng's defaults (175, 50). The id's key is "voice;rate=R;pitch=P"
   * when either is set, else the voice alone (the ids of default speech do
   * not change). */
  uint32_t rate, pitch;
  /* The queue's bound in milliseconds of speech, guessed from the waiting
   * texts (ttb_tts_estimate_ms): when this speech's job starts waiting, the
   * oldest waiting jobs of its queue are dropped until it fits. 0 = only the
   * count bound (the config's backlog), which always applies. */
  uint32_t backlog_ms;
} ttb_tts_opts;
/* ttb_tts_prepare with options (o NULL = none). -1 with err also when rate
 * or pitch is out of range. */
int ttb_tts_prepare_ex(ttb_tts *t, const char *text, const char *voice, const ttb_tts_opts *o,
                       const char *queue, char id[TTB_TTS_ID_LEN + 1], char *err, size_t errlen);
/* A guess of how long text takes to say at rate words a minute (0 = 175):
 * 300 ms plus its words (runs of non-spaces) at that rate. Numbers and
 * long words take longer in truth; it is a bound for a backlog, not a
 * measure. */
uint32_t ttb_tts_estimate_ms(const char *text, uint32_t rate);
/* Someone waiting for a speech: embed it in your own state. */
typedef struct ttb_tts_listener ttb_tts_listener;
struct ttb_tts_listener {
  /* Set by the owner: called (from ttb_tts_dispatch) when the job has more
   * Ogg bytes or packets, and once more when it ended (ttb_tts_ended). */
  void (*on_progress)(ttb_tts_listener *l);
  void *arg;
  /* private */
  ttb_tts_listener *next, *prev;
  struct tts_job *job;
};

typedef enum ttb_tts_open {
  TTB_TTS_LISTENING = 0, /* attached to a job: on_progress will follow */
  TTB_TTS_CACHED = 1,    /* the file exists: read it (not attached) */
  TTB_TTS_UNKNOWN = 2,   /* an id not prepared recently and not in the cache */
  TTB_TTS_BUSY = 3,      /* too many jobs waiting */
  TTB_TTS_FAILED = -1,   /* no memory, or no worker can run */
} ttb_tts_open;

/* Attaches l to the making of id: joins the job under way, or starts one
 * for a remembered id. l may be NULL: the job is started (if needed) with
 * nobody listening (eager synthesis). */
ttb_tts_open ttb_tts_listen(ttb_tts *t, const char *id, ttb_tts_listener *l);
/* The most lead ttb_tts_listen_lead counts (more is this much). */
#define TTB_TTS_LEAD_MAX_MS 600000u
/* ttb_tts_listen for a listener who will play the speech only lead_ms from
 * now (after other audio): its job is due then (see "Scheduling" above); a
 * waiting job joined by a listener who needs it sooner becomes due sooner.
 * ttb_tts_listen is lead_ms 0. */
ttb_tts_open ttb_tts_listen_lead(ttb_tts *t, const char *id, ttb_tts_listener *l, uint32_t lead_ms);
/* Detaches l (before or after its job ended). A job nobody listens to any
 * more goes on (its file is wanted later) unless it is still waiting. */
void ttb_tts_unlisten(ttb_tts_listener *l);

/* What the listener's job has made so far: the Ogg file's bytes (valid
 * until the next callback or unlisten), and packet i of n (Opus audio, 20 ms
 * each, 48 kHz mono). */
const uint8_t *ttb_tts_ogg(const ttb_tts_listener *l, size_t *len);
size_t ttb_tts_npackets(const ttb_tts_listener *l);
const uint8_t *ttb_tts_packet(const ttb_tts_listener *l, size_t i, size_t *len);
/* The OpusHead pre-skip (valid once a packet is there) and the duration so far. */
uint32_t ttb_tts_pre_skip(const ttb_tts_listener *l);
uint32_t ttb_tts_duration_ms(const ttb_tts_listener *l);
/* true when the job ended; *error NULL when the speech is whole (all its
 * bytes and packets are there), else why not. */
bool ttb_tts_ended(const ttb_tts_listener *l, const char **error);
/* true when the job ended whole and its file is in the cache (false when
 * e.g. the cache's disk is full: the speech was streamed, not stored). */
bool ttb_tts_stored(const ttb_tts_listener *l);
/* The listener's job's id. */
const char *ttb_tts_listener_id(const ttb_tts_listener *l);

/* ---- The former one-shot interface, on top of the above. */

/* What a completed request reports. id and path are NULL when synthesis
 * failed, and then error says why. hit tells whether the file was already
 * there. seconds is the time from the request to the file (0 for a hit).
 * The strings are valid only during the callback. */
typedef struct ttb_tts_result {
  const char *id;
  const char *path;
  bool hit;
  double seconds;
  const char *error;
} ttb_tts_result;
typedef void (*ttb_tts_cb)(void *arg, const ttb_tts_result *r);

/* Prepares text (queue "") and runs cb once the file exists or failed
 * (later, from ttb_tts_dispatch). 0 queued; 1 busy; -1 invalid with a
 * message in err. */
int ttb_tts_submit(ttb_tts *t, const char *text, const char *voice, ttb_tts_cb cb, void *arg,
                   char *err, size_t errlen);

/* Whether voice is one an explicit request may name (ttb_tts_prepare) and
 * the workers loaded, with an optional espeak-ng variant: "en+f3" (f1-f5,
 * m1-m7, croak, whisper, whisperf). */
bool ttb_tts_has_voice(const ttb_tts *t, const char *voice);
/* The voice that ttb_tts_prepare would pick for text. */
const char *ttb_tts_voice_for(const char *text);

/* The cache directory. */
const char *ttb_tts_dir(const ttb_tts *t);
/* The path of id's file into out; false when it does not exist. Touches it (LRU). */
bool ttb_tts_cached(ttb_tts *t, const char *id, char *out, size_t cap);
/* Current counters. */
void ttb_tts_get_stats(const ttb_tts *t, ttb_tts_stats *st);

#endif
