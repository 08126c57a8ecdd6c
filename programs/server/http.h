/* http.h — the libmicrohttpd daemon: routing, limits, auth and responses. */
#ifndef MLI_SERVER_HTTP_H
#define MLI_SERVER_HTTP_H

struct server;
struct MHD_Daemon;

/* Starts listening on s->cfg.port with an internal epoll thread pool; NULL on failure.
 * With s->batching, connections may be suspended while their predictions run. */
struct MHD_Daemon *http_start(struct server *s);
/* Closes (shutdown) every connection that has been waiting for or receiving a request for
 * more than MLI_CONNECTION_TIMEOUT_S, whether idle or trickling bytes. Returns how many.
 * Called by the control thread. */
int http_reap(struct server *s);

#endif
