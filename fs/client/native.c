/* The native ring API (include/ember/client.h) over the session's I/O pool:
 * a ring request becomes chunk pieces whose completions, on pool threads,
 * count down to the request's completion. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/auth.h"
#include "ember/client.h"
#include "fs/client/internal.h"
#include "fs/mgmt/client.h"
#include "net/mr.h"

#define MAX_URLS 16
#define MAX_SECRET 4096

struct em_client {
	struct em_fs *fs;
	struct em_meta_cred cred;
};

struct em_client_file {
	struct em_client *c;
	struct em_fs_file *f;
};

struct em_iov {
	struct em_mr *mr;
};

enum { SLOT_FREE, SLOT_PREPPED, SLOT_INFLIGHT, SLOT_DONE };

struct slot {
	struct em_ring *r;
	int state;
	bool write;
	struct em_client_file *f;
	uint64_t off;
	void *ptr;
	size_t len;
	void *userdata;
	struct em_fs_op *ops;
	int nops;
	int pending;
	int64_t result;
};

struct em_ring {
	struct em_client *c;
	unsigned entries;
	struct slot *slots;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned *prepped, nprepped;   /* slots in prep order */
	unsigned *done, done_head, ndone; /* completions, a circular queue */
	unsigned busy;                 /* slots not free */
};

static int split_urls(char *s, const char **v)
{
	int n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == MAX_URLS)
			return -E2BIG;
		v[n++] = t;
	}
	return n ? n : -EINVAL;
}

int em_client_open(const struct em_client_opts *o, struct em_client **out)
{
	if (!o->mgmtd || !o->meta || !o->secret_file)
		return -EINVAL;
	static uint8_t secret[MAX_SECRET];
	int slen = em_auth_read_secret(o->secret_file, secret, sizeof(secret));
	if (slen < 0)
		return slen;
	char *mg = strdup(o->mgmtd), *me = strdup(o->meta);
	const char *mv[MAX_URLS], *ev[MAX_URLS];
	struct em_client *c = calloc(1, sizeof(*c));
	int nm = mg ? split_urls(mg, mv) : -ENOMEM, ne = me ? split_urls(me, ev) : -ENOMEM;
	int rc = !c ? -ENOMEM : nm < 0 ? nm : ne < 0 ? ne : 0;
	if (rc == 0) {
		struct em_fs_opts fo = { .mgmtd = mv, .n_mgmtd = (size_t)nm, .meta = ev,
					 .n_meta = (size_t)ne, .secret = secret,
					 .secret_len = (size_t)slen, .io_timeout_ms = o->timeout_ms,
					 .io_threads = o->io_threads };
		rc = em_fs_open(&fo, &c->fs);
	}
	free(mg);
	free(me);
	if (rc) {
		free(c);
		return rc;
	}
	c->cred.uid = getuid();
	c->cred.gid = getgid();
	gid_t groups[EM_META_NGROUPS_MAX];
	int ng = getgroups(EM_META_NGROUPS_MAX, groups);
	for (int i = 0; i < ng; i++)
		c->cred.groups[c->cred.ngroups++] = groups[i];
	*out = c;
	return 0;
}

void em_client_close(struct em_client *c)
{
	if (!c)
		return;
	em_fs_close(c->fs);
	free(c);
}

/* Walks path from the root; the last component is returned in *last and
 * its parent in *parent. */
static int walk(struct em_client *c, const char *path, uint64_t *parent, char *last)
{
	if (path[0] != '/')
		return -EINVAL;
	uint64_t dir = EM_META_ROOT_INO;
	last[0] = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (!n)
			break;
		if (n > EM_META_NAME_MAX)
			return -ENAMETOOLONG;
		if (last[0]) {
			struct em_meta_attr a;
			int rc = em_meta_client_lookup(c->fs->meta, &c->cred, dir, last, &a);
			if (rc)
				return em_fs_errno(rc);
			if ((a.mode & 0170000) != 0040000)
				return -ENOTDIR;
			dir = a.ino;
		}
		memcpy(last, p, n);
		last[n] = 0;
		p += n;
	}
	*parent = dir;
	return last[0] ? 0 : -EISDIR;
}

