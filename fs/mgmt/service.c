/* The mgmtd service's life: primary lease, periodic tick, persistence.
 * Method handlers are in service_rpc.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ember/errors.h"
#include "fs/mgmt/service_int.h"
#include "fs/mgmt/store.h"
#include "net/core/log.h"

uint64_t em_mgmt_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drop_state(struct em_mgmt_service *s)
{
	em_routing_clear(&s->r);
	free(s->blob);
	s->blob = NULL;
	s->blob_len = 0;
}

static void step_down(struct em_mgmt_service *s, const char *why)
{
	EM_WARN("mgmtd", "%s: no longer primary (term %llu): %s", s->self,
		(unsigned long long)s->lease.term, why);
	s->primary = false;
	s->other[0] = '\0';
	memset(&s->lease, 0, sizeof(s->lease));
	drop_state(s);
}

bool em_mgmt_serving(struct em_mgmt_service *s)
{
	if (!s->primary || s->stopped)
		return false;
	if (em_mgmt_wall_ms() + s->o.clock_margin_ms >= s->lease.expires_ms) {
		step_down(s, "lease about to expire without renewal");
		return false;
	}
	return true;
}

static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p = malloc((n ? n : 1) * size);
	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

int em_mgmt_work_copy(const struct em_mgmt_service *s, struct em_routing *work)
{
	const struct em_routing *r = &s->r;
	em_routing_init(work);
	work->version = r->version;
	work->nodes = dup_array(r->nodes, r->nnodes, sizeof(*r->nodes));
	work->targets = dup_array(r->targets, r->ntargets, sizeof(*r->targets));
	work->chains = dup_array(r->chains, r->nchains, sizeof(*r->chains));
	if (!work->nodes || !work->targets || !work->chains) {
		em_routing_clear(work);
		return -ENOMEM;
	}
	work->nnodes = work->cap_nodes = r->nnodes;
	work->ntargets = work->cap_targets = r->ntargets;
	work->nchains = work->cap_chains = r->nchains;
	/* A zero capacity with a live array would leak it on the first insert. */
	work->cap_nodes += !r->nnodes;
	work->cap_targets += !r->ntargets;
	work->cap_chains += !r->nchains;
	return 0;
}

int em_mgmt_commit(struct em_mgmt_service *s, struct em_routing *work)
{
	if (work->version != s->r.version) {
		int rc = em_mgmt_store_save(s->kv, work, &s->lease, em_mgmt_wall_ms());
		if (rc < 0) {
			em_routing_clear(work);
			if (rc == -ESTALE)
				step_down(s, "lease taken over");
			else
				EM_ERR("mgmtd", "storing routing version %llu: %s",
				       (unsigned long long)work->version, em_strerror(rc));
			return rc;
		}
	}
	em_routing_clear(&s->r);
	s->r = *work;
	em_routing_init(work);
	return 0;
}

/* A new tenure: continue from the stored state and store its bumped
 * version at once, so every later failover bumps it again. */
static void take_over(struct em_mgmt_service *s, const struct em_lease *l)
{
	struct em_routing loaded;
	em_routing_init(&loaded);
	int rc = em_mgmt_store_load(s->kv, &loaded, em_now_ms());
	if (rc == 0)
		rc = em_mgmt_store_save(s->kv, &loaded, l, em_mgmt_wall_ms());
	if (rc < 0) {
		EM_ERR("mgmtd", "taking over: loading the cluster state: %s", em_strerror(rc));
		em_routing_clear(&loaded);
		em_lease_release(s->kv, l);
		return;
	}
	s->primary = true;
	s->lease = *l;
	s->r = loaded;
	EM_INFO("mgmtd", "%s: primary, term %llu, routing version %llu (%zu nodes, %zu chains)",
		s->self, (unsigned long long)l->term, (unsigned long long)loaded.version,
		loaded.nnodes, loaded.nchains);
}

static void try_acquire(struct em_mgmt_service *s)
{
	struct em_lease l;
	int rc = em_lease_acquire(s->kv, EM_LEASE_KEY, s->self, em_mgmt_wall_ms(),
				  s->o.primary_lease_ms, &l);
	if (rc == 0) {
		take_over(s, &l);
	} else if (rc == -EBUSY) {
		if (strcmp(s->other, l.holder) != 0)
			EM_INFO("mgmtd", "%s: standby; primary is %s (term %llu)", s->self, l.holder,
				(unsigned long long)l.term);
		memcpy(s->other, l.holder, sizeof(s->other));
	} else {
		EM_WARN("mgmtd", "acquiring the primary lease: %s", em_strerror(rc));
	}
}

