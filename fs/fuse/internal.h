/* ember-fuse's insides: the mount's state and helpers shared by the
 * low-level operation files. */
#ifndef EMBER_FS_FUSE_INTERNAL_H
#define EMBER_FS_FUSE_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fs/client/client.h"

struct em_fuse {
	struct em_fs *fs;
	double entry_timeout, attr_timeout;
	bool direct_io;
	atomic_bool locks_used;      /* a lock was taken here: closes release them */
};

static inline struct em_fuse *em_fuse_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The caller's uid, gid and supplementary groups: the metadata service
 * checks permissions with them (and the kernel too, with default_permissions,
 * the default). */
void em_fuse_cred(fuse_req_t req, struct em_meta_cred *cr);
void em_fuse_stat(const struct em_meta_attr *a, struct stat *st);
/* Replies with an entry, or with rc's error when rc < 0. */
void em_fuse_reply_entry(fuse_req_t req, int rc, const struct em_meta_attr *a);
void em_fuse_reply_err(fuse_req_t req, int rc);

/* The operations, one file per group. */
void em_fuse_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void em_fuse_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void em_fuse_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int valid,
		     struct fuse_file_info *fi);
void em_fuse_readlink(fuse_req_t req, fuse_ino_t ino);
void em_fuse_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   dev_t rdev);
void em_fuse_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void em_fuse_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void em_fuse_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void em_fuse_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void em_fuse_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		    const char *newname, unsigned int flags);
void em_fuse_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void em_fuse_statfs(fuse_req_t req, fuse_ino_t ino);

void em_fuse_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    struct fuse_file_info *fi);
void em_fuse_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void em_fuse_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void em_fuse_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi);
void em_fuse_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void em_fuse_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void em_fuse_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void em_fuse_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		       struct fuse_file_info *fi);

void em_fuse_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void em_fuse_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void em_fuse_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi);
void em_fuse_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

void em_fuse_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl);
void em_fuse_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl,
		   int sleep);
void em_fuse_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
/* Releases fi's owner's POSIX locks (a close, from flush) or flock (the
 * last close, from release) on ino, if this mount ever locked. */
void em_fuse_unlock_owner(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool flock);

void em_fuse_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		      size_t size, int flags);
void em_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void em_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void em_fuse_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
