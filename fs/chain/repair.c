/* Healing a replica's bad chunk from another one.
 *
 * When a target's engine fails a read with EM_ECHECKSUM (a client read, a
 * resync, a forward or the scrubber), the chunk is queued here. One repair
 * runs at a time per target: under the chunk lock (so no write interleaves),
 * read the whole committed chunk from another serving replica of the chain
 * (whose engine verifies every block it sends), check the bytes against our
 * own record of that version (length and CRC32C, which every replica agrees
 * on once committed), and switch our copy to them with one whole-chunk
 * replace, the same operation resync uses. A chunk no replica holds whole is
 * reported as unrepairable; readers get EIO for it, never its bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/service/proto.h"
#include "ember/errors.h"
#include "fs/chain/internal.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "net/core/metrics.h"
#include "net/serde.h"

struct ch_repair {
	struct ch_target *t;
	struct em_chunk_id id;
	struct em_chunk_meta m;
	struct em_cs_buf *buf;
	unsigned next;      /* chain member to try next */
	uint32_t peer;
	unsigned asked, bad; /* peers that answered, and those whose copy was bad too */
};

struct em_metric *ch_metric_counter(const char *name, const char *help, uint32_t target,
				    const char *result)
{
	static const char *const labels[] = { "target", "result" };
	char tgt[16];
	snprintf(tgt, sizeof(tgt), "%u", target);
	const char *values[] = { tgt, result };
	struct em_metric_family *f;
	struct em_metric *m = NULL;
	if (em_metrics_family(em_metrics_default(), EM_METRIC_COUNTER, name, help, labels,
			      result ? 2 : 1, &f) == 0)
		em_metric_get(f, values, &m);
	return m;
}

static void count(struct ch_target *t, const char *result)
{
	struct em_metric *m = ch_metric_counter("ember_chunk_repairs_total",
				     "chunks with a bad block healed from another replica, or not",
				     t->id, result);
	if (m)
		em_counter_add(m, 1);
}

void ch_repair_count_error(struct ch_target *t)
{
	t->checksum_errors++;
	struct em_metric *m = ch_metric_counter("ember_chunk_checksum_errors_total",
				     "chunk reads that found a block failing its CRC32C", t->id, NULL);
	if (m)
		em_counter_add(m, 1);
}

static void start_next(struct ch_target *t);

/* A chunk no repair should start for until ms from now: its readers must
 * not make every replica read it again and again, nor fill the log. */
static void hold(struct ch_target *t, const struct em_chunk_id *id, uint64_t ms)
{
	if (t->nheld == CH_REPAIR_HELD)
		memmove(&t->held[0], &t->held[1], --t->nheld * sizeof(t->held[0]));
	t->held[t->nheld].id = *id;
	t->held[t->nheld++].until_ms = em_now_ms() + ms;
}

static void done(struct ch_repair *rp, const char *result)
{
	struct ch_target *t = rp->t;
	if (rp->buf)
		em_cs_buf_put(t->s->repair_pool, rp->buf);
	ch_unlock(t, &rp->id);
	count(t, result);
	t->repair = NULL;
	free(rp);
	start_next(t);
}

static void on_replaced(void *arg, int status, const struct em_chunk_meta *m)
{
	struct ch_repair *rp = arg;
	char hex[33];
	em_cs_id_fmt(&rp->id, hex);
	if (status) {
		EM_ERR("chain", "target %u: chunk %s: repair from target %u failed to store: %s",
		       rp->t->id, hex, rp->peer, em_strerror(status));
		done(rp, "failed");
		return;
	}
	rp->t->repaired++;
	EM_WARN("chain", "target %u: chunk %s (version %u, %u bytes) had a bad block; repaired "
		"from target %u", rp->t->id, hex, rp->m.commit_ver, rp->m.length, rp->peer);
	done(rp, "repaired");
}

static void try_peer(struct ch_repair *rp);

static void on_peer_read(void *arg, int status, const void *p, size_t len)
{
	struct ch_repair *rp = arg;
	struct ch_target *t = rp->t;
	struct em_chain_read_rsp rr;
	rp->asked++;
	rp->bad += status == -EM_ECHECKSUM; /* the peer's engine found a bad block too */
	if (status == 0)
		status = em_chain_dec_read_rsp(p, len, &rr);
	if (status == 0) {
		int n = em_chain_read_rsp_check(&rr, rp->buf->data, rp->m.length);
		status = n < 0 ? n : (uint32_t)n != rp->m.length ? -EBADMSG : 0;
	}
	/* The bytes must be exactly the version we committed. */
	if (status == 0 && em_crc32c(0, rp->buf->data, rp->m.length) != rp->m.crc)
		status = -EM_ECHECKSUM;
	if (status) {
		EM_DEBUG("chain", "target %u: repair read from target %u: %s", t->id, rp->peer,
			 em_strerror(status));
		try_peer(rp);
		return;
	}
	struct em_chunk_update u = { .id = rp->id, .offset = 0, .len = rp->m.length,
				     .data = rp->buf->data, .update_ver = rp->m.commit_ver,
				     .chain_ver = rp->m.chain_ver,
				     .flags = EM_CHUNK_REPLACE | EM_CHUNK_COMMIT };
	int rc = em_chunk_update(t->eng, &u, on_replaced, rp);
	if (rc)
		on_replaced(rp, rc, NULL);
}

