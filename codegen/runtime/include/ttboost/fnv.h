/*
 * ttboost/fnv.h: the one FNV-1a hash of the tree (header-only), for hash
 * tables and buckets in the server, its tools and the mobile core. Not for
 * anything an attacker may choose to collide on purpose where that matters:
 * use a keyed hash (libsodium) there.
 *
 * It lives beside the JSON runtime's headers because every part of the tree
 * (server, tools, mobile core, the app's CMake build) already has this
 * include directory.
 */
#ifndef TTBOOST_FNV_H
#define TTBOOST_FNV_H

#include <stddef.h>
#include <stdint.h>

#define TTB_FNV32_INIT 2166136261u
#define TTB_FNV64_INIT 14695981039346656037ull

/* 32-bit FNV-1a of p[0..n), continuing from h (start with TTB_FNV32_INIT). */
static inline uint32_t ttb_fnv1a32(uint32_t h, const void *p, size_t n)
{
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

/* 32-bit FNV-1a of a NUL-terminated string. */
static inline uint32_t ttb_fnv1a32_str(const char *s)
{
  uint32_t h = TTB_FNV32_INIT;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* 64-bit FNV-1a of p[0..n), continuing from h (start with TTB_FNV64_INIT). */
static inline uint64_t ttb_fnv1a64(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* 64-bit FNV-1a of a NUL-terminated string. */
static inline uint64_t ttb_fnv1a64_str(const char *s)
{
  uint64_t h = TTB_FNV64_INIT;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

#endif
