/* The metadata RPC service: ember-meta's methods (proto.h) over em_meta_*.
 *
 * The service keeps no state of its own, so any number of ember-meta
 * processes can serve one PostgreSQL store. Operations are KV transactions
 * that block on the store (PostgreSQL round trips, LMDB's writer lock), so
 * they never run on the RPC reactor: each request is decoded there, handed to
 * one of `workers` worker reactors (threads) which runs the em_meta_* call
 * and encodes the answer, and the reply goes back through the RPC reactor.
 *
 * Trust: a connection is admitted only after proving the cluster secret
 * (net/auth.h); the credentials in each request are then believed as sent.
 * Checking a per-user token is future work (docs/metadata.md).
 */
#ifndef EMBER_FS_META_SERVICE_H
#define EMBER_FS_META_SERVICE_H

#include "fs/meta/meta.h"
#include "net/rpc.h"

struct em_meta_service_opts {
	struct em_meta *meta;      /* stays the caller's; outlives the service */
	unsigned workers;          /* worker reactors; 0: 4 */
};

struct em_meta_service;

/* Registers the methods on rpc, which lives on reactor r, and starts the
 * workers. */
int em_meta_service_create(struct em_reactor *r, struct em_rpc *rpc,
			   const struct em_meta_service_opts *o, struct em_meta_service **out);
/* Stops the workers. Drain the rpc first (em_rpc_drain) so no request is
 * still with a worker. */
void em_meta_service_destroy(struct em_meta_service *s);

#endif
