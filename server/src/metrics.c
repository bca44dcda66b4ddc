#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double tts_bounds[TTB_METRICS_TTS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                           0.25,  0.5,  1,     2.5,  5};

void ttb_metrics_tts_latency(ttb_metrics *m, double s)
{
  m->tts_latency_count++;
  m->tts_latency_sum += s;
  for (int i = 0; i < TTB_METRICS_TTS_BUCKETS; i++)
    if (s <= tts_bounds[i]) {
      m->tts_latency_bucket[i]++;
      break;
    }
}

typedef struct out {
  char *p;
  size_t n, cap;
  int oom;
} out;

static void put(out *o, const char *fmt, ...)
{
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(o->p ? o->p + o->n : NULL, o->p ? o->cap - o->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      o->oom = 1;
      return;
    }
    if (o->p && (size_t)k < o->cap - o->n) {
      o->n += (size_t)k;
      return;
    }
    size_t cap = o->cap ? o->cap * 2 : 4096;
    while (cap - o->n <= (size_t)k)
      cap *= 2;
    char *p = realloc(o->p, cap);
    if (p == NULL) {
      o->oom = 1;
      return;
    }
    o->p = p;
    o->cap = cap;
  }
}

static void counter(out *o, const char *name, const char *help, const char *labels, uint64_t v)
{
  if (help)
    put(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  put(o, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

static void gauge(out *o, const char *name, const char *help, uint64_t v)
{
  put(o, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

char *ttb_metrics_render(const ttb_metrics *m, size_t *len)
{
  out o = {0};
  gauge(&o, "ttboost_sockets_open", "WebSocket connections open now.", m->sockets_open);
  gauge(&o, "ttboost_sockets_binary_open", "Open WebSocket connections in binary (protobuf) mode.",
        m->sockets_binary);
  counter(&o, "ttboost_sockets_total", "WebSocket connections accepted.", NULL, m->sockets_total);
  counter(&o, "ttboost_events_in_total", "Events accepted by POST /ingest/events, by type.",
          "{type=\"chat\"}", m->events_in_chat);
  counter(&o, "ttboost_events_in_total", NULL, "{type=\"gift\"}", m->events_in_gift);
  counter(&o, "ttboost_events_rejected_total", "Ingest items refused.", NULL,
          m->events_in_rejected);
  counter(&o, "ttboost_events_duplicate_total",
          "Ingest and connector events dropped because their id was seen lately on the channel.",
          NULL, m->events_in_duplicates);
  counter(&o, "ttboost_session_closes_total",
          "Sockets closed because their session ended (logout, ttboost-admin session revoke).",
          NULL, m->sessions_ended_closes);
  counter(&o, "ttboost_events_published_total",
          "Events published to channels (after TTS and streaks).", "{type=\"chat\"}",
          m->events_published_chat);
  counter(&o, "ttboost_events_published_total", NULL, "{type=\"gift\"}", m->events_published_gift);
  counter(&o, "ttboost_events_out_total", "Messages queued to sockets, by type.", "{type=\"chat\"}",
          m->events_out_chat);
  counter(&o, "ttboost_events_out_total", NULL, "{type=\"gift\"}", m->events_out_gift);
  counter(&o, "ttboost_events_out_total", NULL, "{type=\"audio\"}", m->events_out_audio);
  counter(&o, "ttboost_resumes_total", "Connections that resumed with ?since.", NULL, m->resumes);
  counter(&o, "ttboost_resume_gaps_total", "Resumes older than the history (events lost to them).",
          NULL, m->resume_gaps);
  counter(&o, "ttboost_resume_missed_total",
          "Events that resuming clients missed for good (Hello.missed).", NULL, m->resume_missed);
  counter(&o, "ttboost_journal_commits_total", "Journal commits written and synced.", NULL,
          m->journal_commits);
  counter(&o, "ttboost_journal_errors_total", "Journal writes or syncs that failed.", NULL,
          m->journal_errors);
  counter(&o, "ttboost_journal_compactions_total", "Journal rewrites from the live state.", NULL,
          m->journal_compactions);
  gauge(&o, "ttboost_journal_bytes", "Size of the event journal file.", m->journal_bytes);
  put(&o,
      "# HELP ttboost_journal_sync_seconds_total Time spent writing and syncing the journal.\n"
      "# TYPE ttboost_journal_sync_seconds_total counter\n"
      "ttboost_journal_sync_seconds_total %.6f\n",
      m->journal_sync_seconds);
  counter(&o, "ttboost_tts_syntheses_total", "TTS files synthesised.", NULL, m->tts_syntheses);
  counter(&o, "ttboost_tts_cache_hits_total", "TTS requests answered from the cache.", NULL,
          m->tts_cache_hits);
  counter(&o, "ttboost_tts_failures_total", "TTS syntheses that failed.", NULL, m->tts_failures);
  counter(&o, "ttboost_tts_queue_full_total", "TTS requests refused because the queue was full.",
          NULL, m->tts_queue_full);
  counter(&o, "ttboost_chats_unspoken_total",
          "Chats sent without speech because of a channel setting (/me/settings), by reason.",
          "{reason=\"command\"}", m->chats_unspoken[1]);
  counter(&o, "ttboost_chats_unspoken_total", NULL, "{reason=\"banned\"}", m->chats_unspoken[2]);
  counter(&o, "ttboost_chats_unspoken_total", NULL, "{reason=\"cooldown\"}", m->chats_unspoken[3]);
  counter(&o, "ttboost_chats_unspoken_total", NULL, "{reason=\"empty\"}", m->chats_unspoken[4]);
  counter(&o, "ttboost_gifts_silenced_total",
          "Gift events sent without a sound: worth fewer diamonds than the channel's min_diamonds.",
          NULL, m->gifts_silenced);
  counter(&o, "ttboost_speech_wanted_total",
          "SpeechWanted requests served (binary sockets with speech_on_request).", NULL,
          m->speech_wanted);
  counter(&o, "ttboost_speech_wanted_refused_total",
          "SpeechWanted requests refused (bad_request, too_many_requests).", NULL,
          m->speech_wanted_refused);
  counter(&o, "ttboost_tts_deadline_kills_total",
          "Speech workers killed past a synthesis's deadline (the chat had no audio).", NULL,
          m->tts_deadline_kills);
  counter(&o, "ttboost_tts_worker_restarts_total", "Speech workers replaced (killed or died).",
          NULL, m->tts_worker_restarts);
  counter(&o, "ttboost_tts_backlog_dropped_total",
          "Waiting speech dropped, oldest first, from a channel's full backlog (--tts-backlog).",
          NULL, m->tts_backlog_dropped);
  counter(&o, "ttboost_tts_streams_total",
          "GET /tts/<id>.ogg streamed while the speech was being made.", NULL, m->tts_streams);
  gauge(&o, "ttboost_tts_waiting", "Syntheses waiting for a speech worker.", m->tts_waiting);
  gauge(&o, "ttboost_tts_running", "Syntheses being made now.", m->tts_running);
  gauge(&o, "ttboost_tts_workers", "Live speech workers.", m->tts_workers);
  if (m->nats_on) { /* speech across nodes (docs/scaling.md) */
    counter(&o, "ttboost_tts_remote_jobs_total",
            "Syntheses handed to the cluster's speech workers over NATS (--tts-remote).", NULL,
            m->tts_remote_jobs);
    gauge(&o, "ttboost_tts_serving",
          "Live ttboost-tts-worker children serving the cluster "
          "(--tts-serve).",
          m->tts_serving);
  }
  put(&o, "# HELP ttboost_tts_synthesis_seconds Time to synthesise and encode one TTS file.\n"
          "# TYPE ttboost_tts_synthesis_seconds histogram\n");
  uint64_t cum = 0;
  for (int i = 0; i < TTB_METRICS_TTS_BUCKETS; i++) {
    cum += m->tts_latency_bucket[i];
    put(&o, "ttboost_tts_synthesis_seconds_bucket{le=\"%g\"} %llu\n", tts_bounds[i],
        (unsigned long long)cum);
  }
  put(&o, "ttboost_tts_synthesis_seconds_bucket{le=\"+Inf\"} %llu\n",
      (unsigned long long)m->tts_latency_count);
  put(&o, "ttboost_tts_synthesis_seconds_sum %.6f\nttboost_tts_synthesis_seconds_count %llu\n",
      m->tts_latency_sum, (unsigned long long)m->tts_latency_count);
  counter(&o, "ttboost_queue_drops_total",
          "Sockets closed as slow consumers (queue over its bound).", NULL, m->queue_drops);
  counter(&o, "ttboost_idle_closes_total", "Sockets closed for silence (dead peers).", NULL,
          m->idle_closes);
  counter(&o, "ttboost_ws_writes_total", "Writes to WebSocket sockets, each of one or more frames.",
          NULL, m->ws_writes);
  counter(&o, "ttboost_logins_total", "Logins, by result.", "{result=\"ok\"}", m->logins_ok);
  counter(&o, "ttboost_logins_total", NULL, "{result=\"failed\"}", m->logins_failed);
  counter(&o, "ttboost_logins_total", NULL, "{result=\"rate_limited\"}", m->logins_rate_limited);
  counter(&o, "ttboost_http_requests_total", "HTTP requests handled.", NULL, m->http_requests);
  static const char *const tt_states[6] = {"off",  "waiting", "connecting",
                                           "live", "ended",   "error"};
  put(&o, "# HELP ttboost_tiktok_connections TikTok connector channels by state.\n"
          "# TYPE ttboost_tiktok_connections gauge\n");
  for (int i = 1; i < 6; i++)
    put(&o, "ttboost_tiktok_connections{state=\"%s\"} %llu\n", tt_states[i],
        (unsigned long long)m->tiktok_conns[i]);
  counter(&o, "ttboost_tiktok_frames_total", "Push frames received from TikTok.", NULL,
          m->tiktok_frames);
  counter(&o, "ttboost_tiktok_messages_total", "Webcast messages decoded, by method.",
          "{method=\"chat\"}", m->tiktok_msgs_chat);
  counter(&o, "ttboost_tiktok_messages_total", NULL, "{method=\"gift\"}", m->tiktok_msgs_gift);
  counter(&o, "ttboost_tiktok_messages_total", NULL, "{method=\"control\"}",
          m->tiktok_msgs_control);
  counter(&o, "ttboost_tiktok_messages_total", NULL, "{method=\"other\"}", m->tiktok_msgs_other);
  counter(&o, "ttboost_tiktok_duplicates_total",
          "Webcast messages dropped as already seen (msg_id).", NULL, m->tiktok_duplicates);
  counter(&o, "ttboost_tiktok_decode_errors_total",
          "Push frames or messages that could not be decoded.", NULL, m->tiktok_decode_errors);
  counter(&o, "ttboost_tiktok_acks_total", "Acks sent to TikTok.", NULL, m->tiktok_acks);
  counter(&o, "ttboost_tiktok_reconnects_total", "Push socket reconnects.", NULL,
          m->tiktok_reconnects);
  counter(&o, "ttboost_tiktok_lookups_total", "Room lookups made.", NULL, m->tiktok_lookups);
  put(&o, "# HELP ttboost_limit Limits in force (docs/operations.md, Limits).\n"
          "# TYPE ttboost_limit gauge\n");
  const struct {
    const char *name;
    uint64_t v;
  } limits[] = {
      {"sockets_per_device", m->limit_sockets_per_device},
      {"max_sockets_per_license", m->limit_max_sockets_per_license},
      {"tts_burst", m->limit_tts_burst},
      {"channel_idle_s", m->limit_channel_idle_s},
      {"tts_per_min", m->limit_tts_per_min},
      {"history", m->limit_history},
      {"login_max_failures", m->limit_login_max_failures},
      {"login_window_s", m->limit_login_window_s},
      {"max_queued_msgs", m->limit_max_queued_msgs},
      {"max_queued_bytes", m->limit_max_queued_bytes},
      {"max_body", m->limit_max_body},
  };
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    put(&o, "ttboost_limit{name=\"%s\"} %llu\n", limits[i].name, (unsigned long long)limits[i].v);
  gauge(&o, "ttboost_channels", "Channels in memory.", m->channels);
  counter(&o, "ttboost_histories_freed_total",
          "Channel histories freed after --channel-idle-s idle.", NULL, m->histories_freed);
  counter(&o, "ttboost_sockets_refused_total",
          "Sockets refused, by reason (license_limit: close 4029).", "{reason=\"license_limit\"}",
          m->sockets_refused_limit);
  counter(&o, "ttboost_tts_rate_limited_total", "POST /tts/generate answered 429 (empty bucket).",
          NULL, m->tts_rate_limited);
  counter(&o, "ttboost_db_jobs_total", "Jobs done by the database thread.", NULL, m->db_jobs);
  gauge(&o, "ttboost_db_queue", "Database jobs queued or running.", m->db_queue);
  counter(&o, "ttboost_db_errors_total",
          "Database jobs that failed (busy or locked database, I/O).", NULL, m->db_errors);
  counter(&o, "ttboost_db_stale_total",
          "Answers served from the last known state after a database failure.", NULL, m->db_stale);
  if (m->nats_on) {
    gauge(&o, "ttboost_nats_connected", "1: connected to NATS and reading the event stream.",
          m->nats_connected);
    counter(&o, "ttboost_nats_reconnects_total", "Reconnects to NATS after a lost connection.",
            NULL, m->nats_reconnects);
    counter(&o, "ttboost_nats_disconnects_total", "Connections to NATS lost.", NULL,
            m->nats_disconnects);
    counter(&o, "ttboost_nats_published_total", "Events this node stored in the stream.", NULL,
            m->nats_published);
    counter(&o, "ttboost_nats_duplicates_total",
            "Publications JetStream dropped as duplicates (Nats-Msg-Id).", NULL,
            m->nats_duplicates);
    counter(&o, "ttboost_nats_publish_conflicts_total",
            "Publications retried because another node took the channel's next seq.", NULL,
            m->nats_publish_conflicts);
    counter(&o, "ttboost_nats_publish_errors_total",
            "Events not stored in the stream (disconnected, timeout, refused).", NULL,
            m->nats_publish_errors);
    counter(&o, "ttboost_nats_received_total", "Events read from the stream.", NULL,
            m->nats_received);
    counter(&o, "ttboost_nats_bad_messages_total", "Messages in the stream that are not events.",
            NULL, m->nats_bad_messages);
    gauge(&o, "ttboost_nats_queue", "Messages delivered by NATS, waiting for the event loop.",
          m->nats_queue);
    gauge(&o, "ttboost_nats_stream_seq", "The stream sequence read up to.", m->nats_stream_seq);
  }
  if (m->lease_on) {
    gauge(&o, "ttboost_lease_held", "TikTok connector leases this node holds.", m->lease_held);
    counter(&o, "ttboost_lease_acquired_total", "TikTok connector leases acquired.", NULL,
            m->lease_acquired);
    counter(&o, "ttboost_lease_lost_total",
            "TikTok connector leases lost while wanted (taken over, or not renewed in time).", NULL,
            m->lease_lost);
    counter(&o, "ttboost_lease_released_total",
            "TikTok connector leases given up because no longer wanted.", NULL, m->lease_released);
    counter(&o, "ttboost_lease_errors_total", "Lease KV calls that failed.", NULL, m->lease_errors);
  }
  if (o.oom) {
    free(o.p);
    return NULL;
  }
  if (len)
    *len = o.n;
  return o.p;
}
