/* The CRAQ update path: WRITE from a client at the head, UPDATE from a
 * predecessor everywhere else (server.h gives the protocol). Writes and
 * truncates make a pending version like any update; a remove first hides
 * the chunk behind a pending empty version (reads answer "not committed"),
 * forwards, and removes once its successor has, so no replica serves the
 * old bytes after another one answered "no such chunk".
 *
 * One struct ch_wop follows a request through: admit, pull the bytes from
 * the sender's buffer, take the chunk lock, store the pending version (or
 * commit at once at the tail), forward to the successor and retry until it
 * answers, compare its committed version and checksum with ours, commit,
 * answer, unlock. The lock is held from before the local update until the
 * answer, so updates of one chunk pass every replica in the head's order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/chain/internal.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"

#define RETRY_MS 100

struct ch_wop {
	struct em_chain_server *s;
	struct ch_target *t;
	struct em_rpc_req *req;
	struct em_chain_update_req u;
	bool from_client;
	bool locked;
	struct ch_dedup *dd;
	struct em_cs_buf *in;   /* the bytes pulled from the sender */
	struct em_cs_buf *full; /* the whole pending chunk, for REPLACE forwards */
	/* A head that finds a pending version left by a write that failed
	 * downstream first pushes that version through, then applies its own:
	 * otherwise a successor holding it committed would skip ours. */
	bool repair;
	bool send_full;
	uint32_t ver;           /* the version this replica is making */
	struct em_chunk_meta meta;
	uint64_t fwd_start;
	struct em_chain_update_rsp rsp;
};

static void forward(struct ch_wop *op);
static void apply_client(struct ch_wop *op);

static void finish(struct ch_wop *op, int status)
{
	struct em_chain_server *s = op->s;
	uint8_t out[16];
	int n = 0;
	if (status == 0)
		n = em_chain_enc_update_rsp(out, sizeof(out), &op->rsp);
	if (op->dd && (status == 0 || op->from_client)) {
		op->dd->seq = op->u.seq;
		op->dd->done = true;
		op->dd->status = status;
		op->dd->rsp = op->rsp;
	}
	if (status && status != -EM_ECHAINVER)
		EM_DEBUG("chain", "target %u: %s chunk update: %s", op->t ? op->t->id : 0,
			 op->from_client ? "client" : "forwarded", em_strerror(status));
	em_rpc_reply(op->req, status, n > 0 ? out : NULL, n > 0 ? (size_t)n : 0);
	if (op->in)
		em_cs_buf_put(s->pool, op->in);
	if (op->full)
		em_cs_buf_put(s->pool, op->full);
	if (op->locked)
		ch_unlock(op->t, &op->u.id);
	free(op);
}

static void finish_meta(struct ch_wop *op, const struct em_chunk_meta *m)
{
	op->rsp = (struct em_chain_update_rsp){ m->commit_ver, m->length, m->crc };
	finish(op, 0);
}

/* ---- commit and the successor's answer -------------------------------- */

static void on_committed(void *arg, int status, const struct em_chunk_meta *m)
{
	struct ch_wop *op = arg;
	if (status) {
		finish(op, status);
		return;
	}
	if (op->repair) {
		op->repair = false;
		op->send_full = false;
		if (op->full) {
			em_cs_buf_put(op->s->pool, op->full);
			op->full = NULL;
		}
		apply_client(op);
		return;
	}
	finish_meta(op, m);
}

static void on_removed(void *arg, int status, const struct em_chunk_meta *m)
{
	(void)m;
	struct ch_wop *op = arg;
	finish(op, status == -ENOENT ? 0 : status);
}

static void remove_local(struct ch_wop *op)
{
	int rc = em_chunk_remove(op->t->eng, &op->u.id, on_removed, op);
	if (rc)
		finish(op, rc == -ENOENT ? 0 : rc);
}

/* The successors have what we forwarded: make ours final. */
static void commit_local(struct ch_wop *op)
{
	if (op->u.op == EM_CHAIN_OP_REMOVE && !op->repair) {
		remove_local(op);
		return;
	}
	int rc = em_chunk_commit(op->t->eng, &op->u.id, op->ver, on_committed, op);
	if (rc)
		finish(op, rc);
}

static void retry_timer(void *arg)
{
	forward(arg);
}

