/*
 * ttb-trace: looks into trace files (docs/replay.md).
 *   dump FILE            one JSON object per record (the generated encoders)
 *   stats FILE           counts by kind, duration, rates
 *   merge OUT IN…        records of several traces on one timeline
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tiktok_frame.h"
#include "trace.h"
#include "trace_ext.h"
#include "ttboost/v1/trace.pbc-json.h"

static void usage(FILE *f)
{
  fprintf(
      f,
      "usage: ttb-trace dump FILE\n"
      "       ttb-trace stats FILE\n"
      "       ttb-trace merge OUT IN1 IN2 …\n"
      "\n"
      "  dump    the header, then every record, one JSON object per line:\n"
      "          {\"header\":{\"version\":1,…}}\n"
      "          {\"time_us\":1500000,\"direction\":\"DIRECTION_INGEST\",\"ingest\":{…}}\n"
      "          (the schema's JSON mapping, docs/protocol/json.md); TikTok push frames\n"
      "          (DIRECTION_TIKTOK) are joined from their chunks and decoded:\n"
      "          {\"time_us\":…,\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":…,\n"
      "           "
      "\"chunks\":1,\"push_frame\":{\"seq_id\":…,\"payload_type\":\"msg\",\"compress\":\"gzip\",\n"
      "           \"need_ack\":true,\"messages\":[{\"method\":\"WebcastChatMessage\",…}]}}}\n"
      "          (a frame that does not decode: \"undecodable\" with its size)\n"
      "  stats   records by direction and kind, gift streak parts, TikTok frames and\n"
      "          messages by method, duration and rates\n"
      "  merge   writes OUT with the records of the inputs on one timeline (each input's\n"
      "          times are shifted by its header's created_us), e.g. a server's\n"
      "          --trace-ingest file and a ttb-record file of the same session, which\n"
      "          ttb-replay --expect can then check a server against\n"
      "\n"
      "Exit status: 0 ok, 1 the trace is truncated or corrupt (the error names the byte\n"
      "offset; what was read before it is still printed), 2 usage error.\n");
}

/* One TikTok record: prints the message when its last chunk has come. -1 out of memory. */
static int dump_tiktok(ttb_tf_joiner *tj, const Ttboost__V1__TraceRecord *rec)
{
  char err[256];
  ttb_sbuf b = {0};
  int jr = ttb_tf_join(tj, rec, err, sizeof err);
  if (jr == 0)
    return 0;
  ttb_sbuf_printf(
      &b, "{\"time_us\":%" PRIu64 ",\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":",
      jr == 1 ? tj->time_us : rec->time_us);
  const char *room = jr == 1 ? tj->room_id : (rec->tiktok->room_id ? rec->tiktok->room_id : "");
  ttb_sbuf_json_str(&b, room, strlen(room));
  if (jr == 1) {
    ttb_sbuf_printf(&b, ",\"chunks\":%zu,\"push_frame\":", tj->chunks);
    ttb_tf_describe(tj->buf, tj->len, &b);
  } else {
    ttb_sbuf_printf(&b, ",\"error\":");
    ttb_sbuf_json_str(&b, err, strlen(err));
  }
  ttb_sbuf_printf(&b, "}}\n");
  if (b.oom) {
    ttb_sbuf_free(&b);
    return -1;
  }
  fwrite(b.p, 1, b.len, stdout);
  ttb_sbuf_free(&b);
  return 0;
}

