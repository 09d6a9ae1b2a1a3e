#include "net/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "net/auth.h"
#include "net/core/log.h"
#include "net/rpc_metrics.h"
#include "net/serde.h"

/* Service 0: the handshake (docs/protocol.md). */
#define SVC_AUTH 0
enum { M_CHALLENGE = 1, M_PROOF = 2, M_RESULT = 3 };

#define CALL_BUCKETS 1024

/* The longest deadline a request may ask for; 0 (none) means the default. */
#define REQ_TIMEOUT_MAX_MS (10 * 60 * 1000)

/* Failed handshakes per peer address: AUTH_FAIL_MAX within AUTH_FAIL_WINDOW_MS
 * and that address is refused at accept for AUTH_BLOCK_MS, so a wrong or
 * guessed secret costs a peer a handful of tries a minute, not thousands a
 * second. The last AUTH_PEERS addresses are remembered. */
#define AUTH_PEERS 64
#define AUTH_FAIL_MAX 8 /* the default of em_rpc_opts.auth_fail_max */
#define AUTH_FAIL_WINDOW_MS 60000
#define AUTH_BLOCK_MS 10000

struct auth_fail {
	char host[64]; /* "" = free */
	uint64_t since, blocked_until, last;
	uint32_t fails;
};

enum rc_state { RC_WAIT_CHALLENGE, RC_WAIT_RESULT, RC_WAIT_PROOF, RC_READY, RC_REFUSED, RC_DEAD };

struct call;

/* One connection as the RPC layer sees it. Outlives its em_conn while
 * requests received on it are still being handled (refs). */
struct rpc_conn {
	struct em_rpc *rpc;
	struct em_conn *conn; /* NULL once closed */
	char url[96];
	bool client;
	enum rc_state st;
	int fail_err; /* reported instead of the transport's error (-EM_EAUTH) */
	uint8_t snonce[EM_AUTH_NONCE], cnonce[EM_AUTH_NONCE];
	struct em_timer *hs_timer;
	struct call *queue, *queue_tail; /* client: calls waiting for the handshake */
	int refs;
	uint64_t active_ms; /* em_now_ms() of the last call sent or message received */
	struct rpc_conn *next, *prev;
};

struct call {
	struct call *hnext, *qnext;
	uint64_t id;
	struct rpc_conn *rc;
	em_rpc_done_fn cb;
	void *arg;
	struct em_timer *timer;
	bool queued, granted;
	uint8_t *frame; /* header + payload while queued */
	size_t frame_len;
	unsigned n_grants;
	struct em_rpc_grant grants[];
};

struct em_rpc_req {
	struct rpc_conn *rc;
	uint64_t id, deadline;
	uint16_t service, method;
	struct em_rpc_mx mx;
	uint64_t t0_ns; /* arrival, for the latency histogram */
	size_t len;
	uint8_t payload[];
};

struct handler {
	uint16_t service, method;
	em_rpc_handler_fn fn;
	void *arg;
	struct em_rpc_mx mx;
};

struct em_rpc {
	struct em_net *net;
	uint8_t *secret;
	size_t secret_len;
	uint32_t def_timeout, hs_timeout, auth_fail_max;
	struct handler *handlers;
	size_t n_handlers, cap_handlers;
	struct em_listener **listeners;
	size_t n_listeners;
	struct rpc_conn *conns;
	struct call *calls[CALL_BUCKETS];
	size_t n_calls, inflight;
	uint64_t next_id;
	bool draining;
	/* em_rpc_destroy ran while requests were still being handled: the
	 * last reply frees what is left (their handlers still hold req). */
	bool destroyed;
	void (*drain_done)(void *);
	void *drain_arg;
	struct em_timer *drain_timer;
	struct em_timer *idle_timer;
	struct auth_fail fails[AUTH_PEERS];
};

static void rc_on_msg(struct em_conn *c, void *arg, const void *msg, size_t len);
static void rc_on_close(struct em_conn *c, void *arg, int err);
static const struct em_conn_cbs rc_cbs = { .on_msg = rc_on_msg, .on_close = rc_on_close };

/* ---- frames ----------------------------------------------------------------- */

static int send_frame(struct rpc_conn *rc, const struct em_frame_hdr *h, const void *payload)
{
	if (!rc->conn)
		return -ENOTCONN;
	uint8_t hdr[EM_FRAME_HDR];
	em_frame_encode(h, payload, hdr);
	struct iovec iov[2] = { { hdr, EM_FRAME_HDR }, { (void *)payload, h->len } };
	return em_conn_sendv(rc->conn, iov, h->len ? 2 : 1);
}

