/*
 * filter/filter.h — the profanity filter of the client core.
 *
 * Word lists (ru, en, kk) live in mobile/core/data/profanity/<lang>.txt and
 * are embedded into the library at build time (filter/embed_lists.py), so a
 * phone needs no data files. List format: one entry per line, UTF-8; '#'
 * starts a comment; an entry ending in '*' is a stem that matches every word
 * beginning with it (inflected languages), any other entry matches the whole
 * word only.
 *
 * Matching: the text is split into chunks at white space; each chunk into
 * words (maximal runs of letters and digits; punctuation, symbols and emoji
 * separate). Words are normalised: lower case (ASCII, Latin-1, Cyrillic
 * including the Kazakh letters ә ғ қ ң ө ұ ү һ і, by a small table), 'ё' → 'е'.
 * A word is profane when it is listed (or begins with a listed stem); a chunk
 * is also profane when its words joined without the punctuation between them
 * are ("f.u.c.k", "х*й" is not caught: '*' stays a separator). Invalid UTF-8
 * bytes are separators. Masking replaces every code point of a profane word
 * with one '*'.
 *
 * Depends on: platform/error.h only. Immutable after creation: one filter
 * may be used from any number of threads.
 */
#ifndef TTB_FILTER_H
#define TTB_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/error.h"

/* One embedded list: its language code and its text (the file's content). */
typedef struct {
  const char *lang;
  const char *text;
} ttb__filter_list;

/* The lists embedded at build time (ru, en, kk), from the generated file. */
extern const ttb__filter_list ttb__filter_builtin[];
extern const size_t ttb__filter_builtin_count;

typedef struct ttb__filter ttb__filter;

/* Builds a filter from n lists (texts in the list format above; NULL/0 for
 * the built-in lists). Owns copies of what it keeps. TTB_OK, TTB_ERR_NOMEM
 * or TTB_ERR_INVALID (NULL out), with *out NULL on failure. */
int ttb__filter_create(const ttb__filter_list *lists, size_t n, ttb__filter **out, ttb_error *err);

/* Frees a filter. NULL is a no-op. */
void ttb__filter_destroy(ttb__filter *f);

/* Number of entries (words and stems) loaded. */
size_t ttb__filter_size(const ttb__filter *f);

/* Checks the UTF-8 text: returns the number of profane words found (0 when
 * clean, or when f or text is NULL). When masked is non-NULL (cap > 0) it
 * receives the text with those words masked by '*', truncated on a code
 * point boundary to fit, always NUL-terminated. Never allocates. */
int ttb__filter_check(const ttb__filter *f, const char *text, char *masked, size_t cap);

/* Normalises one word (as the filter does) into out (cap bytes, NUL-
 * terminated); returns its length, or 0 when it does not fit. For tests. */
size_t ttb__filter_normalize(const char *word, size_t len, char *out, size_t cap);

/* Lower-case mapping of one code point (the table used above). */
uint32_t ttb__utf8_lower(uint32_t cp);

#endif /* TTB_FILTER_H */
