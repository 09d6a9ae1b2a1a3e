/* Routing info: the cluster's nodes, targets and chains, with a version.
 *
 * mgmtd owns the authoritative copy and changes it only through these
 * functions; every change that a client or storage daemon could observe bumps
 * `version`, so a cached copy is stale exactly when its version is lower.
 * Clients get it in RPC responses (em_routing_encode/decode) and cache it.
 *
 * Local target states and heartbeat times live here too, but only in mgmtd
 * memory: they are not encoded and do not bump the version (3FS keeps them
 * the same way); what they change is the chains' public states, at the next
 * em_routing_tick().
 *
 * Arrays are sorted by id so lookups are binary searches and the encoding is
 * canonical. Read them directly; change them only through the functions.
 */
#ifndef EMBER_FS_MGMT_ROUTING_H
#define EMBER_FS_MGMT_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "fs/mgmt/chains.h"
#include "fs/mgmt/state.h"

#define EM_NODE_ADDR_MAX 128 /* bytes of a node's address, with the NUL */

struct em_node {
	uint32_t id; /* nonzero */
	char addr[EM_NODE_ADDR_MAX]; /* where its services listen, e.g. "tcp://10.0.0.5:9000" */
	uint64_t last_hb_ms;         /* mgmtd memory only */
};

struct em_target {
	uint32_t id;    /* nonzero */
	uint32_t node;
	uint32_t chain; /* 0 while in no chain */
	uint8_t local;  /* enum em_local_state as last reported; mgmtd memory only */
	/* Space as last reported (0, 0: never); mgmtd memory only. */
	uint64_t total_bytes, used_bytes;
};

struct em_routing {
	uint64_t version;
	struct em_node *nodes;
	struct em_target *targets;
	struct em_chain *chains;
	size_t nnodes, ntargets, nchains;
	size_t cap_nodes, cap_targets, cap_chains;
};

/* Target ids made by em_routing_add_table(): node 7's slot 3 is 7004, so an
 * operator reads the node off the id. */
#define EM_TARGET_ID(node, slot) ((node) * 1000u + (slot) + 1u)

void em_routing_init(struct em_routing *r);
/* Frees the arrays and leaves r empty (as after init). */
void em_routing_clear(struct em_routing *r);

const struct em_node *em_routing_node(const struct em_routing *r, uint32_t id);
const struct em_target *em_routing_target(const struct em_routing *r, uint32_t id);
const struct em_chain *em_routing_chain(const struct em_routing *r, uint32_t id);

/* Public state of a target from its chain; -ENOENT when the target is unknown
 * or in no chain. */
int em_routing_target_state(const struct em_routing *r, uint32_t id);

/* Registers a node or, for a known id, updates its address (a restarted
 * daemon may come back elsewhere). Its lease starts at now_ms. Returns 0,
 * -EINVAL (id 0, address empty or too long), -ENOMEM. */
int em_routing_register_node(struct em_routing *r, uint32_t id, const char *addr,
			     uint64_t now_ms);

/* Returns 0, -EINVAL (id 0), -ENOENT (no such node), -EEXIST, -ENOMEM. */
int em_routing_add_target(struct em_routing *r, uint32_t id, uint32_t node);

/* A new chain of existing targets, head first, all serving, version 1.
 * Returns 0, -EINVAL (id 0, n out of range, a target twice or two on one
 * node), -ENOENT (unknown target), -EBUSY (target already in a chain),
 * -EEXIST (chain id taken), -ENOMEM. */
int em_routing_add_chain(struct em_routing *r, uint32_t id, const uint32_t *targets,
			 unsigned n);

/* Adds a generated table: node index i is node node_ids[i] (registered
 * already), slot s of it target EM_TARGET_ID(node_ids[i], s), created when
 * missing; chain c gets id first_chain + c. All or nothing: on error r is
 * unchanged. Returns 0 or the first error of add_target/add_chain. */
int em_routing_add_table(struct em_routing *r, const struct em_chain_table *t,
			 const uint32_t *node_ids, uint32_t first_chain);

struct em_target_report {
	uint32_t target;
	uint8_t local; /* enum em_local_state */
	uint64_t total_bytes, used_bytes; /* the target's data area and what chunks hold */
};

/* A storage daemon's heartbeat: renews the node's lease and records the local
 * state of each of its targets; a target of the node missing from the report
 * counts as offline. Returns 0, -ENOENT (unknown node), -EINVAL (a report
 * names a target of another node or a bad state; nothing is applied). */
int em_routing_heartbeat(struct em_routing *r, uint32_t node, uint64_t now_ms,
			 const struct em_target_report *reports, size_t n);

/* Applies leases (a node silent for lease_ms has all its targets offline) and
 * the transition table to every chain. Returns how many chains changed
 * (the routing version is bumped once if any did), or -EINVAL. */
int em_routing_tick(struct em_routing *r, uint64_t now_ms, uint64_t lease_ms);

/* Space of the targets in chains, as their daemons last reported it to
 * mgmtd: raw sums, and usable bytes for files (raw divided by the chain
 * table's replication factor, the members per chain on average). */
struct em_routing_space {
	uint64_t raw_total, raw_used;
	uint64_t total, used;      /* usable */
	unsigned replicas;         /* 0: no chains */
	size_t targets, reported;  /* in chains, and of those with a report */
};
void em_routing_space(const struct em_routing *r, struct em_routing_space *out);

/* The operator's "offline-target": the target goes offline in its chain now
 * (to the tail, chain and routing versions bumped) and stays so until its
 * daemon's next heartbeat, after which it resyncs like any returning target.
 * Refused with -EBUSY when it is the chain's last serving target, -ENOENT
 * when unknown or in no chain; 0 when done or already offline. */
int em_routing_offline_target(struct em_routing *r, uint32_t target);

/* Binary encoding for RPC responses and client caches: little-endian,
 * length-prefixed records (old readers skip fields appended later), a
 * CRC32C trailer. em_routing_encode returns 0 and the length in *len, or
 * -EMSGSIZE, buf untouched, when cap is below em_routing_encoded_size().
 * em_routing_decode fills `out` (its old contents are not freed: pass an
 * empty one) and returns 0; on -EBADMSG (truncated, malformed or
 * inconsistent), -EM_ECHECKSUM (CRC mismatch), -EM_EPROTO_VERSION (unknown
 * format) or -ENOMEM, out is left empty. */
size_t em_routing_encoded_size(const struct em_routing *r);
int em_routing_encode(const struct em_routing *r, void *buf, size_t cap, size_t *len);
int em_routing_decode(struct em_routing *out, const void *buf, size_t len);

#endif