static void rc_fail(struct rpc_conn *rc, int err)
{
	if (rc->conn)
		em_conn_close(rc->conn, err);
}

/* ---- calls ------------------------------------------------------------------ */

static struct call **bucket(struct em_rpc *rpc, uint64_t id)
{
	return &rpc->calls[id % CALL_BUCKETS];
}

static struct call *find_call(struct em_rpc *rpc, uint64_t id)
{
	for (struct call *c = *bucket(rpc, id); c; c = c->hnext)
		if (c->id == id)
			return c;
	return NULL;
}

static void fire_drain(void *arg)
{
	struct em_rpc *rpc = arg;
	rpc->drain_timer = NULL;
	void (*done)(void *) = rpc->drain_done;
	rpc->drain_done = NULL;
	if (done)
		done(rpc->drain_arg);
}

static void check_drain(struct em_rpc *rpc)
{
	if (!rpc->draining || !rpc->drain_done || rpc->drain_timer || rpc->inflight || rpc->n_calls)
		return;
	/* Later, never from inside the reply or completion that got us here. */
	int rc = em_reactor_timer(em_net_reactor(rpc->net), 0, fire_drain, rpc, &rpc->drain_timer);
	if (rc)
		EM_ERR("rpc", "cannot schedule drain completion: %s", em_strerror(rc));
}

static void revoke_grants(struct call *c)
{
	if (c->granted && c->rc->conn)
		for (unsigned i = 0; i < c->n_grants; i++)
			em_conn_revoke(c->rc->conn, &c->grants[i].desc);
	c->granted = false;
}

static void unqueue(struct call *c)
{
	struct rpc_conn *rc = c->rc;
	struct call *prev = NULL;
	for (struct call *q = rc->queue; q; prev = q, q = q->qnext) {
		if (q == c) {
			if (prev)
				prev->qnext = q->qnext;
			else
				rc->queue = q->qnext;
			if (rc->queue_tail == c)
				rc->queue_tail = prev;
			break;
		}
	}
	c->queued = false;
}

static void rc_put(struct rpc_conn *rc)
{
	if (--rc->refs == 0)
		free(rc);
}

