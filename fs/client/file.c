/* Open files and their data: reads, writes, truncation, holes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "ember/errors.h"
#include "fs/client/internal.h"
#include "fs/client/layout.h"
#include "net/core/log.h"

/* Chunks probed, zeroed or removed per round, bounding memory for
 * truncating or punching huge files. */
#define TRIM_BATCH 256

static struct em_fs_file *file_new(struct em_fs *fs, const struct em_meta_cred *cr,
				   const struct em_meta_open_res *res, int flags)
{
	struct em_fs_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->in = em_fs_inode_get(fs, &res->attr);
	if (!f->in) {
		free(f);
		return NULL;
	}
	f->cred = *cr;
	f->session = res->session;
	f->flags = flags;
	if (f->session) {
		pthread_mutex_lock(&f->in->mu);
		f->in->writers++;
		pthread_mutex_unlock(&f->in->mu);
		em_fs_sessions_add(fs, 1);
	}
	return f;
}

static int truncate_inode(struct em_fs *fs, const struct em_meta_cred *cr,
			  struct em_fs_inode *in, const struct em_meta_setattr *req,
			  struct em_meta_attr *out);

/* After a successful meta open: the file object, then O_TRUNC. */
static int finish_open(struct em_fs *fs, const struct em_meta_cred *cr,
		       struct em_meta_open_res *res, int flags, bool trunc,
		       struct em_fs_file **out, struct em_meta_attr *attr)
{
	struct em_fs_file *f = file_new(fs, cr, res, flags);
	if (!f) {
		if (res->session)
			em_meta_client_close(fs->meta, cr, res->attr.ino, res->session, 0, 0);
		return -ENOMEM;
	}
	*attr = res->attr;
	if (trunc) {
		struct em_meta_setattr req = { .valid = EM_SETATTR_SIZE, .size = 0,
					       .session = f->session };
		int rc = truncate_inode(fs, cr, f->in, &req, attr);
		if (rc) {
			em_fs_file_release(fs, f);
			return rc;
		}
	}
	em_fs_fix_attr(fs, attr);
	*out = f;
	return 0;
}

/* O_TRUNC is done here rather than by the metadata service, because the
 * chunks must be trimmed before the length drops (docs/metadata.md). */
int em_fs_file_open(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino, int flags,
		    struct em_fs_file **out, struct em_meta_attr *attr)
{
	struct em_meta_open_res res;
	int rc = em_meta_client_open(fs->meta, cr, ino, flags & ~O_TRUNC, 0, &res);
	if (rc)
		return em_fs_errno(rc);
	bool trunc = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
	return finish_open(fs, cr, &res, flags, trunc, out, attr);
}

int em_fs_file_create(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t parent,
		      const char *name, uint32_t mode, int flags, struct em_fs_file **out,
		      struct em_meta_attr *attr)
{
	struct em_meta_open_res res;
	int rc = em_meta_client_create(fs->meta, cr, parent, name, mode,
				       (flags & ~O_TRUNC) | O_CREAT, 0, &res);
	if (rc)
		return em_fs_errno(rc);
	bool trunc = !res.created && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
	return finish_open(fs, cr, &res, flags, trunc, out, attr);
}

int em_fs_file_sync(struct em_fs *fs, struct em_fs_file *f)
{
	if (!f->session)
		return 0;
	struct em_fs_inode *in = f->in;
	pthread_mutex_lock(&in->mu);
	uint64_t size = in->attr.size;
	bool behind = size > in->published, wrote = f->wrote;
	f->wrote = false;
	pthread_mutex_unlock(&in->mu);
	if (!behind && !wrote)
		return 0;
	int rc = em_meta_client_set_length(fs->meta, &f->cred, in->ino, f->session, size,
					   wrote ? EM_META_WROTE : 0);
	pthread_mutex_lock(&in->mu);
	if (rc)
		f->wrote |= wrote;
	else if (size > in->published)
		in->published = size;
	pthread_mutex_unlock(&in->mu);
	return em_fs_errno(rc);
}

