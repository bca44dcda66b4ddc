/* tests/mobile/test_mixer.c — the audio engine: volumes, overlapping gifts,
 * sequential TTS and its drop rule, the limiter, resampling, idle silence,
 * live switches and streamed clips. */
#include <criterion/criterion.h>

#include "audio/mixer.h"
#include "audio/resample.h"
#include "helpers.h"

static ttb__mixer *mk(uint32_t rate, uint32_t ch, unsigned qcap, unsigned gcap)
{
  ttb__mixer_config cfg = {
      .out_rate = rate, .out_channels = ch, .tts_queue_cap = qcap, .gift_voices_cap = gcap};
  ttb__mixer *m = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb__mixer_create(&cfg, &m, &e), TTB_OK, "%s", e.msg);
  return m;
}

/* Renders n stereo frames into a new buffer. */
static int16_t *render(ttb__mixer *m, size_t n, uint32_t ch)
{
  int16_t *b = calloc(n * ch, sizeof *b);
  cr_assert_not_null(b);
  cr_assert_eq(ttb__mixer_render(m, b, n), n);
  return b;
}

static void play_tts(ttb__mixer *m, uint64_t id, ttb__clip *c)
{
  cr_assert_eq(ttb__mixer_tts_reserve(m, id), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_attach(m, id, c), TTB_OK);
  ttb__clip_unref(c);
}

Test(mixer, idle_renders_silence)
{
  ttb__mixer *m = mk(44100, 2, 0, 0);
  for (int k = 0; k < 20; k++) {
    int16_t *b = render(m, 1024, 2);
    for (size_t i = 0; i < 2048; i++)
      cr_assert_eq(b[i], 0);
    free(b);
  }
  ttb__mixer_destroy(m);
}

Test(mixer, volumes_scale_each_kind)
{
  ttb__mixer *m = mk(48000, 2, 0, 0);
  ttb__mixer_set_kind(m, TTB__KIND_TTS, true, 0.5f);
  ttb__mixer_set_kind(m, TTB__KIND_GIFT, true, 0.25f);
  free(render(m, 512, 2)); /* let the gain ramps settle */
  play_tts(m, 1, const_clip(16384, 48000));
  int16_t *b = render(m, 4800, 2);
  for (size_t i = 100; i < 4800; i++) {
    cr_assert(abs(b[2 * i] - 8192) <= 2, "tts at 0.5: %d at %zu", b[2 * i], i);
    cr_assert_eq(b[2 * i], b[2 * i + 1]);
  }
  free(b);
  ttb__clip *g = const_clip(16384, 48000);
  cr_assert_eq(ttb__mixer_gift_play(m, g), TTB_OK);
  ttb__clip_unref(g);
  b = render(m, 4800, 2);
  for (size_t i = 100; i < 4800; i++)
    cr_assert(abs(b[2 * i] - (8192 + 4096)) <= 3, "tts+gift: %d", b[2 * i]);
  free(b);
  /* Live volume change: applies within one block, with no jump. */
  ttb__mixer_set_kind(m, TTB__KIND_TTS, true, 0.0f);
  b = render(m, 4800, 2);
  for (size_t i = 1; i < 4800; i++)
    cr_assert(abs(b[2 * i] - b[2 * i - 2]) < 200, "click at %zu", i);
  for (size_t i = 1000; i < 4800; i++)
    cr_assert(abs(b[2 * i] - 4096) <= 2, "tts muted live: %d", b[2 * i]);
  free(b);
  ttb__mixer_destroy(m);
}