static void complete_call(struct em_rpc *rpc, struct call *c, int status, const void *payload,
			  size_t len)
{
	for (struct call **pp = bucket(rpc, c->id); *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	if (c->timer)
		em_reactor_timer_cancel(em_net_reactor(rpc->net), c->timer);
	if (c->queued)
		unqueue(c);
	revoke_grants(c);
	rpc->n_calls--;
	struct rpc_conn *rc = c->rc;
	c->cb(c->arg, status, payload, len);
	free(c->frame);
	free(c);
	rc_put(rc);
	check_drain(rpc);
}

static void on_call_timeout(void *arg)
{
	struct call *c = arg;
	c->timer = NULL; /* the reactor frees it after we return */
	complete_call(c->rc->rpc, c, -ETIMEDOUT, NULL, 0);
}

/* Grants the call's buffers on the connection, then sends. */
static int send_call(struct rpc_conn *rc, struct call *c, const struct iovec *iov, int n)
{
	for (unsigned i = 0; i < c->n_grants; i++) {
		int r = em_conn_grant(rc->conn, &c->grants[i].desc, c->grants[i].access);
		if (r) {
			while (i-- > 0)
				em_conn_revoke(rc->conn, &c->grants[i].desc);
			return r;
		}
	}
	c->granted = true;
	int r = em_conn_sendv(rc->conn, iov, n);
	if (r)
		revoke_grants(c);
	return r;
}

static void flush_queue(struct rpc_conn *rc)
{
	while (rc->queue && rc->st == RC_READY) {
		struct call *c = rc->queue;
		rc->queue = c->qnext;
		if (!rc->queue)
			rc->queue_tail = NULL;
		c->queued = false;
		struct iovec iov = { c->frame, c->frame_len };
		int r = send_call(rc, c, &iov, 1);
		free(c->frame);
		c->frame = NULL;
		if (r)
			complete_call(rc->rpc, c, r, NULL, 0);
	}
}

/* ---- connections -------------------------------------------------------------- */

static void on_hs_timeout(void *arg)
{
	struct rpc_conn *rc = arg;
	rc->hs_timer = NULL;
	EM_WARN_LIMITED("rpc", "%s: handshake timed out", rc->conn ? em_conn_peer(rc->conn) : rc->url);
	rc_fail(rc, -ETIMEDOUT);
}

static int rc_new(struct em_rpc *rpc, bool client, struct rpc_conn **out)
{
	struct rpc_conn *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->rpc = rpc;
	rc->client = client;
	rc->refs = 1; /* the connection's own */
	rc->active_ms = em_now_ms();
	rc->st = client ? RC_WAIT_CHALLENGE : RC_WAIT_PROOF;
	int r = em_reactor_timer(em_net_reactor(rpc->net), rpc->hs_timeout, on_hs_timeout, rc,
				 &rc->hs_timer);
	if (r) {
		free(rc);
		return r;
	}
	rc->next = rpc->conns;
	if (rpc->conns)
		rpc->conns->prev = rc;
	rpc->conns = rc;
	*out = rc;
	return 0;
}

static void rc_unlink(struct rpc_conn *rc)
{
	struct em_rpc *rpc = rc->rpc;
	if (rc->prev)
		rc->prev->next = rc->next;
	else if (rpc->conns == rc)
		rpc->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	rc->next = rc->prev = NULL;
	if (rc->hs_timer) {
		em_reactor_timer_cancel(em_net_reactor(rpc->net), rc->hs_timer);
		rc->hs_timer = NULL;
	}
}

static void fail_calls_of(struct em_rpc *rpc, struct rpc_conn *rc, int err)
{
	for (size_t b = 0; b < CALL_BUCKETS; b++) {
		struct call *c = rpc->calls[b];
		while (c) {
			struct call *next = c->hnext;
			if (c->rc == rc)
				complete_call(rpc, c, err, NULL, 0);
			c = next;
		}
	}
}

static void rc_on_close(struct em_conn *conn, void *arg, int err)
{
	struct rpc_conn *rc = arg;
	struct em_rpc *rpc = rc->rpc;
	int report = rc->fail_err ? rc->fail_err : err;
	EM_DEBUG("rpc", "%s: closed: %s", em_conn_peer(conn), em_strerror(report));
	/* Calls fail before conn goes NULL, so their grants are revoked on it. */
	rc->st = RC_DEAD;
	rc_unlink(rc);
	rc->refs++; /* completions must not free rc under us */
	fail_calls_of(rpc, rc, report);
	rc->conn = NULL;
	rc->refs--;
	rc_put(rc); /* the connection's own reference */
}

/* "tcp://10.0.0.1:4242" -> "tcp://10.0.0.1": failures count per address. */
static void peer_host(const char *peer, char *out, size_t cap)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon && colon > peer + 6 ? (size_t)(colon - peer) : strlen(peer);
	snprintf(out, cap, "%.*s", (int)n, peer);
}

static struct auth_fail *find_fail(struct em_rpc *rpc, const char *host, bool add)
{
	struct auth_fail *oldest = &rpc->fails[0];
	for (int i = 0; i < AUTH_PEERS; i++) {
		struct auth_fail *f = &rpc->fails[i];
		if (f->host[0] && strcmp(f->host, host) == 0)
			return f;
		if (!f->host[0] || (oldest->host[0] && f->last < oldest->last))
			oldest = f;
	}
	if (!add)
		return NULL;
	*oldest = (struct auth_fail){ 0 };
	snprintf(oldest->host, sizeof(oldest->host), "%s", host);
	return oldest;
}

static void note_auth_failure(struct em_rpc *rpc, const char *peer)
{
	char host[64];
	peer_host(peer, host, sizeof(host));
	struct auth_fail *f = find_fail(rpc, host, true);
	uint64_t now = em_now_ms();
	if (now - f->since > AUTH_FAIL_WINDOW_MS) {
		f->since = now;
		f->fails = 0;
	}
	f->last = now;
	if (f->fails < UINT32_MAX)
		f->fails++;
	if (f->fails >= rpc->auth_fail_max && rpc->auth_fail_max != UINT32_MAX &&
	    f->blocked_until <= now) {
		f->blocked_until = now + AUTH_BLOCK_MS;
		EM_WARN_LIMITED("rpc", "%s: %u failed handshakes in %u s; refusing its connections "
				"for %u s", host, f->fails, AUTH_FAIL_WINDOW_MS / 1000,
				AUTH_BLOCK_MS / 1000);
	}
}

