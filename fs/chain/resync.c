/* Resync of a returning target, driven by its predecessor (3FS's
 * "data recovery"): when our successor is syncing, dump its chunk metadata
 * (the chunk service's LIST), diff it against ours, then under each
 * chunk's lock remove what it should not hold and replace what differs
 * with our whole committed chunk, and finally send SYNC_DONE; its daemon
 * then reports up-to-date and mgmtd makes it serving. Writes arriving
 * meanwhile reach it as whole-chunk replaces (write.c), serialised with
 * ours by the same chunk locks. Any failure or chain change ends the
 * resync; the next tick starts a fresh one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/service/proto.h"
#include "ember/errors.h"
#include "fs/chain/internal.h"
#include "net/core/log.h"

#define LIST_PAGE 1024

struct ch_resync {
	struct ch_target *t;
	uint32_t chain, succ;
	uint64_t chain_ver;
	char url[128];
	struct em_chunk_meta *remote;
	size_t nremote, cap;
	struct em_chunk_id *todo;
	uint8_t *todo_op;
	size_t ntodo, next, cap_todo;
	struct em_cs_buf *buf;
	struct em_chunk_meta m; /* the chunk being sent */
	uint64_t start_ms;
	size_t replaced, removed;
};

static void next_step(struct ch_resync *rs);

void ch_resync_free(struct ch_resync *rs)
{
	if (rs->buf)
		em_cs_buf_put(rs->t->s->pool, rs->buf);
	rs->t->resync = NULL;
	free(rs->remote);
	free(rs->todo);
	free(rs->todo_op);
	free(rs);
}

static void fail(struct ch_resync *rs, const char *what, int err)
{
	if (err != -EM_ECHAINVER)
		EM_WARN("chain", "target %u: resync of target %u: %s: %s", rs->t->id, rs->succ,
			what, em_strerror(err));
	ch_resync_free(rs);
}

/* Still the same chain, version and successor, and allowed to serve. */
static bool still_valid(struct ch_resync *rs)
{
	struct ch_view v;
	ch_view(rs->t->s, rs->t, &v);
	return !rs->t->s->stopping && ch_serving_allowed(rs->t->s) && v.chain &&
	       v.chain->version == rs->chain_ver && v.succ == rs->succ &&
	       v.succ_state == EM_PUB_SYNCING;
}

