/*
 * console: the web console.  One page (console/index.html, its style sheet
 * console/console.css and its script console/console.js) is built into the
 * binary by console_assets.S; the first request splices the style sheet and
 * the script into the page, so the browser gets one self-contained document
 * and asks for nothing else, from the daemon or from the internet.
 *
 * The page draws everything itself from the JSON API (GET /v1/instances,
 * /v1/pool and /v1/instances/NAME/history every second, /v1/events as a
 * long-poll) and acts with the token the operator types in (kept in the
 * tab's sessionStorage).  "/" and "/instances/NAME" are routes of that one
 * page, resolved in the browser.  Debian's Dask has no bokeh, so the
 * instance route is the instance's dashboard.
 */
#ifndef EDASK_CONSOLE_H
#define EDASK_CONSOLE_H

#include <stddef.h>

struct ctl;

enum console_route {
	CONSOLE_NONE,		/* not a console path: 404 */
	CONSOLE_INDEX,		/* "/" */
	CONSOLE_INSTANCE	/* "/instances/NAME", NAME a valid name */
};

/* Which route path (without its query string) is.  For CONSOLE_INSTANCE
 * the name is copied into name[namelen].  Anything else, including
 * "/instances/", a trailing slash, "..", "%2F" or a name that no spec could
 * have, is CONSOLE_NONE. */
enum console_route console_route(const char *path, char *name,
    size_t namelen);

/* The page (borrowed, static, NUL-terminated, *len bytes): the same for
 * every route. */
const char *console_page(size_t *len);

/* New copy of the document for path (the caller frees it).  *status: 200
 * for a route; 404 with the page for an instance route whose instance c
 * does not know (the page says so, and shows it if it is deployed later);
 * 404 with a short static page for anything else. */
char *console_render(struct ctl *c, const char *path, int *status);

#endif
