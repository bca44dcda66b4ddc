/*
 * ttb_sink_aaudio.c — Android audio sink: an AAudio output stream (API 26+)
 * whose data callback pulls PCM from ttb_client_render().
 *
 * Built only by the Android native build (mobile/app/android/app/src/main/cpp/
 * CMakeLists.txt), linked with -laaudio -llog into libttboost_client.so.
 */
#include "ttb_sink.h"

#include <aaudio/AAudio.h>
#include <android/log.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define LOG_TAG "ttboost-sink"
#define LOGW(...) __android_log_print(ANDROID_LOG_WARN, LOG_TAG, __VA_ARGS__)

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static AAudioStream *g_stream;         /* guarded by g_lock */
static uint32_t g_rate, g_channels;    /* guarded by g_lock */
static bool g_paused;                  /* guarded by g_lock */
static _Atomic(ttb_client *) g_client; /* read by the audio thread */
static atomic_uint g_generation;       /* bumps on every open; stale restarts skip */

static aaudio_data_callback_result_t on_data(AAudioStream *stream, void *user, void *audio,
                                             int32_t num_frames)
{
  (void)stream;
  (void)user;
  int16_t *pcm = audio;
  size_t frames = num_frames > 0 ? (size_t)num_frames : 0;
  size_t got = 0;
  ttb_client *c = atomic_load_explicit(&g_client, memory_order_acquire);
  uint32_t ch = g_channels ? g_channels : 1; /* stable while the stream is open */
  if (c)
    got = ttb_client_render(c, pcm, frames);
  if (got < frames)
    memset(pcm + got * ch, 0, (frames - got) * ch * sizeof(int16_t));
  return AAUDIO_CALLBACK_RESULT_CONTINUE;
}

static void on_error(AAudioStream *stream, void *user, aaudio_result_t error);

/* Opens and starts g_stream; caller holds g_lock. */
static int open_locked(void)
{
  AAudioStreamBuilder *b = NULL;
  if (AAudio_createStreamBuilder(&b) != AAUDIO_OK)
    return TTB_ERR_IO;
  AAudioStreamBuilder_setDirection(b, AAUDIO_DIRECTION_OUTPUT);
  AAudioStreamBuilder_setSharingMode(b, AAUDIO_SHARING_MODE_SHARED);
  AAudioStreamBuilder_setPerformanceMode(b, AAUDIO_PERFORMANCE_MODE_NONE);
  AAudioStreamBuilder_setFormat(b, AAUDIO_FORMAT_PCM_I16);
  AAudioStreamBuilder_setSampleRate(b, (int32_t)g_rate);
  AAudioStreamBuilder_setChannelCount(b, (int32_t)g_channels);
  AAudioStreamBuilder_setDataCallback(b, on_data, NULL);
  AAudioStreamBuilder_setErrorCallback(b, on_error, NULL);

  AAudioStream *s = NULL;
  aaudio_result_t r = AAudioStreamBuilder_openStream(b, &s);
  AAudioStreamBuilder_delete(b);
  if (r != AAUDIO_OK) {
    LOGW("openStream: %s", AAudio_convertResultToText(r));
    return TTB_ERR_IO;
  }
  /* The core renders at exactly the configured format; refuse silently
     * resampled or re-channelled streams rather than play at the wrong speed. */
  if ((uint32_t)AAudioStream_getSampleRate(s) != g_rate ||
      (uint32_t)AAudioStream_getChannelCount(s) != g_channels) {
    LOGW("stream format %d Hz x %d differs from %u Hz x %u", AAudioStream_getSampleRate(s),
         AAudioStream_getChannelCount(s), g_rate, g_channels);
    AAudioStream_close(s);
    return TTB_ERR_IO;
  }
  /* Double-buffer: low enough latency for speech, robust in the background. */
  AAudioStream_setBufferSizeInFrames(s, AAudioStream_getFramesPerBurst(s) * 2);
  r = AAudioStream_requestStart(s);
  if (r != AAUDIO_OK) {
    LOGW("requestStart: %s", AAudio_convertResultToText(r));
    AAudioStream_close(s);
    return TTB_ERR_IO;
  }
  g_stream = s;
  atomic_fetch_add(&g_generation, 1);
  return TTB_OK;
}