static int add_todo(struct ch_resync *rs, const struct em_chunk_id *id, uint8_t op)
{
	if (rs->ntodo == rs->cap_todo) {
		size_t cap = rs->cap_todo ? rs->cap_todo * 2 : 256;
		struct em_chunk_id *t = realloc(rs->todo, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		rs->todo = t;
		uint8_t *o = realloc(rs->todo_op, cap);
		if (!o)
			return -ENOMEM;
		rs->todo_op = o;
		rs->cap_todo = cap;
	}
	rs->todo[rs->ntodo] = *id;
	rs->todo_op[rs->ntodo++] = op;
	return 0;
}

/* Whether the successor's copy differs from ours. A pending version on
 * either side counts as different: only committed bytes are trusted. */
static bool differs(const struct em_chunk_meta *l, const struct em_chunk_meta *r)
{
	return r->pending_ver || l->commit_ver != r->commit_ver || l->length != r->length ||
	       l->crc != r->crc;
}

/* Both lists are in id order: one merge pass finds removes and replaces. */
static int diff(struct ch_resync *rs)
{
	struct em_chunk_meta page[LIST_PAGE];
	struct em_chunk_id after;
	size_t ri = 0, n;
	bool first = true;
	do {
		n = em_chunk_list(rs->t->eng, first ? NULL : &after, page, LIST_PAGE);
		for (size_t i = 0; i < n; i++) {
			const struct em_chunk_meta *l = &page[i];
			int rc = 0;
			while (ri < rs->nremote &&
			       memcmp(rs->remote[ri].id.b, l->id.b, sizeof(l->id.b)) < 0 && rc == 0)
				rc = add_todo(rs, &rs->remote[ri++].id, EM_CHAIN_OP_REMOVE);
			if (rc)
				return rc;
			bool same = ri < rs->nremote && !memcmp(rs->remote[ri].id.b, l->id.b,
							      sizeof(l->id.b));
			if (l->commit_ver && (!same || differs(l, &rs->remote[ri])))
				rc = add_todo(rs, &l->id, EM_CHAIN_OP_REPLACE);
			else if (!l->commit_ver && same)
				rc = add_todo(rs, &l->id, EM_CHAIN_OP_REMOVE);
			if (same)
				ri++;
			if (rc)
				return rc;
		}
		if (n)
			after = page[n - 1].id;
		first = false;
	} while (n == LIST_PAGE);
	while (ri < rs->nremote) {
		int rc = add_todo(rs, &rs->remote[ri++].id, EM_CHAIN_OP_REMOVE);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- SYNC_DONE ---------------------------------------------------------- */

static void on_done(void *arg, int status, const void *p, size_t len)
{
	(void)p;
	(void)len;
	struct ch_resync *rs = arg;
	if (status) {
		fail(rs, "sync-done", status);
		return;
	}
	EM_INFO("chain", "target %u: resynced target %u in %llu ms (%zu replaced, %zu removed)",
		rs->t->id, rs->succ, (unsigned long long)(em_now_ms() - rs->start_ms),
		rs->replaced, rs->removed);
	rs->t->resynced_ver = rs->chain_ver;
	ch_resync_free(rs);
}

static void send_done(struct ch_resync *rs)
{
	struct em_chain_sync_done q = { rs->chain, rs->chain_ver, rs->succ };
	uint8_t req[32];
	int n = em_chain_enc_sync_done(req, sizeof(req), &q);
	struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)rs->t->s->rpc_timeout_ms };
	int rc = n < 0 ? n
		       : em_rpc_call(rs->t->s->rpc, rs->url, EM_CHAIN_SERVICE, EM_CHAIN_SYNC_DONE,
				     req, (size_t)n, &co, on_done, rs);
	if (rc)
		fail(rs, "sync-done", rc);
}

/* ---- one chunk, under its lock ------------------------------------------ */

static void on_sent(void *arg, int status, const void *p, size_t len)
{
	struct ch_resync *rs = arg;
	struct em_chain_update_rsp rsp;
	uint8_t op = rs->todo_op[rs->next];
	if (status == 0 && op == EM_CHAIN_OP_REPLACE &&
	    (em_chain_dec_update_rsp(p, len, &rsp) || rsp.crc != rs->m.crc ||
	     rsp.commit_ver != rs->m.commit_ver))
		status = -EM_ECHECKSUM;
	ch_unlock(rs->t, &rs->todo[rs->next]);
	if (rs->buf) {
		em_cs_buf_put(rs->t->s->pool, rs->buf);
		rs->buf = NULL;
	}
	if (status) {
		fail(rs, "sending a chunk", status);
		return;
	}
	if (op == EM_CHAIN_OP_REPLACE)
		rs->replaced++;
	else
		rs->removed++;
	rs->next++;
	next_step(rs);
}

static void send_chunk(struct ch_resync *rs)
{
	struct em_chain_update_req u = {
		.chain = rs->chain, .chain_ver = rs->chain_ver, .target = rs->succ,
		.id = rs->todo[rs->next], .op = rs->todo_op[rs->next],
	};
	struct em_rpc_grant g;
	struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)rs->t->s->rpc_timeout_ms };
	int rc = 0;
	if (u.op == EM_CHAIN_OP_REPLACE) {
		u.len = rs->m.length;
		u.crc = rs->m.crc;
		u.update_ver = rs->m.commit_ver;
		if (u.len) {
			rc = em_mr_desc(rs->buf->mr, rs->buf->data, u.len, &u.buf);
			g = (struct em_rpc_grant){ u.buf, EM_ACCESS_REMOTE_READ };
			co.grants = &g;
			co.n_grants = 1;
		}
	}
	uint8_t req[EM_CHAIN_UPDATE_REQ_SIZE];
	int n = rc ? rc : em_chain_enc_update(req, sizeof(req), &u);
	rc = n < 0 ? n
		   : em_rpc_call(rs->t->s->rpc, rs->url, EM_CHAIN_SERVICE, EM_CHAIN_UPDATE, req,
				 (size_t)n, &co, on_sent, rs);
	if (rc)
		on_sent(rs, rc, NULL, 0);
}

static void on_read(void *arg, int status)
{
	struct ch_resync *rs = arg;
	if (status == -EM_ECHECKSUM) {
		ch_repair_count_error(rs->t);
		ch_repair_queue(rs->t, &rs->todo[rs->next]);
	}
	if (status >= 0 && (uint32_t)status != rs->m.length)
		status = -EIO;
	if (status < 0)
		on_sent(rs, status, NULL, 0);
	else
		send_chunk(rs);
}