int em_fs_file_release(struct em_fs *fs, struct em_fs_file *f)
{
	struct em_fs_inode *in = f->in;
	int rc = 0;
	if (f->session) {
		pthread_mutex_lock(&in->mu);
		uint64_t size = in->attr.size;
		uint32_t flags = f->wrote ? EM_META_WROTE : 0;
		pthread_mutex_unlock(&in->mu);
		rc = em_fs_errno(em_fs_close_session(fs, &f->cred, in->ino, f->session, size, flags));
		if (rc)
			EM_ERR("fs", "inode %llu: closing write session: %s",
			       (unsigned long long)in->ino, em_strerror(rc));
		em_fs_sessions_add(fs, -1);
		pthread_mutex_lock(&in->mu);
		in->writers--;
		if (rc == 0 && size > in->published)
			in->published = size;
		pthread_mutex_unlock(&in->mu);
	}
	em_fs_inode_put(fs, in);
	free(f);
	return rc;
}

uint64_t em_fs_file_ino(const struct em_fs_file *f)
{
	return f->in->ino;
}

int em_fs_file_flags(const struct em_fs_file *f)
{
	return f->flags;
}

uint64_t em_fs_file_session(const struct em_fs_file *f)
{
	return f->session;
}

ssize_t em_fs_read(struct em_fs *fs, struct em_fs_file *f, void *buf, size_t len, uint64_t off)
{
	struct em_fs_inode *in = f->in;
	pthread_rwlock_rdlock(&in->io);
	uint64_t size = em_fs_inode_size(in);
	if (off >= size || !len) {
		pthread_rwlock_unlock(&in->io);
		return 0;
	}
	if (len > size - off)
		len = (size_t)(size - off);
	struct em_fs_op *ops;
	int n = em_fs_make_ops(fs, in->ino, &in->attr.layout, false, buf, off, len, &ops);
	int rc = n < 0 ? n : em_fs_io_run(fs, ops, (size_t)n);
	/* Holes: chunks never written and bytes past a chunk's end. */
	for (int i = 0; rc == 0 && i < n; i++) {
		uint32_t got = ops[i].result > 0 ? (uint32_t)ops[i].result : 0;
		if (got < ops[i].len)
			memset((uint8_t *)ops[i].buf + got, 0, ops[i].len - got);
	}
	free(n > 0 ? ops : NULL);
	pthread_rwlock_unlock(&in->io);
	return rc ? rc : (ssize_t)len;
}