static bool auth_blocked(struct em_rpc *rpc, const char *peer)
{
	char host[64];
	peer_host(peer, host, sizeof(host));
	struct auth_fail *f = find_fail(rpc, host, false);
	return f && f->blocked_until > em_now_ms();
}

/* The listener's admit callback: an address past its failed handshakes is
 * turned away before it costs a connection slot. */
static bool admit(void *arg, const char *peer)
{
	return !auth_blocked(arg, peer);
}

static void on_accept(void *arg, struct em_conn *conn)
{
	struct em_rpc *rpc = arg;
	struct rpc_conn *rc = NULL;
	int r = rc_new(rpc, false, &rc);
	if (r) {
		EM_WARN_LIMITED("rpc", "%s: refused: %s", em_conn_peer(conn), em_strerror(r));
		em_conn_close(conn, r);
		return;
	}
	rc->conn = conn;
	em_conn_set_cbs(conn, &rc_cbs, rc);
	em_rpc_mx_conn(em_conn_kind(conn), false);
	r = em_auth_nonce(rc->snonce);
	if (r) {
		rc_fail(rc, r);
		return;
	}
	struct em_frame_hdr h = { .service = SVC_AUTH, .method = M_CHALLENGE, .len = EM_AUTH_NONCE };
	r = send_frame(rc, &h, rc->snonce);
	if (r)
		rc_fail(rc, r);
}

static struct rpc_conn *find_peer(struct em_rpc *rpc, const char *url)
{
	for (struct rpc_conn *rc = rpc->conns; rc; rc = rc->next)
		if (rc->client && rc->st != RC_DEAD && rc->conn && !em_conn_error(rc->conn) &&
		    strcmp(rc->url, url) == 0)
			return rc;
	return NULL;
}

static int peer(struct em_rpc *rpc, const char *url, struct rpc_conn **out)
{
	struct rpc_conn *rc = find_peer(rpc, url);
	if (rc) {
		*out = rc;
		return 0;
	}
	if (strlen(url) >= sizeof(rc->url))
		return -ENAMETOOLONG;
	int r = rc_new(rpc, true, &rc);
	if (r)
		return r;
	snprintf(rc->url, sizeof(rc->url), "%s", url);
	r = em_connect(rpc->net, url, &rc_cbs, rc, &rc->conn);
	if (r) {
		rc_unlink(rc);
		free(rc);
		return r;
	}
	/* Until the server proves the secret, it is held to small messages too. */
	em_conn_guard(rc->conn, true);
	em_rpc_mx_conn(em_conn_kind(rc->conn), true);
	*out = rc;
	return 0;
}

/* ---- the handshake -------------------------------------------------------------- */

static void auth_refused(struct rpc_conn *rc, const char *why)
{
	EM_WARN_LIMITED("rpc", "%s: authentication failed: %s",
		rc->conn ? em_conn_peer(rc->conn) : rc->url, why);
	rc->fail_err = -EM_EAUTH;
	rc_fail(rc, -EM_EAUTH);
}

static void on_refused_linger(void *arg)
{
	struct rpc_conn *rc = arg;
	rc->hs_timer = NULL;
	rc_fail(rc, -EM_EAUTH);
}

static void hs_done(struct rpc_conn *rc)
{
	rc->st = RC_READY;
	em_conn_guard(rc->conn, false);
	if (rc->hs_timer) {
		em_reactor_timer_cancel(em_net_reactor(rc->rpc->net), rc->hs_timer);
		rc->hs_timer = NULL;
	}
}

