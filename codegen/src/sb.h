/* A growing string buffer and an arena for protoc-gen-ttb. Out of memory
 * ends the plugin with a message (it is a build tool reading trusted input). */
#ifndef TTB_CG_SB_H
#define TTB_CG_SB_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cg_sb {
  char *p;
  size_t n;
  size_t cap;
} cg_sb;

/* Appends formatted text. */
void cg_printf(cg_sb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends n bytes. */
void cg_put(cg_sb *b, const char *s, size_t n);
/* Appends s as the body of a JSON string (escaped, no quotes). */
void cg_json_escape(cg_sb *b, const char *s);
/* Frees the buffer. */
void cg_sb_free(cg_sb *b);

/* Allocation that lives until cg_arena_free(): zeroed, never NULL. */
void *cg_alloc(size_t n);
char *cg_strdup(const char *s);
char *cg_strndup(const char *s, size_t n);
/* A formatted string in the arena. */
char *cg_fmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void cg_arena_free(void);

/* Prints "protoc-gen-ttb: ..." to stderr and exits 1. */
_Noreturn void cg_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