static bool has_priv(uint32_t mode)
{
	return (mode & S_ISUID) || (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
}

/* A write by one without CAP_FSETID takes the set-id bits at once, as on
 * Linux (the kernel leaves it to us: FUSE_CAP_HANDLE_KILLPRIV). The mode
 * this mount knows decides whether to ask; whatever it missed, the next
 * length report or close (EM_META_WROTE) takes. */
static void kill_priv(struct em_fs *fs, struct em_fs_file *f)
{
	struct em_meta_setattr s = { .valid = EM_SETATTR_KILL_PRIV, .session = f->session };
	struct em_meta_attr a;
	int rc = em_meta_client_setattr(fs->meta, &f->cred, f->in->ino, &s, &a);
	if (rc) {
		EM_WARN_LIMITED("fs", "inode %llu: clearing set-id bits after a write: %s",
				(unsigned long long)f->in->ino, em_strerror(rc));
		return;
	}
	pthread_mutex_lock(&f->in->mu);
	f->in->attr.mode = a.mode;
	f->in->attr.ctime_ns = a.ctime_ns;
	pthread_mutex_unlock(&f->in->mu);
}

ssize_t em_fs_write(struct em_fs *fs, struct em_fs_file *f, const void *buf, size_t len,
		    uint64_t off)
{
	struct em_fs_inode *in = f->in;
	if (!len)
		return 0;
	if (off >= EM_META_MAX_FILE_SIZE || len > EM_META_MAX_FILE_SIZE - off)
		return -EFBIG;
	pthread_rwlock_rdlock(&in->io);
	struct em_fs_op *ops;
	int n = em_fs_make_ops(fs, in->ino, &in->attr.layout, true, (void *)buf, off, len, &ops);
	int rc = n < 0 ? n : em_fs_io_run(fs, ops, (size_t)n);
	free(n > 0 ? ops : NULL);
	bool kill = false;
	if (rc == 0) {
		pthread_mutex_lock(&in->mu);
		if (off + len > in->attr.size)
			in->attr.size = off + len;
		f->wrote = true;
		kill = !f->priv_checked && f->cred.uid != 0 && has_priv(in->attr.mode);
		f->priv_checked = true;
		pthread_mutex_unlock(&in->mu);
	}
	pthread_rwlock_unlock(&in->io);
	if (kill)
		kill_priv(fs, f);
	return rc ? rc : (ssize_t)len;
}

/* Zeros [from, to) of a file on storage, skipping chunks that do not
 * exist. */
static int zero_range(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
		      uint64_t from, uint64_t to)
{
	int64_t total = from < to ? em_fs_piece_count(l, from, to - from) : 0;
	if (total < 0)
		return (int)total;
	uint8_t probe[TRIM_BATCH];
	for (int64_t done = 0; done < total; done += TRIM_BATCH) {
		uint64_t cs = l->chunk_size;
		uint64_t start = done ? (from / cs + (uint64_t)done) * cs : from;
		uint64_t end = (from / cs + (uint64_t)done + TRIM_BATCH) * cs;
		if (end > to)
			end = to;
		/* One byte from each chunk says whether it exists: zeroing a
		 * chunk never written would only create it. */
		struct em_fs_op *ops;
		int n = em_fs_make_ops(fs, ino, l, false, NULL, start, end - start, &ops);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			ops[i].buf = &probe[i];
			ops[i].offset = 0;
			ops[i].len = 1;
		}
		int rc = em_fs_io_run(fs, ops, (size_t)n);
		if (rc) {
			free(ops);
			return rc;
		}
		struct em_fs_op *w;
		int m = em_fs_make_ops(fs, ino, l, true, NULL, start, end - start, &w);
		if (m < 0) {
			free(ops);
			return m;
		}
		int k = 0;
		for (int i = 0; i < m; i++)
			if (ops[i].result != -ENOENT)
				w[k++] = w[i];
		rc = em_fs_io_run(fs, w, (size_t)k);
		free(w);
		free(ops);
		if (rc)
			return rc;
	}
	return 0;
}

/* Removes chunks [first, end) of a file from every replica of their
 * chains; chunks that do not exist cost one round trip to their head. */
static int remove_chunks(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
			 uint64_t first, uint64_t end, bool (*stop)(void *), void *arg)
{
	uint64_t cs = l->chunk_size;
	for (uint64_t i = first; i < end; i += TRIM_BATCH) {
		if (stop && stop(arg))
			return -ECANCELED;
		uint64_t n = end - i < TRIM_BATCH ? end - i : TRIM_BATCH;
		struct em_fs_op *ops;
		int k = em_fs_make_ops(fs, ino, l, true, NULL, i * cs, n * cs, &ops);
		if (k < 0)
			return k;
		for (int j = 0; j < k; j++) {
			ops[j].trim = EM_FS_TRIM_REMOVE;
			ops[j].offset = 0;
			ops[j].len = 0;
		}
		int rc = em_fs_io_run(fs, ops, (size_t)k);
		free(ops);
		if (rc)
			return rc;
	}
	return 0;
}

