/*
 * The streamer's own sounds (POST, GET, DELETE /me/sounds) against the real
 * server: WAV, Ogg Opus and MP3 files made here with libraries (a RIFF
 * header and PCM by hand, libopusenc, libsndfile's MPEG writer = LAME), the
 * converted file fetched from its URL and decoded with opusfile, and every
 * refusal: bad magic 415, 3 MiB 413, 12 s 400, 65th sound 429, another
 * license's sound 404.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <opus/opusenc.h>
#include <opusfile.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static srv S;

static void setup(void) { srv_start(&S, NULL, false); }
static void teardown(void)
{
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(sounds, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------ buffers */

typedef struct buf {
  uint8_t *v;
  size_t n, cap, pos;
} buf;

static void buf_put(buf *b, const void *p, size_t n)
{
  if (b->pos + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 65536;
    while (cap < b->pos + n)
      cap *= 2;
    b->v = realloc(b->v, cap);
    cr_assert_not_null(b->v);
    b->cap = cap;
  }
  memcpy(b->v + b->pos, p, n);
  b->pos += n;
  if (b->pos > b->n)
    b->n = b->pos;
}

static void le16(buf *b, uint16_t v)
{
  uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  buf_put(b, x, 2);
}

static void le32(buf *b, uint32_t v)
{
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  buf_put(b, x, 4);
}

static float tone(size_t i, unsigned rate)
{
  return 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / (float)rate);
}

/* A 16-bit PCM WAV: the RIFF header written here, a 440 Hz tone. */
static buf make_wav(double seconds, unsigned rate, unsigned channels)
{
  buf b = {0};
  size_t frames = (size_t)(seconds * rate);
  uint32_t data = (uint32_t)(frames * channels * 2);
  buf_put(&b, "RIFF", 4);
  le32(&b, 36 + data);
  buf_put(&b, "WAVEfmt ", 8);
  le32(&b, 16);
  le16(&b, 1); /* PCM */
  le16(&b, (uint16_t)channels);
  le32(&b, rate);
  le32(&b, rate * channels * 2);
  le16(&b, (uint16_t)(channels * 2));
  le16(&b, 16);
  buf_put(&b, "data", 4);
  le32(&b, data);
  for (size_t i = 0; i < frames; i++)
    for (unsigned c = 0; c < channels; c++)
      le16(&b, (uint16_t)(int16_t)(tone(i, rate) * 32767.0f));
  return b;
}

static int ope_write(void *u, const unsigned char *p, opus_int32 n)
{
  buf_put(u, p, (size_t)n);
  return 0;
}
static int ope_close(void *u)
{
  (void)u;
  return 0;
}

/* An Ogg Opus file made with libopusenc (stereo 48 kHz, a tone). */
static buf make_opus(double seconds)
{
  buf b = {0};
  OpusEncCallbacks cbs = {ope_write, ope_close};
  OggOpusComments *c = ope_comments_create();
  int err;
  OggOpusEnc *e = ope_encoder_create_callbacks(&cbs, &b, c, 48000, 2, 0, &err);
  cr_assert_not_null(e, "ope_encoder_create_callbacks: %d", err);
  size_t frames = (size_t)(seconds * 48000);
  float *pcm = malloc(frames * 2 * sizeof *pcm);
  for (size_t i = 0; i < frames; i++)
    pcm[2 * i] = pcm[2 * i + 1] = tone(i, 48000);
  cr_assert_eq(ope_encoder_write_float(e, pcm, (int)frames), OPE_OK);
  cr_assert_eq(ope_encoder_drain(e), OPE_OK);
  ope_encoder_destroy(e);
  ope_comments_destroy(c);
  free(pcm);
  return b;
}

static sf_count_t v_len(void *u) { return (sf_count_t)((buf *)u)->n; }
static sf_count_t v_seek(sf_count_t off, int whence, void *u)
{
  buf *b = u;
  sf_count_t base = whence == SEEK_SET   ? 0
                    : whence == SEEK_CUR ? (sf_count_t)b->pos
                                         : (sf_count_t)b->n;
  if (base + off < 0)
    return -1;
  b->pos = (size_t)(base + off);
  return (sf_count_t)b->pos;
}
static sf_count_t v_read(void *p, sf_count_t n, void *u)
{
  buf *b = u;
  size_t left = b->pos < b->n ? b->n - b->pos : 0;
  if ((size_t)n > left)
    n = (sf_count_t)left;
  memcpy(p, b->v + b->pos, (size_t)n);
  b->pos += (size_t)n;
  return n;
}
static sf_count_t v_write(const void *p, sf_count_t n, void *u)
{
  buf_put(u, p, (size_t)n);
  return n;
}
static sf_count_t v_tell(void *u) { return (sf_count_t)((buf *)u)->pos; }

