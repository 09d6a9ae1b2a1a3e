/* Routing info: membership, chains and their states (see routing.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/routing.h"
#include "net/core/log.h"

/* The sorted-array helpers below read the id at offset 0 of every element. */
_Static_assert(offsetof(struct em_node, id) == 0, "node id first");
_Static_assert(offsetof(struct em_target, id) == 0, "target id first");
_Static_assert(offsetof(struct em_chain, id) == 0, "chain id first");

static uint32_t id_at(const void *base, size_t size, size_t i)
{
	uint32_t id;
	memcpy(&id, (const char *)base + i * size, sizeof(id));
	return id;
}

/* First index whose id is >= id. */
static size_t lower_bound(const void *base, size_t n, size_t size, uint32_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (id_at(base, size, mid) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void *find(const void *base, size_t n, size_t size, uint32_t id)
{
	size_t i = lower_bound(base, n, size, id);
	return i < n && id_at(base, size, i) == id ? (char *)base + i * size : NULL;
}

/* Inserts elem in id order; the caller has checked the id is new. */
static int insert(void **base, size_t *n, size_t *cap, size_t size, const void *elem)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		void *p = realloc(*base, ncap * size);
		if (!p)
			return -ENOMEM;
		*base = p;
		*cap = ncap;
	}
	size_t i = lower_bound(*base, *n, size, id_at(elem, size, 0));
	char *at = (char *)*base + i * size;
	memmove(at + size, at, (*n - i) * size);
	memcpy(at, elem, size);
	(*n)++;
	return 0;
}

void em_routing_init(struct em_routing *r)
{
	memset(r, 0, sizeof(*r));
}

void em_routing_clear(struct em_routing *r)
{
	free(r->nodes);
	free(r->targets);
	free(r->chains);
	em_routing_init(r);
}

const struct em_node *em_routing_node(const struct em_routing *r, uint32_t id)
{
	return find(r->nodes, r->nnodes, sizeof(*r->nodes), id);
}

const struct em_target *em_routing_target(const struct em_routing *r, uint32_t id)
{
	return find(r->targets, r->ntargets, sizeof(*r->targets), id);
}

const struct em_chain *em_routing_chain(const struct em_routing *r, uint32_t id)
{
	return find(r->chains, r->nchains, sizeof(*r->chains), id);
}

static struct em_target *target_mut(struct em_routing *r, uint32_t id)
{
	return find(r->targets, r->ntargets, sizeof(*r->targets), id);
}

static struct em_chain *chain_mut(struct em_routing *r, uint32_t id)
{
	return find(r->chains, r->nchains, sizeof(*r->chains), id);
}

int em_routing_target_state(const struct em_routing *r, uint32_t id)
{
	const struct em_target *t = em_routing_target(r, id);
	const struct em_chain *c = t && t->chain ? em_routing_chain(r, t->chain) : NULL;
	int i = c ? em_chain_find(c, id) : -ENOENT;
	return i < 0 ? i : c->m[i].state;
}

int em_routing_register_node(struct em_routing *r, uint32_t id, const char *addr,
			     uint64_t now_ms)
{
	size_t len = strlen(addr);
	if (id == 0 || len == 0 || len >= EM_NODE_ADDR_MAX)
		return -EINVAL;
	struct em_node *n = find(r->nodes, r->nnodes, sizeof(*r->nodes), id);
	if (n) {
		n->last_hb_ms = now_ms;
		if (strcmp(n->addr, addr) != 0) {
			memcpy(n->addr, addr, len + 1);
			r->version++;
		}
		return 0;
	}
	struct em_node fresh = { .id = id, .last_hb_ms = now_ms };
	memcpy(fresh.addr, addr, len + 1);
	int rc = insert((void **)&r->nodes, &r->nnodes, &r->cap_nodes, sizeof(fresh), &fresh);
	if (rc == 0)
		r->version++;
	return rc;
}

int em_routing_add_target(struct em_routing *r, uint32_t id, uint32_t node)
{
	if (id == 0)
		return -EINVAL;
	if (!em_routing_node(r, node))
		return -ENOENT;
	if (em_routing_target(r, id))
		return -EEXIST;
	struct em_target t = { .id = id, .node = node, .local = EM_LOCAL_OFFLINE };
	int rc = insert((void **)&r->targets, &r->ntargets, &r->cap_targets, sizeof(t), &t);
	if (rc == 0)
		r->version++;
	return rc;
}

