/* The network side of the chunk service: decode, validate, move bulk data,
 * reply (server.h). Everything here runs on the network reactor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "block/service/internal.h"

/* Idle registered buffers kept for reuse. */
#define POOL_IDLE_BYTES (512u << 20)
/* Bytes one WRITE request may carry in total, like EM_CS_MAX_READ_BYTES. */
#define MAX_WRITE_BYTES EM_CS_MAX_READ_BYTES

static void op_free(struct cs_op *op)
{
	free(op->items);
	free(op->res);
	free(op->tasks);
	free(op->metas);
	free(op->stats);
	free(op);
}

static void reply_error(struct em_rpc_req *req, int status)
{
	int rc = em_rpc_reply(req, status, NULL, 0);
	if (rc)
		EM_DEBUG("chunk", "reply lost: %s", em_strerror(rc));
}

static void op_reply(struct cs_op *op)
{
	size_t cap;
	switch (op->method) {
	case EM_CS_LIST:
		cap = 4 + (size_t)op->n_metas * 64;
		break;
	case EM_CS_STATS:
		cap = 4 + (size_t)op->n * 192;
		break;
	default:
		cap = em_cs_results_size(op->n);
		break;
	}
	uint8_t *buf = malloc(cap);
	if (!buf) {
		reply_error(op->req, -ENOMEM);
		op_free(op);
		return;
	}
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	if (op->method == EM_CS_LIST)
		em_cs_enc_metas(&e, op->metas, op->n_metas);
	else if (op->method == EM_CS_STATS)
		em_cs_enc_stats(&e, op->stats, op->n);
	else
		em_cs_enc_results(&e, op->method, op->res, op->n);
	int rc = em_enc_error(&e);
	if (rc) {
		EM_ERR("chunk", "%s reply does not fit %zu bytes", em_cs_method_name(op->method), cap);
		reply_error(op->req, rc);
	} else {
		rc = em_rpc_reply(op->req, 0, buf, e.len);
		if (rc)
			EM_DEBUG("chunk", "%s reply lost: %s", em_cs_method_name(op->method),
				 em_strerror(rc));
	}
	free(buf);
	op_free(op);
}

static void task_done(struct cs_task *t)
{
	struct cs_op *op = t->op;
	if (op->res) {
		struct em_cs_result *r = &op->res[t->idx];
		r->status = t->status < 0 ? t->status : 0;
		if (op->method == EM_CS_READ) {
			r->len = t->status > 0 ? (uint32_t)t->status : 0;
			/* What left a verified engine read; the client checks
			 * what arrived. */
			r->crc = r->len && t->buf ? em_crc32c(0, t->buf->data, r->len) : 0;
		}
		r->has_meta = t->status >= 0 && t->has_meta;
		if (r->has_meta)
			r->meta = t->meta;
	}
	if (t->buf) {
		em_cs_buf_put(op->s->pool, t->buf);
		t->buf = NULL;
	}
	if (--op->pending == 0)
		op_reply(op);
}

/* The batch of writes of a READ completed: it carried exactly the tasks
 * that still hold a buffer (push_reads finished every other one). */
static void pushed(void *arg, int status)
{
	struct cs_op *op = arg;
	op->pending++; /* held: the op must outlive this loop */
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		if (!t->buf)
			continue;
		if (status < 0)
			t->status = status;
		task_done(t);
	}
	if (--op->pending == 0)
		op_reply(op);
}

/* Every engine read of a READ is back: push all the bytes read to the client
 * as one batch of writes (one chain of RDMA WRITEs), then reply. A failed
 * push fails every item it carried. */
static void push_reads(struct cs_op *op)
{
	struct em_bulk_item *items = calloc(op->n, sizeof(*items));
	int n = 0;
	op->pending++; /* held: finishing the failed items must not reply yet */
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		if (!t->t)
			continue;
		if (t->status <= 0) {
			task_done(t);
			continue;
		}
		if (!items)
			continue;
		struct em_buf_desc d = op->items[i].buf;
		d.len = (uint32_t)t->status; /* short at the chunk's end */
		items[n++] = (struct em_bulk_item){ .remote = d, .mr = t->buf->mr, .local = t->buf->data };
	}
	int rc = !items ? -ENOMEM : n ? em_rpc_req_bulk(op->req, true, items, n, pushed, op) : 0;
	free(items);
	if (rc)
		pushed(op, rc);
	if (--op->pending == 0)
		op_reply(op);
}

