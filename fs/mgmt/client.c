/* mgmtd client: primary-seeking calls and the routing cache. The heartbeat
 * loop is in client_hb.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/mgmt/client_int.h"
#include "net/core/log.h"

#define MAX_MGMTD 16
#define RETRY_MS 100 /* pause before asking again when no primary is known */

struct em_mgmt_call {
	struct em_mgmt_client *c;
	uint16_t method;
	em_mgmt_done_fn cb;
	void *arg;
	uint64_t deadline;
	unsigned hops;
	struct em_timer *pause;          /* while waiting to resend */
	struct em_mgmt_call *next_paused; /* in c->paused meanwhile */
	size_t len;
	uint8_t req[];
};

static void send_call(struct em_mgmt_call *k);
static void finish(struct em_mgmt_call *k, int status, const void *p, size_t len);

int em_mgmt_client_create(struct em_reactor *r, struct em_rpc *rpc,
			  const struct em_mgmt_client_opts *o, struct em_mgmt_client **out)
{
	if (o->n_mgmtd == 0 || o->n_mgmtd > MAX_MGMTD)
		return -EINVAL;
	struct em_mgmt_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->reactor = r;
	c->rpc = rpc;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	c->n_urls = o->n_mgmtd;
	c->urls = calloc(o->n_mgmtd, sizeof(*c->urls));
	for (size_t i = 0; c->urls && i < o->n_mgmtd; i++)
		c->urls[i] = strdup(o->mgmtd[i]);
	for (size_t i = 0; c->urls && i < o->n_mgmtd; i++)
		if (!c->urls[i] || strlen(c->urls[i]) >= sizeof(c->primary)) {
			em_mgmt_client_destroy(c);
			return c->urls ? -EINVAL : -ENOMEM;
		}
	if (!c->urls) {
		free(c);
		return -ENOMEM;
	}
	snprintf(c->primary, sizeof(c->primary), "%s", c->urls[0]);
	em_routing_init(&c->routing);
	*out = c;
	return 0;
}

void em_mgmt_client_destroy(struct em_mgmt_client *c)
{
	if (!c)
		return;
	em_mgmt_heartbeat_stop(c);
	/* Calls in flight ended with em_rpc_destroy; those pausing end here. */
	while (c->paused) {
		struct em_mgmt_call *k = c->paused;
		c->paused = k->next_paused;
		em_reactor_timer_cancel(c->reactor, k->pause);
		finish(k, -ESHUTDOWN, NULL, 0);
	}
	for (size_t i = 0; c->urls && i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->urls);
	em_routing_clear(&c->routing);
	free(c);
}

static void on_reply(void *arg, int status, const void *p, size_t len);

static void resend(void *arg)
{
	struct em_mgmt_call *k = arg, **pp = &k->c->paused;
	while (*pp != k)
		pp = &(*pp)->next_paused;
	*pp = k->next_paused;
	k->pause = NULL;
	send_call(k);
}

/* Where to go after a failure at the current primary: the address a
 * standby named, else the next configured instance. */
static void next_primary(struct em_mgmt_client *c, int status, const void *p, size_t len)
{
	char hint[EM_NODE_ADDR_MAX] = "";
	if (status == EM_MGMT_ENOTPRIMARY) {
		struct em_dec d;
		em_dec_init(&d, p, len);
		em_dec_str(&d, hint, sizeof(hint));
	}
	if (hint[0] && strcmp(hint, c->primary) != 0) {
		memcpy(c->primary, hint, sizeof(hint));
		return;
	}
	size_t i = 0;
	while (i < c->n_urls && strcmp(c->urls[i], c->primary) != 0)
		i++;
	snprintf(c->primary, sizeof(c->primary), "%s", c->urls[(i + 1) % c->n_urls]);
}

/* Failures that another instance may not have. */
static bool retryable(int status)
{
	return status == EM_MGMT_ENOTPRIMARY || status == -ECONNREFUSED ||
	       status == -ECONNRESET || status == -ETIMEDOUT || status == -EHOSTUNREACH ||
	       status == -ENETUNREACH || status == -ENOTCONN || status == -EPIPE ||
	       status == -ECONNABORTED;
}

static void finish(struct em_mgmt_call *k, int status, const void *p, size_t len)
{
	k->cb(k->arg, status, p, len);
	free(k);
}

static void on_reply(void *arg, int status, const void *p, size_t len)
{
	struct em_mgmt_call *k = arg;
	struct em_mgmt_client *c = k->c;
	uint64_t now = em_now_ms();
	if (!retryable(status) || now >= k->deadline) {
		finish(k, status, p, len);
		return;
	}
	char was[EM_NODE_ADDR_MAX];
	memcpy(was, c->primary, sizeof(was));
	next_primary(c, status, p, len);
	EM_DEBUG("mgmt", "%s: %s; trying %s", was, em_strerror(status), c->primary);
	/* Straight on to the next instance, but after as many hops as there
	 * are instances pause, so a cluster between primaries (or stale hints
	 * pointing in a circle) is not hammered. */
	if (++k->hops % (c->n_urls + 1) != 0) {
		send_call(k);
		return;
	}
	if (em_reactor_timer(c->reactor, RETRY_MS, resend, k, &k->pause) < 0) {
		finish(k, status, NULL, 0);
		return;
	}
	k->next_paused = c->paused;
	c->paused = k;
}

