/*
 * The hub: one channel per streamer (its user_id), each with a sequence
 * number, a bounded history for resume, the sockets subscribed to it, and a
 * FIFO of accepted items. Every event is encoded once per format (JSON
 * text, protobuf binary) and those bytes are queued to every socket of the
 * channel.
 *
 * Order: events are published in the order they were ingested, at once: a
 * chat's tts_url is known before its speech is made (tts.h), and the
 * speech's AudioFrames follow the event as they are made (ttb_hub_audio).
 * Only items restored from the journal can wait in the FIFO (until the
 * restart has handed them out). Runs on the event-loop thread only.
 */
#ifndef TTB_SERVER_HUB_H
#define TTB_SERVER_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "metrics.h"

typedef struct ttb_hub ttb_hub;
typedef struct ttb_channel ttb_channel;
typedef struct ttb_session ttb_session;
typedef struct ttb_pending ttb_pending;

/* One Opus packet of a chat's speech, for AudioFrame messages. */
typedef struct ttb_packet {
  const uint8_t *data;
  size_t len;
} ttb_packet;

/* The stream parameters of a chat's speech. */
typedef struct ttb_audio_info {
  uint32_t sample_rate;
  uint32_t channels;
  uint32_t frame_duration_us;
  uint32_t pre_skip;
  uint32_t duration_ms;
} ttb_audio_info;

/* Creates a hub keeping `history` events per channel. NULL on no memory. */
ttb_hub *ttb_hub_create(size_t history, ttb_metrics *metrics);

/* Frees the hub, its channels and pending events (sessions must be gone). */
void ttb_hub_destroy(ttb_hub *h);

/* The channel of user_id, created when `create`; NULL when absent or on no memory. */
ttb_channel *ttb_hub_channel(ttb_hub *h, const char *user_id, bool create);

/* Calls fn for every channel that has sockets (used to cut revoked licenses). */
void ttb_hub_each_live(ttb_hub *h, void (*fn)(ttb_channel *, void *), void *arg);
const char *ttb_channel_user(const ttb_channel *c);

/* Publishes a chat at once with its tts_url ("" = no speech); strings are
 * copied. Returns its seq, or 0 when it was not published now (no memory,
 * or it waits behind an item restored from the journal). */
uint64_t ttb_hub_chat(ttb_channel *c, const char *user, const char *message, const char *tts_url);

/* Does any socket of the channel want AudioFrames (delivery.h)? */
bool ttb_hub_wants_audio(ttb_channel *c);

/* One AudioFrame of the speech of chat `seq` (packet copied): to the
 * binary sockets that want audio, now, or right after the event when the
 * event is still held for the journal. Dropped when seq was never sent. */
void ttb_hub_audio(ttb_channel *c, uint64_t seq, uint32_t index, const uint8_t *packet, size_t len,
                   bool last, const ttb_audio_info *info);

/* One AudioFrame of the speech of chat `seq` to socket s only (a chat it
 * asked for with SpeechWanted); the packet is copied. false when the socket
 * is closing or on no memory. */
bool ttb_hub_audio_to(ttb_session *s, uint64_t seq, uint32_t index, const uint8_t *packet,
                      size_t len, bool last, const ttb_audio_info *info);

/* The tts_url of chat `seq` of the channel, copied into url (cap), when seq
 * is a chat its sockets have seen, among its `recent` newest seqs and still
 * in its history, with speech (a non-empty tts_url that fits); *text_len:
 * the length of its user and message (for an estimate of the speech's
 * duration). 0 when so, -1 otherwise (a gift, unknown, too old, no speech). */
int ttb_hub_chat_speech_url(ttb_channel *c, uint64_t seq, uint64_t recent, char *url, size_t cap,
                            size_t *text_len);

/* Whether Hello tells clients that SpeechWanted is served (the app says so
 * when it handles it: ttb_ws_set_on_speech_wanted). Off by default. */
void ttb_hub_set_speech_wanted(ttb_hub *h, bool on);

/* Queues a chat whose tts_url is not known yet (a chat restored from the
 * journal, before the restart hands it out); returns the handle that
 * ttb_hub_chat_ready() completes. Strings are copied. NULL on no memory. */
ttb_pending *ttb_hub_chat_pending(ttb_channel *c, const char *user, const char *message);

/* Completes a pending chat with its tts_url ("" = no speech) and publishes
 * everything that is now at the head of the channel's FIFO. */
void ttb_hub_chat_ready(ttb_pending *p, const char *tts_url);

/* Queues a gift (published at once unless a chat is ahead of it). */
int ttb_hub_gift(ttb_channel *c, const char *gift_name, uint32_t count, const char *sound_url,
                 const char *user);

