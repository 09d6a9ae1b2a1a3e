/* The blocking chain client (client.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/chain/client.h"
#include "fs/chain/proto.h"
#include "fs/mgmt/client.h"
#include "net/client_stack.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "net/rpc.h"
#include "net/serde.h"

#define BACKOFF_MS 50

struct em_chain_client {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_mgmt_client *mgmt;
	uint64_t client_id;
	uint64_t seq;
	uint32_t timeout_ms;
	bool read_head;
	unsigned rr; /* read load balancing */
	uint64_t wire_errors; /* reads whose bytes arrived unlike they left */
};

int em_chain_client_create(const struct em_chain_client_opts *o, struct em_chain_client **out)
{
	if (!o->client_id || !o->n_mgmtd)
		return -EINVAL;
	struct em_chain_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->client_id = o->client_id;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
	c->read_head = o->read_head;
	struct em_rpc_opts ro = { .secret = o->secret, .secret_len = o->secret_len };
	struct em_mgmt_client_opts mo = { .mgmtd = o->mgmtd, .n_mgmtd = o->n_mgmtd };
	int rc = em_client_stack_create("chain-client", o->net, &ro, &c->r, &c->net, &c->rpc);
	if (rc == 0)
		rc = em_mgmt_client_create(c->r, c->rpc, &mo, &c->mgmt);
	if (rc) {
		em_chain_client_destroy(c);
		return rc;
	}
	*out = c;
	return 0;
}

void em_chain_client_destroy(struct em_chain_client *c)
{
	if (!c)
		return;
	if (c->rpc)
		em_rpc_destroy(c->rpc);
	if (c->mgmt)
		em_mgmt_client_destroy(c->mgmt);
	em_client_stack_release(c->r, c->net);
	free(c);
}

struct wait {
	bool done;
	int status;
	uint8_t rsp[16];
	size_t len;
};

static void on_done(void *arg, int status, const void *p, size_t len)
{
	struct wait *w = arg;
	w->done = true;
	w->status = status;
	w->len = len < sizeof(w->rsp) ? len : sizeof(w->rsp);
	if (status == 0 && p)
		memcpy(w->rsp, p, w->len);
}

static int call(struct em_chain_client *c, const char *url, uint16_t method, const void *req,
		size_t len, const struct em_rpc_grant *g, struct wait *w)
{
	struct em_rpc_call_opts co = { .timeout_ms = c->timeout_ms, .grants = g,
				       .n_grants = g->desc.len ? 1u : 0u };
	memset(w, 0, sizeof(*w));
	int rc = em_rpc_call(c->rpc, url, EM_CHAIN_SERVICE, method, req, len, &co, on_done, w);
	if (rc)
		return rc;
	while (!w->done) {
		rc = em_reactor_run_once(c->r, 100);
		if (rc < 0)
			return rc;
	}
	return w->status;
}

/* Errors that no retry can fix. */
static bool permanent(int rc)
{
	return rc == -EINVAL || rc == -ERANGE || rc == -ENOSPC || rc == -EBADMSG ||
	       rc == -EM_EAUTH || rc == -ENOMEM || rc == -EALREADY;
}

static void backoff(struct em_chain_client *c)
{
	uint64_t end = em_now_ms() + BACKOFF_MS;
	while (em_now_ms() < end)
		em_reactor_run_once(c->r, BACKOFF_MS);
	em_mgmt_refresh_wait(c->mgmt);
}

/* URL of the node holding target t, or NULL. */
static const char *target_url(const struct em_routing *r, uint32_t t)
{
	const struct em_target *tg = em_routing_target(r, t);
	const struct em_node *n = tg ? em_routing_node(r, tg->node) : NULL;
	return n ? n->addr : NULL;
}

static const struct em_chain *chain_of(struct em_chain_client *c, uint32_t chain)
{
	const struct em_routing *r = em_mgmt_routing(c->mgmt);
	if (r->version == 0 && em_mgmt_refresh_wait(c->mgmt))
		return NULL;
	return em_routing_chain(em_mgmt_routing(c->mgmt), chain);
}

/* One operation through the head: a write, truncate or remove, retried
 * with the same sequence so the head applies it once. */
