/* The chain service's frame (server.h): targets, the routing view,
 * fencing, chunk locks, duplicate records, reads and SYNC_DONE. The update
 * path is in write.c, resync in resync.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "block/chunk/layout.h"
#include "fs/chain/internal.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"

#define TICK_MS 200
#define POOL_IDLE (256u << 20)

struct ch_target *ch_target_find(struct em_chain_server *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->targets[i].id == id)
			return &s->targets[i];
	return NULL;
}

void ch_view(struct em_chain_server *s, const struct ch_target *t, struct ch_view *v)
{
	const struct em_routing *r = em_mgmt_routing(s->mgmt);
	const struct em_target *rt = em_routing_target(r, t->id);
	memset(v, 0, sizeof(*v));
	v->state = EM_PUB_OFFLINE;
	v->chain = rt && rt->chain ? em_routing_chain(r, rt->chain) : NULL;
	if (!v->chain)
		return;
	v->idx = em_chain_find(v->chain, t->id);
	if (v->idx < 0) {
		v->chain = NULL;
		return;
	}
	v->state = v->chain->m[v->idx].state;
	/* The successor is the next member that takes writes; chains are
	 * sorted, so anything after it is down or waiting. */
	for (unsigned i = (unsigned)v->idx + 1; i < v->chain->n; i++) {
		const struct em_chain_member *m = &v->chain->m[i];
		if (!em_pub_state_writable(m->state))
			break;
		const struct em_target *st = em_routing_target(r, m->target);
		const struct em_node *nd = st ? em_routing_node(r, st->node) : NULL;
		if (!nd)
			break;
		v->succ = m->target;
		v->succ_state = m->state;
		snprintf(v->succ_url, sizeof(v->succ_url), "%s", nd->addr);
		break;
	}
}

static void on_unfence_refresh(void *arg, int status)
{
	struct em_chain_server *s = arg;
	s->unfence_refresh = false;
	if (status == 0) {
		s->unfencing = false;
		EM_INFO("chain", "routing fetched again after a lease gap: serving");
	}
}

bool ch_serving_allowed(struct em_chain_server *s)
{
	uint64_t acked = em_mgmt_heartbeat_acked_ms(s->mgmt);
	uint64_t lease = em_mgmt_heartbeat_lease_ms(s->mgmt);
	if (!acked || !lease || em_now_ms() - acked >= lease / 2)
		return false;
	/* An acknowledgement after a gap proves little: it may answer a
	 * heartbeat sent before a SIGSTOP, and the routing we hold predates
	 * whatever mgmtd decided meanwhile (our targets offlined, the chain
	 * moved on). Serve again only on routing fetched after the gap. */
	if (acked != s->last_acked_ms) {
		if (s->last_acked_ms && acked - s->last_acked_ms >= lease / 2)
			s->unfencing = true;
		s->last_acked_ms = acked;
	}
	if (s->unfencing && !s->unfence_refresh &&
	    em_mgmt_refresh(s->mgmt, on_unfence_refresh, s) == 0)
		s->unfence_refresh = true;
	return !s->unfencing;
}

void ch_refresh(struct em_chain_server *s)
{
	int rc = em_mgmt_refresh(s->mgmt, NULL, NULL);
	if (rc)
		EM_WARN("chain", "routing refresh: %s", em_strerror(rc));
}

/* ---- chunk locks ------------------------------------------------------ */

static unsigned bucket(const struct em_chunk_id *id)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < sizeof(id->b); i++)
		h = (h ^ id->b[i]) * 16777619u;
	return h % CH_BUCKETS;
}

static struct ch_lock **lock_slot(struct ch_target *t, const struct em_chunk_id *id)
{
	struct ch_lock **p = &t->locks[bucket(id)];
	while (*p && memcmp((*p)->id.b, id->b, sizeof(id->b)))
		p = &(*p)->next;
	return p;
}

bool ch_lock(struct ch_target *t, const struct em_chunk_id *id, void (*fn)(void *), void *arg)
{
	struct ch_lock **p = lock_slot(t, id);
	if (!*p) {
		struct ch_lock *l = calloc(1, sizeof(*l));
		if (!l)
			abort(); /* a lost lock would let two writers interleave */
		l->id = *id;
		*p = l;
		return true;
	}
	struct ch_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->fn = fn;
	w->arg = arg;
	if ((*p)->tail)
		(*p)->tail->next = w;
	else
		(*p)->head = w;
	(*p)->tail = w;
	return false;
}

