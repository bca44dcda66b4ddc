/*
 * What a socket is sent, by the Settings its client sent: the one rule of
 * the server's fan-out (hub.c) and of the tests' fake servers
 * (tests/mobile, tests/mobile_net), so that the two cannot drift apart.
 *
 * Every chat and gift event reaches every socket of the channel, whatever
 * its settings: a client with TTS or gift sounds off still logs the events
 * (client.h). TTS off only means no speech: no AudioFrame messages.
 * Header only, no dependencies (the client's tests build it for arm64 too).
 */
#ifndef TTB_SERVER_DELIVERY_H
#define TTB_SERVER_DELIVERY_H

#include <stdbool.h>

/* Whether a chat (chat = true) or gift event goes to a socket with these
 * settings: always. Kept as a function so that every fan-out asks it. */
static inline bool ttb_delivery_event(bool chat, bool tts_enabled, bool gifts_enabled)
{
  (void)chat;
  (void)tts_enabled;
  (void)gifts_enabled;
  return true;
}

/* Whether a chat's speech goes to a socket as AudioFrame messages: binary
 * (protobuf) sockets that asked for frames and have TTS on. */
static inline bool ttb_delivery_audio(bool binary, bool tts_enabled, bool audio_frames)
{
  return binary && tts_enabled && audio_frames;
}

#endif
