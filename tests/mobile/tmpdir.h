/* tests/mobile/tmpdir.h — a fresh data directory per test, and its removal. */
#ifndef TTB_TESTS_MOBILE_TMPDIR_H
#define TTB_TESTS_MOBILE_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Makes /tmp/<prefix>XXXXXX into dir[cap]; NULL when it cannot. */
static inline char *tmpdir_make(char *dir, size_t cap, const char *prefix)
{
  snprintf(dir, cap, "/tmp/%sXXXXXX", prefix);
  return mkdtemp(dir);
}

/* Removes the files of dir (one level: the client writes no subdirectories), then dir. */
static inline void tmpdir_remove(const char *dir)
{
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.')
        continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

#endif