static void locked(void *arg)
{
	struct ch_resync *rs = arg;
	const struct em_chunk_id *id = &rs->todo[rs->next];
	if (!still_valid(rs)) {
		ch_unlock(rs->t, id);
		fail(rs, "chain changed", -EM_ECHAINVER);
		return;
	}
	int have = em_chunk_query(rs->t->eng, id, &rs->m) == 0 && rs->m.commit_ver;
	/* The diff is older than the lock: decide on what we hold now. */
	rs->todo_op[rs->next] = have ? EM_CHAIN_OP_REPLACE : EM_CHAIN_OP_REMOVE;
	if (!have || rs->m.length == 0) {
		send_chunk(rs);
		return;
	}
	int rc = em_cs_buf_get(rs->t->s->pool, rs->m.length, &rs->buf);
	if (rc == 0)
		rc = em_chunk_read(rs->t->eng, id, 0, rs->m.length, rs->buf->data, 0, on_read, rs);
	if (rc)
		on_sent(rs, rc, NULL, 0);
}

static void next_step(struct ch_resync *rs)
{
	if (!still_valid(rs)) {
		fail(rs, "chain changed", -EM_ECHAINVER);
		return;
	}
	if (rs->next == rs->ntodo) {
		send_done(rs);
		return;
	}
	if (ch_lock(rs->t, &rs->todo[rs->next], locked, rs))
		locked(rs);
}

/* ---- the metadata dump -------------------------------------------------- */

static void list_page(struct ch_resync *rs);

static void on_list(void *arg, int status, const void *p, size_t len)
{
	struct ch_resync *rs = arg;
	uint32_t n = 0;
	if (status == 0 && rs->cap - rs->nremote < LIST_PAGE) {
		size_t cap = rs->cap * 2 + LIST_PAGE;
		struct em_chunk_meta *m = realloc(rs->remote, cap * sizeof(*m));
		if (!m)
			status = -ENOMEM;
		else {
			rs->remote = m;
			rs->cap = cap;
		}
	}
	if (status == 0)
		status = em_cs_dec_metas(p, len, rs->remote + rs->nremote, LIST_PAGE, &n);
	if (status) {
		fail(rs, "listing its chunks", status);
		return;
	}
	rs->nremote += n;
	if (n == LIST_PAGE) {
		list_page(rs);
		return;
	}
	status = diff(rs);
	if (status) {
		fail(rs, "diff", status);
		return;
	}
	EM_INFO("chain", "target %u: resyncing target %u: it holds %zu chunks, %zu to send",
		rs->t->id, rs->succ, rs->nremote, rs->ntodo);
	next_step(rs);
}

static void list_page(struct ch_resync *rs)
{
	struct em_cs_list_req q = { .target = rs->succ, .max = LIST_PAGE };
	if (rs->nremote) {
		q.has_after = true;
		q.after = rs->remote[rs->nremote - 1].id;
	}
	uint8_t req[64];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_cs_enc_list_req(&e, &q);
	struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)rs->t->s->rpc_timeout_ms };
	int rc = em_enc_error(&e);
	if (rc == 0)
		rc = em_rpc_call(rs->t->s->rpc, rs->url, EM_CS_SERVICE, EM_CS_LIST, req, e.len, &co,
				 on_list, rs);
	if (rc)
		fail(rs, "listing its chunks", rc);
}

void ch_resync_check(struct ch_target *t)
{
	struct ch_view v;
	ch_view(t->s, t, &v);
	if (t->resync || !v.chain || v.state != EM_PUB_SERVING || !v.succ ||
	    v.succ_state != EM_PUB_SYNCING || t->resynced_ver == v.chain->version)
		return;
	struct ch_resync *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return;
	rs->t = t;
	rs->chain = v.chain->id;
	rs->chain_ver = v.chain->version;
	rs->succ = v.succ;
	rs->start_ms = em_now_ms();
	memcpy(rs->url, v.succ_url, sizeof(rs->url));
	t->resync = rs;
	EM_INFO("chain", "target %u: successor %u is syncing (chain %u version %llu)", t->id,
		v.succ, rs->chain, (unsigned long long)rs->chain_ver);
	list_page(rs);
}
