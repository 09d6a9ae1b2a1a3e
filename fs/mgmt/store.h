/* The cluster state in the KV store, so a newly elected mgmtd primary (or a
 * restarted one) continues from where the last one stopped.
 *
 * Keys, all under "C" (cluster; the metadata service uses other first
 * bytes, see fs/meta/record.h), ids big-endian so a range scan returns them
 * in id order:
 *   "CN" id   node record      "CT" id   target record
 *   "CC" id   chain record     "CV"      routing version (u64 LE)
 *   "CL"      the primary lease (lease.h)
 * Records are the bodies of the routing wire format (record.h). Local states
 * and heartbeat times are not stored: they are facts about the present that
 * a new primary relearns from heartbeats.
 */
#ifndef EMBER_FS_MGMT_STORE_H
#define EMBER_FS_MGMT_STORE_H

#include <stdint.h>

#include "fs/kv/kv.h"
#include "fs/mgmt/lease.h"
#include "fs/mgmt/routing.h"

/* Makes the stored state equal r in one transaction, writing only the
 * records that differ. With fence non-NULL the transaction first checks that
 * fence is still the live lease at now_ms (em_lease_check), so a deposed
 * primary cannot overwrite its successor's state. Returns 0, -ESTALE (lease
 * lost), or a KV error. */
int em_mgmt_store_save(struct em_kv *kv, const struct em_routing *r,
		       const struct em_lease *fence, uint64_t now_ms);

/* Loads the stored state into an initialised, empty *out. The version is the
 * stored one plus one, so clients refetch after a failover even if the last
 * primary changed something it never stored. Every node's lease starts at
 * now_ms and every target's local state is presumed from its public state,
 * so nothing changes until heartbeats arrive or leases run out. Returns 0
 * (an empty store gives an empty routing), -EUCLEAN for malformed or
 * inconsistent records, or a KV error; out is empty on error. */
int em_mgmt_store_load(struct em_kv *kv, struct em_routing *out, uint64_t now_ms);

#endif
