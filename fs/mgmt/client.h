/* Talking to ember-mgmtd: calls that find the primary, a routing cache,
 * and the storage daemon's heartbeat loop.
 *
 * A client lives on one reactor and calls through an em_rpc of that reactor
 * (the caller's, so a daemon keeps one set of connections). Callbacks run on
 * that reactor. Every call goes to the primary as last learnt; a standby's
 * EM_MGMT_ENOTPRIMARY answer names the primary and the call is resent there,
 * and an unreachable or silent instance makes the client try the next
 * configured one, until timeout_ms has passed for that call.
 *
 * Teardown: em_mgmt_heartbeat_stop, then em_rpc_destroy (which completes
 * calls still pending), then em_mgmt_client_destroy.
 */
#ifndef EMBER_FS_MGMT_CLIENT_H
#define EMBER_FS_MGMT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fs/mgmt/proto.h"
#include "fs/mgmt/routing.h"
#include "net/rpc.h"

struct em_mgmt_client_opts {
	const char *const *mgmtd; /* URLs of the mgmtd instances, any order */
	size_t n_mgmtd;           /* 1..16 */
	uint32_t timeout_ms;      /* per call, retries included; 0: 10 s */
};

struct em_mgmt_client;

int em_mgmt_client_create(struct em_reactor *r, struct em_rpc *rpc,
			  const struct em_mgmt_client_opts *o, struct em_mgmt_client **out);
void em_mgmt_client_destroy(struct em_mgmt_client *c);

/* status 0 or negative; payload valid during the callback. */
typedef void (*em_mgmt_done_fn)(void *arg, int status, const void *payload, size_t len);
typedef void (*em_mgmt_status_fn)(void *arg, int status);

/* One method call (proto.h) to the primary. Returns 0 (cb runs once, later)
 * or -ENOMEM. */
int em_mgmt_call(struct em_mgmt_client *c, uint16_t method, const void *req, size_t len,
		 em_mgmt_done_fn cb, void *arg);

/* The same, run to completion on the calling thread, which must own the
 * client's reactor and not be inside one of its callbacks (tools, tests,
 * daemon start-up). *rsp (malloc'd, may be NULL when *rsp_len is 0) is the
 * response payload, also for errors; free it. Returns the call's status. */
int em_mgmt_call_wait(struct em_mgmt_client *c, uint16_t method, const void *req, size_t len,
		      void **rsp, size_t *rsp_len);


/* ---- routing cache --------------------------------------------------- */

/* The cached routing info; version 0 and empty until the first fetch. Valid
 * until the next refresh replaces it (the on_routing callback says when). */
const struct em_routing *em_mgmt_routing(const struct em_mgmt_client *c);

/* Called on the reactor each time the cache is replaced by a newer version. */
void em_mgmt_on_routing(struct em_mgmt_client *c,
			void (*fn)(void *arg, const struct em_routing *r), void *arg);

/* Fetches the routing info if mgmtd has a newer version than the cache.
 * cb (optional) gets 0 (cache current) or the failure. Returns 0 or -ENOMEM. */
int em_mgmt_refresh(struct em_mgmt_client *c, em_mgmt_status_fn cb, void *arg);
/* Like em_mgmt_call_wait, for em_mgmt_refresh. */
int em_mgmt_refresh_wait(struct em_mgmt_client *c);

/* ---- heartbeat loop (storage daemons) ------------------------------------- */

/* Fills out[0..cap) with the local state of each target; returns the count. */
typedef unsigned (*em_mgmt_report_fn)(void *arg, struct em_target_report *out, unsigned cap);

struct em_mgmt_hb_opts {
	uint32_t node;
	const char *addr;         /* where this node's services listen */
	const uint32_t *targets;  /* its targets, registered with the node */
	unsigned ntargets;        /* up to EM_MGMT_MAX_TARGETS */
	uint64_t interval_ms;     /* 0: 1 s; keep it well under mgmtd's lease */
	em_mgmt_report_fn report;
	void *arg;
};

/* Registers the node, then heartbeats every interval_ms with report()'s
 * states; re-registers when mgmtd no longer knows the node, and refreshes
 * the routing cache when a reply carries a newer version. Failures are
 * retried on the next beat. Returns 0, -EBUSY (already running), -EINVAL. */
int em_mgmt_heartbeat_start(struct em_mgmt_client *c, const struct em_mgmt_hb_opts *o);
void em_mgmt_heartbeat_stop(struct em_mgmt_client *c);

/* em_now_ms() of the last heartbeat mgmtd acknowledged (0: none yet) and the
 * node lease it announced. A daemon that has not been acknowledged for half
 * the lease must assume it was declared failed and stop serving. */
uint64_t em_mgmt_heartbeat_acked_ms(const struct em_mgmt_client *c);
uint64_t em_mgmt_heartbeat_lease_ms(const struct em_mgmt_client *c);

#endif