static void handshake(struct rpc_conn *rc, const struct em_frame_hdr *h, const void *p)
{
	struct em_rpc *rpc = rc->rpc;
	struct em_dec d;
	em_dec_init(&d, p, h->len);
	uint8_t proof[EM_AUTH_PROOF];
	int r;

	if (rc->st == RC_WAIT_CHALLENGE && h->method == M_CHALLENGE && !(h->flags & EM_FRAME_RESPONSE)) {
		em_dec_raw(&d, rc->snonce, EM_AUTH_NONCE);
		if (em_dec_error(&d) || (r = em_auth_nonce(rc->cnonce))) {
			rc_fail(rc, -EPROTO);
			return;
		}
		em_auth_proof(rpc->secret, rpc->secret_len, EM_AUTH_CLIENT, rc->snonce, rc->cnonce, proof);
		uint8_t out[EM_AUTH_NONCE + EM_AUTH_PROOF];
		memcpy(out, rc->cnonce, EM_AUTH_NONCE);
		memcpy(out + EM_AUTH_NONCE, proof, EM_AUTH_PROOF);
		struct em_frame_hdr o = { .service = SVC_AUTH, .method = M_PROOF, .len = sizeof(out) };
		rc->st = RC_WAIT_RESULT;
		if ((r = send_frame(rc, &o, out)))
			rc_fail(rc, r);
	} else if (rc->st == RC_WAIT_PROOF && h->method == M_PROOF) {
		em_dec_raw(&d, rc->cnonce, EM_AUTH_NONCE);
		em_dec_raw(&d, proof, EM_AUTH_PROOF);
		if (em_dec_error(&d) || !em_auth_verify(rpc->secret, rpc->secret_len, EM_AUTH_CLIENT,
							rc->snonce, rc->cnonce, proof)) {
			/* Tell the client why, and give the answer time to leave before
			 * hanging up (closing an RDMA QP at once would flush it), so
			 * the client can report EM_EAUTH; it normally hangs up first. */
			EM_WARN_LIMITED("rpc", "%s: authentication failed: wrong proof of the cluster secret",
				em_conn_peer(rc->conn));
			note_auth_failure(rpc, em_conn_peer(rc->conn));
			struct em_frame_hdr o = { .flags = EM_FRAME_RESPONSE, .service = SVC_AUTH,
						  .method = M_RESULT, .status = -EM_EAUTH };
			rc->st = RC_REFUSED;
			rc->fail_err = -EM_EAUTH;
			if (rc->hs_timer)
				em_reactor_timer_cancel(em_net_reactor(rpc->net), rc->hs_timer);
			rc->hs_timer = NULL;
			if ((r = send_frame(rc, &o, NULL)) ||
			    (r = em_reactor_timer(em_net_reactor(rpc->net), 1000, on_refused_linger, rc,
						  &rc->hs_timer)))
				rc_fail(rc, -EM_EAUTH);
			return;
		}
		em_auth_proof(rpc->secret, rpc->secret_len, EM_AUTH_SERVER, rc->snonce, rc->cnonce, proof);
		struct em_frame_hdr o = { .flags = EM_FRAME_RESPONSE, .service = SVC_AUTH,
					  .method = M_RESULT, .len = EM_AUTH_PROOF };
		hs_done(rc);
		if ((r = send_frame(rc, &o, proof)))
			rc_fail(rc, r);
	} else if (rc->st == RC_WAIT_RESULT && h->method == M_RESULT) {
		if (h->status) {
			auth_refused(rc, "the server refused our proof");
			return;
		}
		em_dec_raw(&d, proof, EM_AUTH_PROOF);
		if (em_dec_error(&d) || !em_auth_verify(rpc->secret, rpc->secret_len, EM_AUTH_SERVER,
							rc->snonce, rc->cnonce, proof)) {
			auth_refused(rc, "the server does not know the cluster secret");
			return;
		}
		hs_done(rc);
		flush_queue(rc);
	} else {
		auth_refused(rc, "unexpected handshake message");
	}
}

/* ---- requests and responses ------------------------------------------------------ */

static const struct handler *find_handler(const struct em_rpc *rpc, uint16_t svc, uint16_t m)
{
	for (size_t i = 0; i < rpc->n_handlers; i++)
		if (rpc->handlers[i].service == svc && rpc->handlers[i].method == m)
			return &rpc->handlers[i];
	return NULL;
}

static void reply_status(struct rpc_conn *rc, const struct em_frame_hdr *req, int status)
{
	struct em_frame_hdr o = { .flags = EM_FRAME_RESPONSE, .service = req->service,
				  .method = req->method, .id = req->id, .status = status };
	int r = send_frame(rc, &o, NULL);
	if (r)
		rc_fail(rc, r);
}