void ch_unlock(struct ch_target *t, const struct em_chunk_id *id)
{
	struct ch_lock **p = lock_slot(t, id), *l = *p;
	if (!l)
		return;
	struct ch_waiter *w = l->head;
	if (!w) {
		*p = l->next;
		free(l);
		return;
	}
	l->head = w->next;
	if (!l->head)
		l->tail = NULL;
	void (*fn)(void *) = w->fn;
	void *arg = w->arg;
	free(w);
	fn(arg);
}

/* ---- duplicate records ------------------------------------------------ */

struct ch_dedup *ch_dedup_get(struct ch_target *t, uint64_t client, uint32_t channel)
{
	unsigned b = (unsigned)((client * 31 + channel) % CH_BUCKETS);
	for (struct ch_dedup *d = t->dedup[b]; d; d = d->next)
		if (d->client == client && d->channel == channel)
			return d;
	struct ch_dedup *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->client = client;
	d->channel = channel;
	d->done = true;
	d->next = t->dedup[b];
	t->dedup[b] = d;
	return d;
}

/* ---- reads --------------------------------------------------------------- */

struct ch_read {
	struct em_chain_server *s;
	struct ch_target *t;
	struct em_rpc_req *req;
	struct em_chain_read_req q;
	struct em_cs_buf *buf;
	uint32_t bytes, crc;
};

static void read_finish(struct ch_read *rd, int status)
{
	/* bytes, then their CRC32C: the reader checks what arrived against
	 * what left a verified engine read, so a flip in a bounce buffer, the
	 * NIC or the wire is caught too. */
	uint8_t out[8];
	struct em_chain_read_rsp r = { rd->bytes, true, rd->bytes ? rd->crc : 0 };
	int n = em_chain_enc_read_rsp(out, sizeof(out), &r);
	em_rpc_reply(rd->req, status, status ? NULL : out, status ? 0 : (size_t)n);
	if (rd->buf)
		em_cs_buf_put(rd->s->pool, rd->buf);
	free(rd);
}

static void read_pushed(void *arg, int status)
{
	read_finish(arg, status);
}

static void read_done(void *arg, int status)
{
	struct ch_read *rd = arg;
	if (status == -EM_ECHECKSUM) {
		ch_repair_count_error(rd->t);
		ch_repair_queue(rd->t, &rd->q.id);
	}
	if (status <= 0) {
		read_finish(rd, status);
		return;
	}
	rd->bytes = (uint32_t)status;
	rd->crc = em_crc32c(0, rd->buf->data, rd->bytes);
	struct em_buf_desc d = rd->q.buf;
	d.len = rd->bytes;
	struct em_bulk_item it = { d, rd->buf->mr, rd->buf->data };
	int rc = em_rpc_req_bulk(rd->req, true, &it, 1, read_pushed, rd);
	if (rc)
		read_finish(rd, rc);
}

int ch_admit(struct em_chain_server *s, uint32_t target, uint32_t chain, uint64_t ver,
		 struct ch_target **t, struct ch_view *v)
{
	*t = ch_target_find(s, target);
	if (!*t)
		return -EM_ENOTARGET;
	if (!ch_serving_allowed(s))
		return -EM_ETARGETOFFLINE;
	ch_view(s, *t, v);
	if (!v->chain || v->chain->id != chain)
		return -EM_ECHAINVER;
	if (v->chain->version != ver) {
		if (ver > v->chain->version)
			ch_refresh(s);
		return -EM_ECHAINVER;
	}
	return 0;
}