static int update(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		  uint8_t opcode, uint32_t offset, const void *data, uint32_t len,
		  struct em_chain_ack *ack)
{
	if ((uint64_t)offset + len > EM_CHUNK_MAX_SIZE)
		return -ERANGE;
	struct em_mr *mr = NULL;
	struct em_chain_update_req u = { .chain = chain, .id = *id, .op = opcode,
					 .offset = offset, .len = len,
					 .crc = len ? em_crc32c(0, data, len) : 0, .client = c->client_id,
					 .channel = 0, .seq = ++c->seq };
	struct em_rpc_grant g = { .access = EM_ACCESS_REMOTE_READ };
	int rc = 0;
	if (len) {
		rc = em_mr_reg((void *)data, len, EM_ACCESS_REMOTE_READ, &mr);
		if (rc == 0)
			rc = em_mr_desc(mr, data, len, &u.buf);
		g.desc = u.buf;
	}
	uint64_t end = em_now_ms() + c->timeout_ms;
	while (rc == 0 || (!permanent(rc) && em_now_ms() < end)) {
		if (rc)
			backoff(c);
		const struct em_chain *ch = chain_of(c, chain);
		if (!ch) {
			rc = -ENOENT;
			continue;
		}
		if (ch->m[0].state != EM_PUB_SERVING) {
			rc = -EM_ETARGETOFFLINE;
			continue;
		}
		const char *url = target_url(em_mgmt_routing(c->mgmt), ch->m[0].target);
		u.target = ch->m[0].target;
		u.chain_ver = ch->version;
		uint8_t req[EM_CHAIN_UPDATE_REQ_SIZE];
		int n = em_chain_enc_update(req, sizeof(req), &u);
		struct wait w;
		/* A target without a node address is routing in flux, not a
		 * missing chunk: retry. */
		rc = n < 0 ? n
			   : url ? call(c, url, EM_CHAIN_WRITE, req, (size_t)n, &g, &w)
				 : -EM_ETARGETOFFLINE;
		struct em_chain_update_rsp rsp;
		if (rc == 0 && em_chain_dec_update_rsp(w.rsp, w.len, &rsp))
			rc = -EBADMSG;
		if (rc == 0) {
			if (ack)
				*ack = (struct em_chain_ack){ rsp.commit_ver, rsp.length, rsp.crc };
			break;
		}
	}
	if (mr)
		em_mr_dereg(mr);
	return rc;
}

int em_chain_write(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		   uint32_t offset, const void *data, uint32_t len, struct em_chain_ack *ack)
{
	return update(c, chain, id, EM_CHAIN_OP_WRITE, offset, data, len, ack);
}

int em_chain_truncate(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		      uint32_t length, struct em_chain_ack *ack)
{
	return update(c, chain, id, EM_CHAIN_OP_TRUNCATE, length, NULL, 0, ack);
}

int em_chain_remove(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id)
{
	return update(c, chain, id, EM_CHAIN_OP_REMOVE, 0, NULL, 0, NULL);
}

int em_chain_read(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		  uint32_t offset, void *buf, uint32_t len)
{
	if ((uint64_t)offset + len > EM_CHUNK_MAX_SIZE)
		return -ERANGE;
	struct em_mr *mr = NULL;
	struct em_chain_read_req q = { .chain = chain, .id = *id, .offset = offset, .len = len };
	struct em_rpc_grant g = { .access = EM_ACCESS_REMOTE_WRITE };
	int rc = 0;
	if (len) {
		rc = em_mr_reg(buf, len, EM_ACCESS_REMOTE_WRITE, &mr);
		if (rc == 0)
			rc = em_mr_desc(mr, buf, len, &q.buf);
		g.desc = q.buf;
	}
	uint64_t end = em_now_ms() + c->timeout_ms;
	bool first = true;
	/* Replicas whose copy failed its checksum, at their engine or on the
	 * way here: the others are asked at once; when none is left, EIO. */
	uint32_t bad[EM_CHAIN_MAX];
	unsigned nbad = 0;
	while (rc == 0 || (!permanent(rc) && rc != -ENOENT && em_now_ms() < end)) {
		if (!first)
			backoff(c);
		first = false;
		const struct em_chain *ch = chain_of(c, chain);
		unsigned serving = 0;
		while (ch && serving < ch->n && ch->m[serving].state == EM_PUB_SERVING)
			serving++;
		unsigned good[EM_CHAIN_MAX], ngood = 0;
		for (unsigned i = 0; i < serving; i++) {
			bool b = false;
			for (unsigned j = 0; j < nbad && !b; j++)
				b = bad[j] == ch->m[i].target;
			if (!b)
				good[ngood++] = i;
		}
		if (!ngood) {
			rc = nbad ? -EIO : ch ? -EM_ETARGETOFFLINE : -ENOENT;
			if (nbad)
				break;
			continue;
		}
		uint32_t t = ch->m[good[c->read_head ? 0 : c->rr++ % ngood]].target;
		const char *url = target_url(em_mgmt_routing(c->mgmt), t);
		q.target = t;
		q.chain_ver = ch->version;
		uint8_t req[EM_CHAIN_READ_REQ_SIZE];
		int n = em_chain_enc_read(req, sizeof(req), &q);
		struct wait w;
		rc = n < 0 ? n
			   : url ? call(c, url, EM_CHAIN_READ, req, (size_t)n, &g, &w)
				 : -EM_ETARGETOFFLINE;
		if (rc == 0) {
			struct em_chain_read_rsp rr;
			rc = em_chain_dec_read_rsp(w.rsp, w.len, &rr);
			if (rc == 0)
				rc = em_chain_read_rsp_check(&rr, buf, len);
			if (rc == -EM_ECHECKSUM) {
				/* A sick NIC must not fill the log. */
				c->wire_errors++;
				EM_WARN_LIMITED("chain", "read from target %u: bytes arrived unlike they "
						"left (CRC32C mismatch; %llu so far): trying another "
						"replica", t, (unsigned long long)c->wire_errors);
			} else {
				break;
			}
		}
		if (rc == -EM_ECHECKSUM) {
			if (nbad < EM_CHAIN_MAX)
				bad[nbad++] = t;
			first = true; /* another replica, now */
		}
	}
	if (mr)
		em_mr_dereg(mr);
	return rc;
}