Test(mixer, tts_is_sequential_and_ordered)
{
  ttb__mixer *m = mk(48000, 1, 0, 0);
  /* Reserved 1 then 2; 2's audio arrives first: still 1 is heard first. */
  cr_assert_eq(ttb__mixer_tts_reserve(m, 1), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_reserve(m, 2), TTB_OK);
  ttb__clip *b2 = const_clip(2000, 4800), *b1 = const_clip(1000, 4800);
  cr_assert_eq(ttb__mixer_tts_attach(m, 2, b2), TTB_OK);
  int16_t *s = render(m, 960, 1);
  for (size_t i = 0; i < 960; i++)
    cr_assert_eq(s[i], 0, "2 must wait for 1");
  free(s);
  cr_assert_eq(ttb__mixer_tts_attach(m, 1, b1), TTB_OK);
  ttb__clip_unref(b1);
  ttb__clip_unref(b2);
  s = render(m, 12000, 1);
  size_t n1 = 0, n2 = 0;
  for (size_t i = 0; i < 12000; i++) {
    cr_assert(s[i] == 0 || s[i] == 1000 || s[i] == 2000, "overlap: %d at %zu", s[i], i);
    if (s[i] == 1000) {
      cr_assert_eq(n2, 0, "1 after 2");
      n1++;
    }
    if (s[i] == 2000)
      n2++;
  }
  cr_assert_eq(n1, 4800);
  cr_assert_eq(n2, 4800);
  free(s);
  uint64_t played, skipped;
  ttb__mixer_collect(m);
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(played, 2);
  cr_assert_eq(skipped, 0);
  cr_assert_eq(ttb__mixer_active(m), 0);
  ttb__mixer_destroy(m);
}

Test(mixer, tts_queue_cap_drops_oldest_waiting)
{
  ttb__mixer *m = mk(48000, 2, 4, 0);
  for (uint64_t id = 1; id <= 8; id++)
    cr_assert_eq(ttb__mixer_tts_reserve(m, id), TTB_OK);
  /* 1 is the head (playing); 4 may wait: 2, 3, 4 were dropped. */
  cr_assert(ttb__mixer_tts_pending(m, 1));
  cr_assert_not(ttb__mixer_tts_pending(m, 2));
  cr_assert_not(ttb__mixer_tts_pending(m, 3));
  cr_assert_not(ttb__mixer_tts_pending(m, 4));
  for (uint64_t id = 5; id <= 8; id++)
    cr_assert(ttb__mixer_tts_pending(m, id));
  ttb__clip *c = const_clip(100, 10);
  cr_assert_eq(ttb__mixer_tts_attach(m, 3, c), 1, "a dropped utterance takes no audio");
  ttb__clip_unref(c);
  uint64_t played, skipped;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 3);
  ttb__mixer_tts_cancel(m, 1);
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 4);
  ttb__mixer_destroy(m);
}

Test(mixer, gifts_overlap_up_to_the_cap)
{
  ttb__mixer *m = mk(48000, 1, 0, 4);
  for (int k = 0; k < 3; k++) {
    ttb__clip *g = const_clip(1000, 4800);
    cr_assert_eq(ttb__mixer_gift_play(m, g), TTB_OK);
    ttb__clip_unref(g);
  }
  play_tts(m, 7, const_clip(500, 4800));
  int16_t *s = render(m, 2400, 1);
  for (size_t i = 0; i < 2400; i++)
    cr_assert_eq(s[i], 3500, "3 gifts + tts in parallel: %d", s[i]);
  free(s);
  /* Two more gifts: the cap is 4, the oldest (started first) is stopped. */
  for (int k = 0; k < 2; k++) {
    ttb__clip *g = const_clip(100, 4800);
    cr_assert_eq(ttb__mixer_gift_play(m, g), TTB_OK);
    ttb__clip_unref(g);
  }
  s = render(m, 1200, 1);
  cr_assert_eq(s[600], 500 + 2 * 1000 + 2 * 100, "got %d", s[600]);
  free(s);
  uint64_t played, skipped;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 1);
  s = render(m, 48000, 1);
  free(s);
  ttb__mixer_collect(m);
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(played, 1 + 2 + 2, "tts + 2 old gifts + 2 new gifts");
  cr_assert_eq(ttb__mixer_active(m), 0);
  ttb__mixer_destroy(m);
}