static void handle_read(struct em_rpc_req *req, void *arg)
{
	struct em_chain_server *s = arg;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct ch_read *rd = calloc(1, sizeof(*rd));
	if (!rd) {
		em_rpc_reply(req, -ENOMEM, NULL, 0);
		return;
	}
	rd->s = s;
	rd->req = req;
	struct ch_target *t;
	struct ch_view v;
	int rc = em_chain_dec_read(p, len, &rd->q);
	if (rc == 0)
		rc = ch_admit(s, rd->q.target, rd->q.chain, rd->q.chain_ver, &t, &v);
	if (rc == 0 && v.state != EM_PUB_SERVING)
		rc = -EM_ETARGETOFFLINE;
	struct em_chunk_meta m;
	if (rc == 0) {
		rd->t = t;
		rc = em_chunk_query(t->eng, &rd->q.id, &m);
	}
	/* CRAQ as 3FS does it: a dirty replica does not ask the tail, it
	 * tells the client to retry. */
	if (rc == 0 && m.pending_ver)
		rc = -EM_ENOTCOMMITTED;
	if (rc) {
		read_finish(rd, rc);
		return;
	}
	uint32_t n = rd->q.offset >= m.length ? 0 : m.length - rd->q.offset;
	if (n > rd->q.len)
		n = rd->q.len;
	if (n == 0) {
		read_finish(rd, 0);
		return;
	}
	rc = em_cs_buf_get(s->pool, n, &rd->buf);
	if (rc == 0)
		rc = em_chunk_read(t->eng, &rd->q.id, rd->q.offset, n, rd->buf->data, 0, read_done,
				   rd);
	if (rc)
		read_finish(rd, rc);
}

static void handle_sync_done(struct em_rpc_req *req, void *arg)
{
	struct em_chain_server *s = arg;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_chain_sync_done q;
	struct ch_target *t;
	struct ch_view v;
	int rc = em_chain_dec_sync_done(p, len, &q);
	if (rc == 0)
		rc = ch_admit(s, q.target, q.chain, q.chain_ver, &t, &v);
	if (rc == 0 && v.state != EM_PUB_SYNCING)
		rc = -EM_ETARGETOFFLINE;
	if (rc == 0) {
		t->synced = true;
		EM_INFO("chain", "target %u: resync complete at chain %u version %llu", t->id,
			q.chain, (unsigned long long)q.chain_ver);
	}
	em_rpc_reply(req, rc, NULL, 0);
}

/* An operator's scrub control and status (`ember scrub`): no chain
 * admission, it concerns only this node's targets. */
static void handle_scrub(struct em_rpc_req *req, void *arg)
{
	struct em_chain_server *s = arg;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_chain_scrub_req q;
	int rc = em_chain_dec_scrub(p, len, &q);
	if (rc == 0 && q.target && !ch_target_find(s, q.target))
		rc = -EM_ENOTARGET;
	struct em_chain_scrub_stat st[EM_CHAIN_SCRUB_MAX];
	uint32_t n = 0;
	for (size_t i = 0; rc == 0 && i < s->n && n < EM_CHAIN_SCRUB_MAX; i++) {
		struct ch_target *t = &s->targets[i];
		if (q.target && t->id != q.target)
			continue;
		if (q.op != EM_CHAIN_SCRUB_STATUS)
			rc = ch_scrub_control(t, q.op);
		ch_scrub_stat(t, &st[n++]);
	}
	static uint8_t out[EM_CHAIN_SCRUB_RSP_SIZE];
	int m = rc ? rc : em_chain_enc_scrub_rsp(out, sizeof(out), st, n);
	em_rpc_reply(req, m < 0 ? m : 0, m > 0 ? out : NULL, m > 0 ? (size_t)m : 0);
}

/* ---- states and the tick ------------------------------------------------ */

unsigned em_chain_server_report(void *server, struct em_target_report *out, unsigned cap)
{
	struct em_chain_server *s = server;
	unsigned n = 0;
	for (size_t i = 0; i < s->n && n < cap; i++) {
		struct ch_target *t = &s->targets[i];
		struct em_engine_stats st;
		em_engine_get_stats(t->eng, &st);
		/* Space as the slot allocator sees it: a slot holds its chunk
		 * whole, so used counts slots, not the bytes written into them. */
		uint64_t used = 0;
		for (unsigned c = 0; c < EM_CHUNK_CLASSES; c++)
			used += st.cls[c].slots_used * st.cls[c].slot_size;
		out[n++] = (struct em_target_report){
			.target = t->id,
			.local = (uint8_t)(t->synced ? EM_LOCAL_UPTODATE : EM_LOCAL_ONLINE),
			.total_bytes = (uint64_t)st.data_segments * EM_SEGMENT_SIZE,
			.used_bytes = used,
		};
	}
	return n;
}