/* An MP3 made with libsndfile's MPEG writer (LAME inside): mono 44.1 kHz. */
static buf make_mp3(double seconds)
{
  buf b = {0};
  SF_VIRTUAL_IO io = {v_len, v_seek, v_read, v_write, v_tell};
  SF_INFO info = {0};
  info.samplerate = 44100;
  info.channels = 1;
  info.format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
  SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &b);
  cr_assert_not_null(sf, "libsndfile cannot write MP3: %s", sf_strerror(NULL));
  size_t frames = (size_t)(seconds * 44100);
  float *pcm = malloc(frames * sizeof *pcm);
  for (size_t i = 0; i < frames; i++)
    pcm[i] = tone(i, 44100);
  cr_assert_eq(sf_writef_float(sf, pcm, (sf_count_t)frames), (sf_count_t)frames);
  sf_close(sf);
  free(pcm);
  cr_assert_gt(b.n, 1000);
  return b;
}

/* ------------------------------------------------------------- helpers */

static void session(char *token)
{
  char key[128], user[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
}

static int upload(const char *token, const char *type, const char *query, const void *data,
                  size_t len, http_resp *r)
{
  char hdr[300], path[300];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: %s\r\n", token, type);
  snprintf(path, sizeof path, "/me/sounds%s", query ? query : "");
  /* a 503 (busy: conversions or the database, on a loaded machine) says to
   * retry, as a client does; anything else is the answer */
  for (int tries = 0;; tries++) {
    int st = http(&S, "POST", path, hdr, data, len, r);
    if (st != 503 || tries == 4)
      return st;
    fprintf(stderr, "upload: 503 (%s), retrying\n", r->body ? r->body : "");
    http_free(r);
    sleep(1);
  }
}

static double decoded_seconds(const char *data, size_t len, double *rms)
{
  int err;
  OggOpusFile *of = op_open_memory((const unsigned char *)data, len, &err);
  cr_assert_not_null(of, "not Ogg Opus (error %d)", err);
  cr_expect_eq(op_channel_count(of, -1), 1, "not mono");
  opus_int16 pcm[5760 * 2];
  long total = 0;
  double sum = 0;
  int n;
  while ((n = op_read(of, pcm, 5760 * 2, NULL)) > 0) {
    for (int i = 0; i < n; i++)
      sum += (double)pcm[i] * pcm[i];
    total += n;
  }
  op_free(of);
  *rms = total ? sqrt(sum / (double)total) : 0;
  return (double)total / 48000.0;
}

static void expect_error(const http_resp *r, int status, const char *code)
{
  cr_expect_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
  char got[64] = "";
  cr_expect(json_str(r->body, "error", got, sizeof got) && strcmp(got, code) == 0,
            "error %s, want %s: %s", got, code, r->body);
}

/* Uploads, checks the answer, fetches the URL and decodes it: its id. */
static void expect_converted(const char *token, const char *type, const buf *b, double seconds,
                             const char *name, char id[32])
{
  http_resp r;
  char q[100];
  snprintf(q, sizeof q, "?name=%s", name);
  upload(token, type, q, b->v, b->n, &r);
  cr_assert_eq(r.status, 200, "%s: %d %s", type, r.status, r.body);
  char got[128], url[512];
  cr_assert(json_str(r.body, "id", got, sizeof got), "%s", r.body);
  cr_expect(strncmp(got, "u-", 2) == 0 && got[2] >= '1' && got[2] <= '9', "%s", got);
  cr_assert_lt(strlen(got), 32);
  memcpy(id, got, strlen(got) + 1);
  cr_assert(json_str(r.body, "name", got, sizeof got), "%s", r.body);
  cr_expect_str_eq(got, name);
  long long ms = json_num(r.body, "duration_ms");
  cr_expect(fabs((double)ms - seconds * 1000) < 60, "%s: %lld ms, want %.0f", type, ms,
            seconds * 1000);
  cr_assert(json_str(r.body, "url", url, sizeof url), "%s", r.body);
  http_free(&r);
  char want[600];
  snprintf(want, sizeof want, "%s/sounds/%s.ogg", S.url, id);
  cr_expect_str_eq(url, want);

  http(&S, "GET", url + strlen(S.url), NULL, NULL, 0, &r);
  cr_assert_eq(r.status, 200, "GET %s: %d", url, r.status);
  cr_expect(strcasestr(r.headers, "content-type: audio/ogg") != NULL, "%s", r.headers);
  double rms;
  double secs = decoded_seconds(r.body, r.body_len, &rms);
  cr_expect(fabs(secs - seconds) < 0.1, "%s: decoded %.3f s, want %.3f", type, secs, seconds);
  cr_expect(rms > 3000, "%s: the tone is lost (rms %.0f)", type, rms);
  http_free(&r);
}

/* --------------------------------------------------------------- tests */

Test(sounds, wav_is_converted_and_served)
{
  char token[64], id[32];
  session(token);
  buf b = make_wav(1.5, 44100, 2);
  expect_converted(token, "audio/wav", &b, 1.5, "Horn", id);
  free(b.v);
  b = make_wav(0.5, 8000, 1);
  expect_converted(token, "audio/x-wav", &b, 0.5, "Low", id);
  free(b.v);
}

Test(sounds, ogg_opus_is_converted_and_served)
{
  char token[64], id[32];
  session(token);
  buf b = make_opus(2.0);
  expect_converted(token, "audio/ogg", &b, 2.0, "Opus", id);
  free(b.v);
}

Test(sounds, mp3_is_converted_and_served)
{
  char token[64], id[32];
  session(token);
  buf b = make_mp3(3.0);
  expect_converted(token, "audio/mpeg", &b, 3.0, "Drum", id);
  free(b.v);
}

Test(sounds, bad_files_are_refused)
{
  char token[64];
  session(token);
  http_resp r;
  const char *text = "this is not a sound at all, just text";
  upload(token, "audio/wav", NULL, text, strlen(text), &r);
  expect_error(&r, 415, "unsupported_media_type");
  http_free(&r);
  buf b = make_wav(0.5, 8000, 1);
  /* a WAV said to be MP3, a WAV of another type, no type */
  upload(token, "audio/mpeg", NULL, b.v, b.n, &r);
  expect_error(&r, 415, "unsupported_media_type");
  http_free(&r);
  upload(token, "application/octet-stream", NULL, b.v, b.n, &r);
  expect_error(&r, 415, "unsupported_media_type");
  http_free(&r);
  /* OggS but no Opus in it; RIFF WAVE cut short */
  const char oggs[] = "OggS\0\2\0\0\0\0\0\0\0\0junkjunkjunkjunkjunkjunk";
  upload(token, "audio/ogg", NULL, oggs, sizeof oggs, &r);
  expect_error(&r, 400, "invalid_sound");
  http_free(&r);
  upload(token, "audio/wav", NULL, b.v, 30, &r);
  cr_expect(r.status == 400, "%d %s", r.status, r.body);
  http_free(&r);
  free(b.v);
  /* still serving */
  http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
}

/* The status line of the answer to a POST of `declared` bytes of which
 * only the head and the first `sent` bytes of data are written: a server
 * that refuses by Content-Length answers without the rest (a client
 * writing all 3 MiB may see the connection closed under it instead of the
 * answer, which is why this is a raw socket and not http()). */
static int post_declared(const char *token, size_t declared, const void *data, size_t sent)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "POST /me/sounds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: audio/wav\r\nContent-Length: %zu\r\n\r\n",
                    token, declared);
  cr_assert_eq(send(fd, head, (size_t)hn, MSG_NOSIGNAL), hn);
  (void)!send(fd, data, sent, MSG_NOSIGNAL); /* may be refused already */
  char buf[256];
  size_t got = 0;
  while (got < sizeof buf - 1) {
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
    buf[got] = '\0';
    if (strstr(buf, "\r\n"))
      break;
  }
  close(fd);
  buf[got] = '\0';
  int status = -1;
  cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &status), 1, "no status line: '%s'", buf);
  return status;
}