static void on_request(struct rpc_conn *rc, const struct em_frame_hdr *h, const void *p)
{
	struct em_rpc *rpc = rc->rpc;
	if (rpc->draining) {
		reply_status(rc, h, -ESHUTDOWN);
		return;
	}
	const struct handler *hd = find_handler(rpc, h->service, h->method);
	if (!hd) {
		reply_status(rc, h, -ENOSYS);
		return;
	}
	struct em_rpc_req *req = malloc(sizeof(*req) + h->len);
	if (!req) {
		reply_status(rc, h, -ENOMEM);
		return;
	}
	req->rc = rc;
	req->id = h->id;
	req->service = h->service;
	req->method = h->method;
	req->mx = hd->mx;
	req->t0_ns = em_metrics_now_ns();
	/* Every request has a deadline, so that nothing a peer asks for (a bulk
	 * transfer it never serves) holds memory for longer than that. */
	uint64_t t = h->timeout_ms ? h->timeout_ms : rpc->def_timeout;
	req->deadline = em_now_ms() + (t < REQ_TIMEOUT_MAX_MS ? t : REQ_TIMEOUT_MAX_MS);
	req->len = h->len;
	memcpy(req->payload, p, h->len);
	rc->refs++;
	rpc->inflight++;
	hd->fn(req, hd->arg);
}

static void rc_on_msg(struct em_conn *conn, void *arg, const void *msg, size_t len)
{
	struct rpc_conn *rc = arg;
	struct em_frame_hdr h;
	const void *p;
	rc->active_ms = em_now_ms();
	int r = em_frame_decode(msg, len, &h, &p);
	if (r) {
		EM_WARN_LIMITED("rpc", "%s: bad frame (%s); closing", em_conn_peer(conn), em_strerror(r));
		rc_fail(rc, r);
		return;
	}
	if (rc->st == RC_REFUSED)
		return;
	if (h.service == SVC_AUTH) {
		handshake(rc, &h, p);
		return;
	}
	if (rc->st != RC_READY) {
		auth_refused(rc, "request before the handshake");
		return;
	}
	if (!(h.flags & EM_FRAME_RESPONSE)) {
		on_request(rc, &h, p);
		return;
	}
	struct call *c = find_call(rc->rpc, h.id);
	/* A response to a call that timed out, or from the wrong peer, is dropped. */
	if (c && c->rc == rc && !c->queued)
		complete_call(rc->rpc, c, h.status, p, h.len);
}

/* ---- public API -------------------------------------------------------------------- */

/* Idle connections go: a client closes its own (it knows no call is on
 * its way, so nothing is lost; the next call reconnects); a server closes
 * one idle twice as long, a client that does not. Dead peers are found by
 * TCP keepalive meanwhile. */
#define IDLE_CHECK_MS 1000

static void idle_sweep(void *arg)
{
	struct em_rpc *rpc = arg;
	rpc->idle_timer = NULL;
	uint64_t now = em_now_ms(), idle = em_net_config(rpc->net)->idle_timeout_ms;
	for (struct rpc_conn *rc = rpc->conns, *next; rc; rc = next) {
		next = rc->next;
		uint64_t limit = rc->client ? idle : 2 * idle;
		/* refs == 1: no call and no request holds it. */
		if (rc->st == RC_READY && rc->refs == 1 && !rc->queue && now - rc->active_ms >= limit) {
			EM_DEBUG("rpc", "%s: idle for %llu ms; closing", rc->url[0] ? rc->url : "peer",
				 (unsigned long long)(now - rc->active_ms));
			rc_fail(rc, -ETIMEDOUT);
		}
	}
	if (em_reactor_timer(em_net_reactor(rpc->net), IDLE_CHECK_MS, idle_sweep, rpc,
			     &rpc->idle_timer) < 0)
		rpc->idle_timer = NULL;
}

int em_rpc_create(struct em_net *net, const struct em_rpc_opts *opts, struct em_rpc **out)
{
	struct em_rpc *rpc = calloc(1, sizeof(*rpc));
	if (!rpc)
		return -ENOMEM;
	rpc->net = net;
	rpc->def_timeout = opts->default_timeout_ms ? opts->default_timeout_ms : 30000;
	rpc->hs_timeout = opts->handshake_timeout_ms ? opts->handshake_timeout_ms : 5000;
	rpc->auth_fail_max = opts->auth_fail_max ? opts->auth_fail_max : AUTH_FAIL_MAX;
	rpc->secret_len = opts->secret_len;
	rpc->secret = malloc(opts->secret_len ? opts->secret_len : 1);
	if (!rpc->secret) {
		free(rpc);
		return -ENOMEM;
	}
	if (opts->secret_len)
		memcpy(rpc->secret, opts->secret, opts->secret_len);
	if (em_net_config(net)->idle_timeout_ms) {
		int r = em_reactor_timer(em_net_reactor(net), IDLE_CHECK_MS, idle_sweep, rpc,
					 &rpc->idle_timer);
		if (r) {
			free(rpc->secret);
			free(rpc);
			return r;
		}
	}
	*out = rpc;
	return 0;
}

