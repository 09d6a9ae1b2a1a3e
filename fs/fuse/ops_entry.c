/* Names and attributes: lookup, getattr/setattr, the namespace changes,
 * statfs. Each operation is one metadata call with the caller's
 * credentials; the replies carry the configured cache timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs/fuse/internal.h"

void em_fuse_cred(fuse_req_t req, struct em_meta_cred *cr)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[EM_META_NGROUPS_MAX];
	int n = fuse_req_getgroups(req, EM_META_NGROUPS_MAX, groups);
	cr->uid = ctx->uid;
	cr->gid = ctx->gid;
	cr->ngroups = 0;
	/* More groups than fit: the first ones only (as many as metadata takes). */
	for (int i = 0; i < n && i < EM_META_NGROUPS_MAX; i++)
		cr->groups[cr->ngroups++] = groups[i];
}

void em_fuse_stat(const struct em_meta_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = (dev_t)a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	/* Programs size their buffers by st_blksize: a chunk is the unit the
	 * storage moves best, capped so stdio buffers stay sane. */
	st->st_blksize = a->layout.chunk_size && a->layout.chunk_size <= (1u << 20)
			 ? a->layout.chunk_size : 1u << 20;
	st->st_atim.tv_sec = a->atime_ns / 1000000000;
	st->st_atim.tv_nsec = a->atime_ns % 1000000000;
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
}

void em_fuse_reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -em_fs_errno(rc) : 0);
}

void em_fuse_reply_entry(fuse_req_t req, int rc, const struct em_meta_attr *a)
{
	if (rc < 0) {
		em_fuse_reply_err(req, rc);
		return;
	}
	struct em_fuse *m = em_fuse_of(req);
	struct fuse_entry_param e = { .ino = a->ino, .generation = 1,
				      .attr_timeout = m->attr_timeout,
				      .entry_timeout = m->entry_timeout };
	em_fuse_stat(a, &e.attr);
	fuse_reply_entry(req, &e);
}

void em_fuse_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_lookup(em_fs_meta(m->fs), &cr, parent, name, &a);
	if (rc == 0)
		em_fs_fix_attr(m->fs, &a);
	em_fuse_reply_entry(req, rc, &a);
}

void em_fuse_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_fs_getattr(m->fs, &cr, ino, &a);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	struct stat st;
	em_fuse_stat(&a, &st);
	fuse_reply_attr(req, &st, m->attr_timeout);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* A non-owner's write makes the kernel (when it keeps set-id clearing to
 * itself: this libfuse does not ask for FUSE_CAP_HANDLE_KILLPRIV) send a
 * chmod, as the writer, to the mode minus S_ISUID and S_ISGID, which the
 * owner check refuses. Exactly that change becomes a kill-priv, which
 * metadata allows to whoever may write the file. */
static int kill_priv_chmod(struct em_fuse *m, const struct em_meta_cred *cr, fuse_ino_t ino,
			   uint32_t mode, struct em_meta_attr *a)
{
	int rc = em_fs_getattr(m->fs, cr, ino, a);
	if (rc)
		return rc;
	uint32_t cur = a->mode & 07777, setid = S_ISUID | S_ISGID;
	if (mode == cur || (mode & ~setid) != (cur & ~setid) || (mode & setid & ~cur))
		return -EPERM;
	struct em_meta_setattr k = { .valid = EM_SETATTR_KILL_PRIV };
	rc = em_fs_setattr(m->fs, cr, ino, &k, a);
	return rc == -EACCES ? -EPERM : rc;
}

