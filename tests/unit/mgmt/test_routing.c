/* Routing info: membership, heartbeats and leases driving chain states,
 * versions, and the wire encoding against truncation and corruption. */
#include <errno.h>
#include <stdlib.h>

#include "ember/errors.h"
#include "fs/mgmt/routing.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "tap.h"

#define LEASE 10000

/* Three nodes with two targets each and chains 1 = (1001, 2001, 3001),
 * 2 = (2002, 3002, 1002). */
static void build(struct em_routing *r)
{
	em_routing_init(r);
	for (uint32_t n = 1; n <= 3; n++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%u", 9000 + n);
		em_routing_register_node(r, n, addr, 0);
		em_routing_add_target(r, EM_TARGET_ID(n, 0), n);
		em_routing_add_target(r, EM_TARGET_ID(n, 1), n);
	}
	em_routing_add_chain(r, 1, (uint32_t[]){ 1001, 2001, 3001 }, 3);
	em_routing_add_chain(r, 2, (uint32_t[]){ 2002, 3002, 1002 }, 3);
}

static int heartbeat(struct em_routing *r, uint32_t node, uint64_t now, int local)
{
	struct em_target_report rep[2] = {
		{ EM_TARGET_ID(node, 0), (uint8_t)local, 0, 0 },
		{ EM_TARGET_ID(node, 1), (uint8_t)local, 0, 0 },
	};
	return em_routing_heartbeat(r, node, now, rep, 2);
}

static void test_membership(void)
{
	struct em_routing r;
	build(&r);
	is_int(r.nnodes, 3, "three nodes");
	is_int(r.ntargets, 6, "six targets");
	is_int(r.nchains, 2, "two chains");
	is_int(r.version, 11, "every addition bumped the version");
	is_str(em_routing_node(&r, 2)->addr, "tcp://127.0.0.1:9002", "node address");
	is_int(em_routing_target(&r, 3002)->chain, 2, "target knows its chain");
	is_int(em_routing_target_state(&r, 1002), EM_PUB_SERVING, "new chains serve");

	is_int(em_routing_register_node(&r, 0, "x", 0), -EINVAL, "node id 0 refused");
	is_int(em_routing_register_node(&r, 4, "", 0), -EINVAL, "empty address refused");
	uint64_t v = r.version;
	is_int(em_routing_register_node(&r, 2, "tcp://127.0.0.1:9002", 5), 0, "re-register as is");
	is_int(r.version, v, "same address: no new version");
	is_int(em_routing_register_node(&r, 2, "tcp://10.0.0.2:9000", 5), 0, "re-register moved");
	is_int(r.version, v + 1, "new address: new version");
	is_int(em_routing_add_target(&r, 1001, 1), -EEXIST, "duplicate target");
	is_int(em_routing_add_target(&r, 4001, 4), -ENOENT, "target on unknown node");
	is_int(em_routing_add_target(&r, 1003, 1), 0, "third target on node 1");
	is_int(em_routing_add_target(&r, 1004, 1), 0, "fourth target on node 1");
	is_int(em_routing_add_chain(&r, 3, (uint32_t[]){ 1003, 1004 }, 2), -EINVAL,
	       "two replicas on one node refused");
	is_int(em_routing_add_chain(&r, 3, (uint32_t[]){ 1003, 2001 }, 2), -EBUSY,
	       "a target already in a chain refused");
	is_int(em_routing_add_chain(&r, 2, (uint32_t[]){ 1003 }, 1), -EEXIST, "chain id taken");
	is_int(em_routing_add_chain(&r, 3, (uint32_t[]){ 1003, 9999 }, 2), -ENOENT,
	       "unknown target refused");
	is_int(em_routing_target_state(&r, 1003), -ENOENT, "no state outside a chain");
	em_routing_clear(&r);
}

