/* Directory listings. A directory handle keeps the entries fetched so far
 * (pages of the metadata readdir, resumed after the last name), so the
 * kernel's offsets are plain indices: 0 ".", 1 "..", then entries. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fuse/internal.h"

#define PAGE 128

struct dir {
	pthread_mutex_t mu;
	uint64_t ino, parent;
	struct em_meta_dirent *ents;
	struct em_meta_attr *attrs;   /* readdirplus: parallel to ents */
	int *attr_rc;
	size_t n, cap;
	bool eof;
};

struct attr_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
};

struct attr_one {
	struct attr_wait *w;
	int *rc;
};

static void attr_done(void *arg, int status)
{
	struct attr_one *o = arg;
	struct attr_wait *w = o->w;
	*o->rc = status;
	pthread_mutex_lock(&w->mu);
	if (--w->pending == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Under d->mu: one more page, with its attributes fetched in parallel
 * (the kernel is told to always use readdirplus, so they are wanted). */
static int fetch(struct em_fuse *m, const struct em_meta_cred *cr, struct dir *d)
{
	if (d->n + PAGE > d->cap) {
		size_t cap = d->cap ? d->cap * 2 : PAGE;
		struct em_meta_dirent *e = realloc(d->ents, cap * sizeof(*e));
		if (e)
			d->ents = e;
		struct em_meta_attr *a = e ? realloc(d->attrs, cap * sizeof(*a)) : NULL;
		if (a)
			d->attrs = a;
		int *r = a ? realloc(d->attr_rc, cap * sizeof(*r)) : NULL;
		if (!r)
			return -ENOMEM;
		d->attr_rc = r;
		d->cap = cap;
	}
	struct em_meta_client *mc = em_fs_meta(m->fs);
	size_t got;
	const char *after = d->n ? d->ents[d->n - 1].name : "";
	int rc = em_meta_client_readdir(mc, cr, d->ino, after, d->ents + d->n, PAGE, &got, &d->eof);
	if (rc)
		return rc;
	struct attr_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, got };
	struct attr_one one[PAGE];
	for (size_t i = d->n; i < d->n + got; i++) {
		one[i - d->n] = (struct attr_one){ &w, &d->attr_rc[i] };
		int err = em_meta_client_getattr_async(mc, cr, d->ents[i].ino, &d->attrs[i],
						       attr_done, &one[i - d->n]);
		if (err)
			attr_done(&one[i - d->n], err);
	}
	pthread_mutex_lock(&w.mu);
	while (w.pending)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	for (size_t i = d->n; i < d->n + got; i++)
		if (d->attr_rc[i] == 0)
			em_fs_fix_attr(m->fs, &d->attrs[i]);
	d->n += got;
	return 0;
}

void em_fuse_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_getattr(em_fs_meta(m->fs), &cr, ino, &a);
	if (rc == 0 && (a.mode & 0170000) != 0040000)
		rc = -ENOTDIR;
	struct dir *d = rc ? NULL : calloc(1, sizeof(*d));
	if (rc || !d) {
		em_fuse_reply_err(req, rc ? rc : -ENOMEM);
		return;
	}
	pthread_mutex_init(&d->mu, NULL);
	d->ino = ino;
	d->parent = a.parent ? a.parent : ino;
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_destroy(&d->mu);
		free(d);
	}
}

/* Adds one entry at index i; returns its size in the buffer, 0 when it did
 * not fit, or -1 when the entry vanished (readdirplus skips it). */
static size_t add(fuse_req_t req, struct dir *d, bool plus, size_t i, char *buf, size_t rem)
{
	struct em_fuse *m = em_fuse_of(req);
	off_t next = (off_t)i + 1;
	struct fuse_entry_param e = { .generation = 1, .attr_timeout = m->attr_timeout,
				      .entry_timeout = m->entry_timeout };
	const char *name;
	if (i < 2) {
		/* The kernel takes no reference for these: inode and type only. */
		name = i ? ".." : ".";
		e.attr.st_ino = i ? d->parent : d->ino;
		e.attr.st_mode = S_IFDIR;
	} else {
		const struct em_meta_dirent *de = &d->ents[i - 2];
		name = de->name;
		if (plus && d->attr_rc[i - 2])
			return (size_t)-1;
		if (plus) {
			e.ino = de->ino;
			em_fuse_stat(&d->attrs[i - 2], &e.attr);
		} else {
			e.attr.st_ino = de->ino;
			e.attr.st_mode = de->type << 12;
		}
	}
	size_t need = plus ? fuse_add_direntry_plus(req, buf, rem, name, &e, next)
			   : fuse_add_direntry(req, buf, rem, name, &e.attr, next);
	return need > rem ? 0 : need;
}

static void list(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
	struct em_fuse *m = em_fuse_of(req);
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	size_t used = 0;
	int rc = 0;
	pthread_mutex_lock(&d->mu);
	for (size_t i = off < 0 ? 0 : (size_t)off;; i++) {
		if (i >= d->n + 2) {
			if (d->eof || (rc = fetch(m, &cr, d)) != 0 || i >= d->n + 2)
				break;
		}
		size_t n = add(req, d, plus, i, buf + used, size - used);
		if (n == (size_t)-1)
			continue;
		if (!n)
			break;
		used += n;
	}
	pthread_mutex_unlock(&d->mu);
	/* An error after some entries: return those, the next call retries. */
	if (rc && !used)
		em_fuse_reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void em_fuse_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	list(req, size, off, fi, false);
}

void em_fuse_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	list(req, size, off, fi, true);
}

void em_fuse_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;
	pthread_mutex_destroy(&d->mu);
	free(d->ents);
	free(d->attrs);
	free(d->attr_rc);
	free(d);
	fuse_reply_err(req, 0);
}