Test(sounds, three_mib_is_413)
{
  char token[64];
  session(token);
  buf b = make_wav(0.1, 8000, 1);
  cr_expect_eq(post_declared(token, 3u << 20, b.v, b.n), 413);
  free(b.v);
  http_resp r;
  http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
}

Test(sounds, twelve_seconds_is_400_with_the_length)
{
  char token[64];
  session(token);
  buf b = make_wav(12.0, 8000, 1);
  http_resp r;
  upload(token, "audio/wav", NULL, b.v, b.n, &r);
  expect_error(&r, 400, "too_long");
  char msg[256] = "";
  json_str(r.body, "message", msg, sizeof msg);
  cr_expect(strstr(msg, "12.0 s") != NULL, "%s", msg);
  http_free(&r);
  free(b.v);
  /* the same length in Ogg Opus and MP3 */
  b = make_opus(12.0);
  upload(token, "audio/ogg", NULL, b.v, b.n, &r);
  expect_error(&r, 400, "too_long");
  http_free(&r);
  free(b.v);
  b = make_mp3(12.0);
  upload(token, "audio/mpeg", NULL, b.v, b.n, &r);
  expect_error(&r, 400, "too_long");
  http_free(&r);
  free(b.v);
  /* nothing was kept */
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "u-") == NULL, "%s", r.body);
  http_free(&r);
}