/* Stops and closes g_stream; caller holds g_lock. After requestStop and the
 * wait for STOPPED, AAudio calls on_data no more. */
static void close_locked(void)
{
  if (!g_stream)
    return;
  AAudioStream_requestStop(g_stream);
  aaudio_stream_state_t next = AAUDIO_STREAM_STATE_UNINITIALIZED;
  AAudioStream_waitForStateChange(g_stream, AAUDIO_STREAM_STATE_STOPPING, &next,
                                  500 * 1000 * 1000LL);
  AAudioStream_close(g_stream);
  g_stream = NULL;
}

/* AAudio forbids reopening from the error callback: do it on a new thread. */
static void *restart_thread(void *arg)
{
  unsigned gen = (unsigned)(uintptr_t)arg;
  pthread_mutex_lock(&g_lock);
  if (g_stream && atomic_load(&g_generation) == gen && !g_paused) {
    close_locked();
    if (open_locked() != TTB_OK)
      LOGW("could not reopen the stream after a disconnect");
  }
  pthread_mutex_unlock(&g_lock);
  return NULL;
}

static void on_error(AAudioStream *stream, void *user, aaudio_result_t error)
{
  (void)stream;
  (void)user;
  if (error != AAUDIO_ERROR_DISCONNECTED) /* e.g. headphones unplugged */
    return;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  unsigned gen = atomic_load(&g_generation);
  if (pthread_create(&t, &a, restart_thread, (void *)(uintptr_t)gen) != 0)
    LOGW("could not start the restart thread");
  pthread_attr_destroy(&a);
}

int ttb_sink_start(ttb_client *c, uint32_t sample_rate, uint32_t channels)
{
  if (!c || sample_rate < 8000 || sample_rate > 192000 || channels < 1 || channels > 2)
    return TTB_ERR_INVALID;
  pthread_mutex_lock(&g_lock);
  close_locked();
  g_rate = sample_rate;
  g_channels = channels;
  g_paused = false;
  atomic_store_explicit(&g_client, c, memory_order_release);
  int rc = open_locked();
  if (rc != TTB_OK)
    atomic_store_explicit(&g_client, NULL, memory_order_release);
  pthread_mutex_unlock(&g_lock);
  return rc;
}

void ttb_sink_stop(void)
{
  pthread_mutex_lock(&g_lock);
  close_locked();
  g_paused = false;
  atomic_store_explicit(&g_client, NULL, memory_order_release);
  pthread_mutex_unlock(&g_lock);
}

int ttb_sink_pause(void)
{
  int rc = TTB_OK;
  pthread_mutex_lock(&g_lock);
  if (!atomic_load(&g_client))
    rc = TTB_ERR_STATE;
  else if (!g_paused) {
    close_locked();
    g_paused = true;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int ttb_sink_resume(void)
{
  int rc = TTB_OK;
  pthread_mutex_lock(&g_lock);
  if (!atomic_load(&g_client)) {
    rc = TTB_ERR_STATE;
  } else if (g_paused || !g_stream ||
             AAudioStream_getState(g_stream) != AAUDIO_STREAM_STATE_STARTED) {
    close_locked();
    rc = open_locked();
    g_paused = rc != TTB_OK;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

bool ttb_sink_is_running(void)
{
  pthread_mutex_lock(&g_lock);
  bool on = g_stream != NULL && !g_paused;
  pthread_mutex_unlock(&g_lock);
  return on;
}

ttb_client *ttb_sink_client(void) { return atomic_load_explicit(&g_client, memory_order_acquire); }
