/* The metadata server's upkeep thread (gc.h): chunk GC under a lease, and
 * the space statfs reports. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ember/errors.h"
#include "fs/client/client.h"
#include "fs/client/gc.h"
#include "fs/meta/meta.h"
#include "fs/meta/proto.h"
#include "fs/mgmt/lease.h"
#include "fs/mgmt/routing.h"
#include "net/core/log.h"
#include "net/core/metrics.h"

struct gc_metrics {
	struct em_metric *queue, *files, *chunks, *bytes, *errors, *leader;
};

struct em_fs_gc {
	struct em_fs_gc_opts o;
	char *self;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;                  /* under mu */
	struct em_fs *fs;           /* opened by the thread, retried each interval */
	bool open_failed;           /* logged once until it works */
	bool leader;
	struct em_lease lease;
	struct em_meta_gc_entry *ents;
	struct gc_metrics m;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct em_metric *metric(enum em_metric_type type, const char *name, const char *help)
{
	struct em_metric_family *f;
	struct em_metric *m = NULL;
	if (em_metrics_family(em_metrics_default(), type, name, help, NULL, 0, &f) == 0)
		em_metric_get(f, NULL, &m);
	return m;
}

static void add(struct em_metric *m, uint64_t n)
{
	if (m)
		em_counter_add(m, n);
}

static void set(struct em_metric *m, int64_t v)
{
	if (m)
		em_gauge_set(m, v);
}

static bool stopping(struct em_fs_gc *g)
{
	pthread_mutex_lock(&g->mu);
	bool s = g->stop;
	pthread_mutex_unlock(&g->mu);
	return s;
}

static void wait_interval(struct em_fs_gc *g)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)g->o.interval_ms * 1000000;
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&g->mu);
	while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&g->mu);
}

static void open_session(struct em_fs_gc *g)
{
	struct em_fs_opts fo = {
		.mgmtd = g->o.mgmtd, .n_mgmtd = g->o.n_mgmtd,
		.secret = g->o.secret, .secret_len = g->o.secret_len,
		/* A chain that cannot take a removal now gets it next pass. */
		.io_timeout_ms = g->o.lease_ms,
		.io_threads = g->o.io_threads,
	};
	int rc = em_fs_open(&fo, &g->fs);
	if (rc && !g->open_failed)
		EM_WARN("gc", "cannot reach the cluster (%s); GC and space reports wait for it",
			em_strerror(rc));
	else if (!rc && g->open_failed)
		EM_INFO("gc", "cluster reached");
	g->open_failed = rc != 0;
}

/* Usable space once every target in a chain has reported; until then
 * statfs keeps what it had (the configured capacity at first). */
static void refresh_space(struct em_fs_gc *g)
{
	struct em_routing_space sp;
	int rc = em_fs_space(g->fs, &sp);
	if (rc) {
		EM_WARN_LIMITED("gc", "asking mgmtd for space: %s", em_strerror(rc));
		return;
	}
	if (sp.targets && sp.reported == sp.targets)
		em_meta_set_space(g->o.meta, sp.total, sp.total - sp.used);
}

/* Takes, keeps or loses the lease; true while we may act on it. */
static bool lease_step(struct em_fs_gc *g)
{
	uint64_t now = wall_ms();
	struct em_lease l;
	int rc;
	if (g->leader) {
		rc = em_lease_renew(g->o.kv, &g->lease, now, g->o.lease_ms, &l);
		if (rc == 0) {
			g->lease = l;
		} else if (rc == -ESTALE) {
			EM_WARN("gc", "%s: GC lease taken over; stopping GC", g->self);
			g->leader = false;
		} else {
			EM_WARN_LIMITED("gc", "renewing the GC lease: %s", em_strerror(rc));
		}
	} else {
		rc = em_lease_acquire(g->o.kv, EM_FS_GC_LEASE_KEY, g->self, now, g->o.lease_ms, &l);
		if (rc == 0) {
			EM_INFO("gc", "%s: running the GC (term %llu)", g->self,
				(unsigned long long)l.term);
			g->lease = l;
			g->leader = true;
		} else if (rc != -EBUSY) {
			EM_WARN_LIMITED("gc", "acquiring the GC lease: %s", em_strerror(rc));
		}
	}
	set(g->m.leader, g->leader);
	/* A quarter of the lease as margin for clock skew between servers. */
	return g->leader && wall_ms() + g->o.lease_ms / 4 < g->lease.expires_ms;
}

