/* Chunk volumes (see volume.h): block I/O split at chunk boundaries into
 * chunk engine reads, updates, truncates and removes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/nvmf/volume.h"
#include "ember/errors.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define MIN_CHUNK (64u << 10)
/* Chunks one Write Zeroes/deallocate piece may span: bounds the engine
 * operations a single command fans out to. */
#define ZEROES_CHUNKS 64u

/* What the volume knows of a chunk without asking the engine. Mutations of
 * one chunk run in submission order, so both describe the chunk as it will
 * be once everything submitted so far ran. */
struct chunk_state {
	uint32_t ver;   /* last version handed out (updates must exceed the committed one) */
	uint32_t len;   /* length; chunk_size when unknown after a failed mutation */
};

struct em_volume {
	struct em_engine *e;
	struct em_reactor *r;
	uint64_t id;
	uint32_t chunk_size;
	uint64_t nchunks;
	struct chunk_state *cs;
	struct em_bdev_info info;
	uint64_t inflight;       /* accepted I/Os whose callback has not run */
};

struct vol_io;

/* The part of an I/O that falls into one chunk. */
struct piece {
	struct vol_io *vio;
	uint64_t idx;
	uint32_t off, len;
	uint8_t *buf;            /* reads and writes */
};

struct vol_io {
	struct em_volume *v;
	struct em_bdev_io *io;
	uint32_t pending;        /* pieces not done, +1 while submitting */
	int status;              /* first error */
	struct piece p[];
};

void em_volume_chunk_id(uint64_t volume, uint64_t index, struct em_chunk_id *out)
{
	for (int i = 0; i < 8; i++) {
		out->b[i] = (uint8_t)(volume >> (56 - 8 * i));
		out->b[8 + i] = (uint8_t)(index >> (56 - 8 * i));
	}
}

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int em_volume_open(struct em_engine *e, struct em_reactor *r, const struct em_volume_opts *o,
		   struct em_volume **out)
{
	uint32_t cs = o->chunk_size ? o->chunk_size : EM_VOLUME_DEFAULT_CHUNK;
	uint32_t bs = o->block_size ? o->block_size : EM_VOLUME_DEFAULT_BLOCK;
	struct em_volume *v;

	if (!pow2(cs) || cs < MIN_CHUNK || cs > EM_CHUNK_MAX_SIZE || !pow2(bs) || bs < 512 ||
	    bs > 4096 || o->size < bs || o->size % bs)
		return -EINVAL;
	v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	v->e = e;
	v->r = r;
	v->id = o->id;
	v->chunk_size = cs;
	v->nchunks = (o->size + cs - 1) / cs;
	v->cs = calloc(v->nchunks, sizeof *v->cs);
	if (!v->cs) {
		free(v);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < v->nchunks; i++) {
		struct em_chunk_id id;
		struct em_chunk_meta m;

		em_volume_chunk_id(v->id, i, &id);
		if (em_chunk_query(e, &id, &m) < 0)
			continue;
		if (m.length > cs) {
			EM_ERR("volume", "volume %llu: chunk %llu holds %u bytes, more than the "
			       "chunk size %u: made with another chunk size?",
			       (unsigned long long)v->id, (unsigned long long)i, m.length, cs);
			free(v->cs);
			free(v);
			return -EUCLEAN;
		}
		v->cs[i].ver = m.commit_ver > m.pending_ver ? m.commit_ver : m.pending_ver;
		v->cs[i].len = m.length;
	}
	v->info.kind = EM_BDEV_AUTO; /* no device backend behind it */
	v->info.block_size = bs;
	v->info.size = o->size;
	v->info.write_zeroes = true;
	v->info.discard = true;
	v->info.max_zeroes = (uint64_t)ZEROES_CHUNKS * cs;
	*out = v;
	return 0;
}

void em_volume_close(struct em_volume *v)
{
	if (!v)
		return;
	while (v->inflight)
		em_reactor_run_once(v->r, 100);
	free(v->cs);
	free(v);
}

const struct em_bdev_info *em_volume_get_info(const struct em_volume *v)
{
	return &v->info;
}

static void vio_finish(void *arg)
{
	struct vol_io *vio = arg;
	struct em_bdev_io *io = vio->io;
	int status = vio->status;

	vio->v->inflight--;
	free(vio);
	io->cb(io, status);
}

static void piece_done(struct piece *p, int status)
{
	struct vol_io *vio = p->vio;

	if (status < 0 && vio->status == 0)
		vio->status = status;
	if (--vio->pending == 0)
		vio_finish(vio);
}

static void read_done(void *arg, int status)
{
	struct piece *p = arg;

	/* Bytes past the chunk's length were never written. */
	if (status >= 0 && (uint32_t)status < p->len)
		memset(p->buf + status, 0, p->len - (uint32_t)status);
	piece_done(p, status < 0 ? status : 0);
}

static void mutation_done(void *arg, int status, const struct em_chunk_meta *meta)
{
	struct piece *p = arg;
	struct em_volume *v = p->vio->v;

	(void)meta;
	if (status < 0) {
		/* The chunk may or may not have changed: assume it is full, so
		 * later zeroing never skips or cuts bytes it did not see. */
		v->cs[p->idx].len = v->chunk_size;
		EM_WARN("volume", "volume %llu chunk %llu: %s", (unsigned long long)v->id,
			(unsigned long long)p->idx, em_strerror(status));
	}
	piece_done(p, status);
}

