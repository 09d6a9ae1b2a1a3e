/* The metadata client's core: its reactor thread, sending a call to a
 * server, failing over, decoding the answer, and waiting for it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fs/meta/client_int.h"
#include "net/core/log.h"
#include "net/rpc.h"

struct em_meta_client {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	pthread_t th;
	bool running;
	char *servers[EM_META_CLIENT_MAX_SERVERS];
	size_t n;
	uint32_t timeout_ms;
	uint64_t id;
	atomic_uint next;
};

static void *client_main(void *arg)
{
	struct em_meta_client *c = arg;
	int rc = em_reactor_run(c->r);
	if (rc < 0)
		EM_ERR("meta-client", "reactor: %s", strerror(-rc));
	return NULL;
}

int em_meta_connect(const struct em_meta_client_opts *o, struct em_meta_client **out)
{
	*out = NULL;
	if (o->n_servers == 0 || o->n_servers > EM_META_CLIENT_MAX_SERVERS || !o->secret)
		return -EINVAL;
	struct em_meta_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < o->n_servers && rc == 0; i++)
		rc = (c->servers[c->n++] = strdup(o->servers[i])) ? 0 : -ENOMEM;
	c->timeout_ms = o->timeout_ms;
	c->id = o->client_id;
	while (rc == 0 && c->id == 0)
		rc = getrandom(&c->id, sizeof(c->id), 0) == sizeof(c->id) ? 0 : -errno;
	struct em_rpc_opts ro = { .secret = o->secret, .secret_len = o->secret_len };
	if (rc == 0)
		rc = em_reactor_create("meta-client", &c->r);
	if (rc == 0)
		rc = em_net_create(c->r, o->net, &c->net);
	if (rc == 0)
		rc = em_rpc_create(c->net, &ro, &c->rpc);
	if (rc == 0)
		rc = -pthread_create(&c->th, NULL, client_main, c);
	c->running = rc == 0;
	if (rc < 0) {
		em_meta_disconnect(c);
		return rc;
	}
	*out = c;
	return 0;
}

void em_meta_disconnect(struct em_meta_client *c)
{
	if (!c)
		return;
	/* With the thread gone, this thread owns the reactor's objects. */
	if (c->running) {
		em_reactor_stop(c->r);
		pthread_join(c->th, NULL);
	}
	em_rpc_destroy(c->rpc);
	if (c->net)
		em_net_destroy(c->net);
	if (c->r)
		em_reactor_destroy(c->r);
	for (size_t i = 0; i < c->n; i++)
		free(c->servers[i]);
	free(c);
}

uint64_t em_meta_client_id(const struct em_meta_client *c)
{
	return c->id;
}

struct em_meta_call *em_meta_call_new(struct em_meta_client *c, uint16_t method,
				      const struct em_meta_cred *cr, enum em_meta_out kind,
				      em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->c = c;
	k->method = method;
	k->kind = kind;
	k->cb = cb;
	k->arg = arg;
	if (cr)
		k->req.cred = *cr;
	return k;
}

int em_meta_call_abort(struct em_meta_call *k, int err)
{
	free(k->buf);
	free(k);
	return err;
}

static void finish(struct em_meta_call *k, int status)
{
	k->cb(k->arg, status);
	em_meta_call_abort(k, 0);
}

static int encode(struct em_meta_call *k)
{
	size_t cap = em_meta_req_size(k->req.vlen);
	uint8_t *b = k->buf ? k->buf : malloc(cap);
	if (!b)
		return -ENOMEM;
	k->buf = b;
	struct em_enc e;
	em_enc_init(&e, b, cap);
	int rc = em_meta_enc_req(&e, k->method, &k->req);
	k->len = e.len;
	return rc;
}

static void send_call(void *arg);

/* The next readdir page starts after the last name received. */
static bool next_page(struct em_meta_call *k)
{
	if (*k->eof || k->got >= k->max)
		return false;
	snprintf(k->req.name, sizeof(k->req.name), "%s", k->ents[k->got - 1].name);
	k->req.max = (uint32_t)(k->max - k->got);
	return encode(k) == 0;
}

