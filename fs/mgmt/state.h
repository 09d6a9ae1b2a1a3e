/* Target states and chain transitions of the cluster manager.
 *
 * Each target has two states. The *local* state is what its storage daemon
 * reports in heartbeats (kept only in mgmtd memory). The *public* state lives
 * in the chain and tells clients and peers what the target may do:
 *
 *   serving  read and write    a full replica
 *   syncing  write only        being filled by its predecessor (resync)
 *   waiting  neither           alive, resync not started
 *   lastsrv  neither           down, but was the last serving target
 *   offline  neither           down or its medium failed
 *
 * A chain is ordered head to tail and always sorted serving, lastsrv,
 * syncing, waiting, offline, so failed targets sit at the tail and the head
 * is the first serving target. em_chain_update() applies 3FS's transition
 * table to every member and bumps the chain version on any change; see
 * docs/cluster.md for the rules as implemented. Everything here is a pure
 * function of its arguments (time is passed in), so tests drive it directly.
 */
#ifndef EMBER_FS_MGMT_STATE_H
#define EMBER_FS_MGMT_STATE_H

#include <stdbool.h>
#include <stdint.h>

/* Replicas per chain; the chain struct is fixed size so it can be copied. */
#define EM_CHAIN_MAX 8

/* Values are part of the routing wire format and the KV records. */
enum em_local_state {
	EM_LOCAL_OFFLINE = 0,
	EM_LOCAL_ONLINE = 1,   /* running, not known to hold every chunk */
	EM_LOCAL_UPTODATE = 2, /* running and holds every committed chunk */
	EM_LOCAL_COUNT
};

enum em_pub_state {
	EM_PUB_SERVING = 0,
	EM_PUB_SYNCING = 1,
	EM_PUB_WAITING = 2,
	EM_PUB_LASTSRV = 3,
	EM_PUB_OFFLINE = 4,
	EM_PUB_COUNT
};

struct em_chain_member {
	uint32_t target;
	uint8_t state; /* enum em_pub_state */
};

struct em_chain {
	uint32_t id;
	uint64_t version; /* bumped by every change of order or state */
	unsigned n;       /* 1..EM_CHAIN_MAX */
	struct em_chain_member m[EM_CHAIN_MAX]; /* head first */
};

/* "up-to-date", "serving", ...; "?" for values out of range. */
const char *em_local_state_name(enum em_local_state s);
const char *em_pub_state_name(enum em_pub_state s);

/* What a client may send to a target in this public state. */
bool em_pub_state_readable(enum em_pub_state s);
bool em_pub_state_writable(enum em_pub_state s);

/* Position class of a state in a chain: serving 0, lastsrv 1, syncing 2,
 * waiting 3, offline 4. Chains are sorted by it. */
unsigned em_pub_state_rank(enum em_pub_state s);

/* One row of the transition table: the next public state of a target from
 * its local state, its current public state and its predecessor's public
 * state in the new chain order (pred ignored when has_pred is false). */
enum em_pub_state em_state_next(enum em_local_state local, enum em_pub_state cur,
				bool has_pred, enum em_pub_state pred);

/* Applies the table to every member; local[i] is the local state of c->m[i].
 * The result is re-sorted by rank (stable, so surviving serving targets keep
 * their order and the head stays unless it failed), has at most one syncing
 * target, and keeps a lastsrv target when the last serving ones fail.
 * Returns 1 and bumps c->version when anything changed, 0 when nothing did,
 * -EINVAL (c untouched) for a malformed chain or state. */
int em_chain_update(struct em_chain *c, const enum em_local_state *local);

/* 0 when c is well formed: 1..EM_CHAIN_MAX members, distinct nonzero
 * targets, valid states sorted by rank, at most one syncing target, which
 * needs a serving one; -EINVAL otherwise. */
int em_chain_check(const struct em_chain *c);

/* Index of the member holding target, or -ENOENT. */
int em_chain_find(const struct em_chain *c, uint32_t target);

/* The local state under which em_state_next() keeps pub unchanged. Used for
 * targets not heard from yet (a new chain, or a freshly elected primary that
 * has only the stored public states): their chains stay as they are until a
 * heartbeat or the lease says otherwise. */
enum em_local_state em_local_state_presumed(enum em_pub_state pub);

/* The heartbeat lease: a node last heard from at last_hb_ms is offline from
 * last_hb_ms + lease_ms on, whatever it reported. Times are milliseconds of
 * one monotonic clock (mgmtd's own). */
enum em_local_state em_local_state_at(enum em_local_state reported, uint64_t last_hb_ms,
				      uint64_t now_ms, uint64_t lease_ms);

#endif