Test(sounds, list_and_delete)
{
  char token[64], a[32], bid[32];
  session(token);
  buf b = make_wav(0.3, 16000, 1);
  expect_converted(token, "audio/wav", &b, 0.3, "One", a);
  expect_converted(token, "audio/wave", &b, 0.3, "Two", bid);
  free(b.v);
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  http_resp r;
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_assert_eq(r.status, 200, "%s", r.body);
  cr_expect(strstr(r.body, a) && strstr(r.body, bid), "%s", r.body);
  cr_expect(strstr(r.body, "\"One\"") && strstr(r.body, "\"Two\""), "%s", r.body);
  http_free(&r);

  char body[64];
  snprintf(body, sizeof body, "{\"id\":\"%s\"}", a);
  http(&S, "DELETE", "/me/sounds", auth, body, strlen(body), &r);
  cr_expect_eq(r.status, 200, "%s", r.body);
  http_free(&r);
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_expect(strstr(r.body, a) == NULL && strstr(r.body, bid) != NULL, "%s", r.body);
  http_free(&r);
  char path[64];
  snprintf(path, sizeof path, "/sounds/%s.ogg", a);
  http(&S, "GET", path, NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 404, "a deleted sound still served");
  http_free(&r);
  http(&S, "DELETE", "/me/sounds", auth, body, strlen(body), &r);
  expect_error(&r, 404, "not_found");
  http_free(&r);
  /* a malformed id */
  const char *bad = "{\"id\":\"chime\"}";
  http(&S, "DELETE", "/me/sounds", auth, bad, strlen(bad), &r);
  expect_error(&r, 400, "malformed");
  http_free(&r);
  /* other names under /sounds are not served from the upload dir */
  http(&S, "GET", "/sounds/u-1.ogg.tmp", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
}

Test(sounds, another_license_cannot_delete)
{
  char ta[64], tb[64], id[32];
  session(ta);
  session(tb);
  buf b = make_wav(0.3, 16000, 1);
  expect_converted(ta, "audio/wav", &b, 0.3, "Mine", id);
  free(b.v);
  char auth[128], body[64];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", tb);
  snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
  http_resp r;
  http(&S, "DELETE", "/me/sounds", auth, body, strlen(body), &r);
  expect_error(&r, 404, "not_found");
  http_free(&r);
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, id) == NULL, "B sees A's sound: %s", r.body);
  http_free(&r);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", ta);
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_expect(strstr(r.body, id) != NULL, "%s", r.body);
  http_free(&r);
  char path[64];
  snprintf(path, sizeof path, "/sounds/%s.ogg", id);
  http(&S, "GET", path, NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
  /* and without a token, nothing */
  http(&S, "GET", "/me/sounds", NULL, NULL, 0, &r);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);
  b = make_wav(0.3, 16000, 1);
  upload("not-a-token", "audio/wav", NULL, b.v, b.n, &r);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);
  free(b.v);
}