Test(mixer, limiter_never_clips_eight_loud_voices)
{
  ttb__mixer *m = mk(44100, 2, 0, 8);
  for (int k = 0; k < 8; k++) {
    ttb__clip *g = sine_clip(200.0 + 37.0 * k, 1.0, 48000);
    cr_assert_eq(ttb__mixer_gift_play(m, g), TTB_OK);
    ttb__clip_unref(g);
  }
  play_tts(m, 1, const_clip(32767, 48000));
  const int lim = (int)(TTB__MIXER_LIMIT * 32768.0f) + 1;
  int peak = 0;
  for (int blk = 0; blk < 50; blk++) {
    int16_t *s = render(m, 441, 2);
    for (size_t i = 0; i < 882; i++) {
      int v = abs(s[i]);
      cr_assert(v <= lim, "sample %d over the limit %d", v, lim);
      if (v > peak)
        peak = v;
    }
    free(s);
  }
  cr_assert(peak > lim - 400, "the limiter squeezes, it does not mute (peak %d)", peak);
  ttb__mixer_destroy(m);
}

Test(mixer, single_voice_is_not_limited)
{
  ttb__mixer *m = mk(48000, 1, 0, 0);
  play_tts(m, 1, const_clip(20000, 4800));
  int16_t *s = render(m, 4800, 1);
  for (size_t i = 0; i < 4800; i++)
    cr_assert_eq(s[i], 20000);
  free(s);
  ttb__mixer_destroy(m);
}

/* A 1 kHz sine at 48 kHz resampled to 44.1 kHz keeps its frequency and level. */
Test(mixer, resampling_keeps_frequency)
{
  ttb__mixer *m = mk(44100, 1, 0, 0);
  play_tts(m, 1, sine_clip(1000.0, 0.5, 48000 * 2));
  int16_t *s = render(m, 44100, 1);
  double *x = malloc(sizeof(double) * 44100);
  cr_assert_not_null(x);
  for (size_t i = 0; i < 44100; i++)
    x[i] = s[i] / 32768.0;
  /* Skip the filter's start; analyse 0.5 s. */
  const double *w = x + 4410;
  size_t n = 22050;
  double p1k = goertzel(w, n, 1000.0, 44100.0);
  double p_near = goertzel(w, n, 1088.0, 44100.0);  /* where a 48k-played-as-44.1k tone would be */
  double p_alias = goertzel(w, n, 918.75, 44100.0); /* 1000 * 44.1/48 */
  double p_2k = goertzel(w, n, 2000.0, 44100.0);
  cr_assert(p1k > 0.05, "energy at 1 kHz: %g", p1k); /* amplitude 0.5 -> 0.0625 */
  cr_assert(p1k > 1000.0 * p_near && p1k > 1000.0 * p_alias && p1k > 1000.0 * p_2k,
            "1k %g, 1088 %g, 918 %g, 2k %g", p1k, p_near, p_alias, p_2k);
  /* Zero crossings: 2000 per second. */
  size_t zc = 0;
  for (size_t i = 4411; i < 4410 + 22050; i++)
    if ((x[i - 1] < 0) != (x[i] < 0))
      zc++;
  cr_assert(zc >= 998 && zc <= 1002, "zero crossings in 0.5 s: %zu", zc);
  double peak = 0;
  for (size_t i = 0; i < n; i++)
    peak = fabs(w[i]) > peak ? fabs(w[i]) : peak;
  cr_assert(fabs(peak - 0.5) < 0.01, "level kept: %f", peak);
  free(x);
  free(s);
  ttb__mixer_destroy(m);
}

static size_t pulled;
static void pull_sine(void *user, float *l, float *r, size_t frames)
{
  double hz = *(double *)user;
  for (size_t i = 0; i < frames; i++, pulled++) {
    float v = (float)(0.5 * sin(2.0 * TEST_PI * hz * (double)pulled / 48000.0));
    l[i] = r[i] = v;
  }
}

/* 48k -> 44.1k: a tone above the new Nyquist frequency is removed, not
 * folded back into the audible band. */
