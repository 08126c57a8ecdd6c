/* http.h — the libmicrohttpd daemon: routing, limits, auth and responses. */
#ifndef MLI_SERVER_HTTP_H
#define MLI_SERVER_HTTP_H

struct server;
struct http;

/* Starts listening on s->cfg.port: MLI_HTTP_THREADS libmicrohttpd daemons, each with its
 * epoll thread and its own listening socket (SO_REUSEPORT when more than one); NULL on
 * failure. With s->batching, connections may be suspended while their predictions run. */
struct http *http_start(struct server *s);
/* Stops accepting (closes the listening sockets); open connections go on. */
void http_quiesce(struct http *h);
/* Stops the daemons (every connection closed) and frees h; NULL is a no-op. */
void http_stop(struct http *h);
/* Closes (shutdown) every connection that has been waiting for or receiving a request for
 * more than MLI_CONNECTION_TIMEOUT_S, whether idle or trickling bytes. Returns how many.
 * Called by the control thread. */
int http_reap(struct server *s);

#endif
