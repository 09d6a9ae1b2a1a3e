/* The target side of a task: runs on the engine's reactor, calls the
 * engine, and sends the result back to the network reactor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "net/core/log.h"
#include "block/service/internal.h"

/* A hop that cannot be queued leaves a request that can never be answered
 * and a reply that would block drain forever: stopping loudly is better. */
static void hop(struct em_reactor *r, em_msg_fn fn, void *arg)
{
	int rc = em_reactor_send(r, fn, arg);
	if (rc) {
		EM_ERR("chunk", "cannot hand work to reactor %s: %s", em_reactor_name(r),
		       em_strerror(rc));
		abort();
	}
}

static void finish(struct cs_task *t, int status)
{
	t->status = status;
	if (status == -EIO && !atomic_exchange(&t->t->offline, true))
		EM_ERR("chunk", "target %u (%s): I/O error, taking it offline", t->t->id,
		       t->t->name);
	hop(t->op->s->r, em_cs_task_back, t);
}

static void on_meta(void *arg, int status, const struct em_chunk_meta *m)
{
	struct cs_task *t = arg;
	t->has_meta = m != NULL;
	if (m)
		t->meta = *m;
	finish(t, status);
}

static void on_read(void *arg, int status)
{
	finish(arg, status);
}

static void fill_stats(struct cs_task *t)
{
	struct em_engine_stats es;
	struct em_cs_target_stats *s = &t->op->stats[t->idx];
	em_engine_get_stats(t->t->eng, &es);
	memset(s, 0, sizeof(*s));
	s->target = t->t->id;
	snprintf(s->name, sizeof(s->name), "%s", t->t->name);
	s->state = atomic_load(&t->t->offline) ? EM_CS_OFFLINE : EM_CS_ONLINE;
	s->block_size = es.block_size;
	s->dev_size = es.dev_size;
	s->data_segments = es.data_segments;
	s->free_segments = es.free_segments;
	s->chunks = es.chunks;
	s->bytes = es.bytes;
	s->log_pages = es.log_pages;
	s->log_used = es.log_head - es.log_tail;
}

static void on_target(void *arg)
{
	struct cs_task *t = arg;
	struct cs_op *op = t->op;
	const struct em_cs_item *it = op->items ? &op->items[t->idx] : NULL;
	struct em_engine *e = t->t->eng;
	int rc;

	switch (op->method) {
	case EM_CS_READ:
		rc = em_chunk_read(e, &it->id, it->offset, it->len, t->buf->data,
				   it->flags & EM_CHUNK_READ_PENDING, on_read, t);
		break;
	case EM_CS_WRITE: {
		struct em_chunk_update u = {
			.id = it->id, .offset = it->offset, .len = it->len,
			.data = t->buf ? t->buf->data : NULL, .update_ver = it->ver,
			.chain_ver = it->chain_ver, .flags = it->flags & EM_CHUNK_COMMIT,
		};
		rc = em_chunk_update(e, &u, on_meta, t);
		break;
	}
	case EM_CS_TRUNCATE:
		rc = em_chunk_truncate(e, &it->id, it->len, it->ver, it->chain_ver,
				       it->flags & EM_CHUNK_COMMIT, on_meta, t);
		break;
	case EM_CS_COMMIT:
		rc = em_chunk_commit(e, &it->id, it->ver, on_meta, t);
		break;
	case EM_CS_REMOVE:
		rc = em_chunk_remove(e, &it->id, on_meta, t);
		break;
	case EM_CS_QUERY:
		rc = em_chunk_query(e, &it->id, &t->meta);
		t->has_meta = rc == 0;
		finish(t, rc);
		return;
	case EM_CS_LIST:
		op->n_metas = (uint32_t)em_chunk_list(e, op->list.has_after ? &op->list.after : NULL,
						      op->metas, op->list.max);
		finish(t, 0);
		return;
	case EM_CS_STATS:
		fill_stats(t);
		finish(t, 0);
		return;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
	if (rc < 0)
		finish(t, rc);
}

void em_cs_task_start(struct cs_task *t)
{
	hop(t->t->r, on_target, t);
}
