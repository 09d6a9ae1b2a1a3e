/* Wire encoding of the routing info (see routing.h and record.h).
 *
 *   u32 magic "EMRI", u16 format 1, u16 flags 0, u64 routing version,
 *   u32 node count, u32 target count, u32 chain count,
 *   each node, target, then chain as {u16 body length, body},
 *   (room for sections appended by later versions; skipped),
 *   u32 CRC32C of everything before it.
 *
 * The RPC frame has its own CRC, but clients keep this blob: a corrupt
 * routing table would send writes to the wrong targets, so it carries its own.
 * The decoder trusts nothing: every count is bounded by the bytes present
 * before anything is allocated, and em_routing_validate() then requires ids
 * strictly ascending and every reference between records to resolve.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/mgmt/record.h"
#include "fs/mgmt/routing.h"
#include "net/core/crc32c.h"

#define ROUTING_MAGIC 0x49524d45u /* "EMRI" little-endian */
#define ROUTING_FORMAT 1
#define HEADER_SIZE 28
/* Smallest records, length prefix included, to bound counts by input size. */
#define MIN_NODE (2 + 7)
#define MIN_TARGET (2 + 12)
#define MIN_CHAIN (2 + 13 + 5)

static void put_record(struct em_mwr *w, const void *rec,
		       void (*put)(struct em_mwr *, const void *))
{
	size_t at = w->len;
	em_mwr_u16(w, 0);
	put(w, rec);
	em_mwr_patch_u16(w, at, (uint16_t)(w->len - at - 2));
}

static void put_node(struct em_mwr *w, const void *p) { em_rec_put_node(w, p); }
static void put_target(struct em_mwr *w, const void *p) { em_rec_put_target(w, p); }
static void put_chain(struct em_mwr *w, const void *p) { em_rec_put_chain(w, p); }

static void encode(const struct em_routing *r, struct em_mwr *w)
{
	em_mwr_u32(w, ROUTING_MAGIC);
	em_mwr_u16(w, ROUTING_FORMAT);
	em_mwr_u16(w, 0);
	em_mwr_u64(w, r->version);
	em_mwr_u32(w, (uint32_t)r->nnodes);
	em_mwr_u32(w, (uint32_t)r->ntargets);
	em_mwr_u32(w, (uint32_t)r->nchains);
	for (size_t i = 0; i < r->nnodes; i++)
		put_record(w, &r->nodes[i], put_node);
	for (size_t i = 0; i < r->ntargets; i++)
		put_record(w, &r->targets[i], put_target);
	for (size_t i = 0; i < r->nchains; i++)
		put_record(w, &r->chains[i], put_chain);
}

size_t em_routing_encoded_size(const struct em_routing *r)
{
	struct em_mwr w = { 0 };
	encode(r, &w);
	return w.len + 4;
}

int em_routing_encode(const struct em_routing *r, void *buf, size_t cap, size_t *len)
{
	/* Measured first so a short buffer is refused before being touched. */
	if (em_routing_encoded_size(r) > cap)
		return -EMSGSIZE;
	struct em_mwr w = { .p = buf, .cap = cap - 4 };
	encode(r, &w);
	uint32_t crc = em_crc32c(0, buf, w.len);
	w.cap = cap;
	em_mwr_u32(&w, crc);
	*len = w.len;
	return 0;
}

/* Reads {u16 length, body} and hands get() a reader bounded to the body. */
static int get_record(struct em_mrd *r, void *out, int (*get)(struct em_mrd *, void *))
{
	uint16_t len = em_mrd_u16(r);
	const uint8_t *body = em_mrd_take(r, len);
	if (!body)
		return -EBADMSG;
	struct em_mrd sub = { .p = body, .len = len };
	return get(&sub, out);
}

static int get_node(struct em_mrd *r, void *p) { return em_rec_get_node(r, p); }
static int get_target(struct em_mrd *r, void *p) { return em_rec_get_target(r, p); }
static int get_chain(struct em_mrd *r, void *p) { return em_rec_get_chain(r, p); }