/* Errors worth another try: the successor or the chain is changing. */
static void retry_later(struct ch_wop *op, int status)
{
	if (em_now_ms() - op->fwd_start >= op->s->forward_timeout_ms) {
		EM_WARN("chain", "target %u: successor unreachable for %llu ms: %s", op->t->id,
			(unsigned long long)op->s->forward_timeout_ms, em_strerror(status));
		finish(op, status);
		return;
	}
	ch_refresh(op->s);
	struct em_timer *tm;
	if (em_reactor_timer(op->s->r, RETRY_MS, retry_timer, op, &tm))
		finish(op, -ENOMEM);
}

static void on_forwarded(void *arg, int status, const void *p, size_t len)
{
	struct ch_wop *op = arg;
	struct em_chain_update_rsp rsp;
	bool removing = op->u.op == EM_CHAIN_OP_REMOVE && !op->send_full;
	if (status == 0 && em_chain_dec_update_rsp(p, len, &rsp))
		status = -EBADMSG;
	if (status == 0 && !removing && (rsp.commit_ver != op->ver || rsp.crc != op->meta.pending_crc ||
			    rsp.length != op->meta.pending_length))
		status = -EM_ECHECKSUM;
	if (status == 0) {
		commit_local(op);
		return;
	}
	/* The successor missed an update or holds other bytes: resend the
	 * whole chunk, which it takes whatever it holds. */
	if ((status == -EM_EVERSION || status == -EM_ECHECKSUM) && !op->send_full) {
		op->send_full = true;
		forward(op);
		return;
	}
	retry_later(op, status);
}

/* ---- forwarding ------------------------------------------------------- */

static void send_update(struct ch_wop *op, const struct ch_view *v)
{
	struct em_chain_update_req f = op->u;
	struct em_cs_buf *b = op->send_full ? op->full : op->in;
	f.chain_ver = v->chain->version;
	f.target = v->succ;
	f.update_ver = op->ver;
	if (op->send_full) {
		f.op = EM_CHAIN_OP_REPLACE;
		f.offset = 0;
		f.len = op->meta.pending_length;
		f.crc = op->meta.pending_crc;
	}
	memset(&f.buf, 0, sizeof(f.buf));
	struct em_rpc_grant g;
	struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)op->s->rpc_timeout_ms };
	int rc = 0;
	if (f.len) {
		rc = em_mr_desc(b->mr, b->data, f.len, &f.buf);
		g = (struct em_rpc_grant){ f.buf, EM_ACCESS_REMOTE_READ };
		co.grants = &g;
		co.n_grants = 1;
	}
	uint8_t req[EM_CHAIN_UPDATE_REQ_SIZE];
	int n = rc ? rc : em_chain_enc_update(req, sizeof(req), &f);
	if (n > 0)
		rc = em_rpc_call(op->s->rpc, v->succ_url, EM_CHAIN_SERVICE, EM_CHAIN_UPDATE, req,
				 (size_t)n, &co, on_forwarded, op);
	else
		rc = n;
	if (rc)
		retry_later(op, rc);
}

static void on_full_read(void *arg, int status)
{
	struct ch_wop *op = arg;
	if (status < 0 || (uint32_t)status != op->meta.pending_length) {
		finish(op, status < 0 ? status : -EIO);
		return;
	}
	forward(op);
}

static void forward(struct ch_wop *op)
{
	struct ch_view v;
	ch_view(op->s, op->t, &v);
	if (!ch_serving_allowed(op->s) || !v.chain || !em_pub_state_writable(v.state)) {
		finish(op, -EM_ETARGETOFFLINE);
		return;
	}
	if (!v.succ) {
		/* The successors are gone: we are the tail now. */
		commit_local(op);
		return;
	}
	/* A syncing successor may lack the base our delta applies to; a
	 * remove needs no base. */
	if (op->u.op != EM_CHAIN_OP_REMOVE &&
	    (v.succ_state == EM_PUB_SYNCING || op->u.op == EM_CHAIN_OP_REPLACE))
		op->send_full = true;
	if (op->send_full && !op->full && op->meta.pending_length) {
		int rc = em_cs_buf_get(op->s->pool, op->meta.pending_length, &op->full);
		if (rc == 0)
			rc = em_chunk_read(op->t->eng, &op->u.id, 0, op->meta.pending_length,
					   op->full->data, EM_CHUNK_READ_PENDING, on_full_read, op);
		if (rc)
			finish(op, rc);
		return;
	}
	send_update(op, &v);
}

/* ---- the local update --------------------------------------------------- */

