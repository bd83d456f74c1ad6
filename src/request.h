/*
 * request: validation of the REST API's JSON request bodies and query
 * values.  Every body is untrusted: sizes bounded, types and ranges
 * checked, unknown keys refused, each with a precise message.  Pure (no
 * I/O); fuzzed by fuzz/fuzz_request.c.
 */
#ifndef EDASK_REQUEST_H
#define EDASK_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEST_BODY_MAX	(1u << 20)

/* PATCH /v1/instances/{name}: {"min": N, "max": N}, at least one. */
struct request_scale {
	bool	has_min, has_max;
	int	min, max;
};

int request_parse_scale(const char *body, size_t len,
    struct request_scale *out, char *err, size_t errlen);

/*
 * A query integer: "" or absent (NULL) gives def; otherwise plain decimal
 * digits within [0, max].  0 or -1.
 */
int request_query_uint(const char *value, uint64_t def, uint64_t max,
    uint64_t *out);

/*
 * Compares the Authorization header with "Bearer <token>" (the scheme in
 * any case, then one or more spaces) in constant time for the token's
 * length.  False for NULL or any mismatch.
 */
bool request_auth_ok(const char *header, const char *token);

/*
 * True when a Host header (NULL: none sent) names this API: an IP
 * literal, localhost or *.localhost, listen_host or hostname (this
 * machine's), with or without a port.  Either of those may be NULL.
 */
bool request_host_allowed(const char *host, const char *listen_host,
    const char *hostname);

#endif
