/* Internals shared by metrics.c (registry, shards, collectors) and
 * metrics_text.c (exposition). Not for other modules. */
#ifndef EMBER_NET_CORE_METRICS_IMPL_H
#define EMBER_NET_CORE_METRICS_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "net/core/metrics.h"

struct em_metric {
	struct em_metric_family *fam;
	struct em_metric *next;
	uint32_t cell;        /* first shard cell: counters 1, histograms HIST_CELLS */
	_Atomic int64_t gauge;
	char *values[EM_METRIC_MAX_LABELS];
};

/* Histogram cells: one per bound, +Inf, then the sum in nanoseconds. */
#define HIST_CELLS (EM_HIST_BUCKETS + 2)

struct em_metric_family {
	struct em_metrics *reg;
	struct em_metric_family *next;
	enum em_metric_type type;
	char *name, *help;
	unsigned n_labels;
	char *labels[EM_METRIC_MAX_LABELS];
	struct em_metric *series;
};

struct em_metrics_collector {
	struct em_metrics_collector *next;
	uint64_t id; /* a reactor job finds its collector by id, never by pointer */
	struct em_reactor *r;
	em_metrics_collect_fn fn;
	void *arg;
};

struct em_metrics {
	/* Guards the lists; held by creation and while a scrape reads them. */
	pthread_mutex_t lock;
	/* Serialises scrapes with removal of thread-less collectors, which run
	 * on the scraping thread outside `lock`. */
	pthread_mutex_t scrape_lock;
	struct em_metric_family *fams;
	struct em_metrics_collector *colls;
	uint64_t next_coll_id;
};

/* One sample a collector emitted, with its labels already rendered. */
struct em_emitted {
	char *name, *help, *labels, *value;
};

struct em_metrics_out {
	struct em_emitted *v;
	size_t n, cap;
};

/* The sum over every thread's shard of cell idx. */
uint64_t em_metrics_cell_sum(uint32_t idx);

/* Runs every collector of m (waiting for those on reactors) into out.
 * Called with scrape_lock held and lock not held. */
void em_metrics_collect_all(struct em_metrics *m, struct em_metrics_out *out);
void em_metrics_out_free(struct em_metrics_out *out);

bool em_metrics_name_ok(const char *s, bool label);
/* Appends s with exposition escaping: label values escape \ " and newline,
 * help text \ and newline. Returns a malloc'd string or NULL. */
char *em_metrics_escape(const char *s, bool label_value);

#endif
