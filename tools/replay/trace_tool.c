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
#include "trace.h"
#include "trace_ext.h"
#include "ttboost/v1/trace.pbc-json.h"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: ttb-trace dump FILE\n"
          "       ttb-trace stats FILE\n"
          "       ttb-trace merge OUT IN1 IN2 …\n"
          "\n"
          "  dump    the header, then every record, one JSON object per line:\n"
          "          {\"header\":{\"version\":1,…}}\n"
          "          {\"time_us\":1500000,\"direction\":\"DIRECTION_INGEST\",\"ingest\":{…}}\n"
          "          (the schema's JSON mapping, docs/protocol/json.md)\n"
          "  stats   records by direction and kind, gift streak parts, duration and rates\n"
          "  merge   writes OUT with the records of the inputs on one timeline (each input's\n"
          "          times are shifted by its header's created_us), e.g. a server's\n"
          "          --trace-ingest file and a ttb-record file of the same session, which\n"
          "          ttb-replay --expect can then check a server against\n"
          "\n"
          "Exit status: 0 ok, 1 the trace is truncated or corrupt (the error names the byte\n"
          "offset; what was read before it is still printed), 2 usage error.\n");
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
  while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
    uint64_t off = ttb_trace_reader_offset(r);
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
    printf("  %-22s %8lu   %8.2f/min  %7.3f/s\n", what, n, (double)n * 60.0 / secs, (double)n / secs);
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
  printf("ingest (into the server):\n");
  rate("chat", in_chat, secs);
  rate("gift", in_gift, secs);
  printf("    %-20s %8lu\n    %-20s %8lu\n    %-20s %8lu\n", "single gifts", in_single,
         "streak steps", in_streak_part, "streak ends", in_streak_end);
  if (in_none)
    printf("  %-22s %8lu\n", "without an event", in_none);
  printf("server to client:\n");
  static const char *const names[8] = {"(none)", "", "chat", "gift", "audio", "hello", "error", "pong"};
  for (unsigned k = 2; k < 8; k++)
    rate(names[k], s2c[k], secs);
  if (s2c[0])
    printf("  %-22s %8lu\n", "(none)", s2c[0]);
  printf("    %-20s %8llu\n", "gifts in all (count)", gift_total);
  if (c2s)
    printf("client to server: %lu\n", c2s);
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
