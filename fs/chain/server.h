/* The chain service: CRAQ replication over the local targets' chunk
 * engines, as 3FS does it (docs/chain.md).
 *
 * Writes enter at the chain's head; each replica pulls the bytes from its
 * predecessor's buffer with a one-sided read, takes the chunk lock, stores
 * a pending version (committed + 1), forwards to its successor and commits
 * when the successor answers with the same version and checksum; the tail
 * commits at once. Reads are served by any serving replica; a chunk with a
 * pending version answers -EM_ENOTCOMMITTED. Every request carries the
 * sender's chain version and is refused with -EM_ECHAINVER when it differs.
 * A serving target whose successor is syncing resyncs it (resync.c).
 *
 * Everything runs on one reactor: the one of the em_rpc, which also owns
 * the engines and the mgmtd client.
 */
#ifndef EMBER_FS_CHAIN_SERVER_H
#define EMBER_FS_CHAIN_SERVER_H

#include <stdint.h>

#include "block/chunk/engine.h"
#include "fs/mgmt/client.h"
#include "net/rpc.h"

struct em_chain_server;

struct em_chain_server_opts {
	uint64_t forward_timeout_ms; /* a replica retries its successor this long; 0: 30 s */
	uint64_t rpc_timeout_ms;     /* one forward or resync call; 0: 5 s */
	uint64_t scrub_rate;         /* scrub bytes a second per target; 0: 32 MiB/s */
	uint64_t scrub_interval_ms;  /* a scrub pass this often; 0: only when asked */
};

/* Registers the chain methods on rpc. mgmt supplies routing and the
 * heartbeat lease that fences this server. */
int em_chain_server_create(struct em_rpc *rpc, struct em_reactor *r, struct em_mgmt_client *mgmt,
			   const struct em_chain_server_opts *o, struct em_chain_server **out);
/* Before serving; -EEXIST, -E2BIG. */
int em_chain_server_add_target(struct em_chain_server *s, uint32_t id, const char *name,
			       struct em_engine *e);
/* For em_mgmt_hb_opts.report: each target's local state. */
unsigned em_chain_server_report(void *server, struct em_target_report *out, unsigned cap);
/* Stops the tick and ends running resyncs at their next step; before
 * em_rpc_drain. */
void em_chain_server_stop(struct em_chain_server *s);
/* After em_rpc_destroy. */
void em_chain_server_destroy(struct em_chain_server *s);

#endif
