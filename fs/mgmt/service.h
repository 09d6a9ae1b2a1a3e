/* The mgmtd RPC service: fs/mgmt's routing state behind net/rpc.h.
 *
 * One instance runs on one reactor. Several instances may share one KV
 * store; the one holding the primary lease (lease.h) serves, the others
 * answer every method with EM_MGMT_ENOTPRIMARY and the primary's address, and
 * keep trying to take the lease. Methods and payloads: proto.h.
 *
 * A timer ticks every tick_ms. On the primary a tick renews the lease, then
 * applies heartbeat leases and the transition table (em_routing_tick); any
 * change is written to the KV store, fenced by the lease, before clients can
 * see the new routing version. Admin methods follow the same rule: they
 * change a copy, store it, and only then replace the served state, so a
 * failed write changes nothing. A primary whose lease is taken over, or
 * whose lease runs to within clock_margin_ms of its expiry without a
 * successful renewal, drops its state and stops serving at once.
 *
 * KV calls are made on the reactor thread: with LMDB they take microseconds;
 * with PostgreSQL a slow server delays the other methods of this instance,
 * which only carries cluster control traffic.
 */
#ifndef EMBER_FS_MGMT_SERVICE_H
#define EMBER_FS_MGMT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/kv/kv.h"
#include "net/rpc.h"

struct em_routing;

struct em_mgmt_service_opts {
	struct em_kv *kv;
	/* Our address as clients should dial it ("tcp://10.0.0.1:9100"); also
	 * our name in the lease, which is how standbys point at us. */
	const char *self;
	uint64_t hb_lease_ms;      /* a node silent this long is offline; 0: 10 s */
	uint64_t tick_ms;          /* 0: 1 s */
	uint64_t primary_lease_ms; /* 0: 10 s; renewed every tick */
	uint64_t clock_margin_ms;  /* stop serving this long before the lease
				    * expires (clock skew between hosts); 0: 1/5 of
				    * primary_lease_ms */
	uint64_t chain_seed;       /* CREATE_CHAINS requests with seed 0 get this */
};

struct em_mgmt_service;

/* Registers the methods on rpc and starts ticking on r (the reactor of
 * rpc's em_net); the first tick, right away, tries to take the lease.
 * Returns 0, -EINVAL, -ENOMEM, or em_rpc_register's error. */
int em_mgmt_service_create(struct em_reactor *r, struct em_rpc *rpc,
			   const struct em_mgmt_service_opts *o, struct em_mgmt_service **out);

/* Stops ticking, answers further requests with -ESHUTDOWN and releases the
 * lease when held, so a standby takes over without waiting for it to expire.
 * Call on the reactor thread before em_rpc_destroy. */
void em_mgmt_service_stop(struct em_mgmt_service *s);

/* After em_rpc_destroy (the handlers point at s). */
void em_mgmt_service_destroy(struct em_mgmt_service *s);

bool em_mgmt_service_is_primary(const struct em_mgmt_service *s);
/* The routing info served while primary, else NULL (for metrics). On the
 * reactor thread; valid until the next tick or admin method replaces it. */
const struct em_routing *em_mgmt_service_routing(const struct em_mgmt_service *s);

#endif
