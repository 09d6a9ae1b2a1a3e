/* The chunk service: serves the methods of proto.h for a set of targets.
 *
 * The service lives on the reactor of its em_rpc (the "network reactor"):
 * requests are decoded, bulk data is pulled and pushed, and replies are sent
 * there. Each target's engine belongs to its own reactor, possibly another
 * thread; engine operations hop there with em_reactor_send and their results
 * hop back, so no engine state is ever touched off its thread.
 *
 * A target whose engine reports -EIO goes offline: from then on every item
 * for it fails with -EM_ETARGETOFFLINE, as 3FS offlines a failing disk
 * rather than serving from it.
 */
#ifndef EMBER_BLOCK_SERVICE_SERVER_H
#define EMBER_BLOCK_SERVICE_SERVER_H

#include <stdint.h>

#include "block/chunk/engine.h"
#include "net/rpc.h"

struct em_cs_server;

/* Registers the chunk methods on rpc. Called on rpc's reactor. */
int em_cs_server_create(struct em_rpc *rpc, struct em_reactor *net_reactor,
			struct em_cs_server **out);
/* Targets are added before serving starts; -EEXIST for a duplicate id,
 * -E2BIG beyond EM_CS_MAX_TARGETS. The engine runs on reactor r. */
int em_cs_server_add_target(struct em_cs_server *s, uint32_t id, const char *name,
			    struct em_engine *e, struct em_reactor *r);
/* After em_rpc_drain completed: no request is in flight any more. Frees
 * the server (its cached buffers); engines stay open for the caller. */
void em_cs_server_destroy(struct em_cs_server *s);

#endif
