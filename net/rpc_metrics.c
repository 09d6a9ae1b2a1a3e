#include "net/rpc_metrics.h"

#include <stdio.h>

static int series(enum em_metric_type type, const char *name, const char *help,
		  const char *const *labels, const char *const *values, unsigned n,
		  struct em_metric **out)
{
	struct em_metric_family *f;
	int rc = em_metrics_family(em_metrics_default(), type, name, help, labels, n, &f);
	return rc < 0 ? rc : em_metric_get(f, values, out);
}

int em_rpc_mx_init(struct em_rpc_mx *mx, uint16_t service, uint16_t method)
{
	static const char *const sm[] = { "service", "method" };
	static const char *const sms[] = { "service", "method", "status" };
	char s[8], m[8];
	snprintf(s, sizeof(s), "%u", service);
	snprintf(m, sizeof(m), "%u", method);
	const char *ok[] = { s, m, "ok" }, *err[] = { s, m, "error" };
	const char *help = "RPC requests answered by this server's handlers";
	int rc = series(EM_METRIC_COUNTER, "ember_rpc_requests_total", help, sms, ok, 3, &mx->ok);
	if (rc == 0)
		rc = series(EM_METRIC_COUNTER, "ember_rpc_requests_total", help, sms, err, 3,
			    &mx->error);
	if (rc == 0)
		rc = series(EM_METRIC_COUNTER, "ember_rpc_request_bytes_total",
			    "payload bytes of requests received (headers excluded)", sm, ok, 2,
			    &mx->req_bytes);
	if (rc == 0)
		rc = series(EM_METRIC_COUNTER, "ember_rpc_response_bytes_total",
			    "payload bytes of responses sent (headers excluded)", sm, ok, 2,
			    &mx->resp_bytes);
	if (rc == 0)
		rc = series(EM_METRIC_HISTOGRAM, "ember_rpc_server_latency_seconds",
			    "time from a request's arrival to its answer", sm, ok, 2, &mx->latency);
	return rc;
}

void em_rpc_mx_done(const struct em_rpc_mx *mx, int status, size_t req_len, size_t resp_len,
		    uint64_t t0_ns)
{
	em_counter_add(status < 0 ? mx->error : mx->ok, 1);
	em_counter_add(mx->req_bytes, req_len);
	em_counter_add(mx->resp_bytes, resp_len);
	em_hist_observe_ns(mx->latency, em_metrics_now_ns() - t0_ns);
}

void em_rpc_mx_conn(enum em_transport_kind kind, bool client)
{
	static const char *const labels[] = { "kind", "role" };
	const char *values[] = { kind == EM_TRANSPORT_RDMA ? "rdma" : "tcp",
				 client ? "client" : "server" };
	struct em_metric *c;
	/* Connections are rare next to requests: looking the series up each
	 * time keeps rpc.c free of per-kind state. */
	if (series(EM_METRIC_COUNTER, "ember_rpc_connections_total",
		   "RPC connections opened, by transport and by which side dialled", labels,
		   values, 2, &c) == 0)
		em_counter_add(c, 1);
}
