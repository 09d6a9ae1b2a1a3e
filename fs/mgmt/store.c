/* Cluster state persistence in the KV store (see store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/record.h"
#include "fs/mgmt/store.h"

#define KEY_LEN 6
#define VERSION_KEY "CV", 2
#define REC_MAX 256 /* largest record body: a node with the longest address */

enum kind { NODES, TARGETS, CHAINS };
static const char prefix[][3] = { [NODES] = "CN", [TARGETS] = "CT", [CHAINS] = "CC" };

static void make_key(uint8_t *k, enum kind kind, uint32_t id)
{
	k[0] = (uint8_t)prefix[kind][0];
	k[1] = (uint8_t)prefix[kind][1];
	for (int i = 0; i < 4; i++)
		k[2 + i] = (uint8_t)(id >> (24 - 8 * i));
}

static uint32_t key_id(const uint8_t *k)
{
	return (uint32_t)k[2] << 24 | (uint32_t)k[3] << 16 | (uint32_t)k[4] << 8 | k[5];
}

static size_t count_of(const struct em_routing *r, enum kind kind)
{
	return kind == NODES ? r->nnodes : kind == TARGETS ? r->ntargets : r->nchains;
}

/* Id and record body of element i of a kind. */
static uint32_t put_element(const struct em_routing *r, enum kind kind, size_t i,
			    struct em_mwr *w)
{
	switch (kind) {
	case NODES:
		em_rec_put_node(w, &r->nodes[i]);
		return r->nodes[i].id;
	case TARGETS:
		em_rec_put_target(w, &r->targets[i]);
		return r->targets[i].id;
	default:
		em_rec_put_chain(w, &r->chains[i]);
		return r->chains[i].id;
	}
}

static int scan(struct em_kv_txn *txn, enum kind kind, struct em_kv_pair **pairs, size_t *n)
{
	uint8_t end[2] = { (uint8_t)prefix[kind][0], (uint8_t)(prefix[kind][1] + 1) };
	return em_kv_range(txn, prefix[kind], 2, end, sizeof(end), 0, false, pairs, n);
}

/* Merges the stored records of one kind (sorted by key) with the sorted
 * array in memory: clears what is gone, writes what is new or different. */
static int save_kind(struct em_kv_txn *txn, const struct em_routing *r, enum kind kind)
{
	struct em_kv_pair *have;
	size_t nhave, h = 0, count = count_of(r, kind);
	int rc = scan(txn, kind, &have, &nhave);
	for (size_t i = 0; rc == 0 && (i < count || h < nhave);) {
		uint8_t key[KEY_LEN], body[REC_MAX];
		struct em_mwr w = { .p = body, .cap = sizeof(body) };
		uint32_t id = i < count ? put_element(r, kind, i, &w) : UINT32_MAX;
		bool stored = h < nhave && have[h].klen == KEY_LEN;
		uint32_t sid = stored ? key_id(have[h].key) : 0;
		if (h < nhave && (!stored || i == count || sid < id)) {
			rc = em_kv_clear(txn, have[h].key, have[h].klen);
			h++;
			continue;
		}
		if (w.overflow)
			return -EMSGSIZE;
		bool same = h < nhave && sid == id && have[h].vlen == w.len &&
			    memcmp(have[h].val, body, w.len) == 0;
		if (!same) {
			make_key(key, kind, id);
			rc = em_kv_set(txn, key, sizeof(key), body, w.len);
		}
		h += h < nhave && sid == id;
		i++;
	}
	return rc;
}

struct save {
	const struct em_routing *r;
	const struct em_lease *fence;
	uint64_t now_ms;
};

static int save_fn(struct em_kv_txn *txn, void *arg)
{
	struct save *s = arg;
	int rc = s->fence ? em_lease_check(txn, s->fence, s->now_ms) : 0;
	for (enum kind k = NODES; rc == 0 && k <= CHAINS; k++)
		rc = save_kind(txn, s->r, k);
	if (rc < 0)
		return rc;
	uint8_t v[8];
	struct em_mwr w = { .p = v, .cap = sizeof(v) };
	em_mwr_u64(&w, s->r->version);
	return em_kv_set(txn, VERSION_KEY, v, sizeof(v));
}

