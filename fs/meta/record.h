/* On-store records of the metadata service: key layout and value codecs.
 *
 * Keys (ids big-endian, so a prefix scan walks them in numeric order):
 *   "M"                       superblock: format version
 *   "A"                       next unallocated inode id
 *   "I" ino                   inode
 *   "D" parent name           directory entry -> (ino, type)
 *   "X" ino name              extended attribute value (raw bytes)
 *   "S" ino session           write session
 *   "C" client                a client's last session renewal
 *   "O" ino                   orphan: unlinked, still write-open
 *   "G" ino                   GC queue: chunks of a deleted file
 *   "L" ino client owner kind a lock owner's ranges on a file (client, owner
 *                             big-endian u64; kind 'P' or 'F')
 *
 * Values are little-endian, start with a format version and end with a
 * CRC32C of everything before it; every decoder checks every bound and
 * returns -EUCLEAN for a malformed record and -EM_ECHECKSUM for a bad CRC,
 * so a damaged or hostile store cannot crash a server.
 */
#ifndef EMBER_FS_META_RECORD_H
#define EMBER_FS_META_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "fs/meta/meta.h"

enum em_meta_type {
	EM_META_T_FILE = 1,
	EM_META_T_DIR = 2,
	EM_META_T_SYMLINK = 3,
	EM_META_T_FIFO = 4,
	EM_META_T_CHR = 5,
	EM_META_T_BLK = 6,
	EM_META_T_SOCK = 7,
};

struct em_meta_inode {
	struct em_meta_attr a;
	uint16_t tlen;
	char target[EM_META_SYMLINK_MAX + 1];   /* symlinks, NUL-terminated */
};

struct em_meta_dentry {
	uint64_t ino;
	uint8_t type;
};

struct em_meta_session {
	uint64_t client_id;
	int64_t created_ns;
	uint32_t uid;
	uint32_t lease_ms;         /* granted at open; 0 in records before it existed */
};

/* A client proves it lives by renewing: its sessions stay valid until
 * renewed_ns + lease_ms. */
struct em_meta_client_rec {
	int64_t renewed_ns;
	uint32_t lease_ms;
};

#define EM_META_INODE_MAX (128 + EM_META_SYMLINK_MAX)
#define EM_META_KEY_MAX (1 + 8 + EM_META_XATTR_NAME_MAX)

/* Key builders: write into out (EM_META_KEY_MAX bytes), return the length. */
size_t em_meta_key_inode(uint8_t *out, uint64_t ino);
size_t em_meta_key_dentry(uint8_t *out, uint64_t parent, const char *name, size_t nlen);
size_t em_meta_key_xattr(uint8_t *out, uint64_t ino, const char *name, size_t nlen);
size_t em_meta_key_session(uint8_t *out, uint64_t ino, uint64_t session);
size_t em_meta_key_ino_prefix(uint8_t *out, char tag, uint64_t ino);
uint64_t em_meta_get_be64(const uint8_t *p);

enum em_meta_type em_meta_type_of_mode(uint32_t mode);

/* Encoders return the record length; out must hold EM_META_INODE_MAX. */
size_t em_meta_inode_encode(const struct em_meta_inode *in, uint8_t *out);
int em_meta_inode_decode(const void *buf, size_t len, struct em_meta_inode *out);

#define EM_META_DENTRY_LEN 14
size_t em_meta_dentry_encode(const struct em_meta_dentry *d, uint8_t *out);
int em_meta_dentry_decode(const void *buf, size_t len, struct em_meta_dentry *out);

#define EM_META_SESSION_LEN 29
size_t em_meta_session_encode(const struct em_meta_session *s, uint8_t *out);
int em_meta_session_decode(const void *buf, size_t len, struct em_meta_session *out);

#define EM_META_CLIENT_LEN 17
size_t em_meta_client_rec_encode(const struct em_meta_client_rec *c, uint8_t *out);
int em_meta_client_rec_decode(const void *buf, size_t len, struct em_meta_client_rec *out);

/* When a session stops holding its file: the later of its creation and its
 * client's last renewal, plus the longer of the two leases granted (else
 * fallback_ms). c may be NULL (the client never renewed). */
int64_t em_meta_session_expiry(const struct em_meta_session *s,
			       const struct em_meta_client_rec *c, uint32_t fallback_ms);

#define EM_META_GC_LEN 57
size_t em_meta_gc_encode(const struct em_meta_gc_entry *g, uint8_t *out);
int em_meta_gc_decode(const void *buf, size_t len, struct em_meta_gc_entry *out);

/* A lock owner's ranges on one file: sorted, disjoint. */
#define EM_META_LOCK_RANGES 64
struct em_meta_lock_rec {
	uint32_t n;
	struct em_meta_lock_range r[EM_META_LOCK_RANGES];
};
#define EM_META_LOCK_REC_MAX (3 + EM_META_LOCK_RANGES * 21 + 4)
size_t em_meta_lock_rec_encode(const struct em_meta_lock_rec *l, uint8_t *out);
int em_meta_lock_rec_decode(const void *buf, size_t len, struct em_meta_lock_rec *out);

/* Single u64 values ("A"): 8 bytes, no CRC, checked for length. */
size_t em_meta_u64_encode(uint64_t v, uint8_t *out);
int em_meta_u64_decode(const void *buf, size_t len, uint64_t *out);

#endif