static void renew(struct em_mgmt_service *s)
{
	struct em_lease l;
	int rc = em_lease_renew(s->kv, &s->lease, em_mgmt_wall_ms(), s->o.primary_lease_ms, &l);
	if (rc == 0)
		s->lease = l;
	else if (rc == -ESTALE)
		step_down(s, "lease taken over");
	else /* keep serving until the margin; em_mgmt_serving decides */
		EM_WARN("mgmtd", "renewing the primary lease: %s", em_strerror(rc));
}

static void routing_tick(struct em_mgmt_service *s)
{
	struct em_routing work;
	if (em_mgmt_work_copy(s, &work) < 0)
		return;
	int rc = em_routing_tick(&work, em_now_ms(), s->o.hb_lease_ms);
	if (rc > 0) {
		if (em_mgmt_commit(s, &work) == 0)
			EM_INFO("mgmtd", "routing version %llu: %d chain(s) changed",
				(unsigned long long)s->r.version, rc);
		/* On failure the same transitions are recomputed next tick. */
		return;
	}
	if (rc < 0)
		EM_ERR("mgmtd", "routing tick: %s", em_strerror(rc));
	em_routing_clear(&work);
}

static void tick(void *arg)
{
	struct em_mgmt_service *s = arg;
	s->timer = NULL;
	if (s->primary)
		renew(s);
	if (!s->primary)
		try_acquire(s);
	if (em_mgmt_serving(s))
		routing_tick(s);
	if (em_reactor_timer(s->reactor, s->o.tick_ms, tick, s, &s->timer) < 0)
		EM_ERR("mgmtd", "cannot arm the tick timer; state transitions stop");
}

int em_mgmt_service_create(struct em_reactor *r, struct em_rpc *rpc,
			   const struct em_mgmt_service_opts *o, struct em_mgmt_service **out)
{
	if (!o->kv || !o->self || !*o->self || strlen(o->self) >= EM_LEASE_HOLDER_MAX)
		return -EINVAL;
	struct em_mgmt_service *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->reactor = r;
	s->rpc = rpc;
	s->kv = o->kv;
	s->o = *o;
	snprintf(s->self, sizeof(s->self), "%s", o->self);
	s->o.self = s->self;
	if (!s->o.hb_lease_ms)
		s->o.hb_lease_ms = 10000;
	if (!s->o.tick_ms)
		s->o.tick_ms = 1000;
	if (!s->o.primary_lease_ms)
		s->o.primary_lease_ms = 10000;
	if (!s->o.clock_margin_ms)
		s->o.clock_margin_ms = s->o.primary_lease_ms / 5;
	if (s->o.clock_margin_ms >= s->o.primary_lease_ms || s->o.tick_ms >= s->o.primary_lease_ms -
	    s->o.clock_margin_ms) {
		free(s); /* renewals every tick could never keep the lease */
		return -EINVAL;
	}
	em_routing_init(&s->r);
	int rc = em_mgmt_register_methods(s);
	if (rc == 0)
		rc = em_reactor_timer(r, 0, tick, s, &s->timer);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void em_mgmt_service_stop(struct em_mgmt_service *s)
{
	if (s->stopped)
		return;
	s->stopped = true;
	if (s->timer)
		em_reactor_timer_cancel(s->reactor, s->timer);
	s->timer = NULL;
	if (s->primary) {
		int rc = em_lease_release(s->kv, &s->lease);
		EM_INFO("mgmtd", "%s: released the primary lease%s%s", s->self, rc ? ": " : "",
			rc ? em_strerror(rc) : "");
		s->primary = false;
	}
	drop_state(s);
}

void em_mgmt_service_destroy(struct em_mgmt_service *s)
{
	if (!s)
		return;
	em_mgmt_service_stop(s);
	free(s);
}

bool em_mgmt_service_is_primary(const struct em_mgmt_service *s)
{
	return s->primary;
}

const struct em_routing *em_mgmt_service_routing(const struct em_mgmt_service *s)
{
	return s->primary ? &s->r : NULL;
}