static void on_applied(void *arg, int status, const struct em_chunk_meta *m)
{
	struct ch_wop *op = arg;
	if (status == -EM_ECHECKSUM) {
		/* Our base has a bad block: heal it once the lock is free. A
		 * predecessor answers this with the whole chunk; a client's
		 * retry finds the healed base. */
		ch_repair_count_error(op->t);
		ch_repair_queue(op->t, &op->u.id);
	}
	if (status) {
		finish(op, status);
		return;
	}
	op->meta = *m;
	if (m->commit_ver == op->ver) { /* the tail committed in the same record */
		finish_meta(op, m);
		return;
	}
	op->fwd_start = em_now_ms();
	forward(op);
}

/* Applies op->u at op->ver, committing in the same record at the tail. A
 * REPLACE is one engine update (EM_CHUNK_REPLACE) whatever the replica
 * held: the old chunk stays until the record switching to the new bytes is
 * durable, so a failed or interrupted replace never loses it, and until the
 * commit the pending version makes reads answer "not committed". */
static void apply(struct ch_wop *op)
{
	struct ch_view v;
	ch_view(op->s, op->t, &v);
	uint32_t flags = v.succ ? 0 : EM_CHUNK_COMMIT;
	uint32_t cv = (uint32_t)op->u.chain_ver;
	if (op->u.op == EM_CHAIN_OP_REPLACE)
		flags |= EM_CHUNK_REPLACE;
	struct em_chunk_update u = { .id = op->u.id, .offset = op->u.offset, .len = op->u.len,
				     .data = op->in ? op->in->data : NULL, .update_ver = op->ver,
				     .chain_ver = cv, .flags = flags };
	int rc;
	if (op->u.op == EM_CHAIN_OP_TRUNCATE)
		rc = em_chunk_truncate(op->t->eng, &op->u.id, op->u.offset, op->ver, cv, flags,
				       on_applied, op);
	else
		rc = em_chunk_update(op->t->eng, &u, on_applied, op);
	if (rc)
		finish(op, rc);
}

static void on_remove_marked(void *arg, int status, const struct em_chunk_meta *m)
{
	struct ch_wop *op = arg;
	if (status) {
		finish(op, status);
		return;
	}
	op->meta = *m;
	op->fwd_start = em_now_ms();
	forward(op);
}

/* A remove: the tail removes at once; any other replica first hides the
 * chunk it holds behind a pending empty version, then forwards. Each
 * replica picks its own version for that mark (a remove has no base to
 * agree on), and successors answer a remove with an all-zero result. */
static void remove_start(struct ch_wop *op)
{
	struct ch_view v;
	ch_view(op->s, op->t, &v);
	struct em_chunk_meta m;
	bool have = em_chunk_query(op->t->eng, &op->u.id, &m) == 0;
	if (!v.succ) {
		remove_local(op);
		return;
	}
	if (!have) {
		op->fwd_start = em_now_ms();
		forward(op);
		return;
	}
	op->ver = m.commit_ver + 1;
	int rc = em_chunk_truncate(op->t->eng, &op->u.id, 0, op->ver, (uint32_t)op->u.chain_ver,
				   0, on_remove_marked, op);
	if (rc)
		finish(op, rc);
}

/* The head's own operation, on top of the committed version. Truncating
 * a chunk that does not exist removes it everywhere instead of creating
 * zeros: a missing chunk already reads as a hole, and a successor that
 * kept a copy by mistake loses it. */
static void apply_client(struct ch_wop *op)
{
	struct em_chunk_meta m;
	bool have = em_chunk_query(op->t->eng, &op->u.id, &m) == 0;
	if (!have)
		memset(&m, 0, sizeof(m));
	if (op->u.op == EM_CHAIN_OP_TRUNCATE && !have)
		op->u.op = EM_CHAIN_OP_REMOVE;
	if (op->u.op == EM_CHAIN_OP_REMOVE) {
		remove_start(op);
		return;
	}
	op->ver = m.commit_ver + 1;
	apply(op);
}

/* ---- under the chunk lock --------------------------------------------- */