static void rpc_free(struct em_rpc *rpc)
{
	free(rpc->listeners);
	free(rpc->handlers);
	free(rpc->secret);
	free(rpc);
}

void em_rpc_hangup(struct em_rpc *rpc)
{
	for (struct rpc_conn *rc = rpc->conns; rc; rc = rc->next)
		rc_fail(rc, -ESHUTDOWN);
}

size_t em_rpc_inflight(const struct em_rpc *rpc)
{
	return rpc->inflight;
}

void em_rpc_destroy(struct em_rpc *rpc)
{
	if (!rpc)
		return;
	for (size_t i = 0; i < rpc->n_listeners; i++)
		em_listener_close(rpc->listeners[i]);
	rpc->n_listeners = 0;
	rpc->draining = true; /* no new calls or requests from here on */
	while (rpc->conns) {
		struct rpc_conn *rc = rpc->conns;
		rc->refs++;
		fail_calls_of(rpc, rc, -ESHUTDOWN);
		rc_unlink(rc);
		rc->st = RC_DEAD;
		if (rc->conn) {
			/* The connection outlives us briefly: it must not call back.
			 * Its pending bulk transfers still complete (with an error)
			 * into their handlers, which then answer into the void. */
			static const struct em_conn_cbs none;
			em_conn_set_cbs(rc->conn, &none, NULL);
			em_conn_close(rc->conn, -ESHUTDOWN);
			rc->conn = NULL;
		}
		rc->refs--;
		rc_put(rc); /* the connection's own; requests hold theirs */
	}
	if (rpc->drain_timer)
		em_reactor_timer_cancel(em_net_reactor(rpc->net), rpc->drain_timer);
	rpc->drain_timer = NULL;
	rpc->drain_done = NULL;
	if (rpc->idle_timer)
		em_reactor_timer_cancel(em_net_reactor(rpc->net), rpc->idle_timer);
	rpc->idle_timer = NULL;
	if (rpc->inflight) {
		EM_WARN("rpc", "destroyed with %zu requests unanswered; freed after their replies",
			rpc->inflight);
		rpc->destroyed = true;
		return;
	}
	rpc_free(rpc);
}

int em_rpc_register(struct em_rpc *rpc, uint16_t service, uint16_t method,
		    em_rpc_handler_fn fn, void *arg)
{
	if (service == SVC_AUTH || !fn)
		return -EINVAL;
	if (find_handler(rpc, service, method))
		return -EEXIST;
	struct em_rpc_mx mx;
	int r = em_rpc_mx_init(&mx, service, method);
	if (r)
		return r;
	if (rpc->n_handlers == rpc->cap_handlers) {
		size_t n = rpc->cap_handlers ? rpc->cap_handlers * 2 : 16;
		struct handler *h = realloc(rpc->handlers, n * sizeof(*h));
		if (!h)
			return -ENOMEM;
		rpc->handlers = h;
		rpc->cap_handlers = n;
	}
	rpc->handlers[rpc->n_handlers++] = (struct handler){ service, method, fn, arg, mx };
	return 0;
}

