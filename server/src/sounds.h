/*
 * Gift sounds: the gift name -> sound map with a fallback.
 *
 * A map file has one `Gift Name = sound` line per gift (# comments, blank
 * lines; sound is a file name in the sounds directory without ".ogg",
 * [A-Za-z0-9_-] only), and one `* = sound` line for the fallback. Matching
 * is case-insensitive on the gift name. Without a map file the built-in
 * map (sounds.c) maps TikTok's common gifts to the default pack.
 */
#ifndef TTB_SERVER_SOUNDS_H
#define TTB_SERVER_SOUNDS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ttb_sounds ttb_sounds;

/* Loads the map (map_path NULL or "" = built-in) and checks that every
 * sound it names exists as dir/<sound>.ogg. NULL with a message in err
 * (naming the file and line of a bad entry, or the missing sound). */
ttb_sounds *ttb_sounds_load(const char *dir, const char *map_path, char *err, size_t errlen);
void ttb_sounds_free(ttb_sounds *s);

/* The sound for gift_name (the fallback when unmapped); never NULL. */
const char *ttb_sounds_for(const ttb_sounds *s, const char *gift_name);
/* Whether gift_name has its own entry (not the fallback). */
bool ttb_sounds_known(const ttb_sounds *s, const char *gift_name);
/* The directory. */
const char *ttb_sounds_dir(const ttb_sounds *s);

#endif