Test(resample, removes_what_would_alias)
{
  ttb__resampler rs;
  cr_assert_eq(ttb__resampler_init(&rs, 48000, 44100, 256), TTB_OK);
  double hz = 23000.0;
  pulled = 0;
  float *out = malloc(sizeof(float) * 2 * 44100);
  cr_assert_not_null(out);
  ttb__resampler_process(&rs, out, out + 44100, 44100, pull_sine, &hz);
  double *x = malloc(sizeof(double) * 44100);
  cr_assert_not_null(x);
  double rms = 0;
  for (size_t i = 0; i < 44100; i++) {
    x[i] = out[i];
    if (i > 1000)
      rms += x[i] * x[i];
  }
  rms = sqrt(rms / 43100);
  cr_assert(rms < 0.5 * 0.707 * 0.1, "a 23 kHz tone is at least 20 dB down: rms %f", rms);
  free(x);
  free(out);
  ttb__resampler_finish(&rs);
}

Test(resample, upsampling_keeps_frequency)
{
  ttb__resampler rs;
  cr_assert_eq(ttb__resampler_init(&rs, 48000, 96000, 256), TTB_OK);
  double hz = 1000.0;
  pulled = 0;
  float *out = malloc(sizeof(float) * 2 * 96000);
  cr_assert_not_null(out);
  ttb__resampler_process(&rs, out, out + 96000, 96000, pull_sine, &hz);
  size_t zc = 0;
  for (size_t i = 1001; i <= 1000 + 48000; i++)
    if ((out[i - 1] < 0) != (out[i] < 0))
      zc++;
  cr_assert(zc >= 998 && zc <= 1002, "zero crossings in 0.5 s: %zu", zc);
  free(out);
  ttb__resampler_finish(&rs);
}

/* An odd rate (48000 -> 44117: 44117 phases) uses the interpolated table. */
Test(resample, interpolated_table_for_odd_rates)
{
  ttb__resampler rs;
  cr_assert_eq(ttb__resampler_init(&rs, 48000, 44117, 256), TTB_OK);
  cr_assert_not(rs.exact);
  double hz = 1000.0;
  pulled = 0;
  float *out = malloc(sizeof(float) * 2 * 44117);
  cr_assert_not_null(out);
  ttb__resampler_process(&rs, out, out + 44117, 44117, pull_sine, &hz);
  size_t zc = 0;
  double peak = 0;
  for (size_t i = 1001; i <= 1000 + 22058; i++) {
    if ((out[i - 1] < 0) != (out[i] < 0))
      zc++;
    peak = fabs(out[i]) > peak ? fabs(out[i]) : peak;
  }
  cr_assert(zc >= 998 && zc <= 1002, "zero crossings in 0.5 s: %zu", zc);
  cr_assert(fabs(peak - 0.5) < 0.01, "level: %f", peak);
  free(out);
  ttb__resampler_finish(&rs);
  cr_assert_eq(ttb__resampler_init(&rs, 48000, 44100, 256), TTB_OK);
  cr_assert(rs.exact);
  cr_assert_eq(rs.phases, 147);
  ttb__resampler_finish(&rs);
}

Test(mixer, switching_a_kind_off_stops_it_live)
{
  ttb__mixer *m = mk(48000, 1, 0, 0);
  play_tts(m, 1, const_clip(1000, 48000));
  ttb__mixer_tts_reserve(m, 2);
  ttb__clip *g = const_clip(300, 48000);
  ttb__mixer_gift_play(m, g);
  int16_t *s = render(m, 480, 1);
  cr_assert_eq(s[400], 1300);
  free(s);
  ttb__mixer_set_kind(m, TTB__KIND_TTS, false, 1.0f);
  s = render(m, 480, 1);
  cr_assert_eq(s[400], 300);
  free(s);
  uint64_t played, skipped;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 2, "the playing and the waiting utterance");
  cr_assert_eq(ttb__mixer_tts_reserve(m, 3), 1, "TTS off: skipped at once");
  cr_assert_eq(ttb__mixer_gift_play(m, g), TTB_OK);
  ttb__mixer_set_kind(m, TTB__KIND_GIFT, false, 1.0f);
  cr_assert_eq(ttb__mixer_gift_play(m, g), 1);
  ttb__clip_unref(g);
  s = render(m, 480, 1);
  for (size_t i = 0; i < 480; i++)
    cr_assert_eq(s[i], 0);
  free(s);
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 2 + 1 + 2 + 1);
  ttb__mixer_destroy(m);
}

