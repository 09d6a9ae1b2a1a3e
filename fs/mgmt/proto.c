/* Encoders and decoders of the mgmtd RPC payloads; layouts in proto.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/proto.h"

void em_mgmt_enc_register(struct em_enc *e, const struct em_mgmt_register *m)
{
	em_enc_u32(e, m->node);
	em_enc_str(e, m->addr);
	em_enc_u32(e, m->n);
	for (uint32_t i = 0; i < m->n; i++)
		em_enc_u32(e, m->targets[i]);
}

int em_mgmt_dec_register(const void *p, size_t len, struct em_mgmt_register *m)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	m->node = em_dec_u32(&d);
	em_dec_str(&d, m->addr, sizeof(m->addr));
	m->n = em_dec_u32(&d);
	if (em_dec_error(&d) || m->n > EM_MGMT_MAX_TARGETS)
		return -EBADMSG;
	for (uint32_t i = 0; i < m->n; i++)
		m->targets[i] = em_dec_u32(&d);
	return em_dec_error(&d) ? -EBADMSG : 0;
}

void em_mgmt_enc_heartbeat(struct em_enc *e, const struct em_mgmt_heartbeat *m)
{
	em_enc_u32(e, m->node);
	em_enc_u32(e, m->n);
	for (uint32_t i = 0; i < m->n; i++) {
		em_enc_u32(e, m->reports[i].target);
		em_enc_u8(e, m->reports[i].local);
	}
	for (uint32_t i = 0; i < m->n; i++) {
		em_enc_u64(e, m->reports[i].total_bytes);
		em_enc_u64(e, m->reports[i].used_bytes);
	}
}

/* Space per target, appended after the states: absent from older senders. */
static int dec_space(struct em_dec *d, struct em_target_report *rp, uint32_t n)
{
	bool have = em_dec_remaining(d) > 0;
	for (uint32_t i = 0; i < n; i++) {
		rp[i].total_bytes = have ? em_dec_u64(d) : 0;
		rp[i].used_bytes = have ? em_dec_u64(d) : 0;
		if (rp[i].used_bytes > rp[i].total_bytes)
			return -EBADMSG;
	}
	return em_dec_error(d) ? -EBADMSG : 0;
}

int em_mgmt_dec_heartbeat(const void *p, size_t len, struct em_mgmt_heartbeat *m)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	m->node = em_dec_u32(&d);
	m->n = em_dec_u32(&d);
	if (em_dec_error(&d) || m->n > EM_MGMT_MAX_TARGETS)
		return -EBADMSG;
	for (uint32_t i = 0; i < m->n; i++) {
		m->reports[i].target = em_dec_u32(&d);
		m->reports[i].local = em_dec_u8(&d);
		if (m->reports[i].local >= EM_LOCAL_COUNT)
			return -EBADMSG;
	}
	return em_dec_error(&d) ? -EBADMSG : dec_space(&d, m->reports, m->n);
}

void em_mgmt_enc_create_chains(struct em_enc *e, const struct em_mgmt_create_chains *m)
{
	em_enc_u8(e, m->replicas);
	em_enc_u32(e, m->targets_per_node);
	em_enc_u64(e, m->seed);
}

int em_mgmt_dec_create_chains(const void *p, size_t len, struct em_mgmt_create_chains *m)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	m->replicas = em_dec_u8(&d);
	m->targets_per_node = em_dec_u32(&d);
	m->seed = em_dec_u64(&d);
	return em_dec_error(&d) ? -EBADMSG : 0;
}

size_t em_mgmt_list_size(const char *primary, const struct em_routing *r)
{
	return 4 + strlen(primary) + 8 + 4 + 4 + em_routing_encoded_size(r) + 4 +
	       r->nnodes * 12 + 4 + r->ntargets * (5 + 16);
}

