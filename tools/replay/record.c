/*
 * ttb-record: logs in with a license key, opens the socket and appends every
 * ServerMessage it receives to a trace as a DIRECTION_SERVER_TO_CLIENT record
 * with its receive time. See docs/replay.md.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "net.h"
#include "trace.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

static void usage(FILE *f)
{
  fprintf(
      f,
      "usage: ttb-record --server URL --key KEY --out FILE [--binary] [--seconds N] [--note TEXT]\n"
      "\n"
      "Logs in to a TTBoost server with the license KEY, opens its WebSocket and writes every\n"
      "message received (hello, chat, gift, audio, error, pong) to FILE, a trace\n"
      "(docs/replay.md), as server-to-client records with their receive times.\n"
      "\n"
      "  --server URL   http://HOST:PORT or https://… (ws:// and wss:// also accepted)\n"
      "  --key KEY      the license key to log in with (\"-\": read it from stdin)\n"
      "  --out FILE     the trace to write (replaced)\n"
      "  --binary       use the protobuf subprotocol ttboost.v1.proto (audio frames too)\n"
      "                 instead of JSON text frames\n"
      "  --seconds N    stop after N seconds (default: until SIGINT / Ctrl-C)\n"
      "  --note TEXT    free text for the trace header\n"
      "\n"
      "Stops on SIGINT/SIGTERM, after --seconds, or when the server closes the socket; the\n"
      "trace is flushed every second and on exit. Exit status: 0 stopped as asked, 1 the\n"
      "socket failed or closed (what was received is kept), 2 usage or setup error.\n"
      "The ingest side is recorded by the server: ttboost-server --trace-ingest FILE.\n");
}

int main(int argc, char **argv)
{
  const char *server = NULL, *key = NULL, *out = NULL, *note = NULL;
  bool binary = false;
  uint64_t seconds = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--server") == 0 && has) {
      server = argv[++i];
    } else if (strcmp(a, "--key") == 0 && has) {
      key = argv[++i];
    } else if (strcmp(a, "--out") == 0 && has) {
      out = argv[++i];
    } else if (strcmp(a, "--note") == 0 && has) {
      note = argv[++i];
    } else if (strcmp(a, "--binary") == 0) {
      binary = true;
    } else if (strcmp(a, "--seconds") == 0 && has) {
      if (!ttb_parse_u64(argv[++i], &seconds) || seconds == 0) {
        fprintf(stderr, "ttb-record: --seconds: expected a positive whole number, got '%s'\n",
                argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "ttb-record: unknown or incomplete option '%s' (see --help)\n", a);
      return 2;
    }
  }
  if (!server || !key || !out) {
    fprintf(stderr, "ttb-record: --server, --key and --out are required (see --help)\n");
    return 2;
  }
  char keybuf[256];
  if (strcmp(key, "-") == 0) {
    if (fgets(keybuf, sizeof keybuf, stdin) == NULL) {
      fprintf(stderr, "ttb-record: no key on stdin\n");
      return 2;
    }
    keybuf[strcspn(keybuf, "\r\n")] = '\0';
    key = keybuf;
  }
  char err[512];
  ttb_url url;
  if (ttb_url_parse(server, &url, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-record: --server: %s\n", err);
    return 2;
  }
  char user_id[64], token[128];
  if (ttb_login(&url, key, user_id, token, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-record: %s\n", err);
    return 2;
  }
  ttb_ws *ws;
  if (ttb_ws_open(&url, token, binary ? "ttboost.v1.proto" : NULL, &ws, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-record: %s\n", err);
    return 2;
  }
  ttb_trace_writer *w;
  char notebuf[1024];
  if (note == NULL) {
    snprintf(notebuf, sizeof notebuf, "%s mode, channel %s, from %s", binary ? "binary" : "JSON",
             user_id, server);
    note = notebuf;
  }
  if (ttb_trace_writer_open(out, "ttb-record", note, false, &w, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-record: %s\n", err);
    ttb_ws_close(ws);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  fprintf(stderr, "ttb-record: recording channel %s to %s (%s)%s\n", user_id, out,
          binary ? "binary" : "JSON", seconds ? "" : "; Ctrl-C stops");
  uint64_t t0 = ttb_mono_us(), last_flush = t0;
  unsigned long n = 0, skipped = 0;
  int status = 0;
  while (!stop) {
    uint64_t now = ttb_mono_us();
    if (seconds && now - t0 >= seconds * 1000000u)
      break;
    if (now - last_flush >= 1000000u) {
      if (ttb_trace_writer_flush(w, err, sizeof err) != 0) {
        fprintf(stderr, "ttb-record: %s\n", err);
        status = 1;
        break;
      }
      last_flush = now;
    }
    const uint8_t *data;
    size_t len;
    int op = ttb_ws_recv(ws, &data, &len, 200, err, sizeof err);
    if (op == 0)
      continue;
    if (op < 0) {
      if (!stop) {
        fprintf(stderr, "ttb-record: %s\n", err);
        status = 1;
      }
      break;
    }
    uint64_t t = ttb_trace_writer_elapsed_us(w);
    bool unknown;
    Ttboost__V1__ServerMessage *m = ttb_sm_decode(op, data, len, &unknown, err, sizeof err);
    if (m == NULL) {
      fprintf(stderr, "ttb-record: skipped a message: %s\n", err);
      skipped++;
      continue;
    }
    Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
    rec.time_us = t;
    rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
    rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
    rec.server = m;
    int rc = ttb_trace_write(w, &rec, err, sizeof err);
    ttboost__v1__server_message__free_unpacked(m, NULL);
    if (rc != 0) {
      fprintf(stderr, "ttb-record: %s\n", err);
      status = 1;
      break;
    }
    n++;
  }
  ttb_ws_close(ws);
  if (ttb_trace_writer_close(w, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-record: %s\n", err);
    status = 1;
  }
  fprintf(stderr, "ttb-record: %lu messages written to %s%s\n", n, out,
          skipped ? " (some skipped, see above)" : "");
  return status;
}