int em_routing_add_chain(struct em_routing *r, uint32_t id, const uint32_t *targets,
			 unsigned n)
{
	if (id == 0 || n < 1 || n > EM_CHAIN_MAX)
		return -EINVAL;
	if (em_routing_chain(r, id))
		return -EEXIST;
	struct em_chain c = { .id = id, .version = 1, .n = n };
	for (unsigned i = 0; i < n; i++) {
		const struct em_target *t = em_routing_target(r, targets[i]);
		if (!t)
			return -ENOENT;
		if (t->chain)
			return -EBUSY;
		for (unsigned j = 0; j < i; j++)
			if (c.m[j].target == t->id || em_routing_target(r, c.m[j].target)->node == t->node)
				return -EINVAL;
		c.m[i] = (struct em_chain_member){ t->id, EM_PUB_SERVING };
	}
	int rc = insert((void **)&r->chains, &r->nchains, &r->cap_chains, sizeof(c), &c);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		struct em_target *t = target_mut(r, targets[i]);
		t->chain = id;
		/* Serving until a heartbeat or the node's lease says otherwise. */
		t->local = em_local_state_presumed(EM_PUB_SERVING);
	}
	r->version++;
	return 0;
}

/* A copy with room for one more element (never a NULL array). */
static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p = malloc((n + 1) * size);
	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

static int routing_clone(const struct em_routing *src, struct em_routing *dst)
{
	em_routing_init(dst);
	dst->version = src->version;
	dst->nodes = dup_array(src->nodes, src->nnodes, sizeof(*src->nodes));
	dst->targets = dup_array(src->targets, src->ntargets, sizeof(*src->targets));
	dst->chains = dup_array(src->chains, src->nchains, sizeof(*src->chains));
	if (!dst->nodes || !dst->targets || !dst->chains) {
		em_routing_clear(dst);
		return -ENOMEM;
	}
	dst->nnodes = src->nnodes;
	dst->ntargets = src->ntargets;
	dst->nchains = src->nchains;
	dst->cap_nodes = src->nnodes + 1;
	dst->cap_targets = src->ntargets + 1;
	dst->cap_chains = src->nchains + 1;
	return 0;
}

