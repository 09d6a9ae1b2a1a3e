/* Service handle, formatting, inode id allocation, statfs and the GC queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ember/errors.h"
#include "fs/meta/internal.h"
#include "net/core/log.h"

#define FORMAT_VERSION 1
#define DEFAULT_CHUNK (1u << 20)

int64_t em_meta_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct format_ctx {
	const struct em_meta_options *opts;
};

/* Creates the superblock, the id counter and the root directory, once. */
static int format_fn(struct em_kv_txn *t, void *arg)
{
	struct format_ctx *c = arg;
	const void *v;
	size_t vl;
	uint8_t val[8];
	int rc = em_kv_get(t, "M", 1, &v, &vl);

	if (rc == 0) {
		uint64_t ver;
		rc = em_meta_u64_decode(v, vl, &ver);
		if (rc == 0 && ver != FORMAT_VERSION) {
			EM_ERR("meta", "store has metadata format %llu, this server speaks %d",
			       (unsigned long long)ver, FORMAT_VERSION);
			return -EM_EPROTO_VERSION;
		}
		return rc;
	}
	if (rc != -ENOENT)
		return rc;

	struct em_meta_inode root;
	int64_t now = em_meta_now_ns();
	memset(&root, 0, sizeof(root));
	root.a = (struct em_meta_attr){
		.ino = EM_META_ROOT_INO, .mode = S_IFDIR | 0755, .nlink = 2,
		.atime_ns = now, .mtime_ns = now, .ctime_ns = now,
		.parent = EM_META_ROOT_INO, .layout = c->opts->layout,
	};
	if ((rc = em_meta_inode_store(t, &root)) < 0)
		return rc;
	if ((rc = em_kv_set(t, "A", 1, val, em_meta_u64_encode(EM_META_ROOT_INO + 1, val))) < 0)
		return rc;
	return em_kv_set(t, "M", 1, val, em_meta_u64_encode(FORMAT_VERSION, val));
}