static int dump(const char *path)
{
  char err[512];
  ttb_trace_reader *r;
  if (ttb_trace_reader_open(path, &r, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-trace: %s\n", err);
    return 1;
  }
  ttb_json_error je;
  size_t n;
  char *js = ttb_pbc_ttboost_v1_TraceHeader_to_json(ttb_trace_reader_header(r), &n, &je);
  if (js == NULL) {
    fprintf(stderr, "ttb-trace: header: %s\n", je.msg);
    ttb_trace_reader_close(r);
    return 1;
  }
  printf("{\"header\":%s}\n", js);
  free(js);
  Ttboost__V1__TraceRecord *rec;
  int rc;
  ttb_tf_joiner tj = {0};
  while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
    uint64_t off = ttb_trace_reader_offset(r);
    if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK) {
      int jr = dump_tiktok(&tj, rec);
      ttboost__v1__trace_record__free_unpacked(rec, NULL);
      if (jr != 0) {
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
        break;
      }
      continue;
    }
    js = ttb_pbc_ttboost_v1_TraceRecord_to_json(rec, &n, &je);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    if (js == NULL) {
      fprintf(stderr, "ttb-trace: the record before offset %" PRIu64 ": %s\n", off, je.msg);
      rc = -1;
      break;
    }
    fwrite(js, 1, n, stdout);
    putchar('\n');
    free(js);
  }
  if (rc == 0 && ttb_tf_join_pending(&tj))
    printf("{\"time_us\":%" PRIu64
           ",\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":\"%s\","
           "\"chunks\":%zu,\"bytes\":%zu,\"incomplete\":\"the trace ends before the message's last "
           "chunk\"}}\n",
           tj.time_us, tj.room_id, tj.chunks, tj.len);
  ttb_tf_joiner_free(&tj);
  ttb_trace_reader_close(r);
  if (rc < 0) {
    fflush(stdout);
    if (err[0])
      fprintf(stderr, "ttb-trace: %s\n", err);
    return 1;
  }
  return 0;
}

static void rate(const char *what, unsigned long n, double secs)
{
  if (secs > 0)
    printf("  %-22s %8lu   %8.2f/min  %7.3f/s\n", what, n, (double)n * 60.0 / secs,
           (double)n / secs);
  else
    printf("  %-22s %8lu\n", what, n);
}