void em_fuse_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int valid,
		     struct fuse_file_info *fi)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_setattr s = { 0 };
	if (valid & FUSE_SET_ATTR_MODE) {
		s.valid |= EM_SETATTR_MODE;
		s.mode = st->st_mode & 07777;
	}
	if (valid & FUSE_SET_ATTR_UID) {
		s.valid |= EM_SETATTR_UID;
		s.uid = st->st_uid;
	}
	if (valid & FUSE_SET_ATTR_GID) {
		s.valid |= EM_SETATTR_GID;
		s.gid = st->st_gid;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		s.valid |= EM_SETATTR_SIZE;
		s.size = (uint64_t)st->st_size;
		/* ftruncate: the descriptor's open decides, not today's mode. */
		if (fi && fi->fh)
			s.session = em_fs_file_session((struct em_fs_file *)(uintptr_t)fi->fh);
	}
	if (valid & FUSE_SET_ATTR_ATIME_NOW) {
		s.valid |= EM_SETATTR_ATIME_NOW;
	} else if (valid & FUSE_SET_ATTR_ATIME) {
		s.valid |= EM_SETATTR_ATIME;
		s.atime_ns = ts_ns(&st->st_atim);
	}
	if (valid & FUSE_SET_ATTR_MTIME_NOW) {
		s.valid |= EM_SETATTR_MTIME_NOW;
	} else if (valid & FUSE_SET_ATTR_MTIME) {
		s.valid |= EM_SETATTR_MTIME;
		s.mtime_ns = ts_ns(&st->st_mtim);
	}
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_fs_setattr(m->fs, &cr, ino, &s, &a);
	if (rc == -EPERM && s.valid == EM_SETATTR_MODE)
		rc = kill_priv_chmod(m, &cr, ino, s.mode, &a);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	struct stat out;
	em_fuse_stat(&a, &out);
	fuse_reply_attr(req, &out, m->attr_timeout);
}

void em_fuse_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	char buf[EM_META_SYMLINK_MAX + 1];
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_readlink(em_fs_meta(m->fs), &cr, ino, buf, sizeof(buf));
	if (rc < 0)
		em_fuse_reply_err(req, rc);
	else
		fuse_reply_readlink(req, buf);
}

/* Regular files, FIFOs, sockets and device nodes: metadata stores the node;
 * the kernel serves a FIFO's, socket's or device's I/O itself. */
void em_fuse_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   dev_t rdev)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_mknod(em_fs_meta(m->fs), &cr, parent, name, mode, rdev, &a);
	em_fuse_reply_entry(req, rc, &a);
}

void em_fuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_mkdir(em_fs_meta(m->fs), &cr, parent, name, mode & 07777, &a);
	em_fuse_reply_entry(req, rc, &a);
}

void em_fuse_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	em_fuse_reply_err(req, em_meta_client_unlink(em_fs_meta(em_fuse_of(req)->fs), &cr,
						     parent, name));
}

void em_fuse_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	em_fuse_reply_err(req, em_meta_client_rmdir(em_fs_meta(em_fuse_of(req)->fs), &cr,
						    parent, name));
}

void em_fuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_symlink(em_fs_meta(em_fuse_of(req)->fs), &cr, parent, name, link,
					&a);
	em_fuse_reply_entry(req, rc, &a);
}

void em_fuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		    const char *newname, unsigned int flags)
{
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	/* RENAME_WHITEOUT is for overlay file systems: not ours. */
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	em_fuse_reply_err(req, em_meta_client_rename(em_fs_meta(em_fuse_of(req)->fs), &cr, parent,
						     name, newparent, newname, flags));
}

void em_fuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_cred cr;
	struct em_meta_attr a;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_link(em_fs_meta(m->fs), &cr, ino, newparent, newname, &a);
	if (rc == 0)
		em_fs_fix_attr(m->fs, &a);
	em_fuse_reply_entry(req, rc, &a);
}

void em_fuse_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct em_meta_cred cr;
	struct em_meta_statfs s;
	em_fuse_cred(req, &cr);
	int rc = em_meta_client_statfs(em_fs_meta(em_fuse_of(req)->fs), &cr, &s);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	struct statvfs v = { .f_bsize = s.bsize, .f_frsize = s.bsize, .f_blocks = s.blocks,
			     .f_bfree = s.bfree, .f_bavail = s.bavail, .f_files = s.files,
			     .f_ffree = s.ffree, .f_favail = s.ffree, .f_namemax = s.namemax };
	fuse_reply_statfs(req, &v);
}