int em_fs_remove_file(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
		      uint64_t length, bool (*stop)(void *), void *arg, uint64_t *removed)
{
	int64_t n = length ? em_fs_piece_count(l, 0, length) : 0;
	if (n < 0)
		return (int)n;
	uint64_t extra = l->stripe < 1 ? 1 : l->stripe > TRIM_BATCH ? TRIM_BATCH : l->stripe;
	uint64_t end = (uint64_t)n + extra;
	*removed = 0;
	int rc = remove_chunks(fs, ino, l, 0, end, stop, arg);
	if (rc == 0)
		*removed = end;
	return rc;
}

int em_fs_recover_length(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
			 uint64_t known, uint64_t *out)
{
	uint64_t cs = l->chunk_size;
	uint64_t batch = l->stripe < 16 ? 16 : l->stripe > TRIM_BATCH ? TRIM_BATCH : l->stripe;
	int64_t last = -1;
	uint8_t probe[TRIM_BATCH];
	*out = known;
	if (!cs)
		return -EINVAL;
	for (uint64_t i = known / cs;; i += batch) {
		struct em_fs_op *ops;
		int n = em_fs_make_ops(fs, ino, l, false, NULL, i * cs, batch * cs, &ops);
		if (n < 0)
			return n;
		for (int j = 0; j < n; j++) {
			ops[j].buf = &probe[j];
			ops[j].offset = 0;
			ops[j].len = 1;
		}
		int rc = em_fs_io_run(fs, ops, (size_t)n);
		bool found = false;
		for (int j = 0; rc == 0 && j < n; j++)
			if (ops[j].result >= 0) {
				last = (int64_t)ops[j].index;
				found = true;
			}
		free(ops);
		if (rc)
			return rc;
		if (!found)
			break;
	}
	if (last < 0)
		return 0;
	uint8_t *buf = malloc(cs);
	if (!buf)
		return -ENOMEM;
	struct em_fs_op *op;
	int n = em_fs_make_ops(fs, ino, l, false, buf, (uint64_t)last * cs, cs, &op);
	int rc = n < 0 ? n : em_fs_io_run(fs, op, 1);
	if (rc == 0 && op->result > 0 && (uint64_t)last * cs + (uint64_t)op->result > known)
		*out = (uint64_t)last * cs + (uint64_t)op->result;
	free(n > 0 ? op : NULL);
	free(buf);
	return rc;
}

/* Gives the space of [size, old) back: the chunk holding size is cut to
 * it and every later chunk up to old is removed, so old bytes cannot
 * reappear when the file grows again. */
static int trim_chunks(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
		       uint64_t size, uint64_t old)
{
	int64_t valid = size < old ? em_fs_piece_count(l, size, old - size) : 0;
	if (valid <= 0)
		return (int)valid;
	uint64_t cs = l->chunk_size;
	uint64_t first = size / cs, end = (old + cs - 1) / cs;
	if (size % cs) {
		struct em_fs_op *op;
		int n = em_fs_make_ops(fs, ino, l, true, NULL, size, 1, &op);
		if (n < 0)
			return n;
		op->trim = EM_FS_TRIM_TRUNCATE; /* op->offset is size within the chunk */
		op->len = 0;
		int rc = em_fs_io_run(fs, op, 1);
		free(op);
		if (rc)
			return rc;
		first++;
	}
	return remove_chunks(fs, ino, l, first, end, NULL, NULL);
}

/* Chunks wholly inside the hole are removed (the last one may end at the
 * end of file), so their space comes back; the partial ends are zeroed. */
