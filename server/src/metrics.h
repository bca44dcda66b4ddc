/*
 * Server metrics, rendered in Prometheus' text format at GET /metrics.
 * Plain counters on the one event-loop thread: no atomics needed.
 */
#ifndef TTB_SERVER_METRICS_H
#define TTB_SERVER_METRICS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Upper bounds (seconds) of the synthesis latency histogram. */
#define TTB_METRICS_TTS_BUCKETS 10

typedef struct ttb_metrics {
  uint64_t sockets_open; /* gauge */
  uint64_t sockets_total;
  uint64_t sockets_binary; /* gauge: of the open ones */
  uint64_t events_in_chat;
  uint64_t events_in_gift;
  uint64_t events_in_rejected;
  uint64_t
      events_in_duplicates; /* ingest (and connector) events dropped: their id was seen lately */
  uint64_t sessions_ended_closes; /* sockets closed because their session ended (logout, revoke) */
  uint64_t events_out_chat;       /* messages queued to sockets */
  uint64_t events_out_gift;
  uint64_t events_out_audio;
  uint64_t events_published_chat;
  uint64_t events_published_gift;
  uint64_t resumes;
  uint64_t resume_gaps;
  uint64_t resume_missed; /* events those gaps cost their clients (Hello.missed) */
  /* the event journal (journal.c) */
  uint64_t journal_commits; /* commits written and fdatasync'ed */
  uint64_t journal_errors;  /* failed writes/syncs, records that could not be added */
  uint64_t journal_compactions;
  uint64_t journal_bytes;      /* gauge: the journal file's size */
  double journal_sync_seconds; /* time spent writing and syncing commits */
  uint64_t tts_syntheses;
  uint64_t tts_cache_hits;
  uint64_t tts_failures;
  uint64_t tts_queue_full;
  /* chats sent without speech because of a channel setting (settings.h,
   * ttb_unspoken: [1] command, [2] banned, [3] cooldown, [4] empty) */
  uint64_t chats_unspoken[5];
  uint64_t gifts_silenced;        /* gift events sent without a sound (gifts.min_diamonds) */
  uint64_t speech_wanted;         /* SpeechWanted accepted (frames started, joined or cached) */
  uint64_t speech_wanted_refused; /* SpeechWanted answered with an error */
  /* the speech workers (tts.c; copied from ttb_tts_get_stats before rendering) */
  uint64_t tts_deadline_kills; /* workers killed past a synthesis's deadline (its chat: no audio) */
  uint64_t tts_worker_restarts; /* workers replaced (killed or died) */
  uint64_t
      tts_backlog_dropped;  /* waiting speech dropped, oldest first, from a full channel backlog */
  uint64_t tts_waiting;     /* gauge: syntheses waiting for a worker */
  uint64_t tts_running;     /* gauge: syntheses being made */
  uint64_t tts_workers;     /* gauge: live workers */
  uint64_t tts_remote_jobs; /* syntheses handed to the cluster's workers (--tts-remote) */
  uint64_t tts_serving;     /* gauge: live --tts-serve children */
  uint64_t tts_streams;     /* GET /tts/<id>.ogg answered while the speech was being made */
  uint64_t tts_latency_count;
  double tts_latency_sum;
  uint64_t tts_latency_bucket[TTB_METRICS_TTS_BUCKETS]; /* cumulative at render */
  uint64_t queue_drops;                                 /* sockets closed as slow consumers */
  uint64_t idle_closes;
  uint64_t ws_writes; /* writes to WebSocket sockets (one or more frames each) */
  uint64_t logins_ok;
  uint64_t logins_failed;
  uint64_t logins_rate_limited;
  uint64_t http_requests;
  /* the TikTok connector (tiktok.c) */
  uint64_t tiktok_conns[6];  /* gauge: channels by ttb_tiktok_state (off is not counted) */
  uint64_t tiktok_frames;    /* push frames received */
  uint64_t tiktok_msgs_chat; /* webcast messages decoded, by method */
  uint64_t tiktok_msgs_gift;
  uint64_t tiktok_msgs_control;
  uint64_t tiktok_msgs_other;
  uint64_t tiktok_duplicates; /* messages dropped as seen before (msg_id) */
  uint64_t tiktok_decode_errors;
  uint64_t tiktok_acks;
  uint64_t tiktok_reconnects;
  uint64_t tiktok_lookups; /* room lookups made */
  /* limits in force (config; rendered as ttboost_limit{name}) */
  uint64_t limit_sockets_per_device;
  uint64_t limit_max_sockets_per_license;
  uint64_t limit_tts_burst;
  uint64_t limit_tts_per_min;
  uint64_t limit_history;
  uint64_t limit_login_max_failures;
  uint64_t limit_login_window_s;
  uint64_t limit_max_queued_msgs;
  uint64_t limit_max_queued_bytes;
  uint64_t limit_max_body;
  uint64_t tts_rate_limited; /* /tts/generate answered 429 (the token's bucket was empty) */
  uint64_t channels;         /* gauge: channels in memory */
  uint64_t histories_freed;  /* channel histories freed for idleness (--channel-idle-s) */
  uint64_t limit_channel_idle_s;
  uint64_t sockets_refused_limit; /* sockets refused: the license had as many as it may (4029) */
  /* the database thread (dbq.c) */
  uint64_t db_jobs;   /* database jobs done */
  uint64_t db_queue;  /* gauge: jobs queued or running */
  uint64_t db_errors; /* jobs that failed (a busy or locked database, I/O) */
  uint64_t db_stale;  /* answers served from the last known state after a failure */
  /* events through NATS JetStream (--nats; nats.h) */
  bool nats_on;
  uint64_t nats_connected;         /* gauge: 1 connected and reading the stream */
  uint64_t nats_reconnects;        /* reconnects after a lost connection */
  uint64_t nats_disconnects;       /* connections lost */
  uint64_t nats_published;         /* events stored in the stream by this node */
  uint64_t nats_duplicates;        /* publications dropped by JetStream's duplicate window */
  uint64_t nats_publish_conflicts; /* another node took the seq first: published again */
  uint64_t nats_publish_errors;    /* events not stored (disconnected, timeout, refused) */
  uint64_t nats_received;          /* events read from the stream */
  uint64_t nats_bad_messages;      /* messages in the stream that are not events */
  uint64_t nats_queue;             /* gauge: delivered, waiting for the loop */
  uint64_t nats_stream_seq;        /* gauge: the stream sequence read up to */
  /* the TikTok connector leases (--nats; lease.h) */
  bool lease_on;
  uint64_t lease_held;     /* gauge: channel leases this node holds */
  uint64_t lease_acquired; /* leases acquired (a connector may start) */
  uint64_t lease_lost;     /* leases lost while wanted (another node took it, or not renewed) */
  uint64_t lease_released; /* leases given up because no longer wanted */
  uint64_t lease_errors;   /* KV calls that failed (NATS unreachable, timeout) */
} ttb_metrics;

/* Records one synthesis of `seconds`. */
void ttb_metrics_tts_latency(ttb_metrics *m, double seconds);

/* Renders all metrics into a new malloc'd text (caller frees); NULL on no memory. */
char *ttb_metrics_render(const ttb_metrics *m, size_t *len);

#endif
