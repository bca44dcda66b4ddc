/*
 * Wake-up pipes: a worker thread writes a byte to wake the event loop; the
 * loop watches the read end with h2o (H2O_SOCKET_FLAG_DONT_READ, so h2o
 * never reads it) and must empty it itself, or epoll reports it readable
 * forever and the loop spins.
 */
#ifndef TTB_SERVER_WAKE_H
#define TTB_SERVER_WAKE_H

#include <errno.h>
#include <unistd.h>

/* Reads the non-blocking fd until it is empty (EAGAIN) or closed. */
static inline void ttb_wake_drain(int fd)
{
  unsigned char buf[256];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0 || (r < 0 && errno == EINTR))
      continue;
    break; /* EAGAIN, or EOF */
  }
}

#endif