int em_client_file_open(struct em_client *c, const char *path, int flags, mode_t mode,
			struct em_client_file **out)
{
	char name[EM_META_NAME_MAX + 1];
	uint64_t parent = 0;
	int rc = walk(c, path, &parent, name);
	if (rc)
		return rc;
	struct em_client_file *cf = calloc(1, sizeof(*cf));
	if (!cf)
		return -ENOMEM;
	cf->c = c;
	struct em_meta_attr a;
	if (flags & O_CREAT) {
		rc = em_fs_file_create(c->fs, &c->cred, parent, name, mode & 07777, flags, &cf->f,
				       &a);
	} else {
		rc = em_fs_errno(em_meta_client_lookup(c->fs->meta, &c->cred, parent, name, &a));
		if (rc == 0 && (a.mode & 0170000) != 0100000)
			rc = (a.mode & 0170000) == 0040000 ? -EISDIR : -EINVAL;
		if (rc == 0)
			rc = em_fs_file_open(c->fs, &c->cred, a.ino, flags, &cf->f, &a);
	}
	if (rc) {
		free(cf);
		return rc;
	}
	*out = cf;
	return 0;
}

int em_client_file_close(struct em_client_file *f)
{
	int rc = em_fs_file_release(f->c->fs, f->f);
	free(f);
	return rc;
}

uint64_t em_client_file_size(struct em_client_file *f)
{
	return em_fs_inode_size(f->f->in);
}

/* Registering once pins the pages and, on RDMA, makes them reachable by
 * the NICs, so per-request work is only a bounds check. */