/* The engine answered. */
void em_cs_task_back(void *arg)
{
	struct cs_task *t = arg;
	struct cs_op *op = t->op;
	if (op->method != EM_CS_READ)
		task_done(t);
	else if (--op->unread == 0)
		push_reads(op);
}

static struct cs_target *find_target(struct em_cs_server *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_targets; i++)
		if (s->targets[i].id == id)
			return &s->targets[i];
	return NULL;
}

/* Per-item checks that need no engine: an item failing here never leaves
 * the network reactor. */
static int check_item(struct em_cs_server *s, uint16_t method, const struct em_cs_item *it,
		      struct cs_target **t)
{
	*t = find_target(s, it->target);
	if (!*t)
		return -EM_ENOTARGET;
	if (atomic_load(&(*t)->offline))
		return -EM_ETARGETOFFLINE;
	switch (method) {
	case EM_CS_READ:
	case EM_CS_WRITE:
		if ((uint64_t)it->offset + it->len > EM_CHUNK_MAX_SIZE)
			return -ERANGE;
		if (it->buf.len != it->len || (method == EM_CS_READ && it->len == 0))
			return -EINVAL;
		break;
	case EM_CS_TRUNCATE:
		if (it->len > EM_CHUNK_MAX_SIZE)
			return -ERANGE;
		break;
	default:
		break;
	}
	return 0;
}

static void submit_writes(struct cs_op *op)
{
	/* Updates go to the engines in item order, after every pull, so two
	 * items of one batch on the same chunk apply in the order sent. */
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		if (t->t && t->status == 0)
			em_cs_task_start(t);
	}
}

/* A WRITE item whose data could not be pulled: counted out here, so
 * submit_writes skips it. */
static void pull_failed(struct cs_task *t, int status)
{
	struct cs_op *op = t->op;
	t->status = status;
	op->res[t->idx].status = status;
	if (t->buf) {
		em_cs_buf_put(op->s->pool, t->buf);
		t->buf = NULL;
	}
	op->pending--;
}

static void pulls_settled(struct cs_op *op)
{
	if (op->pending == 0)
		op_reply(op);
	else
		submit_writes(op);
}

static void pulled(void *arg, int status)
{
	struct cs_task *t = arg;
	struct cs_op *op = t->op;
	const struct em_cs_item *it = &op->items[t->idx];
	if (status == 0 && em_crc32c(0, t->buf->data, it->len) != it->crc)
		status = -EM_ECHECKSUM;
	if (status < 0)
		pull_failed(t, status);
	if (--op->pulls == 0)
		pulls_settled(op);
}

/* WRITE: pull every item's data from the client, then update. */
static void start_writes(struct cs_op *op)
{
	op->pulls = 1; /* held while issuing, so no completion settles the op early */
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		const struct em_cs_item *it = &op->items[i];
		if (!t->t || it->len == 0)
			continue;
		int rc = em_cs_buf_get(op->s->pool, it->len, &t->buf);
		if (rc == 0) {
			struct em_bulk_item bi = { it->buf, t->buf->mr, t->buf->data };
			rc = em_rpc_req_bulk(op->req, false, &bi, 1, pulled, t);
		}
		if (rc) {
			pull_failed(t, rc);
			continue;
		}
		op->pulls++;
	}
	if (--op->pulls == 0)
		pulls_settled(op);
}

static void start_reads(struct cs_op *op)
{
	/* Counted while issuing for the same reason as in start_writes; an item
	 * without a buffer is finished by push_reads with its error. */
	op->unread = 1;
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		if (!t->t)
			continue;
		int rc = em_cs_buf_get(op->s->pool, op->items[i].len, &t->buf);
		if (rc) {
			t->status = rc;
			continue;
		}
		op->unread++;
		em_cs_task_start(t);
	}
	if (--op->unread == 0)
		push_reads(op);
}

static uint64_t batch_bytes(const struct em_cs_item *items, uint32_t n)
{
	uint64_t sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += items[i].len;
	return sum;
}