static int stats(const char *path)
{
  char err[512];
  ttb_trace_reader *r;
  if (ttb_trace_reader_open(path, &r, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-trace: %s\n", err);
    return 1;
  }
  const Ttboost__V1__TraceHeader *h = ttb_trace_reader_header(r);
  unsigned long records = 0, in_chat = 0, in_gift = 0, in_single = 0, in_streak_part = 0,
                in_streak_end = 0, in_none = 0, s2c[8] = {0}, c2s = 0, other = 0;
  unsigned long long gift_total = 0;
  uint64_t first = UINT64_MAX, last = 0;
  ttb_tf_joiner tj = {0};
  ttb_tf_stats ts = {0};
  unsigned long tiktok_records = 0, tiktok_errors = 0;
  Ttboost__V1__TraceRecord *rec;
  int rc;
  while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
    records++;
    if (rec->time_us < first)
      first = rec->time_us;
    if (rec->time_us > last)
      last = rec->time_us;
    if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_INGEST) {
      const Ttboost__V1__IngestEvent *e = rec->ingest;
      if (e->event_case == TTBOOST__V1__INGEST_EVENT__EVENT_CHAT) {
        in_chat++;
      } else if (e->event_case == TTBOOST__V1__INGEST_EVENT__EVENT_GIFT) {
        in_gift++;
        if (e->gift->repeat_end)
          in_streak_end++;
        else if (e->gift->repeat_count)
          in_streak_part++;
        else
          in_single++;
      } else {
        in_none++;
      }
    } else if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_SERVER) {
      unsigned k = (unsigned)rec->server->payload_case;
      s2c[k < 8 ? k : 0]++;
      if (rec->server->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT)
        gift_total += rec->server->gift->count;
    } else if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_CLIENT) {
      c2s++;
    } else if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK) {
      tiktok_records++;
      int jr = ttb_tf_join(&tj, rec, NULL, 0);
      if (jr < 0)
        tiktok_errors++;
      else if (jr == 1 && ttb_tf_stats_add(&ts, tj.buf, tj.len) != 0) {
        ttboost__v1__trace_record__free_unpacked(rec, NULL);
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
        break;
      }
    } else {
      other++;
    }
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  uint64_t end_off = ttb_trace_reader_offset(r);
  double secs = records && last > first ? (double)(last - first) / 1e6 : 0;
  printf("%s: trace version %u, source \"%s\", %lu records, %" PRIu64 " bytes read\n", path,
         h->version, h->source, records, end_off);
  if (h->note[0])
    printf("  note: %s\n", h->note);
  printf("  created_us %" PRIu64 "; duration %.3f s (%.3f s to %.3f s)\n", h->created_us, secs,
         records ? (double)first / 1e6 : 0.0, records ? (double)last / 1e6 : 0.0);
  bool ingest_or_server = tiktok_records == 0 || records > tiktok_records + c2s + other;
  if (ingest_or_server) {
    printf("ingest (into the server):\n");
    rate("chat", in_chat, secs);
    rate("gift", in_gift, secs);
    printf("    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n", "single gifts", in_single,
           "streak steps", in_streak_part, "streak ends", in_streak_end);
    if (in_none)
      printf("  %-22s %8lu\n", "without an event", in_none);
    printf("server to client:\n");
    static const char *const names[8] = {"(none)", "",      "chat",  "gift",
                                         "audio",  "hello", "error", "pong"};
    for (unsigned k = 2; k < 8; k++)
      rate(names[k], s2c[k], secs);
    if (s2c[0])
      printf("  %-22s %8lu\n", "(none)", s2c[0]);
    printf("    %-20s %8llu\n", "gifts in all (count)", gift_total);
  }
  if (c2s)
    printf("client to server: %lu\n", c2s);
  if (tiktok_records) {
    printf("TikTok push socket: %lu records\n", tiktok_records);
    rate("WebSocket messages", ts.messages, secs);
    printf("    %-20s %8lu\n", "continuation chunks", tiktok_records - ts.messages);
    printf("    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n", "msg frames",
           ts.t_msg, "im_enter_room_resp", ts.t_enter, "hb frames", ts.t_hb, "other frames",
           ts.t_other);
    printf("    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n", "gzip payloads", ts.gzip,
           "plain payloads", ts.plain, "need ack", ts.need_ack);
    printf("    %-20s %8lu\n", "undecodable frames", ts.undecodable);
    if (ts.bad_payload)
      printf("    %-20s %8lu\n", "bad payloads", ts.bad_payload);
    if (tiktok_errors)
      printf("    %-20s %8lu\n", "oversized messages", tiktok_errors);
    if (ttb_tf_join_pending(&tj))
      printf("    %-20s %8d\n", "cut-off message", 1);
    printf("    %-20s %8.1f KiB of frames, %.1f KiB of payloads (inflated)\n", "size",
           (double)ts.wire_bytes / 1024.0, (double)ts.payload_bytes / 1024.0);
    printf("  webcast messages:\n");
    rate("chat", ts.chat, secs);
    rate("gift", ts.gift, secs);
    printf("    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n", "single gifts", ts.gift_single,
           "streak steps", ts.gift_step, "streak ends", ts.gift_end);
    printf("  %-22s %8lu\n", "control", ts.control);
    if (ts.control_end)
      printf("    %-20s %8lu\n", "stream ended", ts.control_end);
    printf("  %-22s %8lu\n", "other methods", ts.other_method);
    printf("  %-22s %8lu\n", "duplicate msg_id", ts.duplicates);
    if (ts.bad_message)
      printf("  %-22s %8lu\n", "undecodable", ts.bad_message);
  }
  ttb_tf_joiner_free(&tj);
  ttb_tf_stats_free(&ts);
  if (other)
    printf("records without a message: %lu\n", other);
  ttb_trace_reader_close(r);
  if (rc < 0) {
    fprintf(stderr, "ttb-trace: %s\n", err);
    return 1;
  }
  return 0;
}