static void test_heartbeats_and_leases(void)
{
	struct em_routing r;
	build(&r);
	for (uint32_t n = 1; n <= 3; n++)
		heartbeat(&r, n, 1000, EM_LOCAL_UPTODATE);
	uint64_t v = r.version;
	is_int(em_routing_tick(&r, 2000, LEASE), 0, "all healthy: nothing changes");
	is_int(r.version, v, "heartbeats alone do not bump the routing version");

	/* Node 1 goes silent; the others keep beating. */
	heartbeat(&r, 2, 9000, EM_LOCAL_UPTODATE);
	heartbeat(&r, 3, 9000, EM_LOCAL_UPTODATE);
	is_int(em_routing_tick(&r, 10999, LEASE), 0, "lease not yet over");
	is_int(em_routing_tick(&r, 11000, LEASE), 2, "lease over: both chains change");
	is_int(r.version, v + 1, "one routing version per tick");
	is_int(em_routing_target_state(&r, 1001), EM_PUB_OFFLINE, "node 1's head target offline");
	const struct em_chain *c = em_routing_chain(&r, 1);
	ok(c->m[0].target == 2001 && c->m[2].target == 1001, "and moved to the tail");
	is_int(c->version, 2, "chain version bumped");

	/* Node 1 comes back: waiting, then syncing, then serving. */
	heartbeat(&r, 1, 12000, EM_LOCAL_ONLINE);
	heartbeat(&r, 2, 12000, EM_LOCAL_UPTODATE);
	heartbeat(&r, 3, 12000, EM_LOCAL_UPTODATE);
	em_routing_tick(&r, 12000, LEASE);
	is_int(em_routing_target_state(&r, 1001), EM_PUB_WAITING, "returning target waits");
	em_routing_tick(&r, 12500, LEASE);
	is_int(em_routing_target_state(&r, 1001), EM_PUB_SYNCING, "then syncs");
	heartbeat(&r, 1, 13000, EM_LOCAL_UPTODATE);
	em_routing_tick(&r, 13000, LEASE);
	is_int(em_routing_target_state(&r, 1001), EM_PUB_SERVING, "then serves");
	is_int(em_routing_chain(&r, 1)->version, 5, "four changes, four bumps");

	/* A heartbeat that leaves a target out reports it offline. */
	struct em_target_report one = { 2001, EM_LOCAL_UPTODATE, 0, 0 };
	is_int(em_routing_heartbeat(&r, 2, 14000, &one, 1), 0, "partial heartbeat");
	em_routing_tick(&r, 14000, LEASE);
	is_int(em_routing_target_state(&r, 2002), EM_PUB_OFFLINE, "unreported target is offline");
	is_int(em_routing_target_state(&r, 2001), EM_PUB_SERVING, "reported one serves");

	struct em_target_report foreign = { 3001, EM_LOCAL_UPTODATE, 0, 0 };
	is_int(em_routing_heartbeat(&r, 2, 14000, &foreign, 1), -EINVAL,
	       "reporting another node's target refused");
	is_int(em_routing_heartbeat(&r, 7, 14000, NULL, 0), -ENOENT, "unknown node refused");
	em_routing_clear(&r);
}

static void test_offline_target(void)
{
	struct em_routing r;
	build(&r);
	uint64_t v = r.version;
	is_int(em_routing_offline_target(&r, 1001), 0, "operator offlines a head");
	is_int(em_routing_target_state(&r, 1001), EM_PUB_OFFLINE, "it is offline");
	is_int(r.version, v + 1, "routing version bumped");
	is_int(em_routing_chain(&r, 1)->m[0].target, 2001, "the next target heads the chain");
	is_int(em_routing_offline_target(&r, 1001), 0, "again: nothing to do");
	is_int(em_routing_offline_target(&r, 2001), 0, "offline the second");
	is_int(em_routing_offline_target(&r, 3001), -EBUSY, "the last serving one is refused");
	is_int(em_routing_target_state(&r, 3001), EM_PUB_SERVING, "and keeps serving");
	is_int(em_routing_offline_target(&r, 4242), -ENOENT, "unknown target");

	/* Its daemon keeps beating: the target goes through a resync. */
	for (uint32_t n = 1; n <= 3; n++)
		heartbeat(&r, n, 1000, EM_LOCAL_ONLINE);
	em_routing_tick(&r, 1000, LEASE);
	em_routing_tick(&r, 1000, LEASE);
	const struct em_chain *c = em_routing_chain(&r, 1);
	ok(c->m[0].state == EM_PUB_SERVING && c->m[1].state == EM_PUB_SYNCING &&
	   c->m[2].state == EM_PUB_WAITING, "offlined targets come back one sync at a time");
	em_routing_clear(&r);
}

