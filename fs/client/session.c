/* A mount session: metadata client, chain list from mgmtd, I/O pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/client/internal.h"
#include "fs/client/layout.h"
#include "fs/mgmt/client.h"
#include "net/conn.h"
#include "net/core/log.h"
#include "net/core/reactor.h"
#include "net/rpc.h"

/* How often an empty chain list may be refetched: a cluster without chains
 * yet should not turn every write into a mgmtd round trip. */
#define RT_RECHECK_MS 500

static int routing_start(struct em_fs *fs, const struct em_fs_opts *o)
{
	struct em_rpc_opts ro = { .secret = o->secret, .secret_len = o->secret_len };
	struct em_mgmt_client_opts mo = { .mgmtd = o->mgmtd, .n_mgmtd = o->n_mgmtd };
	int rc = em_reactor_create("fs-routing", &fs->rt_r);
	if (rc == 0)
		rc = em_net_create(fs->rt_r, NULL, &fs->rt_net);
	if (rc == 0)
		rc = em_rpc_create(fs->rt_net, &ro, &fs->rt_rpc);
	if (rc == 0)
		rc = em_mgmt_client_create(fs->rt_r, fs->rt_rpc, &mo, &fs->mgmt);
	return rc;
}

static void routing_stop(struct em_fs *fs)
{
	if (fs->rt_rpc)
		em_rpc_destroy(fs->rt_rpc);
	if (fs->mgmt)
		em_mgmt_client_destroy(fs->mgmt);
	/* Closed connections finish on the reactor before it goes. */
	for (int i = 0; fs->rt_r && i < 4; i++)
		em_reactor_run_once(fs->rt_r, 0);
	if (fs->rt_net)
		em_net_destroy(fs->rt_net);
	if (fs->rt_r)
		em_reactor_destroy(fs->rt_r);
	free(fs->chains);
}

/* Under rt_mu: fetch routing and copy the chain ids (sorted by id). */
static int routing_refresh(struct em_fs *fs)
{
	int rc = em_mgmt_refresh_wait(fs->mgmt);
	fs->rt_checked_ms = em_now_ms();
	if (rc)
		return rc;
	const struct em_routing *r = em_mgmt_routing(fs->mgmt);
	if (r->nchains == fs->nchains)
		return 0;
	uint32_t *ids = malloc((r->nchains ? r->nchains : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < r->nchains; i++)
		ids[i] = r->chains[i].id;
	free(fs->chains);
	fs->chains = ids;
	fs->nchains = r->nchains;
	return 0;
}

int em_fs_space(struct em_fs *fs, struct em_routing_space *out)
{
	void *rsp = NULL;
	size_t len = 0;
	pthread_mutex_lock(&fs->rt_mu);
	int rc = em_mgmt_call_wait(fs->mgmt, EM_MGMT_LIST, NULL, 0, &rsp, &len);
	pthread_mutex_unlock(&fs->rt_mu);
	struct em_mgmt_list l;
	if (rc == 0 && (rc = em_mgmt_dec_list(rsp, len, &l)) == 0) {
		em_routing_space(&l.routing, out);
		em_mgmt_list_free(&l);
	}
	free(rsp);
	return rc;
}

int em_fs_chain(struct em_fs *fs, const struct em_meta_layout *l, uint32_t index,
		uint32_t *chain)
{
	pthread_mutex_lock(&fs->rt_mu);
	int rc = 0;
	if (!fs->nchains && em_now_ms() - fs->rt_checked_ms >= RT_RECHECK_MS)
		rc = routing_refresh(fs);
	*chain = em_fs_chain_of(l, index, fs->chains, fs->nchains);
	pthread_mutex_unlock(&fs->rt_mu);
	if (rc)
		return rc;
	return *chain ? 0 : -EAGAIN;
}

int em_fs_open(const struct em_fs_opts *o, struct em_fs **out)
{
	if (!o->n_mgmtd)
		return -EINVAL;
	struct em_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->io_timeout_ms = o->io_timeout_ms ? o->io_timeout_ms : 60000;
	pthread_mutex_init(&fs->rt_mu, NULL);
	pthread_mutex_init(&fs->q_mu, NULL);
	pthread_cond_init(&fs->q_cv, NULL);
	pthread_mutex_init(&fs->itab_mu, NULL);
	struct em_meta_client_opts mo = {
		.servers = o->meta, .n_servers = o->n_meta,
		.secret = o->secret, .secret_len = o->secret_len,
		.timeout_ms = o->meta_timeout_ms,
	};
	int rc = o->n_meta ? em_meta_connect(&mo, &fs->meta) : 0;
	if (rc == 0)
		rc = routing_start(fs, o);
	if (rc == 0) {
		/* Reaching mgmtd now turns a wrong address into a mount error
		 * instead of a failed first write. */
		pthread_mutex_lock(&fs->rt_mu);
		rc = routing_refresh(fs);
		pthread_mutex_unlock(&fs->rt_mu);
		if (rc)
			EM_ERR("fs", "cannot fetch routing from mgmtd %s: %s", o->mgmtd[0],
			       em_strerror(rc));
	}
	if (rc == 0)
		rc = em_fs_io_start(fs, o);
	if (rc == 0 && fs->meta)
		rc = em_fs_keeper_start(fs);
	if (rc) {
		em_fs_close(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

void em_fs_close(struct em_fs *fs)
{
	if (!fs)
		return;
	em_fs_keeper_stop(fs);
	em_fs_io_stop(fs);
	routing_stop(fs);
	if (fs->meta)
		em_meta_disconnect(fs->meta);
	pthread_mutex_destroy(&fs->rt_mu);
	pthread_mutex_destroy(&fs->q_mu);
	pthread_cond_destroy(&fs->q_cv);
	pthread_mutex_destroy(&fs->itab_mu);
	free(fs);
}

struct em_meta_client *em_fs_meta(struct em_fs *fs)
{
	return fs->meta;
}

/* Zeros for trims and punched holes, never written: the pages stay the
 * kernel's shared zero page, so the 64 MiB costs address space only. */
static uint8_t zero_buf[EM_CHUNK_MAX_SIZE];

int em_fs_make_ops(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l, bool write,
		   void *buf, uint64_t off, uint64_t len, struct em_fs_op **out)
{
	int64_t n = em_fs_piece_count(l, off, len);
	if (n <= 0) {
		*out = NULL;
		return (int)n;
	}
	struct em_fs_op *ops = calloc((size_t)n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (int64_t k = 0; k < n; k++) {
		struct em_fs_piece p;
		em_fs_piece_at(l, off, len, (size_t)k, &p);
		struct em_fs_op *op = &ops[k];
		int rc = em_fs_chain(fs, l, p.index, &op->chain);
		if (rc) {
			EM_ERR("fs", "inode %llu chunk %u: no chain: %s", (unsigned long long)ino,
			       p.index, em_strerror(rc));
			free(ops);
			return rc == -EAGAIN ? -EIO : rc;
		}
		em_fs_chunk_id(ino, p.index, &op->id);
		op->write = write;
		op->offset = p.offset;
		op->len = p.len;
		op->buf = buf ? (uint8_t *)buf + p.pos : zero_buf;
		op->ino = ino;
		op->index = p.index;
	}
	*out = ops;
	return (int)n;
}