typedef struct mrec {
  uint64_t t;
  size_t order;
  Ttboost__V1__TraceRecord *rec;
} mrec;

static int by_time(const void *a, const void *b)
{
  const mrec *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static int merge(const char *out, int n_in, char **in)
{
  char err[512];
  mrec *v = NULL;
  size_t n = 0, cap = 0;
  uint64_t *created = calloc((size_t)n_in, sizeof *created);
  int status = 1;
  if (created == NULL) {
    fprintf(stderr, "ttb-trace: out of memory\n");
    return 1;
  }
  uint64_t base = UINT64_MAX;
  size_t *first = calloc((size_t)n_in + 1, sizeof *first);
  if (first == NULL) {
    fprintf(stderr, "ttb-trace: out of memory\n");
    free(created);
    return 1;
  }
  for (int i = 0; i < n_in; i++) {
    ttb_trace_reader *r;
    if (ttb_trace_reader_open(in[i], &r, err, sizeof err) != 0) {
      fprintf(stderr, "ttb-trace: %s\n", err);
      goto done;
    }
    created[i] = ttb_trace_reader_header(r)->created_us;
    if (created[i] < base)
      base = created[i];
    first[i] = n;
    Ttboost__V1__TraceRecord *rec;
    int rc;
    while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
      if (n == cap) {
        size_t c = cap ? cap * 2 : 1024;
        mrec *nv = realloc(v, c * sizeof *nv);
        if (nv == NULL) {
          ttboost__v1__trace_record__free_unpacked(rec, NULL);
          snprintf(err, sizeof err, "out of memory");
          rc = -1;
          break;
        }
        v = nv;
        cap = c;
      }
      v[n] = (mrec){rec->time_us, n, rec};
      n++;
    }
    ttb_trace_reader_close(r);
    if (rc < 0) {
      fprintf(stderr, "ttb-trace: %s\n", err);
      goto done;
    }
  }
  first[n_in] = n;
  for (int i = 0; i < n_in; i++)
    for (size_t k = first[i]; k < first[i + 1]; k++) {
      v[k].t += created[i] - base;
      v[k].rec->time_us = v[k].t;
    }
  qsort(v, n, sizeof *v, by_time);
  ttb_trace_writer *w;
  char note[1024];
  snprintf(note, sizeof note, "merged from %d traces", n_in);
  if (ttb_trace_writer_open_at(out, "ttb-trace merge", note, base, &w, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-trace: %s\n", err);
    goto done;
  }
  int rc = 0;
  for (size_t k = 0; k < n && rc == 0; k++)
    rc = ttb_trace_write(w, v[k].rec, err, sizeof err);
  char cerr[512];
  if (ttb_trace_writer_close(w, cerr, sizeof cerr) != 0 && rc == 0) {
    snprintf(err, sizeof err, "%s", cerr);
    rc = -1;
  }
  if (rc != 0) {
    fprintf(stderr, "ttb-trace: %s\n", err);
    goto done;
  }
  fprintf(stderr, "ttb-trace: %zu records written to %s\n", n, out);
  status = 0;
done:
  for (size_t k = 0; k < n; k++)
    ttboost__v1__trace_record__free_unpacked(v[k].rec, NULL);
  free(v);
  free(created);
  free(first);
  return status;
}

int main(int argc, char **argv)
{
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                    strcmp(argv[1], "help") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "dump") == 0)
    return dump(argv[2]);
  if (argc == 3 && strcmp(argv[1], "stats") == 0)
    return stats(argv[2]);
  if (argc >= 4 && strcmp(argv[1], "merge") == 0)
    return merge(argv[2], argc - 3, argv + 3);
  fprintf(stderr, "usage: ttb-trace dump FILE | stats FILE | merge OUT IN… (--help for more)\n");
  return 2;
}
