/* Text exposition format 0.0.4. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/core/metrics_impl.h"

/* A growing string; after a failed allocation it stays failed. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	for (int pass = 0; pass < 2 && !b->oom; pass++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
		} else if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		} else {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap <= b->len + (size_t)n)
				cap *= 2;
			char *p = realloc(b->p, cap);
			if (!p)
				b->oom = true;
			else {
				b->p = p;
				b->cap = cap;
			}
		}
	}
}

char *em_metrics_escape(const char *s, bool label_value)
{
	char *out = malloc(2 * strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == '\\' || (label_value && *s == '"')) {
			*o++ = '\\';
			*o++ = *s;
		} else if (*s == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/* Nanoseconds as exact decimal seconds: 1500 -> "0.0000015", 10e9 -> "10". */
static void ns_seconds(uint64_t ns, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
	char *e = buf + n - 1;
	while (*e == '0')
		*e-- = '\0';
	if (*e == '.')
		*e = '\0';
}

/* One series (or one emitted sample) with everything needed to sort it. */
struct entry {
	const char *name, *help;
	enum em_metric_type type;
	char *labels; /* rendered, no braces */
	char *body;   /* its sample lines */
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->labels, y->labels);
}

static char *series_labels(const struct em_metric *s)
{
	const struct em_metric_family *f = s->fam;
	struct sbuf b = { 0 };
	sb_printf(&b, "%s", "");
	for (unsigned i = 0; i < f->n_labels; i++) {
		char *v = em_metrics_escape(s->values[i], true);
		if (!v) {
			b.oom = true;
			break;
		}
		sb_printf(&b, "%s%s=\"%s\"", i ? "," : "", f->labels[i], v);
		free(v);
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* "{labels}" or "{labels,extra}" or "" */
static void braces(struct sbuf *b, const char *labels, const char *extra)
{
	if (*labels && extra)
		sb_printf(b, "{%s,%s}", labels, extra);
	else if (*labels || extra)
		sb_printf(b, "{%s}", *labels ? labels : extra);
}

static void hist_body(struct sbuf *b, const struct em_metric *s, const char *labels)
{
	const char *name = s->fam->name;
	uint64_t cum = 0;
	char le[64], num[32];
	for (unsigned i = 0; i <= EM_HIST_BUCKETS; i++) {
		cum += em_metrics_cell_sum(s->cell + i);
		if (i < EM_HIST_BUCKETS) {
			ns_seconds(em_hist_bounds_ns[i], num, sizeof(num));
			snprintf(le, sizeof(le), "le=\"%s\"", num);
		} else {
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		}
		sb_printf(b, "%s_bucket", name);
		braces(b, labels, le);
		sb_printf(b, " %" PRIu64 "\n", cum);
	}
	ns_seconds(em_metrics_cell_sum(s->cell + EM_HIST_BUCKETS + 1), num, sizeof(num));
	sb_printf(b, "%s_sum", name);
	braces(b, labels, NULL);
	sb_printf(b, " %s\n%s_count", num, name);
	braces(b, labels, NULL);
	sb_printf(b, " %" PRIu64 "\n", cum);
}

static char *series_body(const struct em_metric *s, const char *labels)
{
	struct sbuf b = { 0 };
	if (s->fam->type == EM_METRIC_HISTOGRAM) {
		hist_body(&b, s, labels);
	} else {
		sb_printf(&b, "%s", s->fam->name);
		braces(&b, labels, NULL);
		if (s->fam->type == EM_METRIC_COUNTER)
			sb_printf(&b, " %" PRIu64 "\n", em_metrics_cell_sum(s->cell));
		else
			sb_printf(&b, " %" PRId64 "\n",
				  atomic_load_explicit(&s->gauge, memory_order_relaxed));
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

struct entries {
	struct entry *v;
	size_t n, cap;
	bool oom;
};

static void add_entry(struct entries *es, struct entry e)
{
	if (!e.labels || !e.body)
		es->oom = true;
	if (!es->oom && es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 64;
		struct entry *v = realloc(es->v, cap * sizeof(*v));
		if (v) {
			es->v = v;
			es->cap = cap;
		} else {
			es->oom = true;
		}
	}
	if (es->oom) {
		free(e.labels);
		free(e.body);
		return;
	}
	es->v[es->n++] = e;
}

static void add_series(struct em_metrics *m, struct entries *es)
{
	for (struct em_metric_family *f = m->fams; f; f = f->next) {
		for (struct em_metric *s = f->series; s; s = s->next) {
			char *labels = series_labels(s);
			struct entry e = { f->name, f->help, f->type, labels,
					   labels ? series_body(s, labels) : NULL };
			add_entry(es, e);
		}
	}
}

static bool family_exists(const struct em_metrics *m, const char *name)
{
	for (const struct em_metric_family *f = m->fams; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return true;
	return false;
}

static void add_emitted(struct em_metrics *m, struct entries *es, struct em_metrics_out *out)
{
	for (size_t i = 0; i < out->n; i++) {
		struct em_emitted *x = &out->v[i];
		if (family_exists(m, x->name))
			continue;
		struct sbuf b = { 0 };
		sb_printf(&b, "%s", x->name);
		braces(&b, x->labels, NULL);
		sb_printf(&b, " %s\n", x->value);
		if (b.oom) {
			free(b.p);
			b.p = NULL;
		}
		struct entry e = { x->name, x->help, EM_METRIC_GAUGE, strdup(x->labels), b.p };
		add_entry(es, e);
	}
}

static const char *type_name(enum em_metric_type t)
{
	return t == EM_METRIC_COUNTER ? "counter" : t == EM_METRIC_GAUGE ? "gauge" : "histogram";
}

static void write_text(struct sbuf *b, struct entries *es)
{
	if (es->n)
		qsort(es->v, es->n, sizeof(es->v[0]), entry_cmp);
	for (size_t i = 0; i < es->n; i++) {
		const struct entry *e = &es->v[i];
		if (i == 0 || strcmp(es->v[i - 1].name, e->name) != 0) {
			char *help = em_metrics_escape(e->help, false);
			if (!help) {
				b->oom = true;
				return;
			}
			sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", e->name, help, e->name,
				  type_name(e->type));
			free(help);
		}
		sb_printf(b, "%s", e->body);
	}
}

int em_metrics_render(struct em_metrics *m, char **text, size_t *len)
{
	struct em_metrics_out out = { 0 };
	struct entries es = { 0 };
	struct sbuf b = { 0 };
	pthread_mutex_lock(&m->scrape_lock);
	em_metrics_collect_all(m, &out);
	pthread_mutex_lock(&m->lock);
	add_series(m, &es);
	add_emitted(m, &es, &out);
	sb_printf(&b, "%s", ""); /* an empty registry still renders "" */
	if (!es.oom)
		write_text(&b, &es);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->scrape_lock);
	for (size_t i = 0; i < es.n; i++) {
		free(es.v[i].labels);
		free(es.v[i].body);
	}
	free(es.v);
	em_metrics_out_free(&out);
	if (es.oom || b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*text = b.p;
	*len = b.len;
	return 0;
}
