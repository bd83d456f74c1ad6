/* request: see request.h. */
#include "request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define SCALE_LIMIT	1024	/* as workers.max in a spec */

static int
get_count(json_t *root, const char *key, bool *has, int *out, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(root, key);
	json_int_t n;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return seterr(err, errlen, "%s must be an integer", key);
	n = json_integer_value(v);
	if (n < 0 || n > SCALE_LIMIT)
		return seterr(err, errlen, "%s must be from 0 to %d, got %lld",
		    key, SCALE_LIMIT, (long long)n);
	*has = true;
	*out = (int)n;
	return 0;
}

int
request_parse_scale(const char *body, size_t len, struct request_scale *out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const char *key;
	json_t *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0)
		return seterr(err, errlen, "expected a JSON body such as "
		    "{\"min\": 1, \"max\": 4}");
	if (len > REQUEST_BODY_MAX)
		return seterr(err, errlen, "body larger than %u bytes",
		    REQUEST_BODY_MAX);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return seterr(err, errlen, "invalid JSON at line %d column %d: "
		    "%s", jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		seterr(err, errlen, "expected a JSON object such as "
		    "{\"min\": 1, \"max\": 4}");
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "min") != 0 && strcmp(key, "max") != 0) {
			seterr(err, errlen, "unknown key \"%.64s\" (expected "
			    "min, max)", key);
			goto out;
		}
	}
	if (get_count(root, "min", &out->has_min, &out->min, err,
	    errlen) == -1 ||
	    get_count(root, "max", &out->has_max, &out->max, err,
	    errlen) == -1)
		goto out;
	if (!out->has_min && !out->has_max) {
		seterr(err, errlen, "give min, max or both");
		goto out;
	}
	if (out->has_max && out->max < 1) {
		seterr(err, errlen, "max must be at least 1");
		goto out;
	}
	if (out->has_min && out->has_max && out->min > out->max) {
		seterr(err, errlen, "min (%d) is greater than max (%d)",
		    out->min, out->max);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
request_query_uint(const char *value, uint64_t def, uint64_t max,
    uint64_t *out)
{
	unsigned long long n;
	char *end;

	*out = def;
	if (value == NULL || value[0] == '\0')
		return 0;
	if (value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(value, &end, 10);
	if (*end != '\0' || errno != 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

bool
request_auth_ok(const char *header, const char *token)
{
	size_t tlen, i;
	unsigned char diff = 0;

	if (header == NULL || token == NULL || token[0] == '\0')
		return false;
	/* the scheme is case-insensitive (RFC 9110 11.1) */
	if (strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return false;
	header += 6;
	while (*header == ' ')
		header++;
	tlen = strlen(token);
	if (strlen(header) != tlen)
		return false;
	for (i = 0; i < tlen; i++)
		diff |= (unsigned char)(header[i] ^ token[i]);
	return diff == 0;
}

/*
 * Against DNS rebinding: a web page on a name its owner points at
 * 127.0.0.1 would reach a loopback API as the browser's same origin.  An
 * IP literal, localhost, this machine's host name and the listen host are
 * this API's names; any other Host header is refused.  No header at all
 * (HTTP/1.0 tools) is let through: browsers always send one.
 */
bool
request_host_allowed(const char *host, const char *listen_host,
    const char *hostname)
{
	char h[256];
	const char *rest;
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n, i;

	if (host == NULL)
		return true;
	if (host[0] == '[') {
		const char *rb = strchr(host, ']');

		if (rb == NULL)
			return false;
		host++;
		n = (size_t)(rb - host);
		rest = rb + 1;
	} else {
		n = strcspn(host, ":");
		rest = host + n;
	}
	if (rest[0] == ':') {
		for (i = 1; rest[i] != '\0'; i++)
			if (rest[i] < '0' || rest[i] > '9')
				return false;
		if (i == 1 || i > 6)
			return false;
	} else if (rest[0] != '\0') {
		return false;
	}
	if (n == 0 || n >= sizeof(h))
		return false;
	for (i = 0; i < n; i++)
		h[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ?
		    host[i] - 'A' + 'a' : host[i]);
	h[n] = '\0';
	if (n > 1 && h[n - 1] == '.')
		h[--n] = '\0';
	if (inet_pton(AF_INET, h, addr) == 1 ||
	    inet_pton(AF_INET6, h, addr) == 1)
		return true;
	if (strcmp(h, "localhost") == 0 ||
	    (n > 10 && strcmp(h + n - 10, ".localhost") == 0))
		return true;
	return (listen_host != NULL && listen_host[0] != '\0' &&
	    strcasecmp(h, listen_host) == 0) ||
	    (hostname != NULL && hostname[0] != '\0' &&
	    strcasecmp(h, hostname) == 0);
}