Test(sounds, names_are_cleaned_and_bounded)
{
  char token[64];
  session(token);
  buf b = make_wav(0.2, 8000, 1);
  http_resp r;
  /* a control character and spaces out; percent-decoded UTF-8 kept */
  upload(token, "audio/wav", "?name=%20Air%0Ahorn%C3%A9%07%20", b.v, b.n, &r);
  cr_assert_eq(r.status, 200, "%s", r.body);
  char name[128];
  cr_assert(json_str(r.body, "name", name, sizeof name));
  cr_expect_str_eq(name, "Airhorn\xc3\xa9");
  http_free(&r);
  /* no name: "sound" */
  upload(token, "audio/wav", NULL, b.v, b.n, &r);
  cr_assert_eq(r.status, 200, "%s", r.body);
  cr_assert(json_str(r.body, "name", name, sizeof name));
  cr_expect_str_eq(name, "sound");
  http_free(&r);
  char q[200] = "?name=";
  memset(q + 6, 'x', 65);
  q[71] = '\0';
  upload(token, "audio/wav", q, b.v, b.n, &r);
  expect_error(&r, 400, "malformed");
  http_free(&r);
  q[70] = '\0'; /* 64 bytes: fine */
  upload(token, "audio/wav", q, b.v, b.n, &r);
  cr_expect_eq(r.status, 200, "%s", r.body);
  http_free(&r);
  upload(token, "audio/wav", "?name=%FF%FE", b.v, b.n, &r);
  expect_error(&r, 400, "malformed");
  http_free(&r);
  free(b.v);
}

Test(sounds, sixty_five_is_429)
{
  char token[64];
  session(token);
  buf b = make_wav(0.05, 8000, 1);
  http_resp r;
  for (int i = 0; i < 64; i++) {
    upload(token, "audio/wav", NULL, b.v, b.n, &r);
    cr_assert_eq(r.status, 200, "sound %d: %d %s", i + 1, r.status, r.body);
    http_free(&r);
  }
  upload(token, "audio/wav", NULL, b.v, b.n, &r);
  expect_error(&r, 429, "too_many_sounds");
  http_free(&r);
  free(b.v);
}

/* A decoder that crashes takes its worker process down, not the server: a
 * worker that dies of SIGSEGV on every upload (TTBOOST_SOUND_WORKER). */
static char crash_dir[64];
static bool crash_started;

/* In the test's body, not its .init: .fini runs after a failed assertion
 * here, so the worker's folder never outlives the test. */
static void start_with_crashing_worker(void)
{
  snprintf(crash_dir, sizeof crash_dir, "/tmp/ttb-sndw-XXXXXX");
  cr_assert_not_null(mkdtemp(crash_dir));
  char path[128];
  snprintf(path, sizeof path, "%s/worker", crash_dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("#!/bin/sh\ncat >/dev/null\nkill -SEGV $$\n", f);
  fclose(f);
  chmod(path, 0755);
  setenv("TTBOOST_SOUND_WORKER", path, 1);
  srv_start(&S, NULL, false);
  unsetenv("TTBOOST_SOUND_WORKER");
  crash_started = true;
}

static void teardown_crashing_worker(void)
{
  if (crash_started)
    teardown();
  if (crash_dir[0]) {
    char path[128];
    snprintf(path, sizeof path, "%s/worker", crash_dir);
    unlink(path);
    rmdir(crash_dir);
  }
}

TestSuite(sounds_worker, .fini = teardown_crashing_worker, .timeout = 60);

Test(sounds_worker, a_crashing_decoder_leaves_the_server_up)
{
  start_with_crashing_worker();
  char token[64];
  session(token);
  buf b = make_wav(0.5, 8000, 1);
  http_resp r;
  for (int i = 0; i < 3; i++) {
    upload(token, "audio/wav", NULL, b.v, b.n, &r);
    expect_error(&r, 400, "invalid_sound");
    http_free(&r);
    http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
    cr_expect_eq(r.status, 200, "the server went down with its worker");
    http_free(&r);
  }
  free(b.v);
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  http(&S, "GET", "/me/sounds", auth, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "u-") == NULL, "a failed upload was kept: %s", r.body);
  http_free(&r);
}