static void send_call(struct em_mgmt_call *k)
{
	struct em_mgmt_client *c = k->c;
	uint64_t now = em_now_ms();
	struct em_rpc_call_opts opts = {
		.timeout_ms = (uint32_t)(k->deadline > now ? k->deadline - now : 1),
	};
	int rc = em_rpc_call(c->rpc, c->primary, EM_MGMT_SERVICE, k->method, k->req, k->len,
			     &opts, on_reply, k);
	/* A refusal at once (no route, connection failed) is one more failed
	 * instance; the pause after every round bounds the recursion. */
	if (rc < 0)
		on_reply(k, rc, NULL, 0);
}

int em_mgmt_call(struct em_mgmt_client *c, uint16_t method, const void *req, size_t len,
		 em_mgmt_done_fn cb, void *arg)
{
	struct em_mgmt_call *k = malloc(sizeof(*k) + len);
	if (!k)
		return -ENOMEM;
	*k = (struct em_mgmt_call){ .c = c, .method = method, .cb = cb, .arg = arg, .len = len,
			    .deadline = em_now_ms() + c->timeout_ms };
	if (len)
		memcpy(k->req, req, len);
	send_call(k);
	return 0;
}

struct waiter {
	bool done;
	int status;
	void *rsp;
	size_t len;
};

static void wait_done(void *arg, int status, const void *p, size_t len)
{
	struct waiter *w = arg;
	w->done = true;
	w->status = status;
	w->rsp = len ? malloc(len) : NULL;
	if (w->rsp) {
		memcpy(w->rsp, p, len);
		w->len = len;
	} else if (len && !status) {
		w->status = -ENOMEM;
	}
}

int em_mgmt_call_wait(struct em_mgmt_client *c, uint16_t method, const void *req, size_t len,
		      void **rsp, size_t *rsp_len)
{
	struct waiter w = { 0 };
	*rsp = NULL;
	*rsp_len = 0;
	int rc = em_mgmt_call(c, method, req, len, wait_done, &w);
	while (rc == 0 && !w.done)
		rc = em_reactor_run_once(c->reactor, 100) < 0 ? -EIO : 0;
	if (rc < 0 && !w.done)
		return rc; /* the reactor failed; the call is abandoned with it */
	*rsp = w.rsp;
	*rsp_len = w.len;
	return w.status;
}

/* ---- routing cache ------------------------------------------------------- */

const struct em_routing *em_mgmt_routing(const struct em_mgmt_client *c)
{
	return &c->routing;
}

void em_mgmt_on_routing(struct em_mgmt_client *c,
			void (*fn)(void *arg, const struct em_routing *r), void *arg)
{
	c->on_routing = fn;
	c->on_routing_arg = arg;
}

struct refresh {
	struct em_mgmt_client *c;
	em_mgmt_status_fn cb;
	void *arg;
};

static int take_routing(struct em_mgmt_client *c, const void *p, size_t len)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	uint64_t version = em_dec_u64(&d);
	const void *blob;
	uint32_t blen;
	em_dec_bytes(&d, &blob, &blen, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
	if (em_dec_error(&d))
		return -EBADMSG;
	/* Empty: "not modified"; an older version: a reply that crossed a
	 * newer one. Either way the cache stands. */
	if (blen == 0 || version <= c->routing.version)
		return 0;
	struct em_routing fresh;
	int rc = em_routing_decode(&fresh, blob, blen);
	if (rc < 0)
		return rc;
	if (fresh.version != version) {
		em_routing_clear(&fresh);
		return -EBADMSG;
	}
	em_routing_clear(&c->routing);
	c->routing = fresh;
	if (c->on_routing)
		c->on_routing(c->on_routing_arg, &c->routing);
	return 0;
}

static void refresh_done(void *arg, int status, const void *p, size_t len)
{
	struct refresh *f = arg;
	if (status == 0)
		status = take_routing(f->c, p, len);
	if (status < 0)
		EM_DEBUG("mgmt", "routing refresh: %s", em_strerror(status));
	if (f->cb)
		f->cb(f->arg, status);
	free(f);
}

int em_mgmt_refresh(struct em_mgmt_client *c, em_mgmt_status_fn cb, void *arg)
{
	struct refresh *f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = (struct refresh){ c, cb, arg };
	uint8_t req[8];
	em_put_le64(req, c->routing.version);
	int rc = em_mgmt_call(c, EM_MGMT_GET_ROUTING, req, sizeof(req), refresh_done, f);
	if (rc < 0)
		free(f);
	return rc;
}

int em_mgmt_refresh_wait(struct em_mgmt_client *c)
{
	uint8_t req[8];
	em_put_le64(req, c->routing.version);
	void *rsp;
	size_t len;
	int rc = em_mgmt_call_wait(c, EM_MGMT_GET_ROUTING, req, sizeof(req), &rsp, &len);
	if (rc == 0)
		rc = take_routing(c, rsp, len);
	free(rsp);
	return rc;
}
