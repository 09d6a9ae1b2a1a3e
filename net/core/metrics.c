#include "net/core/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/core/log.h"
#include "net/core/metrics_impl.h"

const uint64_t em_hist_bounds_ns[EM_HIST_BUCKETS] = {
	1000ull,        2000ull,        5000ull,        10000ull,       20000ull,
	50000ull,       100000ull,      200000ull,      500000ull,      1000000ull,
	2000000ull,     5000000ull,     10000000ull,    20000000ull,    50000000ull,
	100000000ull,   200000000ull,   500000000ull,   1000000000ull,  2000000000ull,
	5000000000ull,  10000000000ull,
};

/* ---- per-thread shards ------------------------------------------------------
 *
 * Every counter or histogram owns a range of cell indices, the same in every
 * shard. A thread takes a shard on its first update and hands it back when it
 * exits; a later thread continues from the values left there, so nothing
 * counted is lost and each shard has one writer at a time. Pages appear on
 * first touch and are never freed, so a scrape can read them without a lock
 * against the writer. Cell indices are never reused: a destroyed registry's
 * cells simply stay behind. */

#define PAGE_CELLS 1024u
#define MAX_PAGES 256u

struct shard {
	struct shard *next;
	bool owned;
	_Atomic(_Atomic uint64_t *) pages[MAX_PAGES];
};

static pthread_mutex_t shard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shard *shards;
static _Atomic uint32_t next_cell;
static __thread struct shard *my_shard;
static pthread_key_t shard_key;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;

static void shard_release(void *p)
{
	struct shard *s = p;
	pthread_mutex_lock(&shard_lock);
	s->owned = false;
	pthread_mutex_unlock(&shard_lock);
}

static void shard_key_init(void)
{
	if (pthread_key_create(&shard_key, shard_release))
		abort(); /* only when the process is out of keys: nothing sane follows */
}

static struct shard *shard_attach(void)
{
	pthread_once(&shard_once, shard_key_init);
	pthread_mutex_lock(&shard_lock);
	struct shard *s = shards;
	while (s && s->owned)
		s = s->next;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			s->next = shards;
			shards = s;
		}
	}
	if (s)
		s->owned = true;
	pthread_mutex_unlock(&shard_lock);
	if (s && pthread_setspecific(shard_key, s)) {
		shard_release(s);
		s = NULL;
	}
	my_shard = s;
	return s;
}

/* This thread's copy of cell idx, or NULL when memory ran out (the update is
 * then lost: metrics must never fail the request they describe). */
static _Atomic uint64_t *my_cell(uint32_t idx)
{
	struct shard *s = my_shard ? my_shard : shard_attach();
	if (!s)
		return NULL;
	_Atomic(_Atomic uint64_t *) *slot = &s->pages[idx / PAGE_CELLS];
	_Atomic uint64_t *page = atomic_load_explicit(slot, memory_order_relaxed);
	if (!page) {
		page = calloc(PAGE_CELLS, sizeof(*page));
		if (!page)
			return NULL;
		/* Release: a scrape that sees the page sees it zeroed. */
		atomic_store_explicit(slot, page, memory_order_release);
	}
	return &page[idx % PAGE_CELLS];
}

/* Single writer per shard: a plain add, made of relaxed atomics only so the
 * scrape's concurrent loads are not data races. */
static void cell_add(uint32_t idx, uint64_t n)
{
	_Atomic uint64_t *c = my_cell(idx);
	if (c)
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
				      memory_order_relaxed);
}

uint64_t em_metrics_cell_sum(uint32_t idx)
{
	uint64_t sum = 0;
	pthread_mutex_lock(&shard_lock);
	for (struct shard *s = shards; s; s = s->next) {
		_Atomic uint64_t *page =
			atomic_load_explicit(&s->pages[idx / PAGE_CELLS], memory_order_acquire);
		if (page)
			sum += atomic_load_explicit(&page[idx % PAGE_CELLS], memory_order_relaxed);
	}
	pthread_mutex_unlock(&shard_lock);
	return sum;
}

static int cells_alloc(uint32_t n, uint32_t *first)
{
	uint32_t at = atomic_fetch_add_explicit(&next_cell, n, memory_order_relaxed);
	if ((uint64_t)at + n > (uint64_t)PAGE_CELLS * MAX_PAGES)
		return -ENOSPC;
	*first = at;
	return 0;
}

/* ---- updates ------------------------------------------------------------------ */

static void check_type(const struct em_metric *m, enum em_metric_type t)
{
	if (m->fam->type != t) {
		EM_ERR("metrics", "%s: updated as the wrong type", m->fam->name);
		abort();
	}
}

void em_counter_add(struct em_metric *c, uint64_t n)
{
	check_type(c, EM_METRIC_COUNTER);
	cell_add(c->cell, n);
}