static int decode(struct em_meta_call *k, const void *p, size_t len)
{
	switch (k->kind) {
	case EM_META_OUT_NONE:
		return 0;
	case EM_META_OUT_ATTR: {
		struct em_meta_attr a;
		int rc = em_meta_dec_attr_rsp(p, len, &a);
		if (rc == 0 && k->out)
			*(struct em_meta_attr *)k->out = a;
		return rc;
	}
	case EM_META_OUT_OPEN:
		return em_meta_dec_open_rsp(p, len, k->out);
	case EM_META_OUT_BYTES:
		return em_meta_dec_bytes_rsp(p, len, k->out, k->cap);
	case EM_META_OUT_READLINK: {
		int rc = em_meta_dec_bytes_rsp(p, len, k->out, k->cap ? k->cap - 1 : 0);
		if (rc >= 0 && k->cap)
			((char *)k->out)[(size_t)rc < k->cap - 1 ? (size_t)rc : k->cap - 1] = '\0';
		return rc;
	}
	case EM_META_OUT_READDIR: {
		size_t n = 0;
		int rc = em_meta_dec_readdir_rsp(p, len, k->ents + k->got, k->max - k->got, &n,
						 k->eof);
		k->got += n;
		*k->n = k->got;
		return rc;
	}
	case EM_META_OUT_STATFS:
		return em_meta_dec_statfs_rsp(p, len, k->out);
	case EM_META_OUT_GC:
		return em_meta_dec_gc_list_rsp(p, len, k->gc, k->max, k->n);
	case EM_META_OUT_LOCK: {
		struct em_meta_lock_range r;
		int rc = em_meta_dec_lock_rsp(p, len, &r);
		if (rc == 0 && k->out)
			*(struct em_meta_lock_range *)k->out = r;
		return rc;
	}
	case EM_META_OUT_U32: {
		struct em_dec d;
		em_dec_init(&d, p, len);
		uint32_t v = em_dec_u32(&d);
		if (em_dec_error(&d))
			return -EBADMSG;
		*(uint32_t *)k->out = v;
		return 0;
	}
	}
	return -EINVAL;
}

static void on_answer(void *arg, int status, const void *payload, size_t len)
{
	struct em_meta_call *k = arg;
	struct em_meta_client *c = k->c;
	/* Never executed: a refused connection, or a server draining. */
	if ((status == -ECONNREFUSED || status == -ESHUTDOWN) && ++k->tries < c->n) {
		k->srv = (k->srv + 1) % (unsigned)c->n;
		send_call(k);
		return;
	}
	if (status == 0)
		status = decode(k, payload, len);
	if (status == 0 && k->kind == EM_META_OUT_READDIR && k->got && next_page(k)) {
		k->tries = 0;
		send_call(k);
		return;
	}
	finish(k, status);
}

static void send_call(void *arg)
{
	struct em_meta_call *k = arg;
	struct em_meta_client *c = k->c;
	struct em_rpc_call_opts co = { .timeout_ms = c->timeout_ms };
	int rc = em_rpc_call(c->rpc, c->servers[k->srv], EM_META_SERVICE, k->method, k->buf,
			     k->len, &co, on_answer, k);
	if (rc < 0)
		finish(k, rc);
}

/* A synchronous form's wait for its call's callback. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int status;
};

void em_meta_sync(void *arg, int status)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* rc: whether the call was sent. Returns its status. */
static int waiter_wait(struct waiter *w, int rc)
{
	if (rc == 0) {
		pthread_mutex_lock(&w->mu);
		while (!w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		rc = w->status;
		pthread_mutex_unlock(&w->mu);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	return rc;
}

int em_meta_call_submit(struct em_meta_call *k)
{
	struct em_meta_client *c = k->c;
	struct waiter w = { .done = false };
	bool sync = k->cb == em_meta_sync;
	if (sync && em_reactor_current() == c->r)
		return em_meta_call_abort(k, -EDEADLK);
	if (k->err)
		return em_meta_call_abort(k, k->err);
	if (k->n)
		*k->n = 0;
	if (k->eof)
		*k->eof = k->max == 0;
	if (sync) {
		pthread_mutex_init(&w.mu, NULL);
		pthread_cond_init(&w.cv, NULL);
		k->arg = &w;
	}
	int rc = encode(k);
	if (rc == 0) {
		k->srv = atomic_fetch_add(&c->next, 1) % (unsigned)c->n;
		rc = em_reactor_send(c->r, send_call, k);
	}
	if (rc < 0)
		em_meta_call_abort(k, rc);
	return sync ? waiter_wait(&w, rc) : rc;
}
