/*
 * ffi_client_test — loads the app's native library (libttboost_client.so,
 * built by mobile/app/native/CMakeLists.txt) with dlopen, as dart:ffi does,
 * and does what the app does through the functions lib/ffi/ttboost_bindings.dart
 * declares: create, take over the token (the app keeps it in the platform's
 * secure storage: ttb_client_set_token / ttb_client_get_token, no token file),
 * log in to a real ttboost-server, start, receive a chat, render its speech
 * (non-silent PCM through the pull callback), stop; then a new client started
 * from the token the app kept; log out, destroy. tests/native/run.sh starts the server and runs it, on x86-64
 * and (under qemu-user) on arm64.
 *
 *   ffi_client_test LIB SERVER_URL LICENSE_KEY DATA_DIR CHAT_TEXT -- CMD...
 *
 * CMD (run once the socket is connected) posts a chat whose message is
 * CHAT_TEXT to the license's channel (POST /ingest/events). The environment
 * variable TTB_FFI_SYMBOLS lists every function the Dart bindings look up;
 * each must resolve in LIB. Prints one line per step; exit status 0 = pass.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ttboost/client.h"

static void fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("ffi-test: FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void step(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("ffi-test: ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
}

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* The functions of client.h the test calls, resolved by name. */
static struct {
  const char *(*strerror_)(int);
  int (*create)(const ttb_client_config *, ttb_client **);
  void (*destroy)(ttb_client *);
  const char *(*last_error)(const ttb_client *);
  int (*login)(ttb_client *, const char *);
  bool (*has_token)(const ttb_client *);
  int (*logout)(ttb_client *);
  int (*set_token)(ttb_client *, const char *);
  int (*get_token)(const ttb_client *, char *, size_t);
  int (*start)(ttb_client *);
  int (*stop)(ttb_client *);
  ttb_conn_state (*state)(const ttb_client *, char *, size_t);
  void (*get_stats)(const ttb_client *, ttb_stats *);
  int (*poll_event)(ttb_client *, ttb_event *);
  size_t (*render)(ttb_client *, int16_t *, size_t);
  int (*channel_json)(const ttb_client *, char *, size_t, size_t *, int32_t *);
  int (*refresh_channel)(ttb_client *);
  int (*set_channel_json)(ttb_client *, const char *);
} F;

static void *sym(void *lib, const char *name)
{
  dlerror();
  void *p = dlsym(lib, name);
  const char *e = dlerror();
  if (e || !p)
    fail("%s is not exported by the library: %s", name, e ? e : "NULL");
  return p;
}

#define LOAD(field, name) (*(void **)&F.field = sym(lib, name))

static const char *err_of(ttb_client *c, int rc)
{
  static char buf[512];
  snprintf(buf, sizeof buf, "%d (%s): %s", rc, F.strerror_(rc), F.last_error(c));
  return buf;
}

