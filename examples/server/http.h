/* http.h — the libmicrohttpd daemon: routing, limits, auth and responses. */
#ifndef MLI_SERVER_HTTP_H
#define MLI_SERVER_HTTP_H

struct server;
struct MHD_Daemon;

/* Starts listening on s->cfg.port with an internal epoll thread pool; NULL on failure. */
struct MHD_Daemon *http_start(struct server *s);

#endif
