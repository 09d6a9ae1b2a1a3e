/* The mgmtd methods (payloads in proto.h). Every handler runs only on the
 * primary: the prelude answers anything else with EM_MGMT_ENOTPRIMARY. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/mgmt/proto.h"
#include "fs/mgmt/service_int.h"
#include "net/core/log.h"

static bool prelude(struct em_mgmt_service *s, struct em_rpc_req *req)
{
	if (s->stopped) {
		em_rpc_reply(req, -ESHUTDOWN, NULL, 0);
		return false;
	}
	if (em_mgmt_serving(s))
		return true;
	uint8_t buf[4 + EM_LEASE_HOLDER_MAX];
	struct em_enc e;
	em_enc_init(&e, buf, sizeof(buf));
	em_enc_str(&e, s->other);
	em_rpc_reply(req, EM_MGMT_ENOTPRIMARY, buf, e.len);
	return false;
}

static void reply_version(struct em_mgmt_service *s, struct em_rpc_req *req, int rc)
{
	uint8_t buf[8];
	em_put_le64(buf, s->r.version);
	em_rpc_reply(req, rc, rc ? NULL : buf, rc ? 0 : sizeof(buf));
}

/* The served version and one number more (heartbeat: the lease; create:
 * the chains made). */
static void reply_version_and(struct em_mgmt_service *s, struct em_rpc_req *req, uint32_t v)
{
	uint8_t buf[12];
	em_put_le64(buf, s->r.version);
	em_put_le32(buf + 8, v);
	em_rpc_reply(req, 0, buf, sizeof(buf));
}

/* A request whose payload is read in place rather than by a proto.h decoder. */
static void payload_dec(struct em_rpc_req *req, struct em_dec *d)
{
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	em_dec_init(d, p, len);
}

/* Ends a change to a working copy (em_mgmt_work_copy) that came to rc:
 * committed when it went well, else dropped. *w is consumed either way. */
static int commit_if(struct em_mgmt_service *s, struct em_routing *w, int rc)
{
	if (rc == 0)
		return em_mgmt_commit(s, w);
	em_routing_clear(w);
	return rc;
}