Test(mixer, streamed_clip_plays_while_it_grows)
{
  ttb__mixer *m = mk(48000, 1, 0, 0);
  ttb__clip *c = NULL;
  cr_assert_eq(ttb__clip_create(1, 960, &c), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_reserve(m, 9), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_attach(m, 9, c), TTB_OK);
  int16_t pkt[960];
  for (int i = 0; i < 960; i++)
    pkt[i] = 1234;
  size_t heard = 0;
  for (int k = 0; k < 100; k++) { /* 2 s, growing past the first capacity */
    cr_assert_eq(ttb__mixer_stream_write(m, c, pkt, 960), TTB_OK);
    int16_t *s = render(m, 960, 1);
    for (size_t i = 0; i < 960; i++)
      heard += s[i] == 1234;
    free(s);
  }
  cr_assert_eq(heard, 96000);
  /* Starved but not ended: waits silently. */
  int16_t *s = render(m, 960, 1);
  cr_assert_eq(s[0], 0);
  free(s);
  cr_assert(ttb__mixer_tts_pending(m, 9));
  ttb__mixer_stream_end(m, c);
  ttb__clip_unref(c);
  free(render(m, 960, 1));
  cr_assert_not(ttb__mixer_tts_pending(m, 9));
  uint64_t played, skipped;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(played, 1);
  ttb__mixer_destroy(m);
}

Test(mixer, stop_all_silences_and_counts)
{
  ttb__mixer *m = mk(22050, 2, 0, 0);
  play_tts(m, 1, const_clip(1000, 48000));
  ttb__mixer_tts_reserve(m, 2);
  ttb__mixer_stop_all(m);
  int16_t *s = render(m, 4096, 2);
  for (size_t i = 2048; i < 8192; i++)
    cr_assert_eq(s[i], 0);
  free(s);
  uint64_t played, skipped;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 2);
  size_t clips = 1;
  cr_assert(ttb__mixer_memory(m, &clips) > 0);
  cr_assert_eq(clips, 0);
  ttb__mixer_destroy(m);
}

Test(mixer, bad_config_is_refused)
{
  ttb__mixer *m = NULL;
  ttb_error e;
  ttb__mixer_config cfg = {.out_rate = 4000};
  cr_assert_eq(ttb__mixer_create(&cfg, &m, &e), TTB_ERR_INVALID);
  cr_assert_null(m);
  cr_assert(strlen(e.msg) > 0);
  cfg = (ttb__mixer_config){.out_channels = 3};
  cr_assert_eq(ttb__mixer_create(&cfg, &m, &e), TTB_ERR_INVALID);
  cr_assert_eq(ttb__mixer_render(NULL, NULL, 10), 0);
}

