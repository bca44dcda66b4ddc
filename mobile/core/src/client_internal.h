/*
 * client_internal.h — test hooks of client.c (not part of the public API).
 *
 * The client normally talks HTTP through ttb__http_lws and opens its socket
 * with ttb__transport_lws_create (net/net.h). Tests, and builds without
 * libwebsockets (the arm64 cross build), inject fakes here so the whole
 * client — events, filter, downloads, decoding, the mixer, streamed
 * AudioFrames — runs without a server. Call before ttb_client_login /
 * ttb_client_start; NULL restores the default.
 */
#ifndef TTB_CLIENT_INTERNAL_H
#define TTB_CLIENT_INTERNAL_H

#include "audio/mixer.h"
#include "net/net.h"
#include "ttboost/client.h"

/* Makes a new transport for each ttb_client_start (*out owned by the
 * connection). TTB_OK or a TTB_ERR_*. */
typedef int (*ttb__transport_factory)(void *user, ttb__transport **out);

void ttb__client_set_net(ttb_client *c, ttb__http_fn http, void *http_user,
                         ttb__transport_factory transport, void *transport_user);

/* Replaces how audio is downloaded (streamed GETs, net.h
 * ttb__http_stream_fn), e.g. by a fake that counts the URLs fetched or feeds
 * the body in small pieces. NULL: through the HTTP function of
 * ttb__client_set_net, whole (its default with a fake HTTP). By default
 * (ttb__client_set_net(c, NULL, ...)) the client's own kept-alive
 * libwebsockets session. Call before ttb_client_start. */
void ttb__client_set_stream(ttb_client *c, ttb__http_stream_fn stream, void *user);

/* For measuring chat -> first audible sound (tools/bench): moves up to max
 * records of TTS utterances whose first audible sample was rendered by
 * ttb_client_render (oldest first; the last 64 are kept) into out and
 * returns how many. record.id is the chat's seq (ttb_event.seq);
 * record.out_frame counts output frames since ttb_client_create (so a
 * caller that timestamps its render calls knows when that frame was
 * rendered); record.render_ms is the monotonic clock (CLOCK_MONOTONIC, ms)
 * at the start of that render call. Any thread. */
size_t ttb__client_voice_starts(ttb_client *c, ttb__voice_start *out, size_t max);

/* How many SpeechWanted requests the client has sent (binary mode, to a
 * server whose Hello said speech_wanted): for tests and the bench. */
uint64_t ttb__client_speech_asked(ttb_client *c);

#endif /* TTB_CLIENT_INTERNAL_H */
