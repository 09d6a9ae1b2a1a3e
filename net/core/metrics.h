/* Prometheus metrics: counters, gauges and latency histograms with labels.
 *
 * A registry (struct em_metrics) holds metric families; a family has a name,
 * a help line, a type and a small fixed set of label names; each distinct
 * tuple of label values is one series (struct em_metric). Look a series up
 * once (em_metric_get) and keep the pointer: updating it is the hot path.
 *
 * Share-nothing updates: counters and histograms keep one copy of their
 * cells per thread (a thread-local shard), so an update is a relaxed load and
 * store on memory no other thread writes — no lock, no atomic read-modify-
 * write, no shared cache line. A scrape sums the shards with relaxed atomic
 * loads. Gauges hold one value (a level, not a flow): set is a relaxed store,
 * add a relaxed fetch-add. Creating families and series, and scraping, take
 * the registry's mutex; updates never do.
 *
 * Callback gauges (em_metrics_add_collector) compute their samples at scrape
 * time, for state owned elsewhere (target and chain states). A collector
 * given a reactor runs on that reactor's thread, so it may read the
 * reactor's private state without locks; the scrape waits for it (up to
 * EM_METRICS_COLLECT_TIMEOUT_MS, then goes on without its samples).
 *
 * em_metrics_render() writes text exposition format 0.0.4: one HELP and one
 * TYPE line per family, families sorted by name, series by their rendered
 * labels, histogram buckets in increasing order, so output is stable.
 */
#ifndef EMBER_NET_CORE_METRICS_H
#define EMBER_NET_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "net/core/reactor.h"

enum em_metric_type {
	EM_METRIC_COUNTER,
	EM_METRIC_GAUGE,
	EM_METRIC_HISTOGRAM,
};

#define EM_METRIC_MAX_LABELS 4
/* Histogram upper bounds: 1-2-5 steps from 1 µs to 10 s, then +Inf. */
#define EM_HIST_BUCKETS 22
extern const uint64_t em_hist_bounds_ns[EM_HIST_BUCKETS];

#define EM_METRICS_COLLECT_TIMEOUT_MS 1000

struct em_metrics;
struct em_metric_family;
struct em_metric;
struct em_metrics_collector;
struct em_metrics_out;

/* The process-wide registry every layer reports into. */
struct em_metrics *em_metrics_default(void);

int em_metrics_create(struct em_metrics **out);
/* No series of m may be updated any more, and no collector may be running. */
void em_metrics_destroy(struct em_metrics *m);

/* Finds or declares a family. Names follow [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* (not "le"). Asking again with the same name,
 * type and labels returns the same family. Returns 0, -EINVAL (bad name, too
 * many labels), -EEXIST (name taken with another type or labels), -ENOMEM. */
int em_metrics_family(struct em_metrics *m, enum em_metric_type type, const char *name,
		      const char *help, const char *const *labels, unsigned n_labels,
		      struct em_metric_family **out);

/* Finds or creates the series with these label values (as many as the
 * family has labels). Returns 0, -ENOMEM, -ENOSPC (every shard cell used). */
int em_metric_get(struct em_metric_family *f, const char *const *values, struct em_metric **out);

/* Updates; any thread, never blocking. A series of the wrong type is a
 * programming error and aborts. */
void em_counter_add(struct em_metric *c, uint64_t n);
void em_gauge_set(struct em_metric *g, int64_t v);
void em_gauge_add(struct em_metric *g, int64_t delta);
void em_hist_observe_ns(struct em_metric *h, uint64_t ns);

/* Monotonic nanoseconds, for latencies. */
uint64_t em_metrics_now_ns(void);

/* ---- callback gauges ---------------------------------------------------- */

typedef void (*em_metrics_collect_fn)(void *arg, struct em_metrics_out *out);

/* fn runs at every scrape: on r's thread when r is not NULL, else on the
 * scraping thread. Returns 0 or -ENOMEM. */
int em_metrics_add_collector(struct em_metrics *m, struct em_reactor *r, em_metrics_collect_fn fn,
			     void *arg, struct em_metrics_collector **out);
/* After this returns fn is not running and never runs again. Call it on r's
 * thread for a collector with a reactor (fn runs only there, so it cannot be
 * mid-call), from any thread otherwise. */
void em_metrics_del_collector(struct em_metrics *m, struct em_metrics_collector *c);

/* Inside a collector: one gauge sample. Every sample of one name must have
 * the same help and label names. Names that are invalid or clash with a
 * registered family are dropped; so is everything after memory runs out. */
void em_metrics_emit(struct em_metrics_out *out, const char *name, const char *help,
		     const char *const *labels, const char *const *values, unsigned n_labels,
		     double value);

/* ---- exposition --------------------------------------------------------- */

/* The whole registry as text format 0.0.4, NUL-terminated, in a malloc'd
 * buffer the caller frees. Returns 0 or -ENOMEM. */
int em_metrics_render(struct em_metrics *m, char **text, size_t *len);

#endif