static bool ascending(const void *base, size_t n, size_t size)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t a, b;
		memcpy(&a, (const char *)base + (i - 1) * size, sizeof(a));
		memcpy(&b, (const char *)base + i * size, sizeof(b));
		if (a >= b)
			return false;
	}
	return true;
}

int em_routing_validate(const struct em_routing *r)
{
	if (!ascending(r->nodes, r->nnodes, sizeof(*r->nodes)) ||
	    !ascending(r->targets, r->ntargets, sizeof(*r->targets)) ||
	    !ascending(r->chains, r->nchains, sizeof(*r->chains)))
		return -EBADMSG;
	size_t members = 0, linked = 0;
	for (size_t i = 0; i < r->ntargets; i++) {
		if (!em_routing_node(r, r->targets[i].node))
			return -EBADMSG;
		linked += r->targets[i].chain != 0;
	}
	/* Every member is a known target naming this chain, on a node of its
	 * own; counting then shows every target naming a chain is a member. */
	for (size_t k = 0; k < r->nchains; k++) {
		const struct em_chain *c = &r->chains[k];
		for (unsigned i = 0; i < c->n; i++) {
			const struct em_target *t = em_routing_target(r, c->m[i].target);
			if (!t || t->chain != c->id)
				return -EBADMSG;
			for (unsigned j = 0; j < i; j++)
				if (em_routing_target(r, c->m[j].target)->node == t->node)
					return -EBADMSG;
		}
		members += c->n;
	}
	return members == linked ? 0 : -EBADMSG;
}

static int decode_body(struct em_routing *out, struct em_mrd *r)
{
	uint32_t nn = em_mrd_u32(r), nt = em_mrd_u32(r), nc = em_mrd_u32(r);
	if (r->bad || (uint64_t)nn * MIN_NODE + (uint64_t)nt * MIN_TARGET +
			      (uint64_t)nc * MIN_CHAIN > r->len - r->off)
		return -EBADMSG;
	out->nodes = calloc(nn ? nn : 1, sizeof(*out->nodes));
	out->targets = calloc(nt ? nt : 1, sizeof(*out->targets));
	out->chains = calloc(nc ? nc : 1, sizeof(*out->chains));
	if (!out->nodes || !out->targets || !out->chains)
		return -ENOMEM;
	out->cap_nodes = nn ? nn : 1;
	out->cap_targets = nt ? nt : 1;
	out->cap_chains = nc ? nc : 1;

	for (; out->nnodes < nn; out->nnodes++)
		if (get_record(r, &out->nodes[out->nnodes], get_node) < 0)
			return -EBADMSG;
	for (; out->ntargets < nt; out->ntargets++)
		if (get_record(r, &out->targets[out->ntargets], get_target) < 0)
			return -EBADMSG;
	for (; out->nchains < nc; out->nchains++)
		if (get_record(r, &out->chains[out->nchains], get_chain) < 0)
			return -EBADMSG;
	return em_routing_validate(out);
}

int em_routing_decode(struct em_routing *out, const void *buf, size_t len)
{
	em_routing_init(out);
	if (len < HEADER_SIZE + 4)
		return -EBADMSG;
	struct em_mrd crc = { .p = (const uint8_t *)buf + len - 4, .len = 4 };
	if (em_mrd_u32(&crc) != em_crc32c(0, buf, len - 4))
		return -EM_ECHECKSUM;

	struct em_mrd r = { .p = buf, .len = len - 4 };
	if (em_mrd_u32(&r) != ROUTING_MAGIC)
		return -EBADMSG;
	if (em_mrd_u16(&r) != ROUTING_FORMAT)
		return -EM_EPROTO_VERSION;
	(void)em_mrd_u16(&r); /* flags: none defined yet */
	out->version = em_mrd_u64(&r);
	int rc = decode_body(out, &r);
	if (rc < 0)
		em_routing_clear(out);
	return rc;
}