/* Runs argv, waits for it; its exit status (or -1). */
static int run(char **argv)
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid)
    return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
  if (argc < 8 || strcmp(argv[6], "--") != 0) {
    fprintf(stderr, "usage: %s LIB SERVER_URL LICENSE_KEY DATA_DIR CHAT_TEXT -- CMD...\n", argv[0]);
    return 2;
  }
  const char *lib_path = argv[1], *url = argv[2], *key = argv[3], *dir = argv[4];
  const char *chat_text = argv[5];
  char **post_cmd = argv + 7;
  /* Unit: scaled by TTB_FFI_SLOW under emulation. */
  double slow = getenv("TTB_FFI_SLOW") ? atof(getenv("TTB_FFI_SLOW")) : 1.0;
  if (slow < 1.0)
    slow = 1.0;

  void *lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    fail("dlopen %s: %s", lib_path, dlerror());
  step("loaded %s", lib_path);

  /* Every function the Dart bindings declare must be there. */
  const char *names = getenv("TTB_FFI_SYMBOLS");
  if (!names || !*names)
    fail("TTB_FFI_SYMBOLS is empty (tests/native/run.sh sets it from ttboost_bindings.dart)");
  char *copy = strdup(names);
  if (!copy)
    fail("out of memory");
  int n = 0;
  for (char *save = NULL, *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
    (void)sym(lib, t);
    n++;
  }
  free(copy);
  step("the %d functions of ttboost_bindings.dart resolve", n);

  LOAD(strerror_, "ttb_strerror");
  LOAD(create, "ttb_client_create");
  LOAD(destroy, "ttb_client_destroy");
  LOAD(last_error, "ttb_client_last_error");
  LOAD(login, "ttb_client_login");
  LOAD(has_token, "ttb_client_has_token");
  LOAD(logout, "ttb_client_logout");
  LOAD(set_token, "ttb_client_set_token");
  LOAD(get_token, "ttb_client_get_token");
  LOAD(start, "ttb_client_start");
  LOAD(stop, "ttb_client_stop");
  LOAD(state, "ttb_client_state");
  LOAD(get_stats, "ttb_client_get_stats");
  LOAD(poll_event, "ttb_client_poll_event");
  LOAD(render, "ttb_client_render");
  LOAD(channel_json, "ttb_client_channel_settings_json");
  LOAD(refresh_channel, "ttb_client_refresh_channel_settings");
  LOAD(set_channel_json, "ttb_client_set_channel_settings_json");

  /* create */
  ttb_client_config cfg = {.server_url = url,
                           .data_dir = dir,
                           .device_id = "ffi-test",
                           .sample_rate = 48000,
                           .channels = 2};
  ttb_client *c = NULL;
  int rc = F.create(&cfg, &c);
  if (rc != TTB_OK || !c)
    fail("ttb_client_create: %d (%s)", rc, F.strerror_(rc));
  if (F.has_token(c))
    fail("a new client in an empty data dir has a token");
  step("created (server %s)", url);
  /* as the app does: it keeps the token, none stored yet */
  rc = F.set_token(c, "");
  if (rc != TTB_OK)
    fail("ttb_client_set_token(\"\"): %s", err_of(c, rc));
  char token[TTB_TOKEN_SIZE];
  if (F.get_token(c, token, sizeof token) != TTB_ERR_STATE)
    fail("ttb_client_get_token without a token is not TTB_ERR_STATE");

  /* log in */
  rc = F.login(c, key);
  if (rc != TTB_OK)
    fail("ttb_client_login: %s", err_of(c, rc));
  if (!F.has_token(c))
    fail("no token after a successful login");
  rc = F.get_token(c, token, sizeof token);
  if (rc != TTB_OK || !token[0])
    fail("ttb_client_get_token after login: %s", err_of(c, rc));
  char small[4];
  if (F.get_token(c, small, sizeof small) != TTB_ERR_INVALID)
    fail("ttb_client_get_token into a too small buffer is not TTB_ERR_INVALID");
  char session_file[1024];
  snprintf(session_file, sizeof session_file, "%s/session.conf", dir);
  if (access(session_file, F_OK) == 0)
    fail("the token was written to %s although the app keeps it", session_file);
  step("logged in; the token is handed to the app, no session.conf");

  /* start, wait for CONNECTED */
  rc = F.start(c);
  if (rc != TTB_OK)
    fail("ttb_client_start: %s", err_of(c, rc));
  ttb_event ev;
  bool connected = false;
  for (double t0 = now_s(); !connected && now_s() - t0 < 20 * slow;) {
    while (F.poll_event(c, &ev) == 1) {
      if (ev.kind == TTB_EVENT_STATE && ev.count == TTB_STATE_CONNECTED)
        connected = true;
      else if (ev.kind == TTB_EVENT_ERROR)
        fail("error event while connecting: %s", ev.text);
    }
    sleep_ms(20);
  }
  char why[256] = "";
  if (!connected)
    fail("not connected after %.0f s (state %d: %s)", 20 * slow, (int)F.state(c, why, sizeof why),
         why);
  step("connected");

  /* a chat through the server's ingest */
  int st = run(post_cmd);
  if (st != 0)
    fail("%s exited with %d", post_cmd[0], st);
  bool got = false;
  for (double t0 = now_s(); !got && now_s() - t0 < 20 * slow;) {
    while (F.poll_event(c, &ev) == 1) {
      if (ev.kind == TTB_EVENT_CHAT) {
        if (strcmp(ev.text, chat_text) != 0)
          fail("chat text '%s', expected '%s'", ev.text, chat_text);
        if (ev.seq == 0 || !ev.user[0])
          fail("chat without seq or user (seq %llu, user '%s')", (unsigned long long)ev.seq,
               ev.user);
        got = true;
        step("chat received: seq %llu, %s: %s", (unsigned long long)ev.seq, ev.user, ev.text);
      } else if (ev.kind == TTB_EVENT_ERROR) {
        fail("error event: %s", ev.text);
      }
    }
    sleep_ms(20);
  }
  if (!got)
    fail("no chat within %.0f s", 20 * slow);

  /* render: the chat's speech, pulled as the platform sink pulls it (10 ms
     * blocks, stereo 48 kHz); it must not be silence */
  enum { FRAMES = 480 };
  int16_t pcm[FRAMES * 2];
  long loud_blocks = 0, blocks = 0;
  int peak = 0;
  for (double t0 = now_s(); loud_blocks < 20 && now_s() - t0 < 30 * slow;) {
    size_t got_frames = F.render(c, pcm, FRAMES);
    if (got_frames != FRAMES)
      fail("ttb_client_render returned %zu frames, not %d", got_frames, FRAMES);
    int block_peak = 0;
    for (size_t i = 0; i < FRAMES * 2; i++) {
      int v = abs((int)pcm[i]);
      if (v > block_peak)
        block_peak = v;
    }
    if (block_peak > peak)
      peak = block_peak;
    if (block_peak > 300)
      loud_blocks++;
    blocks++;
    /* at the sink's pace, also once the speech sounds: it streams in while it
         * plays, and a client rendering faster than real time starves it (a
         * stream starved for 3 s of rendered audio is ended; under qemu the
         * download is slower than an unpaced render loop) */
    sleep_ms(10);
  }
  if (loud_blocks < 20)
    fail("the speech was not rendered: %ld audible 10 ms blocks of %ld, peak %d", loud_blocks,
         blocks, peak);
  step("rendered speech: %ld audible 10 ms blocks, peak %d", loud_blocks, peak);

  ttb_stats s;
  F.get_stats(c, &s);
  if (s.chat_messages < 1)
    fail("stats count %llu chat messages", (unsigned long long)s.chat_messages);

  /* The channel settings, as the app's Settings › What is read does: read
   * the copy, save a change (PUT /me/settings), have a bad value refused
   * with the server's words. A server without /me/settings is said, not failed. */
  {
    static char doc[TTB_CHANNEL_JSON_MAX + 1];
    int32_t src = -1;
    rc = F.refresh_channel(c);
    if (rc == TTB_ERR_PROTOCOL) {
      step("channel settings: skipped, the server has no /me/settings (%s)", F.last_error(c));
    } else {
      if (rc != TTB_OK)
        fail("ttb_client_refresh_channel_settings: %s", err_of(c, rc));
      rc = F.set_channel_json(c, "{\"reading\":{\"command_prefix\":\"!tts\"},"
                                 "\"gifts\":{\"min_diamonds\":3}}");
      if (rc != TTB_OK)
        fail("ttb_client_set_channel_settings_json: %s", err_of(c, rc));
      size_t len = 0;
      rc = F.channel_json(c, doc, sizeof doc, &len, &src);
      if (rc != TTB_OK || src != TTB_CHANNEL_SERVER || len != strlen(doc) ||
          !strstr(doc, "\"command_prefix\":\"!tts\"") || !strstr(doc, "\"min_diamonds\":3"))
        fail("the channel settings after a save: rc %d, source %d: %s", rc, (int)src, doc);
      rc = F.set_channel_json(c, "{\"reading\":{\"text_template\":\"{user}\"}}");
      if (rc != TTB_ERR_INVALID || !strstr(F.last_error(c), "text_template"))
        fail("a template without {message} was not refused: %s", err_of(c, rc));
      step("channel settings saved and read back; a bad value refused: %s", F.last_error(c));
      /* back to the defaults for the rest of the test (a command prefix mutes chats) */
      rc = F.set_channel_json(c, "{}");
      if (rc != TTB_OK)
        fail("ttb_client_set_channel_settings_json({}): %s", err_of(c, rc));
    }
  }

  /* stop, log out, destroy */
  rc = F.stop(c);
  if (rc != TTB_OK)
    fail("ttb_client_stop: %s", err_of(c, rc));
  if (F.state(c, NULL, 0) != TTB_STATE_DISCONNECTED)
    fail("state after stop is not DISCONNECTED");
  step("stopped");
  F.destroy(c);

  /* the app restarted: a new client from the token it kept */
  c = NULL;
  rc = F.create(&cfg, &c);
  if (rc != TTB_OK || !c)
    fail("ttb_client_create (again): %d (%s)", rc, F.strerror_(rc));
  if (F.set_token(c, "bad token!") != TTB_ERR_INVALID || F.has_token(c))
    fail("ttb_client_set_token took a malformed token");
  rc = F.set_token(c, token);
  if (rc != TTB_OK || !F.has_token(c))
    fail("ttb_client_set_token: %s", err_of(c, rc));
  rc = F.start(c);
  if (rc != TTB_OK)
    fail("ttb_client_start with the kept token: %s", err_of(c, rc));
  connected = false;
  for (double t0 = now_s(); !connected && now_s() - t0 < 20 * slow;) {
    while (F.poll_event(c, &ev) == 1) {
      if (ev.kind == TTB_EVENT_STATE && ev.count == TTB_STATE_CONNECTED)
        connected = true;
      else if (ev.kind == TTB_EVENT_ERROR)
        fail("error event with the kept token: %s", ev.text);
    }
    sleep_ms(20);
  }
  if (!connected)
    fail("not connected with the kept token");
  rc = F.stop(c);
  if (rc != TTB_OK)
    fail("ttb_client_stop: %s", err_of(c, rc));
  step("a new client connected with the token the app kept");
  rc = F.logout(c);
  if (rc != TTB_OK || F.has_token(c))
    fail("ttb_client_logout: %s", err_of(c, rc));
  if (access(session_file, F_OK) == 0)
    fail("%s appeared", session_file);
  F.destroy(c);
  if (dlclose(lib) != 0)
    fail("dlclose: %s", dlerror());
  step("ok");
  return 0;
}
