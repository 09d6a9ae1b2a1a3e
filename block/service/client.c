/* The blocking chunk-service client (client.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "block/service/client.h"
#include "net/client_stack.h"

struct em_cs_client {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	char url[128];
	uint32_t timeout_ms;
};

struct wait {
	bool done;
	int status;
	void *resp;
	size_t len;
};

int em_cs_client_create(const struct em_cs_client_opts *o, struct em_cs_client **out)
{
	struct em_cs_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (strlen(o->url) >= sizeof(c->url)) {
		free(c);
		return -ENAMETOOLONG;
	}
	strcpy(c->url, o->url);
	c->timeout_ms = o->timeout_ms;
	struct em_rpc_opts ro = { .secret = o->secret, .secret_len = o->secret_len,
				  .default_timeout_ms = o->timeout_ms };
	int rc = em_client_stack_create("chunk-client", o->net, &ro, &c->r, &c->net, &c->rpc);
	if (rc) {
		em_cs_client_destroy(c);
		return rc;
	}
	*out = c;
	return 0;
}

void em_cs_client_destroy(struct em_cs_client *c)
{
	if (!c)
		return;
	if (c->rpc)
		em_rpc_destroy(c->rpc);
	em_client_stack_release(c->r, c->net);
	free(c);
}

struct em_reactor *em_cs_client_reactor(struct em_cs_client *c)
{
	return c->r;
}

static void on_done(void *arg, int status, const void *payload, size_t len)
{
	struct wait *w = arg;
	w->done = true;
	w->status = status;
	if (status == 0 && len) {
		w->resp = malloc(len);
		if (w->resp) {
			memcpy(w->resp, payload, len);
			w->len = len;
		} else {
			w->status = -ENOMEM;
		}
	}
}

int em_cs_client_call(struct em_cs_client *c, uint16_t method, const void *payload, size_t len,
		      const struct em_rpc_grant *grants, unsigned n_grants, void **resp,
		      size_t *resp_len)
{
	struct wait w = { 0 };
	struct em_rpc_call_opts co = { .timeout_ms = c->timeout_ms, .grants = grants,
				       .n_grants = n_grants };
	*resp = NULL;
	*resp_len = 0;
	int rc = em_rpc_call(c->rpc, c->url, EM_CS_SERVICE, method, payload, len, &co, on_done, &w);
	if (rc)
		return rc;
	while (!w.done) {
		rc = em_reactor_run_once(c->r, 100);
		if (rc < 0)
			return rc; /* the reactor itself failed: the call cannot finish */
	}
	*resp = w.resp;
	*resp_len = w.len;
	return w.status;
}

/* Describes (registering when needed) each item's buffer and grants it. */
static int prepare(uint16_t method, struct em_cs_io *ios, uint32_t n, struct em_rpc_grant *g,
		   struct em_mr **tmp, unsigned *n_grants)
{
	unsigned access = method == EM_CS_READ ? EM_ACCESS_REMOTE_WRITE : EM_ACCESS_REMOTE_READ;
	*n_grants = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct em_cs_io *io = &ios[i];
		if ((method != EM_CS_READ && method != EM_CS_WRITE) || io->item.len == 0)
			continue;
		if (method == EM_CS_WRITE)
			io->item.crc = em_crc32c(0, io->data, io->item.len);
		struct em_mr *mr = io->mr;
		if (!mr) {
			int rc = em_mr_reg(io->data, io->item.len, access, &tmp[i]);
			if (rc)
				return rc;
			mr = tmp[i];
		}
		int rc = em_mr_desc(mr, io->data, io->item.len, &io->item.buf);
		if (rc)
			return rc;
		g[*n_grants].desc = io->item.buf;
		g[*n_grants].access = access;
		(*n_grants)++;
	}
	return 0;
}

int em_cs_client_batch(struct em_cs_client *c, uint16_t method, struct em_cs_io *ios,
		       uint32_t n, struct em_cs_result *res)
{
	if (method < EM_CS_READ || method > EM_CS_QUERY || n > EM_CS_MAX_BATCH)
		return -EINVAL;
	struct em_rpc_grant *g = calloc(n ? n : 1, sizeof(*g));
	struct em_mr **tmp = calloc(n ? n : 1, sizeof(*tmp));
	struct em_cs_item *items = calloc(n ? n : 1, sizeof(*items));
	size_t cap = em_cs_items_size(n);
	uint8_t *req = malloc(cap);
	int rc = g && tmp && items && req ? 0 : -ENOMEM;
	unsigned n_grants = 0;
	if (rc == 0)
		rc = prepare(method, ios, n, g, tmp, &n_grants);
	if (rc == 0) {
		for (uint32_t i = 0; i < n; i++)
			items[i] = ios[i].item;
		struct em_enc e;
		em_enc_init(&e, req, cap);
		em_cs_enc_items(&e, method, items, n);
		rc = em_enc_error(&e);
		void *resp = NULL;
		size_t len = 0;
		if (rc == 0)
			rc = em_cs_client_call(c, method, req, e.len, g, n_grants, &resp, &len);
		uint32_t got = 0;
		if (rc == 0)
			rc = em_cs_dec_results(resp, len, method, res, n, &got);
		if (rc == 0 && got != n)
			rc = -EBADMSG;
		for (uint32_t i = 0; rc == 0 && method == EM_CS_READ && i < n; i++)
			em_cs_read_result_check(&res[i], ios[i].data, ios[i].item.len);
		free(resp);
	}
	for (uint32_t i = 0; tmp && i < n; i++)
		if (tmp[i])
			em_mr_dereg(tmp[i]);
	free(g);
	free(tmp);
	free(items);
	free(req);
	return rc;
}

int em_cs_client_list(struct em_cs_client *c, const struct em_cs_list_req *r,
		      struct em_chunk_meta *out, uint32_t *n)
{
	uint8_t req[64];
	struct em_enc e;
	*n = 0;
	em_enc_init(&e, req, sizeof(req));
	em_cs_enc_list_req(&e, r);
	void *resp;
	size_t len;
	int rc = em_cs_client_call(c, EM_CS_LIST, req, e.len, NULL, 0, &resp, &len);
	if (rc == 0)
		rc = em_cs_dec_metas(resp, len, out, r->max, n);
	free(resp);
	return rc;
}

int em_cs_client_stats(struct em_cs_client *c, struct em_cs_target_stats *out, uint32_t cap,
		       uint32_t *n)
{
	void *resp;
	size_t len;
	*n = 0;
	int rc = em_cs_client_call(c, EM_CS_STATS, NULL, 0, NULL, 0, &resp, &len);
	if (rc == 0)
		rc = em_cs_dec_stats(resp, len, out, cap, n);
	free(resp);
	return rc;
}