int em_iov_register(struct em_client *c, void *base, size_t len, struct em_iov **out)
{
	struct em_iov *iov = calloc(1, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	int rc = em_mr_reg(base, len, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &iov->mr);
	if (rc) {
		free(iov);
		return rc;
	}
	*out = iov;
	return 0;
}

void em_iov_deregister(struct em_iov *iov)
{
	if (!iov)
		return;
	em_mr_dereg(iov->mr);
	free(iov);
}

int em_ring_create(struct em_client *c, unsigned entries, struct em_ring **out)
{
	if (!entries || entries > 65536)
		return -EINVAL;
	struct em_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->entries = entries;
	r->slots = calloc(entries, sizeof(*r->slots));
	r->prepped = calloc(entries, sizeof(*r->prepped));
	r->done = calloc(entries, sizeof(*r->done));
	if (!r->slots || !r->prepped || !r->done) {
		free(r->slots);
		free(r->prepped);
		free(r->done);
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	*out = r;
	return 0;
}

void em_ring_destroy(struct em_ring *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		unsigned inflight = 0;
		for (unsigned i = 0; i < r->entries; i++)
			inflight += r->slots[i].state == SLOT_INFLIGHT;
		if (!inflight)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->slots);
	free(r->prepped);
	free(r->done);
	free(r);
}

int em_ring_prep(struct em_ring *r, struct em_iov *iov, bool write, struct em_client_file *f,
		 uint64_t off, void *ptr, size_t len, void *userdata)
{
	if (!len || len > UINT32_MAX || !em_mr_contains(iov->mr, ptr, len))
		return -EINVAL;
	pthread_mutex_lock(&r->mu);
	int idx = -EBUSY;
	for (unsigned i = 0; i < r->entries && r->busy < r->entries; i++) {
		if (r->slots[i].state == SLOT_FREE) {
			idx = (int)i;
			break;
		}
	}
	if (idx >= 0) {
		r->slots[idx] = (struct slot){ .r = r, .state = SLOT_PREPPED, .write = write,
					       .f = f, .off = off, .ptr = ptr, .len = len,
					       .userdata = userdata };
		r->prepped[r->nprepped++] = (unsigned)idx;
		r->busy++;
	}
	pthread_mutex_unlock(&r->mu);
	return idx;
}

/* Under r->mu. */
static void complete(struct em_ring *r, struct slot *s)
{
	s->state = SLOT_DONE;
	r->done[(r->done_head + r->ndone++) % r->entries] = (unsigned)(s - r->slots);
	pthread_cond_broadcast(&r->cv);
}

static void piece_done(struct em_fs_op *op)
{
	struct slot *s = op->arg;
	struct em_ring *r = s->r;
	pthread_mutex_lock(&r->mu);
	bool hole = op->result == -ENOENT && !op->write;
	if (op->result < 0 && !hole && s->result >= 0)
		s->result = em_fs_io_error(op);
	if (--s->pending) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	pthread_mutex_unlock(&r->mu);
	/* The last piece: finish the request outside the lock. */
	for (int i = 0; s->result >= 0 && !s->write && i < s->nops; i++) {
		uint32_t got = s->ops[i].result > 0 ? (uint32_t)s->ops[i].result : 0;
		if (got < s->ops[i].len)
			memset((uint8_t *)s->ops[i].buf + got, 0, s->ops[i].len - got);
	}
	if (s->result >= 0 && s->write) {
		struct em_fs_inode *in = s->f->f->in;
		pthread_mutex_lock(&in->mu);
		if (s->off + s->len > in->attr.size)
			in->attr.size = s->off + s->len;
		pthread_mutex_unlock(&in->mu);
	}
	free(s->ops);
	s->ops = NULL;
	pthread_mutex_lock(&r->mu);
	complete(r, s);
	pthread_mutex_unlock(&r->mu);
}

/* Builds a slot's pieces; 0 pieces (a read at or past the end) completes
 * it at once. */
static void start(struct em_ring *r, struct slot *s)
{
	struct em_fs_inode *in = s->f->f->in;
	size_t len = s->len;
	if (!s->write) {
		uint64_t size = em_fs_inode_size(in);
		len = s->off >= size ? 0 : len > size - s->off ? (size_t)(size - s->off) : len;
	}
	s->result = (int64_t)len;
	int n = s->write && (s->off >= EM_META_MAX_FILE_SIZE || len > EM_META_MAX_FILE_SIZE - s->off)
			? -EFBIG
			: em_fs_make_ops(r->c->fs, in->ino, &in->attr.layout, s->write, s->ptr,
					 s->off, len, &s->ops);
	if (n <= 0) {
		if (n < 0)
			s->result = n;
		pthread_mutex_lock(&r->mu);
		complete(r, s);
		pthread_mutex_unlock(&r->mu);
		return;
	}
	s->nops = n;
	s->pending = n;
	for (int i = 0; i < n; i++) {
		s->ops[i].done = piece_done;
		s->ops[i].arg = s;
	}
	for (int i = 0; i < n; i++)
		em_fs_io_submit(r->c->fs, &s->ops[i]);
}

int em_ring_submit(struct em_ring *r)
{
	pthread_mutex_lock(&r->mu);
	unsigned n = r->nprepped;
	unsigned batch[n ? n : 1];
	memcpy(batch, r->prepped, n * sizeof(*batch));
	r->nprepped = 0;
	for (unsigned i = 0; i < n; i++)
		r->slots[batch[i]].state = SLOT_INFLIGHT;
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < n; i++)
		start(r, &r->slots[batch[i]]);
	return (int)n;
}

int em_ring_wait(struct em_ring *r, struct em_cqe *cqes, unsigned max, unsigned min,
		 int timeout_ms)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	if (timeout_ms >= 0) {
		end.tv_sec += timeout_ms / 1000;
		end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (end.tv_nsec >= 1000000000L) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&r->mu);
	if (min > max)
		min = max;
	while (r->ndone < min) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&r->cv, &r->mu)
					: pthread_cond_timedwait(&r->cv, &r->mu, &end);
		if (rc == ETIMEDOUT)
			break;
	}
	unsigned n = 0;
	while (n < max && r->ndone) {
		unsigned idx = r->done[r->done_head];
		r->done_head = (r->done_head + 1) % r->entries;
		r->ndone--;
		struct slot *s = &r->slots[idx];
		cqes[n++] = (struct em_cqe){ s->result, s->userdata, (int)idx };
		s->state = SLOT_FREE;
		r->busy--;
	}
	pthread_mutex_unlock(&r->mu);
	return (int)n;
}
