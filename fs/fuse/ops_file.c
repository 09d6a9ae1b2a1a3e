/* Open files: create/open/release sessions and the data path. The file
 * handle is the client library's em_fs_file. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdlib.h>

#include "fs/fuse/internal.h"

static struct em_fs_file *file_of(struct fuse_file_info *fi)
{
	return (struct em_fs_file *)(uintptr_t)fi->fh;
}

/* The page cache is dropped at every open (no keep_cache), so a file
 * another mount wrote and closed reads fresh: close-to-open consistency. */
static void set_open_flags(struct em_fuse *m, struct fuse_file_info *fi, struct em_fs_file *f)
{
	fi->fh = (uintptr_t)f;
	fi->direct_io = m->direct_io;
	fi->keep_cache = 0;
}

void em_fuse_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	struct em_fs_file *f;
	em_fuse_cred(req, &cr);
	int rc = em_fs_file_create(m->fs, &cr, parent, name, mode & 07777, fi->flags, &f, &a);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	set_open_flags(m, fi, f);
	struct fuse_entry_param e = { .ino = a.ino, .generation = 1,
				      .attr_timeout = m->attr_timeout,
				      .entry_timeout = m->entry_timeout };
	em_fuse_stat(&a, &e.attr);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		em_fs_file_release(m->fs, f); /* the caller was interrupted */
}

void em_fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	struct em_fs_file *f;
	em_fuse_cred(req, &cr);
	int rc = em_fs_file_open(m->fs, &cr, ino, fi->flags, &f, &a);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	set_open_flags(m, fi, f);
	if (fuse_reply_open(req, fi) == -ENOENT)
		em_fs_file_release(m->fs, f);
}

void em_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	void *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = em_fs_read(em_fuse_of(req)->fs, file_of(fi), buf, size, (uint64_t)off);
	if (n < 0)
		em_fuse_reply_err(req, (int)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* O_APPEND needs nothing here: the kernel serialises writes per inode and
 * passes the end of file it knows from our replies as the offset. */
void em_fuse_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n = em_fs_write(em_fuse_of(req)->fs, file_of(fi), buf, size, (uint64_t)off);
	if (n < 0)
		em_fuse_reply_err(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* close(2): publish the length so another mount's open sees the file
 * whole, and drop the closer's record locks (POSIX: any close does). */
void em_fuse_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	em_fuse_unlock_owner(req, ino, fi, false);
	em_fuse_reply_err(req, em_fs_file_sync(em_fuse_of(req)->fs, file_of(fi)));
}

/* Data is on every replica when a write returns; only the length remains. */
void em_fuse_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	em_fuse_reply_err(req, em_fs_file_sync(em_fuse_of(req)->fs, file_of(fi)));
}

void em_fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->flock_release)
		em_fuse_unlock_owner(req, ino, fi, true);
	em_fuse_reply_err(req, em_fs_file_release(em_fuse_of(req)->fs, file_of(fi)));
}

/* Modes: 0 and KEEP_SIZE reserve nothing (space is allocated on write) but
 * extend the size as asked; PUNCH_HOLE zeros the range. */
void em_fuse_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		       struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_fs_file *f = file_of(fi);
	int rc;
	if (off < 0 || len <= 0) {
		rc = -EINVAL;
	} else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		rc = em_fs_punch(m->fs, f, (uint64_t)off, (uint64_t)len);
	} else if (mode == FALLOC_FL_KEEP_SIZE) {
		rc = 0;
	} else if (mode == 0) {
		struct em_meta_cred cr;
		struct em_meta_attr a;
		em_fuse_cred(req, &cr);
		rc = em_fs_getattr(m->fs, &cr, ino, &a);
		if (rc == 0 && (uint64_t)off + (uint64_t)len > a.size) {
			struct em_meta_setattr s = { .valid = EM_SETATTR_SIZE,
						     .size = (uint64_t)off + (uint64_t)len };
			rc = em_fs_setattr(m->fs, &cr, ino, &s, &a);
		}
	} else {
		rc = -EOPNOTSUPP;
	}
	em_fuse_reply_err(req, rc);
}
