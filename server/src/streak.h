/*
 * The gift streak rule (docs/protocol/gifts.md).
 *
 * TikTok reports a streak of a streakable gift as repeated events for one
 * (channel, sender, gift id) with a growing repeat_count and a final one
 * with repeat_end set. A streak yields exactly one gift event, with the
 * streak's total count (the largest repeat_count seen, times count when
 * count > 1), when its end arrives, or when no event came for
 * `idle_ms` (the end was lost). Events with repeat_count 0 and no
 * repeat_end (not part of a streak) go out at once with their count.
 * A repeat_end for a streak never seen goes out at once with its
 * repeat_count. Nothing is counted twice: a repeated or smaller
 * repeat_count within a streak adds nothing, and a closed streak is
 * remembered for idle_ms so that its late or repeated events (repeat_count
 * up to its largest, other than a fresh repeat_count 1) are dropped.
 *
 * Single-threaded; the caller passes the clock (a clock going back is
 * taken as standing still). The callback must not call back into the
 * same ttb_streaks.
 */
#ifndef TTB_SERVER_STREAK_H
#define TTB_SERVER_STREAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_streaks ttb_streaks;

/* What to publish. Strings are valid during the callback only. */
typedef void (*ttb_streak_cb)(void *arg, const char *channel, const char *user,
                              const char *gift_name, uint32_t count);

/* max_open bounds the streaks tracked at once (beyond, the oldest is
 * flushed early). NULL on no memory. */
ttb_streaks *ttb_streaks_create(uint32_t idle_ms, size_t max_open);
/* Frees without publishing. */
void ttb_streaks_free(ttb_streaks *s);

/* Feeds one ingested gift. The streak key is (channel, user_id or user
 * when user_id is "", gift_id or gift_name when gift_id is 0). */
void ttb_streaks_feed(ttb_streaks *s, uint64_t now_ms, const char *channel, const char *user,
                      const char *user_id, const char *gift_name, uint64_t gift_id, uint32_t count,
                      uint32_t repeat_count, bool repeat_end, ttb_streak_cb cb, void *arg);
/* Publishes streaks idle for idle_ms or more. */
void ttb_streaks_tick(ttb_streaks *s, uint64_t now_ms, ttb_streak_cb cb, void *arg);
/* Streaks open now. */
size_t ttb_streaks_open(const ttb_streaks *s);

/* A number that changes whenever the tracked streaks (open or remembered)
 * may have changed: a snapshot taken at one value is current until it moves. */
uint64_t ttb_streaks_generation(const ttb_streaks *s);

/* A snapshot of every tracked streak, open and remembered, with its age
 * (now_ms minus its time), into a malloc'd *out. -1 on no memory. */
int ttb_streaks_save(const ttb_streaks *s, uint64_t now_ms, uint8_t **out, size_t *len);

/* Replaces what s tracks with a snapshot, ages counted back from now_ms
 * (time that passed between save and load does not count). -1 when the
 * snapshot is malformed or on no memory (s then tracks what it could read). */
int ttb_streaks_load(ttb_streaks *s, uint64_t now_ms, const uint8_t *data, size_t len);

#endif