static void on_tick(void *arg)
{
	struct em_chain_server *s = arg;
	bool allowed = ch_serving_allowed(s);
	if (!allowed && !s->fenced_logged && em_mgmt_heartbeat_acked_ms(s->mgmt))
		EM_WARN("chain", "no heartbeat acknowledged for half the lease: not serving");
	s->fenced_logged = !allowed;
	for (size_t i = 0; i < s->n; i++) {
		struct ch_target *t = &s->targets[i];
		struct ch_view v;
		ch_view(s, t, &v);
		/* Up-to-date only means something for the resync that set it: once
		 * the target is out of the chain's live states again, the next
		 * return must go through a new resync. */
		if (t->synced && v.state != EM_PUB_SYNCING && v.state != EM_PUB_SERVING)
			t->synced = false;
		if (allowed)
			ch_resync_check(t);
		ch_scrub_tick(t);
	}
	if (s->stopping || em_reactor_timer(s->r, TICK_MS, on_tick, s, &s->tick))
		s->tick = NULL;
}

int em_chain_server_create(struct em_rpc *rpc, struct em_reactor *r, struct em_mgmt_client *mgmt,
			   const struct em_chain_server_opts *o, struct em_chain_server **out)
{
	struct em_chain_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rpc = rpc;
	s->r = r;
	s->mgmt = mgmt;
	s->forward_timeout_ms = o && o->forward_timeout_ms ? o->forward_timeout_ms : 30000;
	s->rpc_timeout_ms = o && o->rpc_timeout_ms ? o->rpc_timeout_ms : 5000;
	s->scrub_rate = o && o->scrub_rate ? o->scrub_rate : 32u << 20;
	s->scrub_interval_ms = o ? o->scrub_interval_ms : 0;
	/* Forwards and resyncs grant their buffers to the successor. */
	int rc = em_cs_bufpool_create_access(POOL_IDLE, EM_ACCESS_REMOTE_READ, &s->pool);
	if (rc == 0)
		rc = em_cs_bufpool_create_access(POOL_IDLE / 4, EM_ACCESS_REMOTE_WRITE,
						 &s->repair_pool);
	if (rc == 0)
		rc = em_rpc_register(rpc, EM_CHAIN_SERVICE, EM_CHAIN_WRITE, ch_handle_write, s);
	if (rc == 0)
		rc = em_rpc_register(rpc, EM_CHAIN_SERVICE, EM_CHAIN_UPDATE, ch_handle_update, s);
	if (rc == 0)
		rc = em_rpc_register(rpc, EM_CHAIN_SERVICE, EM_CHAIN_READ, handle_read, s);
	if (rc == 0)
		rc = em_rpc_register(rpc, EM_CHAIN_SERVICE, EM_CHAIN_SYNC_DONE, handle_sync_done, s);
	if (rc == 0)
		rc = em_rpc_register(rpc, EM_CHAIN_SERVICE, EM_CHAIN_SCRUB, handle_scrub, s);
	if (rc == 0)
		rc = em_reactor_timer(r, TICK_MS, on_tick, s, &s->tick);
	if (rc) {
		if (s->pool)
			em_cs_bufpool_destroy(s->pool);
		if (s->repair_pool)
			em_cs_bufpool_destroy(s->repair_pool);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int em_chain_server_add_target(struct em_chain_server *s, uint32_t id, const char *name,
			       struct em_engine *e)
{
	if (ch_target_find(s, id))
		return -EEXIST;
	if (s->n == CH_MAX_TARGETS)
		return -E2BIG;
	struct ch_target *t = &s->targets[s->n++];
	t->s = s;
	t->id = id;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->eng = e;
	int rc = ch_scrub_init(t);
	if (rc)
		s->n--;
	return rc;
}

void em_chain_server_stop(struct em_chain_server *s)
{
	s->stopping = true;
	if (s->tick)
		em_reactor_timer_cancel(s->r, s->tick);
	s->tick = NULL;
}

void em_chain_server_destroy(struct em_chain_server *s)
{
	if (!s)
		return;
	if (s->tick)
		em_reactor_timer_cancel(s->r, s->tick);
	for (size_t i = 0; i < s->n; i++) {
		struct ch_target *t = &s->targets[i];
		ch_repair_free(t);
		ch_scrub_free(t);
		for (unsigned b = 0; b < CH_BUCKETS; b++) {
			while (t->dedup[b]) {
				struct ch_dedup *d = t->dedup[b];
				t->dedup[b] = d->next;
				free(d);
			}
		}
	}
	em_cs_bufpool_destroy(s->pool);
	em_cs_bufpool_destroy(s->repair_pool);
	free(s);
}