static void remove_done(void *arg, int status, const struct em_chunk_meta *meta)
{
	/* Gone already (the volume assumed data after a failure): fine. */
	mutation_done(arg, status == -ENOENT ? 0 : status, meta);
}

/* The next version of a chunk's mutation; -EOVERFLOW after 2^32 - 1. */
static int next_ver(struct chunk_state *c, uint32_t *ver)
{
	if (c->ver == UINT32_MAX)
		return -EOVERFLOW;
	*ver = ++c->ver;
	return 0;
}

static int issue_write(struct em_volume *v, struct piece *p)
{
	struct chunk_state *c = &v->cs[p->idx];
	struct em_chunk_update u = { .offset = p->off, .len = p->len, .data = p->buf,
				     .flags = EM_CHUNK_COMMIT };
	int rc = next_ver(c, &u.update_ver);

	if (rc < 0)
		return rc;
	em_volume_chunk_id(v->id, p->idx, &u.id);
	rc = em_chunk_update(v->e, &u, mutation_done, p);
	if (rc == 0 && p->off + p->len > c->len)
		c->len = p->off + p->len;
	return rc;
}

/* Zero [off, off + len) of a chunk with the cheapest operation that is
 * right for the length the chunk will have when this runs. Returns 1 when
 * nothing had to be done. */
static int issue_zeroes(struct em_volume *v, struct piece *p)
{
	struct chunk_state *c = &v->cs[p->idx];
	uint32_t end = p->off + p->len, ver;
	struct em_chunk_id id;
	int rc;

	if (p->off >= c->len)
		return 1;
	em_volume_chunk_id(v->id, p->idx, &id);
	if (p->off == 0 && end >= c->len) {
		rc = em_chunk_remove(v->e, &id, remove_done, p);
		if (rc == 0)
			c->len = 0;
		return rc;
	}
	rc = next_ver(c, &ver);
	if (rc < 0)
		return rc;
	if (end >= c->len) {
		rc = em_chunk_truncate(v->e, &id, p->off, ver, 0, EM_CHUNK_COMMIT, mutation_done, p);
		if (rc == 0)
			c->len = p->off;
		return rc;
	}
	struct em_chunk_update u = { .id = id, .offset = p->off, .len = p->len,
				     .update_ver = ver, .flags = EM_CHUNK_COMMIT };
	return em_chunk_update(v->e, &u, mutation_done, p);
}

static int issue_read(struct em_volume *v, struct piece *p)
{
	struct em_chunk_id id;
	int rc;

	em_volume_chunk_id(v->id, p->idx, &id);
	rc = em_chunk_read(v->e, &id, p->off, p->len, p->buf, 0, read_done, p);
	if (rc == -ENOENT) {
		memset(p->buf, 0, p->len);
		return 1;
	}
	return rc;
}

static int issue(struct em_volume *v, enum em_bdev_op op, struct piece *p)
{
	switch (op) {
	case EM_BDEV_READ:
		return issue_read(v, p);
	case EM_BDEV_WRITE:
		return issue_write(v, p);
	default:
		return issue_zeroes(v, p);
	}
}

int em_volume_submit(struct em_volume *v, struct em_bdev_io *io)
{
	uint64_t bs = v->info.block_size, first, n;
	struct vol_io *vio;

	io->nvme_status = 0;
	if (io->op == EM_BDEV_FLUSH) {
		first = n = 0;
	} else {
		if (io->len == 0 || io->offset % bs || io->len % bs)
			return -EINVAL;
		if (io->offset > v->info.size || io->len > v->info.size - io->offset)
			return -ERANGE;
		first = io->offset / v->chunk_size;
		n = (io->offset + io->len - 1) / v->chunk_size - first + 1;
	}
	vio = calloc(1, sizeof *vio + n * sizeof vio->p[0]);
	if (!vio)
		return -ENOMEM;
	vio->v = v;
	vio->io = io;
	vio->pending = 1;
	v->inflight++;
	for (uint64_t i = 0; i < n; i++) {
		struct piece *p = &vio->p[i];
		uint64_t start = (first + i) * v->chunk_size, end = start + v->chunk_size;
		uint64_t lo = io->offset > start ? io->offset : start;
		uint64_t hi = io->offset + io->len < end ? io->offset + io->len : end;
		int rc;

		p->vio = vio;
		p->idx = first + i;
		p->off = (uint32_t)(lo - start);
		p->len = (uint32_t)(hi - lo);
		if (io->op == EM_BDEV_READ || io->op == EM_BDEV_WRITE)
			p->buf = (uint8_t *)io->buf + (lo - io->offset);
		vio->pending++;
		rc = issue(v, io->op, p);
		if (rc != 0)
			piece_done(p, rc < 0 ? rc : 0);
	}
	/* Callbacks never run inside submit, even when every piece finished
	 * at once (flush, unwritten reads, zeroing of nothing). */
	if (--vio->pending == 0 && em_reactor_send(v->r, vio_finish, vio) < 0) {
		v->inflight--;
		free(vio);
		return -ENOMEM;
	}
	return 0;
}