int em_mgmt_enc_list(struct em_enc *e, const char *primary, uint64_t term, uint32_t hb_lease_ms,
		     const struct em_routing *r, uint64_t now_ms)
{
	em_enc_str(e, primary);
	em_enc_u64(e, term);
	em_enc_u32(e, hb_lease_ms);
	/* The routing bytes go straight into the output after their length. */
	size_t need = em_routing_encoded_size(r), got = 0;
	em_enc_u32(e, (uint32_t)need);
	if (!e->err && e->cap - e->len >= need &&
	    em_routing_encode(r, e->buf + e->len, need, &got) == 0)
		e->len += got;
	else
		e->err = -EMSGSIZE;
	em_enc_u32(e, (uint32_t)r->nnodes);
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct em_node *n = &r->nodes[i];
		em_enc_u32(e, n->id);
		em_enc_u64(e, now_ms > n->last_hb_ms ? now_ms - n->last_hb_ms : 0);
	}
	em_enc_u32(e, (uint32_t)r->ntargets);
	for (size_t i = 0; i < r->ntargets; i++) {
		em_enc_u32(e, r->targets[i].id);
		em_enc_u8(e, r->targets[i].local);
	}
	for (size_t i = 0; i < r->ntargets; i++) {
		em_enc_u64(e, r->targets[i].total_bytes);
		em_enc_u64(e, r->targets[i].used_bytes);
	}
	return em_enc_error(e);
}

void em_mgmt_list_free(struct em_mgmt_list *l)
{
	em_routing_clear(&l->routing);
	free(l->hb_age_ms);
	l->hb_age_ms = NULL;
}

/* The extras must name the routing's nodes and targets in the same order,
 * so an entry can be matched by index. */
static int dec_list_extras(struct em_dec *d, struct em_mgmt_list *out)
{
	struct em_routing *r = &out->routing;
	if (em_dec_u32(d) != r->nnodes || em_dec_error(d))
		return -EBADMSG;
	out->hb_age_ms = calloc(r->nnodes + 1, sizeof(*out->hb_age_ms));
	if (!out->hb_age_ms)
		return -ENOMEM;
	for (size_t i = 0; i < r->nnodes; i++) {
		if (em_dec_u32(d) != r->nodes[i].id)
			return -EBADMSG;
		out->hb_age_ms[i] = em_dec_u64(d);
	}
	if (em_dec_u32(d) != r->ntargets)
		return -EBADMSG;
	for (size_t i = 0; i < r->ntargets; i++) {
		uint32_t id = em_dec_u32(d);
		uint8_t local = em_dec_u8(d);
		if (id != r->targets[i].id || local >= EM_LOCAL_COUNT)
			return -EBADMSG;
		r->targets[i].local = local;
	}
	bool have = em_dec_remaining(d) > 0;
	for (size_t i = 0; have && i < r->ntargets; i++) {
		r->targets[i].total_bytes = em_dec_u64(d);
		r->targets[i].used_bytes = em_dec_u64(d);
		if (r->targets[i].used_bytes > r->targets[i].total_bytes)
			return -EBADMSG;
	}
	return em_dec_error(d) ? -EBADMSG : 0;
}

int em_mgmt_dec_list(const void *p, size_t len, struct em_mgmt_list *out)
{
	memset(out, 0, sizeof(*out));
	em_routing_init(&out->routing);
	struct em_dec d;
	em_dec_init(&d, p, len);
	em_dec_str(&d, out->primary, sizeof(out->primary));
	out->term = em_dec_u64(&d);
	out->hb_lease_ms = em_dec_u32(&d);
	const void *rb;
	uint32_t rlen;
	em_dec_bytes(&d, &rb, &rlen, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
	if (em_dec_error(&d))
		return -EBADMSG;
	int rc = em_routing_decode(&out->routing, rb, rlen);
	if (rc == 0)
		rc = dec_list_extras(&d, out);
	if (rc < 0)
		em_mgmt_list_free(out);
	return rc;
}
