/*
 * api: the REST API (docs/design.md §5; docs/api.md is the reference) on
 * libmicrohttpd in external-epoll mode, driven by the loop.  Every reply
 * is JSON; errors are 4xx with {"error": "..."}; request bodies are
 * bounded.
 */
#ifndef EDASK_API_H
#define EDASK_API_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct ctl;
struct api;

#define API_BODY_MAX	(1u << 20)	/* larger request bodies: 413 */

/*
 * Listens on listen ("HOST:PORT"; port 0 picks a free one).  Binding
 * failures (port taken, bad address) come back as NULL with err naming
 * the address.  The bound "http://host:port" is written to url.
 * Mutations need "Authorization: Bearer <token>"; reads need it too (all
 * but /healthz and the console's page) beyond loopback, with a warning,
 * or where open_reads is false.  Reads without the token never show what
 * grants access (the notebook URL's token).  A request's header and body
 * must arrive within 10 s; a Host header must name this API
 * (request_host_allowed()).
 */
struct api *api_new(struct loop *l, struct ctl *c, const char *listen,
    const char *token, bool open_reads, char *url, size_t urllen, char *err,
    size_t errlen);
/* The controller is created after the API knows its URL. */
void api_set_ctl(struct api *a, struct ctl *c);
void api_free(struct api *a);		/* NULL: no-op */

/* Splits "host:port" ("[v6]:port" too); 0 or -1 with err. */
int api_parse_listen(const char *listen, char *host, size_t hostlen,
    int *port, char *err, size_t errlen);

#endif