int em_fs_punch(struct em_fs *fs, struct em_fs_file *f, uint64_t off, uint64_t len)
{
	struct em_fs_inode *in = f->in;
	const struct em_meta_layout *l = &in->attr.layout;
	pthread_rwlock_rdlock(&in->io);
	uint64_t size = em_fs_inode_size(in);
	uint64_t end = len > UINT64_MAX - off || off + len > size ? size : off + len;
	int64_t valid = off < end ? em_fs_piece_count(l, off, end - off) : 0;
	int rc = valid < 0 ? (int)valid : 0;
	if (valid > 0) {
		uint64_t cs = l->chunk_size;
		uint64_t a = (off + cs - 1) / cs, b = end == size ? (end + cs - 1) / cs : end / cs;
		if (a >= b) {
			rc = zero_range(fs, in->ino, l, off, end);
		} else {
			rc = zero_range(fs, in->ino, l, off, a * cs);
			if (rc == 0)
				rc = remove_chunks(fs, in->ino, l, a, b, NULL, NULL);
			if (rc == 0 && b * cs < end)
				rc = zero_range(fs, in->ino, l, b * cs, end);
		}
	}
	pthread_rwlock_unlock(&in->io);
	return rc;
}

/* Shrinking: metadata first checks the caller may change the size (a
 * setattr to the size we know, which also publishes our writes), then the
 * chunks past the new size are trimmed and removed, then the length
 * drops. */
static int truncate_inode(struct em_fs *fs, const struct em_meta_cred *cr,
			  struct em_fs_inode *in, const struct em_meta_setattr *req,
			  struct em_meta_attr *out)
{
	pthread_rwlock_wrlock(&in->io);
	struct em_meta_attr cur;
	int rc = em_meta_client_getattr(fs->meta, cr, in->ino, &cur);
	uint64_t old = em_fs_inode_size(in);
	if (rc == 0 && cur.size > old)
		old = cur.size;
	if (rc == 0 && req->size < old) {
		struct em_meta_setattr check = { .valid = EM_SETATTR_SIZE, .size = old,
						 .session = req->session };
		rc = em_meta_client_setattr(fs->meta, cr, in->ino, &check, &cur);
		if (rc == 0)
			rc = trim_chunks(fs, in->ino, &cur.layout, req->size, old);
	}
	if (rc == 0)
		rc = em_meta_client_setattr(fs->meta, cr, in->ino, req, out);
	if (rc == 0) {
		pthread_mutex_lock(&in->mu);
		in->attr = *out;
		in->published = out->size;
		pthread_mutex_unlock(&in->mu);
	}
	pthread_rwlock_unlock(&in->io);
	return em_fs_errno(rc);
}

int em_fs_getattr(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
		  struct em_meta_attr *out)
{
	int rc = em_meta_client_getattr(fs->meta, cr, ino, out);
	if (rc == -ENOENT) {
		/* Unlinked while open read-only here: the namespace forgot it
		 * but fstat on the open file must still work. */
		struct em_fs_inode *in = em_fs_inode_find(fs, ino);
		if (in) {
			pthread_mutex_lock(&in->mu);
			*out = in->attr;
			out->nlink = 0;
			pthread_mutex_unlock(&in->mu);
			em_fs_inode_put(fs, in);
			return 0;
		}
	}
	if (rc == 0)
		em_fs_fix_attr(fs, out);
	return em_fs_errno(rc);
}

int em_fs_setattr(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
		  const struct em_meta_setattr *req, struct em_meta_attr *out)
{
	if (!(req->valid & EM_SETATTR_SIZE)) {
		int rc = em_meta_client_setattr(fs->meta, cr, ino, req, out);
		if (rc == 0)
			em_fs_fix_attr(fs, out);
		return em_fs_errno(rc);
	}
	struct em_fs_inode *in = em_fs_inode_find(fs, ino);
	if (!in) {
		struct em_meta_attr a;
		int rc = em_meta_client_getattr(fs->meta, cr, ino, &a);
		if (rc)
			return em_fs_errno(rc);
		if ((a.mode & 0170000) == 0040000)
			return -EISDIR;
		if ((a.mode & 0170000) != 0100000)
			return -EINVAL;
		in = em_fs_inode_get(fs, &a);
		if (!in)
			return -ENOMEM;
	}
	int rc = truncate_inode(fs, cr, in, req, out);
	em_fs_inode_put(fs, in);
	if (rc == 0)
		em_fs_fix_attr(fs, out);
	return rc;
}
