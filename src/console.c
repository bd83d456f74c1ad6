/* console: see console.h. */
#include "console.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "spec.h"
#include "util.h"

/* Defined in console_assets.S: each file's bytes, then a NUL at *_end. */
extern const char console_index_html[], console_index_html_end[];
extern const char console_css[], console_css_end[];
extern const char console_js[], console_js_end[];

/* The tags in index.html that the style sheet and the script replace.  In
 * the source tree they load the files beside it, so the page can be worked
 * on from the file system. */
#define CSS_TAG	"<link rel=\"stylesheet\" href=\"console.css\">"
#define JS_TAG	"<script src=\"console.js\"></script>"

static const char not_found[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Not found - edask</title></head>\n"
    "<body style=\"font:15px system-ui,sans-serif;margin:3em\">"
    "<h1>Not found</h1><p>The edask console has no such page. "
    "<a href=\"/\">All instances</a></p></body></html>\n";

static char	*page;
static size_t	 page_len;

enum console_route
console_route(const char *path, char *name, size_t namelen)
{
	const char *n;

	if (strcmp(path, "/") == 0)
		return CONSOLE_INDEX;
	if (strncmp(path, "/instances/", 11) != 0)
		return CONSOLE_NONE;
	n = path + 11;
	/* spec_name_valid() admits only [a-z0-9-], so no '/', '.' or '%' */
	if (strlen(n) >= namelen || !spec_name_valid(n))
		return CONSOLE_NONE;
	strlcpy_(name, n, namelen);
	return CONSOLE_INSTANCE;
}

/* Appends an embedded file; it must not close the element it goes in,
 * else the rest of it would be read as HTML. */
static void
append_inline(struct strbuf *b, const char *open, const char *start,
    const char *end, const char *close)
{
	size_t len = (size_t)(end - start);

	ASSERT(strlen(start) == len);
	ASSERT(strcasestr(start, close) == NULL);
	strbuf_printf(b, "%s\n%.*s%s", open, (int)len, start, close);
}

/* Builds the page once: index.html with the style sheet and the script
 * in place of the tags that load them. */
static void
page_build(void)
{
	struct strbuf b = { NULL, 0, 0 };
	const char *html = console_index_html, *css, *js;

	ASSERT(strlen(html) == (size_t)(console_index_html_end - html));
	css = strstr(html, CSS_TAG);
	js = strstr(html, JS_TAG);
	ASSERT(css != NULL && js != NULL && css < js);
	strbuf_printf(&b, "%.*s", (int)(css - html), html);
	append_inline(&b, "<style>", console_css, console_css_end,
	    "</style>");
	css += strlen(CSS_TAG);
	strbuf_printf(&b, "%.*s", (int)(js - css), css);
	append_inline(&b, "<script>", console_js, console_js_end,
	    "</script>");
	strbuf_printf(&b, "%s", js + strlen(JS_TAG));
	page = b.p;
	page_len = b.len;
}

const char *
console_page(size_t *len)
{
	if (page == NULL)
		page_build();
	*len = page_len;
	return page;
}

char *
console_render(struct ctl *c, const char *path, int *status)
{
	char name[SPEC_NAME_MAX + 1];
	size_t len;
	const char *p;

	switch (console_route(path, name, sizeof(name))) {
	case CONSOLE_INDEX:
		*status = 200;
		break;
	case CONSOLE_INSTANCE:
		*status = ctl_has_instance(c, name) ? 200 : 404;
		break;
	default:
		*status = 404;
		return xstrdup(not_found);
	}
	p = console_page(&len);
	return xstrndup(p, len);
}
