/* The Prometheus endpoint: GET /metrics over HTTP (libmicrohttpd, its own
 * thread), rendering a registry of net/core/metrics.h at each request.
 * Anything else answers 404 (405 for other methods on /metrics).
 */
#ifndef EMBER_NET_METRICS_HTTP_H
#define EMBER_NET_METRICS_HTTP_H

#include "net/core/config.h"
#include "net/core/metrics.h"

/* The [metrics] section of an Ember INI file; merge it into a program's
 * schema. Off by default: several daemons share a host and a fixed default
 * port would collide, so each daemon's config names its own port. */
extern const struct em_cfg_option em_metrics_cfg_schema[];

struct em_metrics_http;

/* Serves m on addr ("IP:PORT" or "[IPv6]:PORT"; port 0 picks a free one).
 * Returns 0, -EINVAL (malformed address), -EADDRINUSE (port taken; logged
 * with the address), or another negative errno. */
int em_metrics_http_start(struct em_metrics *m, const char *addr, struct em_metrics_http **out);
/* The bound port. */
int em_metrics_http_port(const struct em_metrics_http *h);
/* Stops serving and waits for the requests in flight. NULL is ignored. */
void em_metrics_http_stop(struct em_metrics_http *h);

/* Starts the endpoint for the default registry when [metrics] enabled is
 * true (cfg loaded with em_metrics_cfg_schema); *out stays NULL when it is
 * off. Returns 0 or em_metrics_http_start's error. */
int em_metrics_http_from_config(const struct em_config *cfg, struct em_metrics_http **out);

#endif