static void locked(void *arg)
{
	struct ch_wop *op = arg;
	op->locked = true;
	/* The chain may have changed while we waited for the lock. */
	struct ch_target *t;
	struct ch_view v;
	int rc = ch_admit(op->s, op->u.target, op->u.chain, op->u.chain_ver, &t, &v);
	if (rc == 0 && !em_pub_state_writable(v.state))
		rc = -EM_ETARGETOFFLINE;
	if (rc) {
		finish(op, rc);
		return;
	}
	struct em_chunk_meta m;
	if (em_chunk_query(t->eng, &op->u.id, &m))
		memset(&m, 0, sizeof(m));
	if (op->from_client) {
		if (m.pending_ver) {
			op->repair = true;
			op->send_full = true;
			op->ver = m.pending_ver;
			op->meta = m;
			op->fwd_start = em_now_ms();
			forward(op);
			return;
		}
		apply_client(op);
		return;
	}
	op->ver = op->u.update_ver;
	switch (op->u.op) {
	case EM_CHAIN_OP_REMOVE:
		remove_start(op);
		return;
	case EM_CHAIN_OP_REPLACE:
		apply(op);
		return;
	default:
		break;
	}
	/* 3FS's rules: an update we committed already (a retry after our
	 * answer was lost) succeeds; a gap means we missed one. */
	if (op->ver <= m.commit_ver) {
		finish_meta(op, &m);
		return;
	}
	if (op->ver != m.commit_ver + 1) {
		finish(op, -EM_EVERSION);
		return;
	}
	apply(op);
}

/* ---- admission and the data pull -------------------------------------- */

static void on_pulled(void *arg, int status)
{
	struct ch_wop *op = arg;
	if (status == 0 && op->in && em_crc32c(0, op->in->data, op->u.len) != op->u.crc)
		status = -EM_ECHECKSUM;
	if (status) {
		finish(op, status);
		return;
	}
	if (ch_lock(op->t, &op->u.id, locked, op))
		locked(op);
}

static int check_dedup(struct ch_wop *op)
{
	if (!op->u.client)
		return 0;
	struct ch_dedup *d = ch_dedup_get(op->t, op->u.client, op->u.channel);
	if (!d)
		return -ENOMEM;
	if (op->from_client) {
		if (d->seq > op->u.seq)
			return -EALREADY;
		if (d->seq == op->u.seq && !d->done)
			return -EAGAIN;
		if (d->seq == op->u.seq && d->status == 0) {
			op->rsp = d->rsp; /* answered before: same answer again */
			return 1;
		}
		d->done = false;
		d->seq = op->u.seq;
	}
	op->dd = d;
	return 0;
}

static void handle(struct em_rpc_req *req, struct em_chain_server *s, bool from_client)
{
	struct ch_wop *op = calloc(1, sizeof(*op));
	if (!op) {
		em_rpc_reply(req, -ENOMEM, NULL, 0);
		return;
	}
	op->s = s;
	op->req = req;
	op->from_client = from_client;
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct ch_view v;
	int rc = em_chain_dec_update(p, len, &op->u);
	if (rc == 0 && from_client && (op->u.op == EM_CHAIN_OP_REPLACE || op->u.update_ver))
		rc = -EINVAL;
	if (rc == 0)
		rc = ch_admit(s, op->u.target, op->u.chain, op->u.chain_ver, &op->t, &v);
	if (rc == 0 && from_client && (v.state != EM_PUB_SERVING || v.idx != 0))
		rc = -EM_ENOTARGET;
	if (rc == 0 && !from_client && !em_pub_state_writable(v.state))
		rc = -EM_ETARGETOFFLINE;
	/* A syncing replica may lack the base of a delta. */
	if (rc == 0 && v.state == EM_PUB_SYNCING &&
	    (op->u.op == EM_CHAIN_OP_WRITE || op->u.op == EM_CHAIN_OP_TRUNCATE))
		rc = -EM_EVERSION;
	if (rc == 0)
		rc = check_dedup(op);
	if (rc) {
		op->dd = NULL;
		finish(op, rc == 1 ? 0 : rc);
		return;
	}
	if (op->u.len == 0 || op->u.op == EM_CHAIN_OP_REMOVE) {
		on_pulled(op, 0);
		return;
	}
	rc = em_cs_buf_get(s->pool, op->u.len, &op->in);
	if (rc == 0) {
		struct em_bulk_item it = { op->u.buf, op->in->mr, op->in->data };
		rc = em_rpc_req_bulk(req, false, &it, 1, on_pulled, op);
	}
	if (rc)
		finish(op, rc);
}

void ch_handle_write(struct em_rpc_req *req, void *arg)
{
	handle(req, arg, true);
}

void ch_handle_update(struct em_rpc_req *req, void *arg)
{
	handle(req, arg, false);
}
