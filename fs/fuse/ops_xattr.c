/* Extended attributes: straight to the metadata service, which enforces
 * the namespace rules (docs/metadata.md). */
#include <errno.h>
#include <stdlib.h>

#include "fs/fuse/internal.h"

void em_fuse_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		      size_t size, int flags)
{
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	em_fuse_reply_err(req, em_meta_client_setxattr(em_fs_meta(em_fuse_of(req)->fs), &cr, ino,
						       name, value, size, flags));
}

/* getxattr (name) and listxattr (name NULL) answer alike: size 0 asks for
 * the length only; the reply is the bytes or their length. */
static void reply_bytes(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct em_meta_cred cr;
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	em_fuse_cred(req, &cr);
	struct em_meta_client *mc = em_fs_meta(em_fuse_of(req)->fs);
	int rc = name ? em_meta_client_getxattr(mc, &cr, ino, name, buf, size)
		      : em_meta_client_listxattr(mc, &cr, ino, buf, size);
	if (rc < 0)
		em_fuse_reply_err(req, rc);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	free(buf);
}

void em_fuse_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_bytes(req, ino, name, size);
}

void em_fuse_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_bytes(req, ino, NULL, size);
}

void em_fuse_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	em_fuse_reply_err(req, em_meta_client_removexattr(em_fs_meta(em_fuse_of(req)->fs), &cr,
							  ino, name));
}
