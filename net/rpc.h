/* RPC over net/conn.h: services, calls, deadlines, authentication.
 *
 * An em_rpc lives on one reactor (one em_net). It can serve (register
 * handlers, listen) and call (by peer URL; it keeps one authenticated
 * connection per peer and reconnects when that one dies). Every connection,
 * both ways, runs the handshake of net/auth.h before any request passes:
 * a peer that cannot prove the cluster secret is disconnected.
 *
 * Service 0 is reserved for the handshake. Handlers may answer at once or
 * later (after bulk transfers): each request gets exactly one em_rpc_reply.
 */
#ifndef EMBER_NET_RPC_H
#define EMBER_NET_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/frame.h"

struct em_rpc_opts {
	const void *secret; /* the cluster secret */
	size_t secret_len;
	uint32_t default_timeout_ms;   /* calls without their own; 0: 30 s */
	uint32_t handshake_timeout_ms; /* 0: 5 s */
	/* Failed handshakes one address may make within a minute before its
	 * connections are refused for 10 s; 0: 8, UINT32_MAX: no limit. */
	uint32_t auth_fail_max;
};

/* Memory a call lets the server touch, for the duration of that call. */
struct em_rpc_grant {
	struct em_buf_desc desc;
	unsigned access; /* EM_ACCESS_REMOTE_READ / _WRITE */
};

struct em_rpc_call_opts {
	uint32_t timeout_ms; /* 0: the default */
	const struct em_rpc_grant *grants;
	unsigned n_grants;
};

struct em_rpc;
struct em_rpc_req;

typedef void (*em_rpc_handler_fn)(struct em_rpc_req *req, void *arg);
/* status: the server's (0 or negative), or a local failure: -ETIMEDOUT,
 * -ECONNRESET, -EM_EAUTH, -ESHUTDOWN, ... payload is valid during the call. */
typedef void (*em_rpc_done_fn)(void *arg, int status, const void *payload, size_t len);

int em_rpc_create(struct em_net *net, const struct em_rpc_opts *opts, struct em_rpc **out);
/* Closes every connection; calls still pending complete with -ESHUTDOWN.
 * Requests still being handled keep what they need: their replies send
 * nothing, and the last one frees the rest. Their handlers must still be
 * alive to answer, so a daemon drains (and hangs up) first. */
void em_rpc_destroy(struct em_rpc *rpc);

/* service >= 1. -EEXIST when taken. */
int em_rpc_register(struct em_rpc *rpc, uint16_t service, uint16_t method,
		    em_rpc_handler_fn fn, void *arg);
/* Accepts connections on url; *port (optional) gets the bound port. */
int em_rpc_listen(struct em_rpc *rpc, const char *url, int *port);

/* Sends a request to url. Returns 0 (cb runs exactly once, later) or a
 * negative errno (no callback). opts may be NULL. */
int em_rpc_call(struct em_rpc *rpc, const char *url, uint16_t service, uint16_t method,
		const void *payload, size_t len, const struct em_rpc_call_opts *opts,
		em_rpc_done_fn cb, void *arg);

/* Stops listening and refuses new requests and calls with -ESHUTDOWN; done
 * runs (later) once every handled request was answered and every call ended. */
void em_rpc_drain(struct em_rpc *rpc, void (*done)(void *arg), void *arg);
/* Closes every connection with -ESHUTDOWN, for a drain that ran out of time:
 * calls end, and the bulk transfers of requests still being handled fail on
 * the next reactor iterations, so their handlers answer (into the void). */
void em_rpc_hangup(struct em_rpc *rpc);
/* Requests received and not yet answered. */
size_t em_rpc_inflight(const struct em_rpc *rpc);

/* ---- inside a handler -------------------------------------------------- */
const void *em_rpc_req_payload(const struct em_rpc_req *req, size_t *len);
uint16_t em_rpc_req_service(const struct em_rpc_req *req);
uint16_t em_rpc_req_method(const struct em_rpc_req *req);
/* em_now_ms() time after which the caller has given up: its timeout_ms
 * (none: em_rpc_opts.default_timeout_ms), at most 10 minutes. */
uint64_t em_rpc_req_deadline(const struct em_rpc_req *req);
/* The connection the request came on, for bulk transfers against the
 * caller's granted buffers; NULL once it has closed. */
struct em_conn *em_rpc_req_conn(const struct em_rpc_req *req);
/* Bulk transfers against the caller's granted buffers (em_conn_bulk), ending
 * by the request's deadline: a peer that never serves them holds nothing
 * past it. -ECONNRESET once the connection has closed. */
int em_rpc_req_bulk(struct em_rpc_req *req, bool write, const struct em_bulk_item *items, int n,
		    em_bulk_fn cb, void *arg);
/* Answers and frees req. Returns 0, or a negative errno when the answer could
 * not be sent (the connection is gone); req is freed either way. */
int em_rpc_reply(struct em_rpc_req *req, int status, const void *payload, size_t len);

#endif
