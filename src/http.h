/*
 * http: asynchronous HTTP client on libcurl's multi-socket interface, driven
 * by the loop.  Every request has a timeout and a reply-size bound, so a
 * slow or malformed peer can never block the loop or grow memory.
 */
#ifndef EDASK_HTTP_H
#define EDASK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http;

#define HTTP_BODY_MAX	(16u << 20)	/* larger replies fail */

struct http_reply {
	int		 status;	/* HTTP status, 0 when no reply */
	const char	*body;		/* borrowed for the callback; NUL-ended */
	size_t		 len;
	const char	*error;		/* transport error; NULL: status set */
};

typedef void (*http_cb)(const struct http_reply *r, void *arg);

struct http *http_new(struct loop *l);
/* Cancels pending requests without calling their callbacks. */
void http_free(struct http *h);

/*
 * Starts a request; cb runs exactly once, from the loop, never from inside
 * this call.  body NULL means GET, else POST with a JSON body (copied).
 * Returns a request id (> 0) usable with http_cancel().
 */
uint64_t http_request(struct http *h, const char *url, const char *body,
    int64_t timeout_ms, http_cb cb, void *arg);
/* Drops a pending request; its callback is not called. */
void http_cancel(struct http *h, uint64_t id);

/*
 * A reply body as libcurl writes it: http_body_write is the
 * CURLOPT_WRITEFUNCTION, the struct its CURLOPT_WRITEDATA.  Start it
 * zeroed with max set; p is NUL-terminated once anything came, and the
 * caller frees it.  A body of max bytes or more stops the transfer with
 * too_big set.
 */
struct http_body {
	char	*p;
	size_t	 len, cap;
	size_t	 max;
	bool	 too_big;
};
size_t http_body_write(char *ptr, size_t size, size_t nmemb, void *arg);

#endif