static void test_add_table(void)
{
	struct em_routing r;
	em_routing_init(&r);
	uint32_t ids[5] = { 11, 12, 13, 14, 15 };
	for (int i = 0; i < 5; i++)
		em_routing_register_node(&r, ids[i], "tcp://h:1", 0);
	struct em_chain_table t;
	is_int(em_chain_table_generate(5, 6, 3, 1, &t), 0, "table generated");
	is_int(em_routing_add_table(&r, &t, ids, 100), 0, "table added");
	is_int(r.nchains, 10, "ten chains");
	is_int(r.ntargets, 30, "thirty targets");
	ok(em_routing_target(&r, EM_TARGET_ID(13, 5)) != NULL, "target ids name node and slot");
	uint64_t v = r.version;
	is_int(em_routing_add_table(&r, &t, ids, 100), -EEXIST, "adding it twice fails");
	ok(r.version == v && r.nchains == 10, "and changes nothing");
	uint32_t unknown[5] = { 11, 12, 13, 14, 99 };
	is_int(em_routing_add_table(&r, &t, unknown, 200), -ENOENT, "unregistered node");
	ok(r.version == v && r.nchains == 10, "all or nothing");
	em_chain_table_free(&t);
	em_routing_clear(&r);
}

static uint8_t *encode(const struct em_routing *r, size_t *len)
{
	size_t need = em_routing_encoded_size(r);
	uint8_t *buf = malloc(need);
	if (!buf || em_routing_encode(r, buf, need, len) < 0 || *len != need) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int equal(const struct em_routing *a, const struct em_routing *b)
{
	if (a->version != b->version || a->nnodes != b->nnodes || a->ntargets != b->ntargets ||
	    a->nchains != b->nchains)
		return 0;
	for (size_t i = 0; i < a->nnodes; i++)
		if (a->nodes[i].id != b->nodes[i].id || strcmp(a->nodes[i].addr, b->nodes[i].addr))
			return 0;
	for (size_t i = 0; i < a->ntargets; i++)
		if (a->targets[i].id != b->targets[i].id || a->targets[i].node != b->targets[i].node ||
		    a->targets[i].chain != b->targets[i].chain)
			return 0;
	for (size_t i = 0; i < a->nchains; i++) {
		const struct em_chain *x = &a->chains[i], *y = &b->chains[i];
		if (x->id != y->id || x->version != y->version || x->n != y->n)
			return 0;
		for (unsigned k = 0; k < x->n; k++)
			if (x->m[k].target != y->m[k].target || x->m[k].state != y->m[k].state)
				return 0;
	}
	return 1;
}

/* Rewrites the CRC trailer so a deliberately altered body gets past it and
 * reaches the structural checks. */
static void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = em_crc32c(0, buf, len - 4);
	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_codec(void)
{
	struct em_routing r, d;
	build(&r);
	em_routing_offline_target(&r, 1001); /* some non-trivial states */
	size_t len;
	uint8_t *buf = encode(&r, &len);
	ok(buf != NULL, "encoded");
	is_int(em_routing_decode(&d, buf, len), 0, "decoded");
	ok(equal(&r, &d), "round trip preserves everything public");
	is_int(em_routing_target_state(&d, 1001), EM_PUB_OFFLINE, "states survive");
	em_routing_clear(&d);

	size_t small;
	uint8_t copy[4096];
	memcpy(copy, buf, len);
	is_int(em_routing_encode(&r, copy, len - 1, &small), -EMSGSIZE, "short buffer refused");
	ok(memcmp(copy, buf, len) == 0, "and left untouched");

	int all_short = 1;
	for (size_t n = 0; n < len; n++) {
		int rc = em_routing_decode(&d, buf, n);
		all_short &= rc < 0 && d.nnodes == 0 && d.nodes == NULL;
	}
	ok(all_short, "every truncation is rejected and leaves nothing behind");

	int all_flips = 1;
	for (size_t i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		all_flips &= em_routing_decode(&d, buf, len) < 0;
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	ok(all_flips, "every single bit flip is rejected");
	buf[len - 1] ^= 1;
	is_int(em_routing_decode(&d, buf, len), -EM_ECHECKSUM, "bad CRC named as such");
	buf[len - 1] ^= 1;

	/* Resealed corruption: the structure checks must catch it. */
	uint8_t *bad = malloc(len);
	memcpy(bad, buf, len);
	bad[4] = 2;
	reseal(bad, len);
	is_int(em_routing_decode(&d, bad, len), -EM_EPROTO_VERSION, "unknown format version");

	memcpy(bad, buf, len);
	bad[16] = 0xff; /* node count */
	reseal(bad, len);
	is_int(em_routing_decode(&d, bad, len), -EBADMSG, "count beyond the input");

	/* The first target record follows three node records. */
	size_t off = 28;
	for (int i = 0; i < 3; i++)
		off += 2 + (size_t)(bad[off] | bad[off + 1] << 8);
	memcpy(bad, buf, len);
	bad[off + 2 + 4] = 9; /* target 1001 on node 9 */
	reseal(bad, len);
	is_int(em_routing_decode(&d, bad, len), -EBADMSG, "target on an unknown node");

	memcpy(bad, buf, len);
	bad[off + 2 + 8] = 2; /* target 1001 claims chain 2 */
	reseal(bad, len);
	is_int(em_routing_decode(&d, bad, len), -EBADMSG, "target and chain disagree");

	memcpy(bad, buf, len);
	bad[off + 14 + 2] = 0xe9; /* second target id 1002 -> 1001: not ascending */
	reseal(bad, len);
	is_int(em_routing_decode(&d, bad, len), -EBADMSG, "duplicate ids");
	free(bad);

	/* A record grown by a newer writer is still read. */
	uint8_t *grown = malloc(len + 3);
	memcpy(grown, buf, off);
	grown[off] = 15; /* 12 + 3 bytes the old reader does not know */
	grown[off + 1] = 0;
	memcpy(grown + off + 2, buf + off + 2, 12);
	memset(grown + off + 14, 0xaa, 3);
	memcpy(grown + off + 17, buf + off + 14, len - off - 14);
	reseal(grown, len + 3);
	is_int(em_routing_decode(&d, grown, len + 3), 0, "unknown trailing fields are skipped");
	ok(equal(&r, &d), "and the known ones read right");
	em_routing_clear(&d);
	free(grown);

	struct em_routing empty;
	em_routing_init(&empty);
	uint8_t *eb = encode(&empty, &len);
	is_int(em_routing_decode(&d, eb, len), 0, "an empty routing round-trips");
	ok(equal(&empty, &d), "still empty");
	em_routing_clear(&d);
	free(eb);
	free(buf);
	em_routing_clear(&r);
}

/* Space comes with heartbeats; usable space is raw over the replicas, and
 * targets outside every chain do not count. */
static void test_space(void)
{
	struct em_routing r;
	build(&r);
	em_routing_add_target(&r, EM_TARGET_ID(1, 2), 1);
	struct em_routing_space sp;
	em_routing_space(&r, &sp);
	is_int((long long)sp.reported, 0, "nothing reported yet");
	is_int((long long)sp.targets, 6, "six targets in chains");
	is_int(sp.replicas, 3, "three replicas");
	const uint64_t G = 1ull << 30, M = 1ull << 20;
	for (uint32_t n = 1; n <= 3; n++) {
		struct em_target_report rep[3] = {
			{ EM_TARGET_ID(n, 0), EM_LOCAL_UPTODATE, G, n * 100 * M },
			{ EM_TARGET_ID(n, 1), EM_LOCAL_UPTODATE, G, n * 100 * M },
			{ EM_TARGET_ID(n, 2), EM_LOCAL_UPTODATE, G, G },
		};
		is_int(em_routing_heartbeat(&r, n, 1000, rep, n == 1 ? 3 : 2), 0, "heartbeat");
	}
	is_int((long long)em_routing_target(&r, 2001)->used_bytes, (long long)(200 * M),
	       "a target keeps what it reported");
	em_routing_space(&r, &sp);
	is_int((long long)sp.reported, 6, "all six reported");
	is_int((long long)sp.raw_total, (long long)(6 * G), "raw total");
	is_int((long long)sp.raw_used, (long long)(1200 * M), "raw used: the chainless one left out");
	is_int((long long)sp.total, (long long)(2 * G), "usable: raw over three");
	is_int((long long)sp.used, (long long)(400 * M), "used: raw over three");
	em_routing_clear(&r);
	em_routing_init(&r);
	em_routing_space(&r, &sp);
	is_int(sp.replicas, 0, "no chains: no replicas");
	is_int((long long)sp.total, 0, "and no usable space");
	em_routing_clear(&r);
}

int main(void)
{
	em_log_set_level(EM_LOG_ERROR);
	test_membership();
	test_heartbeats_and_leases();
	test_offline_target();
	test_add_table();
	test_codec();
	test_space();
	return tap_done();
}