static void try_peer(struct ch_repair *rp)
{
	struct ch_target *t = rp->t;
	struct em_chain_server *s = t->s;
	struct ch_view v;
	ch_view(s, t, &v);
	const struct em_routing *r = em_mgmt_routing(s->mgmt);
	if (s->stopping) {
		done(rp, "failed");
		return;
	}
	while (v.chain && rp->next < v.chain->n) {
		const struct em_chain_member *mb = &v.chain->m[rp->next++];
		if (mb->target == t->id || mb->state != EM_PUB_SERVING)
			continue;
		const struct em_target *rt = em_routing_target(r, mb->target);
		const struct em_node *nd = rt ? em_routing_node(r, rt->node) : NULL;
		if (!nd)
			continue;
		struct em_chain_read_req q = { .chain = v.chain->id, .chain_ver = v.chain->version,
					       .target = mb->target, .id = rp->id, .offset = 0,
					       .len = rp->m.length };
		int rc = em_mr_desc(rp->buf->mr, rp->buf->data, rp->m.length, &q.buf);
		uint8_t req[EM_CHAIN_READ_REQ_SIZE];
		int n = rc ? rc : em_chain_enc_read(req, sizeof(req), &q);
		struct em_rpc_grant g = { q.buf, EM_ACCESS_REMOTE_WRITE };
		struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)s->rpc_timeout_ms,
					       .grants = &g, .n_grants = 1 };
		rp->peer = mb->target;
		rc = n < 0 ? n
			   : em_rpc_call(s->rpc, nd->addr, EM_CHAIN_SERVICE, EM_CHAIN_READ, req,
					 (size_t)n, &co, on_peer_read, rp);
		if (rc == 0)
			return;
	}
	char hex[33];
	em_cs_id_fmt(&rp->id, hex);
	if (rp->bad < rp->asked) {
		/* A peer's copy was whole but not our version (or the call
		 * failed): nothing is known lost; the next reader or scrub
		 * asks again. */
		EM_WARN("chain", "target %u: chunk %s (version %u) has a bad block; no peer gave that "
			"version now, repair postponed", t->id, hex, rp->m.commit_ver);
		hold(t, &rp->id, CH_REPAIR_RETRY_MS);
		done(rp, "failed");
		return;
	}
	t->unrepairable++;
	EM_ERR("chain", "target %u: chunk %s (version %u): a block fails its checksum and %s; "
	       "readers get EIO for it", t->id, hex, rp->m.commit_ver,
	       rp->asked ? "every other serving replica's copy is bad too"
			 : "no other replica serves");
	hold(t, &rp->id, CH_REPAIR_LOST_MS);
	done(rp, "unrepairable");
}

static void locked(void *arg)
{
	struct ch_repair *rp = arg;
	struct ch_target *t = rp->t;
	struct ch_view v;
	ch_view(t->s, t, &v);
	/* A target that is not serving is being resynced, which rewrites
	 * whatever differs; its reads are refused meanwhile. */
	if (v.state != EM_PUB_SERVING) {
		done(rp, "skipped");
		return;
	}
	/* A pending version means a write holds the chunk's future: it
	 * either fails on the bad base or replaces it; the next reader that
	 * trips over a bad block queues the chunk again. */
	if (em_chunk_query(t->eng, &rp->id, &rp->m) < 0 || !rp->m.commit_ver ||
	    rp->m.pending_ver || !rp->m.length) {
		done(rp, "skipped");
		return;
	}
	int rc = em_cs_buf_get(t->s->repair_pool, rp->m.length, &rp->buf);
	if (rc) {
		done(rp, "failed");
		return;
	}
	try_peer(rp);
}

static void start_next(struct ch_target *t)
{
	if (t->repair || !t->nrepair_q || t->s->stopping)
		return;
	struct ch_repair *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return;
	rp->t = t;
	rp->id = t->repair_q[0];
	memmove(&t->repair_q[0], &t->repair_q[1], --t->nrepair_q * sizeof(t->repair_q[0]));
	t->repair = rp;
	if (ch_lock(t, &rp->id, locked, rp))
		locked(rp);
}

void ch_repair_queue(struct ch_target *t, const struct em_chunk_id *id)
{
	if (t->repair && !memcmp(t->repair->id.b, id->b, sizeof(id->b)))
		return;
	for (unsigned i = 0; i < t->nrepair_q; i++)
		if (!memcmp(t->repair_q[i].b, id->b, sizeof(id->b)))
			return;
	for (unsigned i = 0; i < t->nheld; i++)
		if (!memcmp(t->held[i].id.b, id->b, sizeof(id->b)) &&
		    em_now_ms() < t->held[i].until_ms)
			return;
	if (t->nrepair_q == CH_REPAIR_QUEUE)
		return; /* full: the chunk is found again by its next reader or scrub */
	t->repair_q[t->nrepair_q++] = *id;
	start_next(t);
}

void ch_repair_free(struct ch_target *t)
{
	struct ch_repair *rp = t->repair;
	if (!rp)
		return;
	if (rp->buf)
		em_cs_buf_put(t->s->repair_pool, rp->buf);
	free(rp);
	t->repair = NULL;
	t->nrepair_q = 0;
}

bool ch_repair_idle(const struct ch_target *t)
{
	return !t->repair && !t->nrepair_q;
}