int em_mgmt_store_save(struct em_kv *kv, const struct em_routing *r,
		       const struct em_lease *fence, uint64_t now_ms)
{
	struct save s = { r, fence, now_ms };
	return em_kv_run(kv, 0, save_fn, &s);
}

/* The array of one kind inside a routing, to fill generically. */
struct array {
	void **base;
	size_t *n, *cap, size;
	int (*get)(struct em_mrd *, void *);
};

static int get_node(struct em_mrd *r, void *p) { return em_rec_get_node(r, p); }
static int get_target(struct em_mrd *r, void *p) { return em_rec_get_target(r, p); }
static int get_chain(struct em_mrd *r, void *p) { return em_rec_get_chain(r, p); }

static struct array array_of(struct em_routing *r, enum kind kind)
{
	switch (kind) {
	case NODES:
		return (struct array){ (void **)&r->nodes, &r->nnodes, &r->cap_nodes,
				       sizeof(*r->nodes), get_node };
	case TARGETS:
		return (struct array){ (void **)&r->targets, &r->ntargets, &r->cap_targets,
				       sizeof(*r->targets), get_target };
	default:
		return (struct array){ (void **)&r->chains, &r->nchains, &r->cap_chains,
				       sizeof(*r->chains), get_chain };
	}
}

static int load_kind(struct em_kv_txn *txn, struct em_routing *out, enum kind kind)
{
	struct em_kv_pair *p;
	size_t n;
	int rc = scan(txn, kind, &p, &n);
	if (rc < 0)
		return rc;
	struct array a = array_of(out, kind);
	*a.base = calloc(n ? n : 1, a.size);
	if (!*a.base)
		return -ENOMEM;
	*a.cap = n ? n : 1;
	for (; *a.n < n; (*a.n)++) {
		struct em_mrd r = { .p = p[*a.n].val, .len = p[*a.n].vlen };
		void *el = (char *)*a.base + *a.n * a.size;
		uint32_t id;
		rc = a.get(&r, el);
		memcpy(&id, el, sizeof(id)); /* every record starts with its id */
		/* The record must be filed under its own id. */
		if (rc < 0 || p[*a.n].klen != KEY_LEN || key_id(p[*a.n].key) != id)
			return -EUCLEAN;
	}
	return 0;
}

static int load_fn(struct em_kv_txn *txn, void *arg)
{
	struct em_routing *out = arg;
	em_routing_clear(out); /* a retried attempt starts over */
	const void *val;
	size_t vlen;
	int rc = em_kv_get(txn, VERSION_KEY, &val, &vlen);
	if (rc == 0) {
		struct em_mrd r = { .p = val, .len = vlen };
		out->version = em_mrd_u64(&r);
		if (r.bad)
			return -EUCLEAN;
	} else if (rc != -ENOENT) {
		return rc;
	}
	rc = 0;
	for (enum kind k = NODES; rc == 0 && k <= CHAINS; k++)
		rc = load_kind(txn, out, k);
	if (rc < 0)
		return rc;
	/* The store holds what this code wrote: anything else is damage. */
	return em_routing_validate(out) < 0 ? -EUCLEAN : 0;
}

int em_mgmt_store_load(struct em_kv *kv, struct em_routing *out, uint64_t now_ms)
{
	em_routing_init(out);
	int rc = em_kv_run(kv, EM_KV_RDONLY, load_fn, out);
	if (rc < 0) {
		em_routing_clear(out);
		return rc;
	}
	out->version++;
	for (size_t i = 0; i < out->nnodes; i++)
		out->nodes[i].last_hb_ms = now_ms;
	for (size_t i = 0; i < out->ntargets; i++) {
		int st = em_routing_target_state(out, out->targets[i].id);
		out->targets[i].local = st < 0 ? EM_LOCAL_OFFLINE : em_local_state_presumed(st);
	}
	return 0;
}
