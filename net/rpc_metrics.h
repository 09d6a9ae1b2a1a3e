/* The RPC layer's metrics (net/rpc.c), in the default registry; names and
 * meanings are listed in docs/operations.md. Internal to net/. */
#ifndef EMBER_NET_RPC_METRICS_H
#define EMBER_NET_RPC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "net/core/metrics.h"

/* The series of one (service, method), looked up once at registration. */
struct em_rpc_mx {
	struct em_metric *ok, *error, *req_bytes, *resp_bytes, *latency;
};

/* Returns 0, or the registry's -ENOMEM / -ENOSPC. */
int em_rpc_mx_init(struct em_rpc_mx *mx, uint16_t service, uint16_t method);
/* One answered request: status is the handler's, t0_ns when it arrived. */
void em_rpc_mx_done(const struct em_rpc_mx *mx, int status, size_t req_len, size_t resp_len,
		    uint64_t t0_ns);
/* A connection accepted (client false) or dialled (client true). */
void em_rpc_mx_conn(enum em_transport_kind kind, bool client);

#endif