int em_rpc_listen(struct em_rpc *rpc, const char *url, int *port)
{
	struct em_listener **ls = realloc(rpc->listeners, (rpc->n_listeners + 1) * sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	rpc->listeners = ls;
	struct em_listener *l;
	int r = em_listen(rpc->net, url, on_accept, rpc, &l);
	if (r)
		return r;
	em_listener_set_admit(l, admit);
	rpc->listeners[rpc->n_listeners++] = l;
	if (port)
		*port = em_listener_port(l);
	return 0;
}

int em_rpc_call(struct em_rpc *rpc, const char *url, uint16_t service, uint16_t method,
		const void *payload, size_t len, const struct em_rpc_call_opts *opts,
		em_rpc_done_fn cb, void *arg)
{
	static const struct em_rpc_call_opts none;
	if (!opts)
		opts = &none;
	if (rpc->draining)
		return -ESHUTDOWN;
	if (service == SVC_AUTH || !cb)
		return -EINVAL;
	if (len > UINT32_MAX - EM_FRAME_HDR)
		return -EMSGSIZE;
	struct rpc_conn *rc;
	int r = peer(rpc, url, &rc);
	if (r)
		return r;

	struct call *c = calloc(1, sizeof(*c) + opts->n_grants * sizeof(c->grants[0]));
	if (!c)
		return -ENOMEM;
	c->id = ++rpc->next_id;
	c->rc = rc;
	c->cb = cb;
	c->arg = arg;
	c->n_grants = opts->n_grants;
	if (opts->n_grants)
		memcpy(c->grants, opts->grants, opts->n_grants * sizeof(c->grants[0]));

	uint32_t timeout = opts->timeout_ms ? opts->timeout_ms : rpc->def_timeout;
	struct em_frame_hdr h = { .service = service, .method = method, .timeout_ms = timeout,
				  .id = c->id, .len = (uint32_t)len };
	uint8_t hdr[EM_FRAME_HDR];
	em_frame_encode(&h, payload, hdr);
	if (rc->st == RC_READY) {
		struct iovec iov[2] = { { hdr, EM_FRAME_HDR }, { (void *)payload, len } };
		r = send_call(rc, c, iov, len ? 2 : 1);
	} else {
		/* Sent when the handshake completes. */
		c->frame_len = EM_FRAME_HDR + len;
		c->frame = malloc(c->frame_len);
		if (!c->frame) {
			r = -ENOMEM;
		} else {
			memcpy(c->frame, hdr, EM_FRAME_HDR);
			if (len)
				memcpy(c->frame + EM_FRAME_HDR, payload, len);
		}
	}
	if (!r)
		r = em_reactor_timer(em_net_reactor(rpc->net), timeout, on_call_timeout, c, &c->timer);
	if (r) {
		revoke_grants(c);
		free(c->frame);
		free(c);
		return r;
	}
	if (rc->st != RC_READY) {
		c->queued = true;
		if (rc->queue_tail)
			rc->queue_tail->qnext = c;
		else
			rc->queue = c;
		rc->queue_tail = c;
	}
	c->hnext = *bucket(rpc, c->id);
	*bucket(rpc, c->id) = c;
	rc->active_ms = em_now_ms();
	rc->refs++;
	rpc->n_calls++;
	return 0;
}

void em_rpc_drain(struct em_rpc *rpc, void (*done)(void *arg), void *arg)
{
	rpc->draining = true;
	for (size_t i = 0; i < rpc->n_listeners; i++)
		em_listener_close(rpc->listeners[i]);
	rpc->n_listeners = 0;
	rpc->drain_done = done;
	rpc->drain_arg = arg;
	check_drain(rpc);
}

const void *em_rpc_req_payload(const struct em_rpc_req *req, size_t *len)
{
	*len = req->len;
	return req->payload;
}

uint16_t em_rpc_req_service(const struct em_rpc_req *req)
{
	return req->service;
}

uint16_t em_rpc_req_method(const struct em_rpc_req *req)
{
	return req->method;
}

uint64_t em_rpc_req_deadline(const struct em_rpc_req *req)
{
	return req->deadline;
}

struct em_conn *em_rpc_req_conn(const struct em_rpc_req *req)
{
	return req->rc->conn;
}

int em_rpc_req_bulk(struct em_rpc_req *req, bool write, const struct em_bulk_item *items, int n,
		    em_bulk_fn cb, void *arg)
{
	struct em_conn *c = req->rc->conn;
	return c ? em_conn_bulk(c, write, items, n, req->deadline, cb, arg) : -ECONNRESET;
}

int em_rpc_reply(struct em_rpc_req *req, int status, const void *payload, size_t len)
{
	struct rpc_conn *rc = req->rc;
	struct em_rpc *rpc = rc->rpc;
	int r = -ENOTCONN;
	if (len > UINT32_MAX - EM_FRAME_HDR) {
		r = -EMSGSIZE;
	} else if (rc->conn) {
		struct em_frame_hdr h = { .flags = EM_FRAME_RESPONSE, .service = req->service,
					  .method = req->method, .id = req->id, .status = status,
					  .len = (uint32_t)len };
		r = send_frame(rc, &h, payload);
		if (r == -EMSGSIZE) {
			/* Too big for this transport: tell the caller rather than leave it waiting. */
			h.status = -EMSGSIZE;
			h.len = 0;
			send_frame(rc, &h, NULL);
		}
	}
	em_rpc_mx_done(&req->mx, status, req->len, len, req->t0_ns);
	free(req);
	rpc->inflight--;
	rc_put(rc);
	if (rpc->destroyed) {
		if (!rpc->inflight)
			rpc_free(rpc);
		return r;
	}
	check_drain(rpc);
	return r;
}
