/*
 * console: the web console's pages, rendered on the server from the same
 * JSON documents the API serves (so the two never disagree), refreshed
 * every 2 s, with every asset in the binary.  Debian's Dask has no bokeh,
 * so this is the instance's dashboard.
 */
#ifndef EDASK_CONSOLE_H
#define EDASK_CONSOLE_H

struct ctl;

/* New HTML page for path ("/" or "/instances/NAME"); *status 200 or 404.
 * Every string from outside is HTML-escaped. */
char *console_render(struct ctl *c, const char *path, int *status);

#endif