Test(mixer, first_audible_sample_of_each_utterance_is_recorded)
{
  /* 44.1 kHz output; after 4410 frames of idle, utterance 7 = 0.1 s of
     * silence then a level; utterance 9 = the level at once. */
  ttb__mixer *m = mk(44100, 2, 0, 0);
  free(render(m, 4410, 2));
  ttb__voice_start st[8];
  cr_assert_eq(ttb__mixer_voice_starts(m, st, 8), 0, "nothing before any voice");
  ttb__clip *a = NULL;
  cr_assert_eq(ttb__clip_create(1, 9600, &a), TTB_OK);
  for (size_t i = 0; i < 9600; i++)
    a->pcm[i] = i < 4800 ? 0 : 8000;
  a->frames = 9600;
  a->complete = true;
  play_tts(m, 7, a);
  play_tts(m, 9, const_clip(8000, 4800));
  free(render(m, 44100 / 2, 2));
  size_t n = ttb__mixer_voice_starts(m, st, 8);
  cr_assert_eq(n, 2);
  cr_assert_eq(st[0].id, 7);
  cr_assert_eq(st[1].id, 9);
  /* 4410 idle + 0.1 s of silence = 8820 output frames; 9 starts 0.1 s later */
  cr_assert(st[0].out_frame >= 8820 - 300 && st[0].out_frame <= 8820 + 300, "7 at %llu",
            (unsigned long long)st[0].out_frame);
  cr_assert(st[1].out_frame >= 13230 - 300 && st[1].out_frame <= 13230 + 300, "9 at %llu",
            (unsigned long long)st[1].out_frame);
  cr_assert(st[0].render_ms > 0);
  cr_assert_eq(ttb__mixer_voice_starts(m, st, 8), 0, "drained");
  ttb__mixer_destroy(m);
}

Test(mixer, the_drop_rule_spares_utterances_being_fetched)
{
  /* 3 may wait. 1 speaks; 2 is being fetched (claimed); 3 and 4 wait
     * without audio. Chat 5 drops 3 (the oldest not fetched), not 2. */
  ttb__mixer *m = mk(48000, 2, 3, 0);
  for (uint64_t id = 1; id <= 4; id++)
    cr_assert_eq(ttb__mixer_tts_reserve(m, id), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_place(m, 1), 0);
  cr_assert_eq(ttb__mixer_tts_place(m, 4), 3);
  cr_assert_eq(ttb__mixer_tts_claim(m, 2), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_place(m, 2), -1, "claimed: not to be fetched again");
  cr_assert_eq(ttb__mixer_tts_reserve(m, 5), TTB_OK);
  cr_assert(ttb__mixer_tts_pending(m, 2), "the fetched one stays");
  cr_assert_not(ttb__mixer_tts_pending(m, 3), "the oldest one not fetched is dropped");
  cr_assert_eq(ttb__mixer_tts_place(m, 4), 2);
  /* all waiting ones have audio coming: the oldest waiting goes */
  cr_assert_eq(ttb__mixer_tts_claim(m, 4), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_claim(m, 5), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_reserve(m, 6), TTB_OK);
  cr_assert_not(ttb__mixer_tts_pending(m, 2));
  cr_assert(ttb__mixer_tts_pending(m, 4) && ttb__mixer_tts_pending(m, 5));
  cr_assert_eq(ttb__mixer_tts_claim(m, 3), 1, "gone");
  uint64_t played = 0, skipped = 0;
  ttb__mixer_counts(m, &played, &skipped);
  cr_assert_eq(skipped, 2);
  ttb__mixer_destroy(m);
}

Test(mixer, lead_is_the_audio_left_before_an_utterance)
{
  /* 1 has 1 s of audio, 2 waits without audio, 3 waits behind both */
  ttb__mixer *m = mk(48000, 2, 0, 0);
  play_tts(m, 1, const_clip(1000, 48000));
  cr_assert_eq(ttb__mixer_tts_reserve(m, 2), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_reserve(m, 3), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 1), 0, "the head starts now");
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 2), 1000);
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 3), 1000, "2 has no audio yet: it counts 0");
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 99), -1, "not queued");
  free(render(m, 24000, 2)); /* half of 1 plays */
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 2), 500);
  ttb__clip *two = const_clip(1000, 9600);
  cr_assert_eq(ttb__mixer_tts_attach(m, 2, two), TTB_OK);
  ttb__clip_unref(two);
  cr_assert_eq(ttb__mixer_tts_lead_ms(m, 3), 700, "0.5 s of 1 and 0.2 s of 2");
  ttb__mixer_destroy(m);
}