/* A target a node registers is either new or already that node's. */
static int register_targets(struct em_routing *w, const struct em_mgmt_register *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const struct em_target *t = em_routing_target(w, m->targets[i]);
		if (t && t->node != m->node)
			return -EEXIST;
		int rc = t ? 0 : em_routing_add_target(w, m->targets[i], m->node);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void h_register(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_mgmt_register m;
	int rc = em_mgmt_dec_register(p, len, &m);
	struct em_routing w;
	if (rc == 0)
		rc = em_mgmt_work_copy(s, &w);
	if (rc == 0) {
		rc = em_routing_register_node(&w, m.node, m.addr, em_now_ms());
		if (rc == 0)
			rc = register_targets(&w, &m);
		rc = commit_if(s, &w, rc);
	}
	if (rc == 0)
		EM_INFO("mgmtd", "node %u registered at %s with %u target(s)", m.node, m.addr, m.n);
	reply_version(s, req, rc);
}

/* Local states and heartbeat times are memory only: no store, no copy. */
static void h_heartbeat(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_mgmt_heartbeat m;
	int rc = em_mgmt_dec_heartbeat(p, len, &m);
	if (rc == 0)
		rc = em_routing_heartbeat(&s->r, m.node, em_now_ms(), m.reports, m.n);
	if (rc < 0) {
		em_rpc_reply(req, rc, NULL, 0);
		return;
	}
	reply_version_and(s, req, (uint32_t)s->o.hb_lease_ms);
}

static int encode_blob(struct em_mgmt_service *s)
{
	if (s->blob && s->blob_version == s->r.version)
		return 0;
	size_t need = em_routing_encoded_size(&s->r);
	uint8_t *b = malloc(need);
	if (!b)
		return -ENOMEM;
	int rc = em_routing_encode(&s->r, b, need, &s->blob_len);
	if (rc < 0) {
		free(b);
		return rc;
	}
	free(s->blob);
	s->blob = b;
	s->blob_version = s->r.version;
	return 0;
}

static void h_get_routing(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	struct em_dec d;
	payload_dec(req, &d);
	uint64_t have = em_dec_u64(&d);
	if (em_dec_error(&d)) {
		em_rpc_reply(req, -EBADMSG, NULL, 0);
		return;
	}
	bool send = have < s->r.version;
	int rc = send ? encode_blob(s) : 0;
	size_t cap = 12 + (send && rc == 0 ? s->blob_len : 0);
	uint8_t *out = rc == 0 ? malloc(cap) : NULL;
	if (!out) {
		em_rpc_reply(req, rc ? rc : -ENOMEM, NULL, 0);
		return;
	}
	struct em_enc e;
	em_enc_init(&e, out, cap);
	em_enc_u64(&e, s->r.version);
	if (send)
		em_enc_bytes(&e, s->blob, (uint32_t)s->blob_len);
	else
		em_enc_u32(&e, 0); /* not modified */
	em_rpc_reply(req, 0, out, e.len);
	free(out);
}

static void h_offline_target(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	struct em_dec d;
	payload_dec(req, &d);
	uint32_t target = em_dec_u32(&d);
	int rc = em_dec_error(&d) ? -EBADMSG : 0;
	struct em_routing w;
	if (rc == 0)
		rc = em_mgmt_work_copy(s, &w);
	if (rc == 0)
		rc = commit_if(s, &w, em_routing_offline_target(&w, target));
	if (rc == 0)
		EM_INFO("mgmtd", "target %u offlined by the operator", target);
	reply_version(s, req, rc);
}

/* Targets per node for a new table: as asked, or as registered, which must
 * then be the same on every node. Registered targets must be the table's
 * (EM_TARGET_ID(node, slot < T)), or they would stay outside every chain. */
static int table_width(const struct em_routing *r, uint32_t asked, uint32_t *out)
{
	uint32_t t = asked;
	for (size_t i = 0; i < r->nnodes && !t; i++)
		for (size_t j = 0; j < r->ntargets; j++)
			t += r->targets[j].node == r->nodes[i].id;
	if (t == 0 || t > EM_CHAINS_MAX_TARGETS)
		return -EINVAL;
	for (size_t i = 0; i < r->nnodes; i++) {
		uint32_t have = 0;
		for (size_t j = 0; j < r->ntargets; j++) {
			const struct em_target *tg = &r->targets[j];
			if (tg->node != r->nodes[i].id)
				continue;
			if (tg->id < EM_TARGET_ID(tg->node, 0) || tg->id > EM_TARGET_ID(tg->node, t - 1))
				return -EINVAL;
			have++;
		}
		if (!asked && have != t)
			return -EINVAL;
	}
	*out = t;
	return 0;
}

static int create_chains(struct em_mgmt_service *s, const struct em_mgmt_create_chains *m,
			 uint32_t *nchains)
{
	const struct em_routing *r = &s->r;
	if (r->nchains)
		return -EEXIST;
	uint32_t width;
	int rc = table_width(r, m->targets_per_node, &width);
	if (rc < 0)
		return rc;
	uint32_t *ids = malloc((r->nnodes + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < r->nnodes; i++)
		ids[i] = r->nodes[i].id;
	struct em_chain_table t;
	rc = em_chain_table_generate((unsigned)r->nnodes, width, m->replicas,
				     m->seed ? m->seed : s->o.chain_seed, &t);
	struct em_routing w;
	if (rc == 0) {
		*nchains = t.nchains;
		rc = em_mgmt_work_copy(s, &w);
		if (rc == 0)
			rc = commit_if(s, &w, em_routing_add_table(&w, &t, ids, 1));
		em_chain_table_free(&t);
	}
	free(ids);
	return rc;
}

static void h_create_chains(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_mgmt_create_chains m;
	uint32_t n = 0;
	int rc = em_mgmt_dec_create_chains(p, len, &m);
	if (rc == 0)
		rc = create_chains(s, &m, &n);
	if (rc < 0) {
		em_rpc_reply(req, rc, NULL, 0);
		return;
	}
	EM_INFO("mgmtd", "created %u chain(s) of %u over %zu node(s)", n, m.replicas, s->r.nnodes);
	reply_version_and(s, req, n);
}

static void h_list(struct em_rpc_req *req, void *arg)
{
	struct em_mgmt_service *s = arg;
	if (!prelude(s, req))
		return;
	size_t cap = em_mgmt_list_size(s->self, &s->r);
	uint8_t *out = malloc(cap);
	if (!out) {
		em_rpc_reply(req, -ENOMEM, NULL, 0);
		return;
	}
	struct em_enc e;
	em_enc_init(&e, out, cap);
	int rc = em_mgmt_enc_list(&e, s->self, s->lease.term, (uint32_t)s->o.hb_lease_ms, &s->r,
				  em_now_ms());
	em_rpc_reply(req, rc, rc ? NULL : out, rc ? 0 : e.len);
	free(out);
}

int em_mgmt_register_methods(struct em_mgmt_service *s)
{
	static const struct {
		uint16_t method;
		em_rpc_handler_fn fn;
	} methods[] = {
		{ EM_MGMT_REGISTER, h_register },
		{ EM_MGMT_HEARTBEAT, h_heartbeat },
		{ EM_MGMT_GET_ROUTING, h_get_routing },
		{ EM_MGMT_OFFLINE_TARGET, h_offline_target },
		{ EM_MGMT_CREATE_CHAINS, h_create_chains },
		{ EM_MGMT_LIST, h_list },
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		int rc = em_rpc_register(s->rpc, EM_MGMT_SERVICE, methods[i].method,
					 methods[i].fn, s);
		if (rc < 0)
			return rc;
	}
	return 0;
}
