/* The private reactor + net + rpc stack of a blocking client.
 *
 * A blocking client (block/service/client.h, fs/chain/client.h) owns its
 * reactor and turns it itself while it waits for a reply, so it builds the
 * whole stack alone rather than borrowing a daemon's. These two calls are
 * that build and the tail of its teardown, kept in one place so the clients
 * cannot drift apart in how they set up or drain.
 */
#ifndef EMBER_NET_CLIENT_STACK_H
#define EMBER_NET_CLIENT_STACK_H

#include "net/conn.h"
#include "net/core/reactor.h"
#include "net/rpc.h"

/* A reactor named NAME, an em_net on it (cfg NULL: the defaults) and an
 * em_rpc on that. Returns 0 or negative; on failure the parts already made
 * stay in *r, *net and *rpc (which the caller has set to NULL), so the
 * client's own destroy frees them the same way as a complete stack. */
int em_client_stack_create(const char *name, const struct em_net_config *cfg,
			   const struct em_rpc_opts *ro, struct em_reactor **r,
			   struct em_net **net, struct em_rpc **rpc);

/* The teardown after em_rpc_destroy() (and after whatever was built on the
 * rpc, which must go first: em_rpc_destroy ends its calls in flight). Turns
 * the reactor a few times so the closed connections finish on it, then frees
 * net and reactor. Either may be NULL, as after a failed create. */
void em_client_stack_release(struct em_reactor *r, struct em_net *net);

#endif