static int op_batch(struct cs_op *op, const void *p, size_t len)
{
	int rc = em_cs_dec_items(p, len, op->method, &op->items, &op->n);
	if (rc)
		return rc;
	if ((op->method == EM_CS_READ && batch_bytes(op->items, op->n) > EM_CS_MAX_READ_BYTES) ||
	    (op->method == EM_CS_WRITE && batch_bytes(op->items, op->n) > MAX_WRITE_BYTES))
		return -E2BIG;
	op->res = calloc(op->n ? op->n : 1, sizeof(*op->res));
	op->tasks = calloc(op->n ? op->n : 1, sizeof(*op->tasks));
	if (!op->res || !op->tasks)
		return -ENOMEM;
	for (uint32_t i = 0; i < op->n; i++) {
		struct cs_task *t = &op->tasks[i];
		t->op = op;
		t->idx = i;
		struct cs_target *tg;
		int st = check_item(op->s, op->method, &op->items[i], &tg);
		if (st) {
			op->res[i].status = st;
			continue;
		}
		t->t = tg;
		op->pending++;
	}
	if (op->pending == 0) {
		op_reply(op);
		return 0;
	}
	switch (op->method) {
	case EM_CS_READ:
		start_reads(op);
		break;
	case EM_CS_WRITE:
		start_writes(op);
		break;
	default:
		for (uint32_t i = 0; i < op->n; i++)
			if (op->tasks[i].t)
				em_cs_task_start(&op->tasks[i]);
		break;
	}
	return 0;
}

static int op_list(struct cs_op *op, const void *p, size_t len)
{
	int rc = em_cs_dec_list_req(p, len, &op->list);
	if (rc)
		return rc;
	struct cs_target *tg = find_target(op->s, op->list.target);
	if (!tg)
		return -EM_ENOTARGET;
	if (atomic_load(&tg->offline))
		return -EM_ETARGETOFFLINE;
	op->metas = calloc(op->list.max, sizeof(*op->metas));
	op->tasks = calloc(1, sizeof(*op->tasks));
	if (!op->metas || !op->tasks)
		return -ENOMEM;
	op->tasks[0] = (struct cs_task){ .op = op, .t = tg };
	op->pending = 1;
	em_cs_task_start(&op->tasks[0]);
	return 0;
}

static int op_stats(struct cs_op *op)
{
	op->n = (uint32_t)op->s->n_targets;
	op->stats = calloc(op->n ? op->n : 1, sizeof(*op->stats));
	op->tasks = calloc(op->n ? op->n : 1, sizeof(*op->tasks));
	if (!op->stats || !op->tasks)
		return -ENOMEM;
	if (op->n == 0) {
		op_reply(op);
		return 0;
	}
	op->pending = op->n;
	for (uint32_t i = 0; i < op->n; i++) {
		op->tasks[i] = (struct cs_task){ .op = op, .idx = i, .t = &op->s->targets[i] };
		em_cs_task_start(&op->tasks[i]);
	}
	return 0;
}

static void on_request(struct em_rpc_req *req, void *arg)
{
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct cs_op *op = calloc(1, sizeof(*op));
	if (!op) {
		reply_error(req, -ENOMEM);
		return;
	}
	op->s = arg;
	op->req = req;
	op->method = em_rpc_req_method(req);
	int rc;
	switch (op->method) {
	case EM_CS_LIST:
		rc = op_list(op, p, len);
		break;
	case EM_CS_STATS:
		rc = op_stats(op);
		break;
	default:
		rc = op_batch(op, p, len);
		break;
	}
	if (rc) {
		/* Nothing was started: the op is still ours to answer. */
		EM_DEBUG("chunk", "%s from %s refused: %s", em_cs_method_name(op->method),
			 em_rpc_req_conn(req) ? em_conn_peer(em_rpc_req_conn(req)) : "?",
			 em_strerror(rc));
		reply_error(req, rc);
		op_free(op);
	}
}

int em_cs_server_create(struct em_rpc *rpc, struct em_reactor *net_reactor,
			struct em_cs_server **out)
{
	struct em_cs_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rpc = rpc;
	s->r = net_reactor;
	int rc = em_cs_bufpool_create(POOL_IDLE_BYTES, &s->pool);
	for (uint16_t m = EM_CS_READ; rc == 0 && m < EM_CS_METHOD_END; m++)
		rc = em_rpc_register(rpc, EM_CS_SERVICE, m, on_request, s);
	if (rc) {
		em_cs_bufpool_destroy(s->pool);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int em_cs_server_add_target(struct em_cs_server *s, uint32_t id, const char *name,
			    struct em_engine *e, struct em_reactor *r)
{
	if (find_target(s, id))
		return -EEXIST;
	if (s->n_targets == EM_CS_MAX_TARGETS)
		return -E2BIG;
	struct cs_target *t = &s->targets[s->n_targets++];
	t->id = id;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->eng = e;
	t->r = r;
	atomic_init(&t->offline, false);
	return 0;
}

void em_cs_server_destroy(struct em_cs_server *s)
{
	if (!s)
		return;
	em_cs_bufpool_destroy(s->pool);
	free(s);
}
