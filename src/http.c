/* http: see http.h. */
#include "http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "loop.h"
#include "util.h"

struct req {
	uint64_t	 id;
	CURL		*easy;
	char		*url;
	char		*post;
	struct curl_slist *headers;
	struct http_body body;
	char		 errbuf[CURL_ERROR_SIZE];
	http_cb		 cb;
	void		*arg;
	struct req	*next;
};

struct http {
	struct loop	*loop;
	CURLM		*multi;
	uint64_t	 timer;
	uint64_t	 kick_timer;
	uint64_t	 next_id;
	struct req	*reqs;
	int		 running;
};

static void check_done(struct http *h);

size_t
http_body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->max) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void
on_fd(int fd, uint32_t events, void *arg)
{
	struct http *h = arg;
	int flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, flags, &h->running);
	check_done(h);
}

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct http *h = userp;
	uint32_t ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		loop_fd_del(h->loop, s);
		curl_multi_assign(h->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (sockp == NULL) {
		if (loop_fd_add(h->loop, s, ev, on_fd, h) == 0)
			curl_multi_assign(h->multi, s, h);
	} else {
		loop_fd_mod(h->loop, s, ev);
	}
	return 0;
}

/* One-shot: curl sets its next timeout itself (on_timer_set), maybe
 * from inside this call. */
static int64_t
on_timer(void *arg)
{
	struct http *h = arg;

	h->timer = 0;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	check_done(h);
	return LOOP_NOMORE;
}

static int
on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	loop_timer_clear(h->loop, &h->timer);
	if (timeout_ms >= 0)
		h->timer = loop_timer_add(h->loop, timeout_ms, on_timer, h);
	return 0;
}

struct http *
http_new(struct loop *l)
{
	struct http *h = xcalloc(1, sizeof(*h));
	static bool global_done;

	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	h->loop = l;
	h->next_id = 1;
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		fatalx("curl_multi_init failed");
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

static void
req_free(struct http *h, struct req *r)
{
	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->post);
	free(r->body.p);
	free(r);
}

static struct req *
req_unlink(struct http *h, struct req *target)
{
	struct req **pp;

	for (pp = &h->reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == target) {
			*pp = target->next;
			return target;
		}
	}
	return NULL;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->reqs != NULL) {
		struct req *r = h->reqs;

		h->reqs = r->next;
		req_free(h, r);
	}
	loop_timer_clear(h->loop, &h->timer);
	loop_timer_clear(h->loop, &h->kick_timer);
	curl_multi_cleanup(h->multi);
	free(h);
}

static void
check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_reply rep;
		struct req *r = NULL;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		if (r == NULL || req_unlink(h, r) == NULL)
			continue;
		memset(&rep, 0, sizeof(rep));
		if (msg->data.result == CURLE_OK) {
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
			rep.status = (int)code;
		} else if (r->body.too_big) {
			rep.error = "reply larger than 16 MiB";
		} else {
			rep.error = r->errbuf[0] != '\0' ? r->errbuf :
			    curl_easy_strerror(msg->data.result);
		}
		rep.body = r->body.p != NULL ? r->body.p : "";
		rep.len = r->body.len;
		r->cb(&rep, r->arg);
		req_free(h, r);
	}
}

static int64_t
kick(void *arg)
{
	struct http *h = arg;

	h->kick_timer = 0;	/* a callback below may ask for another */
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	check_done(h);
	return LOOP_NOMORE;
}

uint64_t
http_request(struct http *h, const char *url, const char *body,
    int64_t timeout_ms, http_cb cb, void *arg)
{
	struct req *r = xcalloc(1, sizeof(*r));

	r->id = h->next_id++;
	r->url = xstrdup(url);
	r->cb = cb;
	r->arg = arg;
	r->body.max = HTTP_BODY_MAX;
	r->easy = curl_easy_init();
	if (r->easy == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_body_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(timeout_ms < 5000 ? timeout_ms : 5000));
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
	if (body != NULL) {
		r->post = xstrdup(body);
		r->headers = curl_slist_append(NULL,
		    "Content-Type: application/json");
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
	}
	r->next = h->reqs;
	h->reqs = r;
	curl_multi_add_handle(h->multi, r->easy);
	/* The callback must not run inside this call: kick from the loop. */
	if (h->kick_timer == 0)
		h->kick_timer = loop_timer_add(h->loop, 0, kick, h);
	return r->id;
}

void
http_cancel(struct http *h, uint64_t id)
{
	struct req **pp = &h->reqs;

	while (*pp != NULL) {
		struct req *r = *pp;

		if (r->id == id) {
			*pp = r->next;
			req_free(h, r);
			return;
		}
		pp = &r->next;
	}
}
