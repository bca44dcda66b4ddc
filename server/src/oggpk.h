/*
 * Reads the Opus packets of an Ogg Opus file (libogg), for AudioFrame
 * messages: the stream parameters from OpusHead and every audio packet
 * in order (OpusHead and OpusTags are skipped).
 */
#ifndef TTB_SERVER_OGGPK_H
#define TTB_SERVER_OGGPK_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"

/* Reads path. On 0, *packets (an array of n) and the bytes they point to
 * are one allocation owned by the caller: free(*packets). -1 with a
 * message in err when the file is not Ogg Opus, is truncated, or holds
 * more than max_packets packets. info->frame_duration_us is the first
 * packet's duration; duration_ms the total less pre-skip, where the total
 * is the last page's granule position (the encoder's end trim), or the sum
 * of the packets' durations when that granule is missing or larger.
 * info->sample_rate is always 48000 (Opus decodes at 48 kHz; OpusHead's
 * input sample rate is only informational and is not reported).
 * Only the first logical stream is read (others are skipped); reading
 * stops at its end-of-stream page. max_packets 0 = no limit. */
int ttb_oggpk_read(const char *path, size_t max_packets, ttb_audio_info *info, ttb_packet **packets,
                   size_t *n, char *err, size_t errlen);

#endif