void em_gauge_set(struct em_metric *g, int64_t v)
{
	check_type(g, EM_METRIC_GAUGE);
	atomic_store_explicit(&g->gauge, v, memory_order_relaxed);
}

void em_gauge_add(struct em_metric *g, int64_t delta)
{
	check_type(g, EM_METRIC_GAUGE);
	atomic_fetch_add_explicit(&g->gauge, delta, memory_order_relaxed);
}

void em_hist_observe_ns(struct em_metric *h, uint64_t ns)
{
	check_type(h, EM_METRIC_HISTOGRAM);
	unsigned b = 0;
	while (b < EM_HIST_BUCKETS && ns > em_hist_bounds_ns[b])
		b++;
	cell_add(h->cell + b, 1);
	cell_add(h->cell + EM_HIST_BUCKETS + 1, ns);
}

uint64_t em_metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- registry ------------------------------------------------------------------- */

static struct em_metrics *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	if (em_metrics_create(&default_reg))
		abort(); /* out of memory before main did anything */
}

struct em_metrics *em_metrics_default(void)
{
	pthread_once(&default_once, default_init);
	return default_reg;
}

int em_metrics_create(struct em_metrics **out)
{
	struct em_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->scrape_lock, NULL);
	*out = m;
	return 0;
}

static void series_free(struct em_metric *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(s->values[i]);
	free(s);
}

static void family_free(struct em_metric_family *f)
{
	while (f->series) {
		struct em_metric *s = f->series;
		f->series = s->next;
		series_free(s, f->n_labels);
	}
	for (unsigned i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f);
}

void em_metrics_destroy(struct em_metrics *m)
{
	if (!m)
		return;
	while (m->fams) {
		struct em_metric_family *f = m->fams;
		m->fams = f->next;
		family_free(f);
	}
	while (m->colls) {
		struct em_metrics_collector *c = m->colls;
		m->colls = c->next;
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->scrape_lock);
	free(m);
}

bool em_metrics_name_ok(const char *s, bool label)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			     (!label && *p == ':');
		if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

static bool same_shape(const struct em_metric_family *f, enum em_metric_type type,
		       const char *const *labels, unsigned n)
{
	if (f->type != type || f->n_labels != n)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(f->labels[i], labels[i]) != 0)
			return false;
	return true;
}

static int family_new(struct em_metrics *m, enum em_metric_type type, const char *name,
		      const char *help, const char *const *labels, unsigned n,
		      struct em_metric_family **out)
{
	struct em_metric_family *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->reg = m;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	bool oom = !f->name || !f->help;
	for (unsigned i = 0; i < n; i++, f->n_labels++)
		oom |= !(f->labels[i] = strdup(labels[i]));
	if (oom) {
		family_free(f);
		return -ENOMEM;
	}
	f->next = m->fams;
	m->fams = f;
	*out = f;
	return 0;
}

int em_metrics_family(struct em_metrics *m, enum em_metric_type type, const char *name,
		      const char *help, const char *const *labels, unsigned n_labels,
		      struct em_metric_family **out)
{
	if (!em_metrics_name_ok(name, false) || n_labels > EM_METRIC_MAX_LABELS)
		return -EINVAL;
	for (unsigned i = 0; i < n_labels; i++)
		if (!em_metrics_name_ok(labels[i], true) || strcmp(labels[i], "le") == 0)
			return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int rc = 0;
	struct em_metric_family *f = m->fams;
	while (f && strcmp(f->name, name) != 0)
		f = f->next;
	if (f)
		rc = same_shape(f, type, labels, n_labels) ? 0 : -EEXIST;
	else
		rc = family_new(m, type, name, help, labels, n_labels, &f);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		*out = f;
	return rc;
}

static bool values_match(const struct em_metric *s, const char *const *values, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return false;
	return true;
}

static int series_new(struct em_metric_family *f, const char *const *values,
		      struct em_metric **out)
{
	struct em_metric *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fam = f;
	bool oom = false;
	for (unsigned i = 0; i < f->n_labels; i++)
		oom |= !(s->values[i] = strdup(values[i]));
	int rc = oom ? -ENOMEM : 0;
	if (rc == 0 && f->type != EM_METRIC_GAUGE)
		rc = cells_alloc(f->type == EM_METRIC_COUNTER ? 1 : HIST_CELLS, &s->cell);
	if (rc) {
		series_free(s, f->n_labels);
		return rc;
	}
	s->next = f->series;
	f->series = s;
	*out = s;
	return 0;
}

int em_metric_get(struct em_metric_family *f, const char *const *values, struct em_metric **out)
{
	struct em_metrics *m = f->reg;
	pthread_mutex_lock(&m->lock);
	int rc = 0;
	struct em_metric *s = f->series;
	while (s && !values_match(s, values, f->n_labels))
		s = s->next;
	if (!s)
		rc = series_new(f, values, &s);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		*out = s;
	return rc;
}
