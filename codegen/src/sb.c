#include "sb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void cg_die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("protoc-gen-ttb: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void reserve(cg_sb *b, size_t n)
{
  if (b->cap - b->n > n)
    return;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap - b->n <= n)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL)
    cg_die("out of memory");
  b->p = p;
  b->cap = cap;
}

void cg_put(cg_sb *b, const char *s, size_t n)
{
  reserve(b, n + 1);
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

/* GCC 12 with -fsanitize=undefined warns "null format string" about the
 * measuring vsnprintf(NULL, 0, fmt, ap) calls below, wrongly (fmt is never
 * NULL): keep sanitizer builds, which use -Werror, building. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

void cg_printf(cg_sb *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0)
    cg_die("bad format");
  reserve(b, (size_t)k + 1);
  vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap2);
  va_end(ap2);
  b->n += (size_t)k;
}

void cg_json_escape(cg_sb *b, const char *s)
{
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      cg_printf(b, "\\%c", c);
    else if (c == '\n')
      cg_put(b, "\\n", 2);
    else if (c < 0x20)
      cg_printf(b, "\\u%04x", c);
    else
      cg_put(b, (const char *)&c, 1);
  }
}

void cg_sb_free(cg_sb *b)
{
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

struct block {
  struct block *next;
  max_align_t data[];
};
static struct block *arena;

void *cg_alloc(size_t n)
{
  struct block *b = calloc(1, sizeof *b + n);
  if (b == NULL)
    cg_die("out of memory");
  b->next = arena;
  arena = b;
  return b->data;
}

char *cg_strndup(const char *s, size_t n)
{
  char *p = cg_alloc(n + 1);
  memcpy(p, s, n);
  return p;
}

char *cg_strdup(const char *s) { return cg_strndup(s, strlen(s)); }

char *cg_fmt(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = cg_alloc((size_t)k + 1);
  vsnprintf(p, (size_t)k + 1, fmt, ap2);
  va_end(ap2);
  return p;
}

void cg_arena_free(void)
{
  while (arena) {
    struct block *n = arena->next;
    free(arena);
    arena = n;
  }
}
