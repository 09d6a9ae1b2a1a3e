/* Callback gauges: collectors run at scrape time, on their reactor when
 * they have one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/core/log.h"
#include "net/core/metrics_impl.h"

int em_metrics_add_collector(struct em_metrics *m, struct em_reactor *r, em_metrics_collect_fn fn,
			     void *arg, struct em_metrics_collector **out)
{
	struct em_metrics_collector *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->r = r;
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&m->lock);
	c->id = ++m->next_coll_id;
	c->next = m->colls;
	m->colls = c;
	pthread_mutex_unlock(&m->lock);
	*out = c;
	return 0;
}

void em_metrics_del_collector(struct em_metrics *m, struct em_metrics_collector *c)
{
	if (!c)
		return;
	/* A thread-less collector may be running in a scrape right now: wait
	 * for that scrape. One with a reactor runs only on this thread. */
	if (!c->r)
		pthread_mutex_lock(&m->scrape_lock);
	pthread_mutex_lock(&m->lock);
	for (struct em_metrics_collector **pp = &m->colls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (!c->r)
		pthread_mutex_unlock(&m->scrape_lock);
	free(c);
}

void em_metrics_out_free(struct em_metrics_out *out)
{
	for (size_t i = 0; i < out->n; i++) {
		free(out->v[i].name);
		free(out->v[i].help);
		free(out->v[i].labels);
		free(out->v[i].value);
	}
	free(out->v);
	*out = (struct em_metrics_out){ 0 };
}

/* "a=\"x\",b=\"y\"" (no braces), or NULL when out of memory. */
static char *render_labels(const char *const *labels, const char *const *values, unsigned n)
{
	size_t cap = 1;
	char *esc[EM_METRIC_MAX_LABELS] = { 0 };
	bool oom = false;
	for (unsigned i = 0; i < n; i++) {
		esc[i] = em_metrics_escape(values[i], true);
		oom |= !esc[i];
		cap += strlen(labels[i]) + (esc[i] ? strlen(esc[i]) : 0) + 4;
	}
	char *s = oom ? NULL : malloc(cap);
	if (s) {
		size_t at = 0;
		s[0] = '\0';
		for (unsigned i = 0; i < n; i++)
			at += (size_t)snprintf(s + at, cap - at, "%s%s=\"%s\"", i ? "," : "", labels[i],
					       esc[i]);
	}
	for (unsigned i = 0; i < n; i++)
		free(esc[i]);
	return s;
}

/* Shortest text that reads back as v, as Prometheus parses floats. */
static void format_double(double v, char *buf, size_t cap)
{
	if (v != v)
		snprintf(buf, cap, "NaN");
	else if (v > 1.7976931348623157e308)
		snprintf(buf, cap, "+Inf");
	else if (v < -1.7976931348623157e308)
		snprintf(buf, cap, "-Inf");
	else {
		snprintf(buf, cap, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, cap, "%.17g", v);
	}
}

void em_metrics_emit(struct em_metrics_out *out, const char *name, const char *help,
		     const char *const *labels, const char *const *values, unsigned n_labels,
		     double value)
{
	if (!em_metrics_name_ok(name, false) || n_labels > EM_METRIC_MAX_LABELS)
		return;
	for (unsigned i = 0; i < n_labels; i++)
		if (!em_metrics_name_ok(labels[i], true))
			return;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 32;
		struct em_emitted *v = realloc(out->v, cap * sizeof(*v));
		if (!v)
			return;
		out->v = v;
		out->cap = cap;
	}
	char num[40];
	format_double(value, num, sizeof(num));
	struct em_emitted e = { strdup(name), strdup(help ? help : ""),
				render_labels(labels, values, n_labels), strdup(num) };
	if (!e.name || !e.help || !e.labels || !e.value) {
		free(e.name);
		free(e.help);
		free(e.labels);
		free(e.value);
		return;
	}
	out->v[out->n++] = e;
}

/* ---- running collectors on their reactors ------------------------------------ */

/* Shared by the scrape and the reactor; whoever drops the last reference
 * frees it, so a scrape that gave up waiting leaves nothing dangling. */
struct job {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int refs;
	bool done;
	struct em_metrics *m;
	uint64_t id;
	struct em_metrics_out out;
};

static void job_put(struct job *j)
{
	pthread_mutex_lock(&j->lock);
	bool last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	em_metrics_out_free(&j->out);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void job_run(void *arg)
{
	struct job *j = arg;
	struct em_metrics *m = j->m;
	/* Removal happens on this thread too, so if the collector is still
	 * registered now it stays valid until fn returns. */
	pthread_mutex_lock(&m->lock);
	struct em_metrics_collector *c = m->colls;
	while (c && c->id != j->id)
		c = c->next;
	em_metrics_collect_fn fn = c ? c->fn : NULL;
	void *fn_arg = c ? c->arg : NULL;
	pthread_mutex_unlock(&m->lock);
	if (fn)
		fn(fn_arg, &j->out);
	pthread_mutex_lock(&j->lock);
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->lock);
	job_put(j);
}

static void out_move(struct em_metrics_out *dst, struct em_metrics_out *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct em_emitted *e = &src->v[i];
		if (dst->n == dst->cap) {
			size_t cap = dst->cap ? dst->cap * 2 : 32;
			struct em_emitted *v = realloc(dst->v, cap * sizeof(*v));
			if (!v)
				break;
			dst->v = v;
			dst->cap = cap;
		}
		dst->v[dst->n++] = *e;
		*e = (struct em_emitted){ 0 };
	}
}

static void collect_on_reactor(struct em_metrics *m, const struct em_metrics_collector *c,
			       struct em_metrics_out *out)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	j->refs = 2;
	j->m = m;
	j->id = c->id;
	int rc = em_reactor_send(c->r, job_run, j);
	if (rc < 0) {
		EM_WARN("metrics", "cannot reach reactor %s: %s", em_reactor_name(c->r),
			strerror(-rc));
		j->refs = 1;
		job_put(j);
		return;
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += EM_METRICS_COLLECT_TIMEOUT_MS / 1000;
	until.tv_nsec += (EM_METRICS_COLLECT_TIMEOUT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	int w = 0;
	while (!j->done && w != ETIMEDOUT)
		w = pthread_cond_timedwait(&j->cv, &j->lock, &until);
	bool done = j->done;
	pthread_mutex_unlock(&j->lock);
	if (done)
		out_move(out, &j->out);
	else
		EM_WARN("metrics", "reactor %s did not answer the scrape in %d ms",
			em_reactor_name(c->r), EM_METRICS_COLLECT_TIMEOUT_MS);
	job_put(j);
}

void em_metrics_collect_all(struct em_metrics *m, struct em_metrics_out *out)
{
	/* Copies, so collectors run without the registry lock (a reactor job
	 * takes it) and may come and go meanwhile. */
	pthread_mutex_lock(&m->lock);
	size_t n = 0;
	for (struct em_metrics_collector *c = m->colls; c; c = c->next)
		n++;
	struct em_metrics_collector *snap = n ? calloc(n, sizeof(*snap)) : NULL;
	size_t k = 0;
	for (struct em_metrics_collector *c = m->colls; snap && c; c = c->next)
		snap[k++] = *c;
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < k; i++) {
		if (snap[i].r)
			collect_on_reactor(m, &snap[i], out);
		else
			/* scrape_lock keeps it registered while it runs. */
			snap[i].fn(snap[i].arg, out);
	}
	free(snap);
}
