/* Private to the mgmtd service: state shared by service.c (lease, tick,
 * persistence) and service_rpc.c (the method handlers). */
#ifndef EMBER_FS_MGMT_SERVICE_INT_H
#define EMBER_FS_MGMT_SERVICE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/mgmt/lease.h"
#include "fs/mgmt/routing.h"
#include "fs/mgmt/service.h"

struct em_mgmt_service {
	struct em_reactor *reactor;
	struct em_rpc *rpc;
	struct em_kv *kv;
	struct em_mgmt_service_opts o;
	char self[EM_LEASE_HOLDER_MAX];
	struct em_timer *timer;
	bool stopped;

	bool primary;
	struct em_lease lease;            /* ours while primary */
	char other[EM_LEASE_HOLDER_MAX];  /* the primary as last seen while standby */

	/* While primary: equal to the stored state plus what only memory holds
	 * (local states, heartbeat times). Replaced only after a store. */
	struct em_routing r;
	/* em_routing_encode(&r), made on demand for GET_ROUTING. */
	uint8_t *blob;
	size_t blob_len;
	uint64_t blob_version;
};

/* Wall-clock milliseconds: what leases are measured in. */
uint64_t em_mgmt_wall_ms(void);

/* True when this instance may serve now; steps down (dropping its state)
 * when the lease has run too close to its expiry. */
bool em_mgmt_serving(struct em_mgmt_service *s);

/* Deep copy of s->r into *work, to be changed and then passed to
 * em_mgmt_commit. */
int em_mgmt_work_copy(const struct em_mgmt_service *s, struct em_routing *work);

/* Stores *work (fenced by our lease) when its version differs from the
 * served one, then makes it the served state. *work is consumed either way.
 * Returns 0, -ESTALE (lease lost: stepped down) or a KV error (nothing
 * changed). */
int em_mgmt_commit(struct em_mgmt_service *s, struct em_routing *work);

/* Registers the handlers of service_rpc.c. */
int em_mgmt_register_methods(struct em_mgmt_service *s);

#endif
