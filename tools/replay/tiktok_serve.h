/*
 * ttb-replay --tiktok-serve FILE --listen HOST:PORT: a fake TikTok (the web
 * base and the webcast push socket on one port, libh2o) that replays a
 * recorded TikTok trace to every client that connects (docs/replay.md).
 */
#ifndef TTB_TIKTOK_SERVE_H
#define TTB_TIKTOK_SERVE_H

/* Runs the fake with ttb-replay's arguments (one of them --tiktok-serve)
 * until SIGINT or SIGTERM. Returns the exit status: 0 after a signal, 2 on a
 * usage, trace or listen error. */
int ttb_tiktok_serve_main(int argc, char **argv);

#endif
