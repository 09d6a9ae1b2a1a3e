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
	struct em_metric *expired, *recovered;
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
	struct em_meta_session_info *sess;
	uint64_t started_ms;        /* wall clock the thread started */
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

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int recover_one(struct em_fs *fs, struct em_meta *m, const struct em_meta_session_info *s,
		       int64_t now, uint64_t *len)
{
	*len = s->attr.size;
	int rc = em_fs_recover_length(fs, s->ino, &s->attr.layout, s->attr.size, len);
	if (rc == 0)
		rc = em_meta_session_recover(m, s->ino, s->session, *len, now);
	if (rc == 0)
		EM_INFO("gc", "inode %llu: write session of client %016llx expired; length %llu "
			"(metadata had %llu)%s", (unsigned long long)s->ino,
			(unsigned long long)s->client, (unsigned long long)*len,
			(unsigned long long)s->attr.size, s->attr.nlink ? "" : ", unlinked: to GC");
	return rc;
}

static bool stop_asked(void *g)
{
	return stopping(g);
}

/* A shutdown (stop) ends a long removal between batches; the entry stays
 * queued and the next GC leader removes the file again from its start. */
static int gc_one(struct em_fs *fs, struct em_meta *m, const struct em_meta_gc_entry *e,
		  struct em_fs_gc *stop, uint64_t *removed)
{
	*removed = 0;
	int rc = em_fs_remove_file(fs, e->ino, &e->layout, e->length, stop ? stop_asked : NULL,
				   stop, removed);
	return rc ? rc : em_meta_gc_done(m, e->ino);
}

/* Ends the write sessions of dead clients with the length their data has
 * on storage. Only after this server has run for a lease: a client cut off
 * by a metadata restart had that long to renew through us. */
static void recover_sessions(struct em_fs_gc *g)
{
	if (wall_ms() < g->started_ms + g->o.session_lease_ms)
		return;
	int64_t now = wall_ns();
	size_t n = 0;
	int rc = em_meta_expired_sessions(g->o.meta, now, g->sess, g->o.batch, &n);
	if (rc < 0) {
		EM_WARN_LIMITED("gc", "listing write sessions: %s", em_strerror(rc));
		return;
	}
	set(g->m.expired, (int64_t)n);
	for (size_t i = 0; i < n && !stopping(g); i++) {
		const struct em_meta_session_info *s = &g->sess[i];
		if (wall_ms() + g->o.lease_ms / 2 >= g->lease.expires_ms && !lease_step(g))
			break;
		uint64_t len;
		rc = recover_one(g->fs, g->o.meta, s, now, &len);
		if (rc == -EBUSY || rc == -EBADF)
			continue; /* renewed or closed meanwhile */
		if (rc) {
			add(g->m.errors, 1);
			EM_WARN_LIMITED("gc", "inode %llu: recovering session %016llx: %s; retried next pass",
					(unsigned long long)s->ino, (unsigned long long)s->session,
					em_strerror(rc));
			continue;
		}
		add(g->m.recovered, 1);
	}
	if ((rc = em_meta_prune_clients(g->o.meta, now)) < 0)
		EM_WARN_LIMITED("gc", "pruning client records: %s", em_strerror(rc));
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
		uint64_t removed;
		rc = gc_one(g->fs, g->o.meta, e, g, &removed);
		add(g->m.chunks, removed);
		if (rc == -ECANCELED)
			break;
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
			if (lease_step(g)) {
				recover_sessions(g);
				more = pass(g);
			}
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
	if (!g->o.session_lease_ms)
		g->o.session_lease_ms = EM_META_SESSION_LEASE_MS;
	if (g->o.batch > EM_META_GC_LIST_MAX)
		g->o.batch = EM_META_GC_LIST_MAX;
	g->self = strdup(o->self);
	g->o.self = g->self;
	g->ents = calloc(g->o.batch, sizeof(*g->ents));
	g->sess = calloc(g->o.batch, sizeof(*g->sess));
	g->started_ms = wall_ms();
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
		metric(EM_METRIC_GAUGE, "ember_sessions_expired",
		       "expired write sessions the last pass found (at most a batch)"),
		metric(EM_METRIC_COUNTER, "ember_sessions_recovered_total",
		       "expired write sessions ended with their length read from storage"),
	};
	int rc = g->self && g->ents && g->sess ? -pthread_create(&g->thread, NULL, run, g) : -ENOMEM;
	if (rc) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g->ents);
		free(g->sess);
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
	free(g->sess);
	free(g->self);
	free(g);
}

int em_fs_upkeep_once(struct em_fs *fs, struct em_meta *m, struct em_fs_upkeep_counts *out)
{
	enum { BATCH = 64 };
	struct em_meta_session_info sess[BATCH];
	struct em_meta_gc_entry ents[BATCH];
	int64_t now = wall_ns();
	int first = 0;
	size_t n;
	*out = (struct em_fs_upkeep_counts){ 0 };
	/* Failed items stay put and would be listed again: stop at a batch
	 * that made no progress. */
	for (;;) {
		int rc = em_meta_expired_sessions(m, now, sess, BATCH, &n);
		if (rc < 0)
			return rc;
		size_t done = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t len;
			rc = recover_one(fs, m, &sess[i], now, &len);
			if (rc == 0 || rc == -EBUSY || rc == -EBADF) {
				out->recovered += rc == 0;
				done++;
			} else {
				out->errors++;
				first = first ? first : rc;
			}
		}
		if (n < BATCH || done == 0)
			break;
	}
	for (;;) {
		int rc = em_meta_gc_list(m, ents, BATCH, &n);
		if (rc < 0)
			return rc;
		size_t done = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t removed;
			rc = gc_one(fs, m, &ents[i], NULL, &removed);
			out->chunks += removed;
			if (rc == 0) {
				out->freed++;
				done++;
			} else {
				out->errors++;
				first = first ? first : rc;
			}
		}
		if (n < BATCH || done < n)
			break;
	}
	return first;
}
