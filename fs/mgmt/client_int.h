/* Private to the mgmtd client: state shared by client.c (calls, routing
 * cache) and client_hb.c (the heartbeat loop). */
#ifndef EMBER_FS_MGMT_CLIENT_INT_H
#define EMBER_FS_MGMT_CLIENT_INT_H

#include <stdbool.h>

#include "fs/mgmt/client.h"

struct em_mgmt_hb {
	struct em_mgmt_client *c;
	struct em_mgmt_hb_opts o;
	char addr[EM_NODE_ADDR_MAX];
	uint32_t targets[EM_MGMT_MAX_TARGETS];
	struct em_timer *timer;
	bool registered, in_flight, stopped;
	uint64_t acked_ms, lease_ms;
	uint64_t sent_ms;  /* when the heartbeat in flight left: its reply vouches for then */
};

struct em_mgmt_client {
	struct em_reactor *reactor;
	struct em_rpc *rpc;
	uint32_t timeout_ms;
	char **urls;
	size_t n_urls;
	char primary[EM_NODE_ADDR_MAX]; /* where calls go first */

	struct em_routing routing;
	void (*on_routing)(void *arg, const struct em_routing *r);
	void *on_routing_arg;

	struct em_mgmt_hb *hb; /* NULL unless heartbeating */
	struct em_mgmt_call *paused; /* calls waiting to be resent */
};

#endif