int em_meta_init(struct em_kv *kv, const struct em_meta_options *opts, struct em_meta **out)
{
	struct em_meta *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->kv = kv;
	if (opts)
		m->opts = *opts;
	struct em_meta_layout *l = &m->opts.layout;
	if (!l->table_id)
		l->table_id = 1;
	if (!l->chunk_size)
		l->chunk_size = DEFAULT_CHUNK;
	if (!l->stripe)
		l->stripe = 1;
	if (l->chunk_size < 4096 || (l->chunk_size & (l->chunk_size - 1))) {
		free(m);
		return -EINVAL;
	}
	if (!m->opts.chain_count)
		m->opts.chain_count = 1;
	if (!m->opts.id_batch)
		m->opts.id_batch = 256;
	if (!m->opts.session_lease_ms)
		m->opts.session_lease_ms = EM_META_SESSION_LEASE_MS;
	pthread_mutex_init(&m->mu, NULL);

	struct format_ctx c = { &m->opts };
	int rc = em_kv_run(kv, 0, format_fn, &c);
	if (rc < 0) {
		em_meta_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

void em_meta_destroy(struct em_meta *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

struct batch_ctx {
	uint64_t count, first;
};

static int batch_fn(struct em_kv_txn *t, void *arg)
{
	struct batch_ctx *b = arg;
	const void *v;
	size_t vl;
	uint8_t val[8];
	int rc = em_kv_get(t, "A", 1, &v, &vl);
	if (rc == 0)
		rc = em_meta_u64_decode(v, vl, &b->first);
	if (rc < 0)
		return rc;
	return em_kv_set(t, "A", 1, val, em_meta_u64_encode(b->first + b->count, val));
}

/* Ids come from a shared counter in batches, so concurrent creates on many
 * servers touch the counter once per batch instead of conflicting on it
 * every time. The batch is fetched in its own short transaction: nesting it
 * in the caller's would hold the counter for the whole operation. */
int em_meta_alloc_ino(struct em_meta *m, uint64_t *ino)
{
	/* Never called inside a transaction, so holding mu across the batch
	 * transaction cannot deadlock with a writer. */
	pthread_mutex_lock(&m->mu);
	if (m->next_ino == m->end_ino) {
		struct batch_ctx b = { .count = m->opts.id_batch };
		int rc = em_kv_run(m->kv, 0, batch_fn, &b);
		if (rc < 0) {
			pthread_mutex_unlock(&m->mu);
			return rc;
		}
		m->next_ino = b.first;
		m->end_ino = b.first + b.count;
	}
	*ino = m->next_ino++;
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* Lock-free: it runs inside transactions, and the id mutex is held across
 * a KV transaction in em_meta_alloc_ino(), so sharing it would deadlock
 * against LMDB's writer lock. */
uint32_t em_meta_next_chain(struct em_meta *m)
{
	return __atomic_fetch_add(&m->next_chain, 1, __ATOMIC_RELAXED) % m->opts.chain_count;
}

struct statfs_ctx {
	uint64_t allocated;
};

static int statfs_fn(struct em_kv_txn *t, void *arg)
{
	struct statfs_ctx *c = arg;
	const void *v;
	size_t vl;
	int rc = em_kv_get(t, "A", 1, &v, &vl);
	return rc < 0 ? rc : em_meta_u64_decode(v, vl, &c->allocated);
}

/* Inode counts come from the id high-water mark: an exact count would be a
 * counter every create and unlink fights over. */
int em_meta_statfs(struct em_meta *m, const struct em_meta_cred *cr, struct em_meta_statfs *out)
{
	struct statfs_ctx c;
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, statfs_fn, &c);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->bsize = m->opts.layout.chunk_size;
	pthread_mutex_lock(&m->mu);
	uint64_t total = m->space_known ? m->space_total : m->opts.capacity_bytes;
	uint64_t avail = m->space_known ? m->space_free : total;
	pthread_mutex_unlock(&m->mu);
	out->blocks = total / out->bsize;
	out->bfree = avail / out->bsize;
	out->bavail = out->bfree;
	out->files = 1ull << 48;
	out->ffree = out->files - (c.allocated - 1);
	out->namemax = EM_META_NAME_MAX;
	return 0;
}

void em_meta_set_space(struct em_meta *m, uint64_t total_bytes, uint64_t free_bytes)
{
	pthread_mutex_lock(&m->mu);
	m->space_known = true;
	m->space_total = total_bytes;
	m->space_free = free_bytes < total_bytes ? free_bytes : total_bytes;
	pthread_mutex_unlock(&m->mu);
}

struct gc_list_ctx {
	struct em_meta_gc_entry *ents;
	size_t max, n;
};

static int gc_list_fn(struct em_kv_txn *t, void *arg)
{
	struct gc_list_ctx *c = arg;
	struct em_kv_pair *p;
	size_t n;
	int rc = em_kv_range(t, "G", 1, "H", 1, c->max, false, &p, &n);
	if (rc < 0)
		return rc;
	c->n = 0;
	for (size_t i = 0; i < n; i++) {
		rc = em_meta_gc_decode(p[i].val, p[i].vlen, &c->ents[c->n]);
		if (rc < 0) {
			EM_ERR("meta", "damaged GC entry skipped: %s", em_errname(rc));
			continue;
		}
		c->n++;
	}
	return 0;
}

int em_meta_gc_list(struct em_meta *m, struct em_meta_gc_entry *ents, size_t max, size_t *n)
{
	struct gc_list_ctx c = { ents, max, 0 };
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, gc_list_fn, &c);
	*n = rc < 0 ? 0 : c.n;
	return rc;
}

static int gc_done_fn(struct em_kv_txn *t, void *arg)
{
	uint8_t key[EM_META_KEY_MAX];
	return em_kv_clear(t, key, em_meta_key_ino_prefix(key, 'G', *(uint64_t *)arg));
}

int em_meta_gc_done(struct em_meta *m, uint64_t ino)
{
	return em_kv_run(m->kv, 0, gc_done_fn, &ino);
}
