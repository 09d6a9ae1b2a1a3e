/* The I/O pool: threads that each own a blocking chain client and run
 * chunk pieces from one queue, so pieces of one request (and of many
 * requests) travel in parallel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ember/errors.h"
#include "fs/chain/client.h"
#include "fs/client/internal.h"
#include "net/core/log.h"

struct worker_arg {
	struct em_fs *fs;
	const struct em_fs_opts *o;
	uint64_t client_id;
};

static void *worker(void *p)
{
	struct worker_arg *wa = p;
	struct em_fs *fs = wa->fs;
	struct em_chain_client_opts co = {
		.mgmtd = wa->o->mgmtd, .n_mgmtd = wa->o->n_mgmtd,
		.secret = wa->o->secret, .secret_len = wa->o->secret_len,
		.client_id = wa->client_id, .timeout_ms = fs->io_timeout_ms,
	};
	struct em_chain_client *cc = NULL;
	int rc = em_chain_client_create(&co, &cc);
	pthread_mutex_lock(&fs->q_mu);
	if (rc && !fs->start_rc)
		fs->start_rc = rc;
	fs->started++;
	pthread_cond_broadcast(&fs->q_cv);
	pthread_mutex_unlock(&fs->q_mu);
	free(wa);
	if (rc)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&fs->q_mu);
		while (!fs->q_head && !fs->q_stop)
			pthread_cond_wait(&fs->q_cv, &fs->q_mu);
		struct em_fs_op *op = fs->q_head;
		if (op) {
			fs->q_head = op->next;
			if (!fs->q_head)
				fs->q_tail = NULL;
		}
		pthread_mutex_unlock(&fs->q_mu);
		if (!op)
			break;
		if (op->trim == EM_FS_TRIM_TRUNCATE)
			op->result = em_chain_truncate(cc, op->chain, &op->id, op->offset, NULL);
		else if (op->trim == EM_FS_TRIM_REMOVE)
			op->result = em_chain_remove(cc, op->chain, &op->id);
		else if (op->write)
			op->result = em_chain_write(cc, op->chain, &op->id, op->offset, op->buf,
						    op->len, NULL);
		else
			op->result = em_chain_read(cc, op->chain, &op->id, op->offset, op->buf,
						   op->len);
		op->done(op);
	}
	em_chain_client_destroy(cc);
	return NULL;
}

int em_fs_io_start(struct em_fs *fs, const struct em_fs_opts *o)
{
	unsigned n = o->io_threads ? o->io_threads : 8;
	uint64_t base;
	/* Chain clients need ids unique in the cluster: the head recognises a
	 * retried write by (client, channel, seq). */
	if (getrandom(&base, sizeof(base), 0) != sizeof(base))
		return -errno;
	base &= ~(uint64_t)0xffff;
	fs->threads = calloc(n, sizeof(*fs->threads));
	if (!fs->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (!wa)
			break;
		*wa = (struct worker_arg){ fs, o, base + i + 1 };
		int rc = pthread_create(&fs->threads[i], NULL, worker, wa);
		if (rc) {
			free(wa);
			break;
		}
		fs->nthreads++;
	}
	pthread_mutex_lock(&fs->q_mu);
	while (fs->started < fs->nthreads)
		pthread_cond_wait(&fs->q_cv, &fs->q_mu);
	int rc = fs->start_rc ? fs->start_rc : fs->nthreads < n ? -EAGAIN : 0;
	pthread_mutex_unlock(&fs->q_mu);
	return rc;
}

void em_fs_io_stop(struct em_fs *fs)
{
	pthread_mutex_lock(&fs->q_mu);
	fs->q_stop = true;
	pthread_cond_broadcast(&fs->q_cv);
	pthread_mutex_unlock(&fs->q_mu);
	for (unsigned i = 0; i < fs->nthreads; i++)
		pthread_join(fs->threads[i], NULL);
	free(fs->threads);
	fs->threads = NULL;
	fs->nthreads = 0;
}

void em_fs_io_submit(struct em_fs *fs, struct em_fs_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&fs->q_mu);
	if (fs->q_tail)
		fs->q_tail->next = op;
	else
		fs->q_head = op;
	fs->q_tail = op;
	pthread_cond_signal(&fs->q_cv);
	pthread_mutex_unlock(&fs->q_mu);
}

struct batch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
};

static void batch_done(struct em_fs_op *op)
{
	struct batch *b = op->arg;
	pthread_mutex_lock(&b->mu);
	if (--b->pending == 0)
		pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

int em_fs_io_run(struct em_fs *fs, struct em_fs_op *ops, size_t n)
{
	struct batch b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n };
	for (size_t i = 0; i < n; i++) {
		ops[i].done = batch_done;
		ops[i].arg = &b;
		em_fs_io_submit(fs, &ops[i]);
	}
	pthread_mutex_lock(&b.mu);
	while (b.pending)
		pthread_cond_wait(&b.cv, &b.mu);
	pthread_mutex_unlock(&b.mu);
	pthread_cond_destroy(&b.cv);
	for (size_t i = 0; i < n; i++) {
		/* A read of a chunk never written is a hole, not a failure. */
		if (ops[i].result < 0 && !(ops[i].result == -ENOENT && !ops[i].write))
			return em_fs_io_error(&ops[i]);
	}
	return 0;
}

/* Causes that a longer wait could have cured: the chain client gave up at
 * its timeout. */
static bool transient(int rc)
{
	switch (-rc) {
	case EM_ENOTCOMMITTED: case EM_ECHAINVER: case EM_ENOTARGET: case EM_ETARGETOFFLINE:
	case ECONNREFUSED: case ECONNRESET: case ETIMEDOUT: case EAGAIN: case EHOSTUNREACH:
	case ENETUNREACH: case ESHUTDOWN: case EPIPE: case ENOENT:
		return true;
	default:
		return false;
	}
}

int em_fs_io_error(const struct em_fs_op *op)
{
	int rc = op->result;
	int mapped = rc == -ENOSPC || rc == -ENOMEM ? rc : transient(rc) ? -ETIMEDOUT : -EIO;
	static const char *const what[] = { "write", "truncate", "remove" };
	EM_ERR("fs", "inode %llu chunk %u on chain %u: %s of %u bytes at %u failed: %s (%s)",
	       (unsigned long long)op->ino, op->index, op->chain,
	       op->write ? what[op->trim] : "read",
	       op->len, op->offset, em_errname(rc), em_errname(mapped));
	return mapped;
}

int em_fs_errno(int rc)
{
	if (rc >= 0)
		return rc;
	if (-rc >= EM_ERR_BASE)
		return -EIO;
	return rc;
}