/* Subscribes a session: sends Hello, then what it missed after `since`
 * (when has_since), then live events. */
void ttb_hub_subscribe(ttb_channel *c, ttb_session *s, bool has_since, uint64_t since);
void ttb_hub_unsubscribe(ttb_session *s);

/* Called when a channel's number of sockets changes: on subscribe before
 * the new socket is sent anything (nsubs counts it already), on
 * unsubscribe after it left. fn may call ttb_hub_status. */
typedef void (*ttb_hub_watch_fn)(void *arg, ttb_channel *c, size_t nsubs);
void ttb_hub_set_watch(ttb_hub *h, ttb_hub_watch_fn fn, void *arg);

/* Sets the channel's TikTok status (events.proto Status): sent at once to
 * its sockets when it differs from the last one, and to every socket that
 * subscribes later, right after Hello. state "off" with username "" forgets
 * it (nothing is sent to later sockets). -1 on no memory. */
int ttb_hub_status(ttb_channel *c, const char *state, const char *room_id, const char *username,
                   const char *message);

/* Sockets subscribed to the channel now. */
size_t ttb_channel_sockets(const ttb_channel *c);

/* Closes every socket of the channel with code and reason. */
void ttb_channel_close_all(ttb_channel *c, uint16_t code, const char *error, const char *message);

/* Frees the history of every channel idle for idle_ms (no socket, no
 * event, nothing waiting or unsynced): its seq goes on, a resume from
 * before it is told what it missed. Returns how many were freed. */
size_t ttb_hub_free_idle(ttb_hub *h, uint64_t idle_ms);

/* An event of the cluster's stream (nats.h), seq and payload decided by
 * the node that published it; m is the ServerMessage (a chat or a gift,
 * seq set) and is not kept. When m's seq is newer than the channel's newest
 * it goes into the history and to the sockets at once (nothing is
 * journaled: the stream is the journal); an older one is dropped. Returns
 * true when it went out; false when dropped or on no memory. */
struct Ttboost__V1__ServerMessage;
bool ttb_hub_apply(ttb_channel *c, const struct Ttboost__V1__ServerMessage *m);

/* Newest seq of the channel that its sockets can see (0: none yet). */
uint64_t ttb_channel_last_seq(const ttb_channel *c);

/* ---- Persistence (journal.h; docs/operations.md "What survives a restart").
 * With a journal, every published event (and every item accepted but not
 * published at once) is journaled, and a
 * published event reaches the sockets only at ttb_hub_commit(), after the
 * journal holding it is synced. So no client ever sees a seq that a restart
 * could give out again. A channel must stay in memory while the server runs
 * (its seq must not go back); its history may be freed. */

/* Uses journal j (NULL: none, events go out at once). commit_soon(arg) is
 * called when an event waits for a commit and none was asked for since the
 * last one: the caller then runs ttb_hub_commit() soon (e.g. at the end of
 * the loop's turn). */
void ttb_hub_set_journal(ttb_hub *h, ttb_journal *j, void (*commit_soon)(void *arg), void *arg);

/* Applies one record of the journal's replay (STREAKS records are ignored:
 * they are the caller's). Before ttb_hub_restart. -1 on a bad record or no
 * memory. */
int ttb_hub_replay(ttb_hub *h, const ttb_jrec *r);

/* After the replay: the restored seqs become visible, fn is called for each
 * restored chat accepted but not yet published (the caller computes its
 * tts_url and calls ttb_hub_chat_ready(p, url)), and whatever is ready
 * goes out (at the next commit). */
typedef void (*ttb_hub_restore_fn)(void *arg, ttb_pending *p, const char *channel, const char *user,
                                   const char *message);
void ttb_hub_restart(ttb_hub *h, ttb_hub_restore_fn fn, void *arg);

/* Syncs the journal (when records wait) and then sends the events held for
 * it. -1 with err when the sync failed: the events stay held, a later
 * commit retries. Without a journal: 0, nothing to do. */
int ttb_hub_commit(ttb_hub *h, char *err, size_t errlen);

/* With the journal's thread (ttb_journal_start): the caller has submitted
 * the records (ttb_journal_submit) after commit_soon; the next held event
 * asks again. */
void ttb_hub_submitted(ttb_hub *h);

/* Sends the events held for journal commits up to ticket `synced` (those
 * the thread says are on disk), in each channel's order; the later ones
 * stay held. */
void ttb_hub_release(ttb_hub *h, uint64_t synced);

/* Adds to j (during a compaction's dump) the records of the live state:
 * every channel's marks, its history and its queue. */
void ttb_hub_dump(ttb_hub *h, ttb_journal *j);

#endif