/* One batch; true when the queue may hold more right now. */
static bool pass(struct em_fs_gc *g)
{
	size_t n = 0;
	int rc = em_meta_gc_list(g->o.meta, g->ents, g->o.batch, &n);
	if (rc < 0) {
		EM_WARN_LIMITED("gc", "reading the GC queue: %s", em_strerror(rc));
		return false;
	}
	set(g->m.queue, (int64_t)n);
	size_t done = 0;
	for (size_t i = 0; i < n && !stopping(g); i++) {
		const struct em_meta_gc_entry *e = &g->ents[i];
		/* Renew half-way through the lease so long batches keep it. */
		if (wall_ms() + g->o.lease_ms / 2 >= g->lease.expires_ms && !lease_step(g))
			break;
		uint64_t removed = 0;
		rc = em_fs_remove_file(g->fs, e->ino, &e->layout, e->length, &removed);
		add(g->m.chunks, removed);
		if (rc == 0)
			rc = em_meta_gc_done(g->o.meta, e->ino);
		if (rc) {
			add(g->m.errors, 1);
			EM_WARN_LIMITED("gc", "inode %llu: %s; retried next pass",
					(unsigned long long)e->ino, em_strerror(rc));
			continue;
		}
		done++;
		add(g->m.files, 1);
		add(g->m.bytes, e->length);
	}
	if (done)
		EM_DEBUG("gc", "freed %zu file(s) of %zu queued", done, n);
	set(g->m.queue, (int64_t)(n - done));
	return n == g->o.batch && done == n;
}

static void *run(void *arg)
{
	struct em_fs_gc *g = arg;
	while (!stopping(g)) {
		if (!g->fs)
			open_session(g);
		bool more = false;
		if (g->fs) {
			refresh_space(g);
			if (lease_step(g))
				more = pass(g);
		}
		if (!more)
			wait_interval(g);
	}
	if (g->leader) {
		em_lease_release(g->o.kv, &g->lease);
		set(g->m.leader, 0);
	}
	em_fs_close(g->fs);
	g->fs = NULL;
	return NULL;
}

int em_fs_gc_start(const struct em_fs_gc_opts *o, struct em_fs_gc **out)
{
	if (!o->kv || !o->meta || !o->self || !*o->self || strlen(o->self) >= EM_LEASE_HOLDER_MAX ||
	    !o->n_mgmtd)
		return -EINVAL;
	struct em_fs_gc *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->o = *o;
	if (!g->o.interval_ms)
		g->o.interval_ms = 2000;
	if (!g->o.lease_ms)
		g->o.lease_ms = 10000;
	if (!g->o.batch)
		g->o.batch = 256;
	if (g->o.batch > EM_META_GC_LIST_MAX)
		g->o.batch = EM_META_GC_LIST_MAX;
	g->self = strdup(o->self);
	g->o.self = g->self;
	g->ents = calloc(g->o.batch, sizeof(*g->ents));
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&g->mu, NULL);
	g->m = (struct gc_metrics){
		metric(EM_METRIC_GAUGE, "ember_gc_queue_entries",
		       "deleted files waiting for GC, as the last pass found (at most a batch)"),
		metric(EM_METRIC_COUNTER, "ember_gc_files_total", "deleted files whose chunks GC removed"),
		metric(EM_METRIC_COUNTER, "ember_gc_chunks_removed_total",
		       "chunk removals GC sent through the chains"),
		metric(EM_METRIC_COUNTER, "ember_gc_bytes_total", "lengths of the files GC freed"),
		metric(EM_METRIC_COUNTER, "ember_gc_errors_total", "GC entries that failed, retried later"),
		metric(EM_METRIC_GAUGE, "ember_gc_leader", "1 while this server holds the GC lease"),
	};
	int rc = g->self && g->ents ? -pthread_create(&g->thread, NULL, run, g) : -ENOMEM;
	if (rc) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g->ents);
		free(g->self);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void em_fs_gc_stop(struct em_fs_gc *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->ents);
	free(g->self);
	free(g);
}
