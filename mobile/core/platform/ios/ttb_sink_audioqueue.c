/*
 * ttb_sink_audioqueue.c — iOS audio sink: an AudioQueue output whose buffer
 * callback pulls PCM from ttb_client_render().
 *
 * The AVAudioSession (category playback, option mixWithOthers, interruption
 * observer) is configured in Swift by the app (ios/Runner/AppDelegate.swift),
 * which calls ttb_sink_pause()/ttb_sink_resume() on interruptions. Built into
 * the static library of the iOS build (ios/ttboost_core.podspec).
 */
#include "ttb_sink.h"

#include <AudioToolbox/AudioToolbox.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define TTB_SINK_BUFFERS 3
#define TTB_SINK_BUFFER_MS 20

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static AudioQueueRef g_queue; /* guarded by g_lock */
static AudioQueueBufferRef g_buffers[TTB_SINK_BUFFERS];
static uint32_t g_rate, g_channels;    /* guarded by g_lock */
static bool g_paused;                  /* guarded by g_lock */
static _Atomic(ttb_client *) g_client; /* read by the audio thread */

/* Fills one buffer from the core and hands it back to the queue. Runs on the
 * AudioQueue's internal thread (no run loop given to AudioQueueNewOutput). */
static void fill(AudioQueueRef q, AudioQueueBufferRef buf)
{
  uint32_t ch = g_channels ? g_channels : 1;
  size_t frames = buf->mAudioDataBytesCapacity / (ch * sizeof(int16_t));
  int16_t *pcm = buf->mAudioData;
  size_t got = 0;
  ttb_client *c = atomic_load_explicit(&g_client, memory_order_acquire);
  if (c)
    got = ttb_client_render(c, pcm, frames);
  if (got < frames)
    memset(pcm + got * ch, 0, (frames - got) * ch * sizeof(int16_t));
  buf->mAudioDataByteSize = (UInt32)(frames * ch * sizeof(int16_t));
  AudioQueueEnqueueBuffer(q, buf, 0, NULL);
}

static void on_output(void *user, AudioQueueRef q, AudioQueueBufferRef buf)
{
  (void)user;
  fill(q, buf);
}

/* Creates, primes and starts g_queue; caller holds g_lock. */
static int open_locked(void)
{
  AudioStreamBasicDescription f;
  memset(&f, 0, sizeof f);
  f.mSampleRate = g_rate;
  f.mFormatID = kAudioFormatLinearPCM;
  f.mFormatFlags = kLinearPCMFormatFlagIsSignedInteger | kLinearPCMFormatFlagIsPacked;
  f.mChannelsPerFrame = g_channels;
  f.mBitsPerChannel = 16;
  f.mBytesPerFrame = g_channels * sizeof(int16_t);
  f.mFramesPerPacket = 1;
  f.mBytesPerPacket = f.mBytesPerFrame;

  AudioQueueRef q = NULL;
  if (AudioQueueNewOutput(&f, on_output, NULL, NULL, NULL, 0, &q) != noErr)
    return TTB_ERR_IO;
  UInt32 bytes = (UInt32)(g_rate * TTB_SINK_BUFFER_MS / 1000) * f.mBytesPerFrame;
  for (int i = 0; i < TTB_SINK_BUFFERS; i++) {
    if (AudioQueueAllocateBuffer(q, bytes, &g_buffers[i]) != noErr) {
      AudioQueueDispose(q, true);
      return TTB_ERR_IO;
    }
    fill(q, g_buffers[i]); /* prime with audio (or silence) */
  }
  if (AudioQueueStart(q, NULL) != noErr) {
    AudioQueueDispose(q, true);
    return TTB_ERR_IO;
  }
  g_queue = q;
  return TTB_OK;
}

/* Stops synchronously (no callback runs after this) and frees the queue. */
static void close_locked(void)
{
  if (!g_queue)
    return;
  AudioQueueStop(g_queue, true);
  AudioQueueDispose(g_queue, true); /* also frees its buffers */
  g_queue = NULL;
  memset(g_buffers, 0, sizeof g_buffers);
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
  if (!atomic_load(&g_client) || !g_queue)
    rc = TTB_ERR_STATE;
  else if (!g_paused) {
    AudioQueuePause(g_queue);
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
  } else if (!g_queue || AudioQueueStart(g_queue, NULL) != noErr) {
    /* After an interruption iOS may have invalidated the queue: rebuild it. */
    close_locked();
    rc = open_locked();
  }
  g_paused = rc != TTB_OK;
  pthread_mutex_unlock(&g_lock);
  return rc;
}

bool ttb_sink_is_running(void)
{
  pthread_mutex_lock(&g_lock);
  bool on = g_queue != NULL && !g_paused;
  pthread_mutex_unlock(&g_lock);
  return on;
}

ttb_client *ttb_sink_client(void) { return atomic_load_explicit(&g_client, memory_order_acquire); }