static int add_table(struct em_routing *r, const struct em_chain_table *t,
		     const uint32_t *node_ids, uint32_t first_chain)
{
	unsigned rf = t->replicas;
	if (rf < 1 || rf > EM_CHAIN_MAX || t->targets_per_node > EM_CHAINS_MAX_TARGETS ||
	    first_chain == 0 || first_chain > UINT32_MAX - t->nchains)
		return -EINVAL;
	for (unsigned i = 0; i < t->nodes; i++)
		if (node_ids[i] == 0 || node_ids[i] > (UINT32_MAX - 1000u) / 1000u)
			return -EINVAL;
	for (unsigned c = 0; c < t->nchains; c++) {
		uint32_t ids[EM_CHAIN_MAX];
		for (unsigned j = 0; j < rf; j++) {
			const struct em_chain_slot *s = &t->slots[(size_t)c * rf + j];
			if (s->node >= t->nodes)
				return -EINVAL;
			uint32_t node = node_ids[s->node];
			ids[j] = EM_TARGET_ID(node, s->slot);
			const struct em_target *have = em_routing_target(r, ids[j]);
			int rc = have ? (have->node == node ? 0 : -EEXIST)
				      : em_routing_add_target(r, ids[j], node);
			if (rc < 0)
				return rc;
		}
		int rc = em_routing_add_chain(r, first_chain + c, ids, rf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int em_routing_add_table(struct em_routing *r, const struct em_chain_table *t,
			 const uint32_t *node_ids, uint32_t first_chain)
{
	/* Work on a copy so a failure halfway leaves r as it was. */
	struct em_routing work;
	int rc = routing_clone(r, &work);
	if (rc < 0)
		return rc;
	rc = add_table(&work, t, node_ids, first_chain);
	if (rc < 0) {
		em_routing_clear(&work);
		return rc;
	}
	em_routing_clear(r);
	*r = work;
	return 0;
}

int em_routing_heartbeat(struct em_routing *r, uint32_t node, uint64_t now_ms,
			 const struct em_target_report *reports, size_t n)
{
	struct em_node *nd = find(r->nodes, r->nnodes, sizeof(*r->nodes), node);
	if (!nd)
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		const struct em_target *t = em_routing_target(r, reports[i].target);
		if (!t || t->node != node || reports[i].local >= EM_LOCAL_COUNT) {
			EM_WARN("mgmt", "node %u heartbeat: bad report for target %u", node,
				reports[i].target);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < r->ntargets; i++)
		if (r->targets[i].node == node)
			r->targets[i].local = EM_LOCAL_OFFLINE;
	for (size_t i = 0; i < n; i++) {
		struct em_target *t = target_mut(r, reports[i].target);
		t->local = reports[i].local;
		t->total_bytes = reports[i].total_bytes;
		t->used_bytes = reports[i].used_bytes;
	}
	nd->last_hb_ms = now_ms;
	return 0;
}

void em_routing_space(const struct em_routing *r, struct em_routing_space *out)
{
	memset(out, 0, sizeof(*out));
	size_t members = 0;
	for (size_t i = 0; i < r->nchains; i++)
		members += r->chains[i].n;
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct em_target *t = &r->targets[i];
		if (!t->chain)
			continue;
		out->targets++;
		out->reported += t->total_bytes > 0;
		out->raw_total += t->total_bytes;
		out->raw_used += t->used_bytes;
	}
	if (!r->nchains || !members)
		return;
	out->replicas = (unsigned)((members + r->nchains / 2) / r->nchains);
	out->total = out->raw_total / out->replicas;
	out->used = out->raw_used / out->replicas;
}

/* Local states of a chain's members as of now_ms, leases applied. */
static void chain_locals(const struct em_routing *r, const struct em_chain *c, uint64_t now_ms,
			 uint64_t lease_ms, enum em_local_state *local)
{
	for (unsigned i = 0; i < c->n; i++) {
		const struct em_target *t = em_routing_target(r, c->m[i].target);
		const struct em_node *nd = t ? em_routing_node(r, t->node) : NULL;
		local[i] = nd ? em_local_state_at(t->local, nd->last_hb_ms, now_ms, lease_ms)
			      : EM_LOCAL_OFFLINE;
	}
}

static void log_chain(const struct em_chain *c)
{
	char buf[EM_CHAIN_MAX * 24], *p = buf;
	for (unsigned i = 0; i < c->n; i++)
		p += snprintf(p, sizeof(buf) - (size_t)(p - buf), " %u:%s", c->m[i].target,
			      em_pub_state_name(c->m[i].state));
	EM_INFO("mgmt", "chain %u version %llu:%s", c->id, (unsigned long long)c->version, buf);
}

int em_routing_tick(struct em_routing *r, uint64_t now_ms, uint64_t lease_ms)
{
	int changed = 0;
	for (size_t k = 0; k < r->nchains; k++) {
		struct em_chain *c = &r->chains[k];
		enum em_local_state local[EM_CHAIN_MAX];
		chain_locals(r, c, now_ms, lease_ms, local);
		int rc = em_chain_update(c, local);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			log_chain(c);
			changed++;
		}
	}
	if (changed)
		r->version++;
	return changed;
}

int em_routing_offline_target(struct em_routing *r, uint32_t target)
{
	struct em_target *t = target_mut(r, target);
	struct em_chain *c = t && t->chain ? chain_mut(r, t->chain) : NULL;
	int me = c ? em_chain_find(c, target) : -ENOENT;
	if (me < 0)
		return me;
	if (c->m[me].state == EM_PUB_OFFLINE) {
		t->local = EM_LOCAL_OFFLINE;
		return 0;
	}
	/* Only this target changes: the others keep their public states. */
	enum em_local_state local[EM_CHAIN_MAX];
	for (unsigned i = 0; i < c->n; i++)
		local[i] = em_local_state_presumed(c->m[i].state);
	local[me] = EM_LOCAL_OFFLINE;
	struct em_chain next = *c;
	int rc = em_chain_update(&next, local);
	if (rc < 0)
		return rc;
	if (next.m[em_chain_find(&next, target)].state == EM_PUB_LASTSRV)
		return -EBUSY;
	*c = next;
	t->local = EM_LOCAL_OFFLINE;
	r->version++;
	log_chain(c);
	return 0;
}
