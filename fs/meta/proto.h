/* The metadata RPC wire format, shared by ember-meta (service.c) and its
 * clients (client.c).
 *
 * Service EM_META_SERVICE on net/rpc.h, one method per em_meta_* operation.
 * Payloads are little-endian, built with net/serde.h; fields are only ever
 * appended and decoders ignore bytes after the fields they know. Strings are
 * u32 length + bytes (no NUL).
 *
 * Every request starts with the caller's credentials:
 *   uid u32, gid u32, ngroups u32 (<= EM_META_NGROUPS_MAX), ngroups x gid u32
 * then, by method ("name" is at most EM_META_NAME_MAX bytes):
 *   LOOKUP, UNLINK, RMDIR  parent u64, name
 *   GETATTR, GC_DONE       ino u64
 *   SETATTR                ino, valid u32, mode u32, uid u32, gid u32,
 *                          size u64, atime_ns i64, mtime_ns i64, session u64
 *                          (absent: 0)
 *   CREATE                 parent, name, mode u32, open flags u32, client u64
 *   OPEN                   ino, open flags u32, client u64
 *   CLOSE, SET_LENGTH      ino, session u64, length u64, flags u32
 *                          (EM_META_WROTE; absent: 0)
 *   MKDIR                  parent, name, mode u32
 *   SYMLINK                parent, name, target (<= EM_META_SYMLINK_MAX)
 *   LINK                   ino, new parent u64, new name
 *   RENAME                 src parent, src name, dst parent, dst name, flags u32
 *   READLINK, LISTXATTR    ino, buffer length u32
 *   READDIR                ino, after (a name, "" from the start), max u32
 *   STATFS                 -
 *   GETXATTR               ino, xattr name, buffer length u32
 *   SETXATTR               ino, xattr name, value (<= EM_META_XATTR_SIZE_MAX
 *                          bytes), flags u32
 *   REMOVEXATTR            ino, xattr name
 *   GC_LIST                max u32
 *   RENEW                  client u64
 *   MKNOD                  parent, name, mode u32 (type and permissions),
 *                          rdev u64
 *   LOCK                   ino, client u64, owner u64, start u64, end u64,
 *                          pid u32, type u8, kind u8, test u8
 * Open flags travel as EM_META_WIRE_* bits, not the host's O_* values.
 *
 * Responses carry the operation's status in the RPC header (0 or a negative
 * errno / Ember error) and, on success:
 *   attr     ino u64, mode u32, uid u32, gid u32, nlink u32, size u64,
 *            atime_ns i64, mtime_ns i64, ctime_ns i64, parent u64, layout
 *            {table_id u32, table_version u32, chunk_size u32, stripe u32,
 *            first_chain u32, seed u64}
 *   LOOKUP, GETATTR, SETATTR, MKDIR, SYMLINK, LINK, MKNOD: attr, rdev u64
 *            (a reply without rdev means 0)
 *   CREATE, OPEN: attr, session u64, created u8
 *   READLINK, GETXATTR, LISTXATTR: full length u32, bytes (u32 length: what
 *            fitted the caller's buffer; nothing when it asked for 0)
 *   READDIR: eof u8, n u32, n x {ino u64, type u32, name}
 *   STATFS:  bsize, blocks, bfree, bavail, files, ffree u64, namemax u32
 *   GC_LIST: n u32, n x {ino u64, length u64, layout}
 *   RENEW:   lease_ms u32 (renew again well before it runs out)
 *   LOCK:    the conflicting lock: start u64, end u64, pid u32, type u8
 *            (-EAGAIN carries none; a test answers 0 and type 0 if free)
 *   others:  empty
 * -EBADMSG: malformed request. GC_LIST and GC_DONE need uid 0.
 */
#ifndef EMBER_FS_META_PROTO_H
#define EMBER_FS_META_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "fs/meta/meta.h"
#include "net/serde.h"

/* 3FS's MetaSerde id is 4 as well. */
#define EM_META_SERVICE 4

enum em_meta_method {
	EM_META_LOOKUP = 1,
	EM_META_GETATTR,
	EM_META_SETATTR,
	EM_META_CREATE,
	EM_META_OPEN,
	EM_META_CLOSE,
	EM_META_SET_LENGTH,
	EM_META_MKDIR,
	EM_META_SYMLINK,
	EM_META_LINK,
	EM_META_UNLINK,
	EM_META_RMDIR,
	EM_META_RENAME,
	EM_META_READLINK,
	EM_META_READDIR,
	EM_META_STATFS,
	EM_META_GETXATTR,
	EM_META_SETXATTR,
	EM_META_LISTXATTR,
	EM_META_REMOVEXATTR,
	EM_META_GC_LIST,
	EM_META_GC_DONE,
	EM_META_RENEW,
	EM_META_MKNOD,
	EM_META_LOCK,
	EM_META_METHOD_END,
};

/* Open flags on the wire. */
enum {
	EM_META_WIRE_WRONLY = 1u << 0,
	EM_META_WIRE_RDWR = 1u << 1,
	EM_META_WIRE_CREAT = 1u << 2,
	EM_META_WIRE_EXCL = 1u << 3,
	EM_META_WIRE_TRUNC = 1u << 4,
};

/* Entries and GC entries one response carries at most, so an answer always
 * fits the smallest allowed message (a name is at most 255 bytes). */
#define EM_META_READDIR_MAX 128
#define EM_META_GC_LIST_MAX 1024
/* Listing buffers larger than this are clamped, as Linux's XATTR_LIST_MAX. */
#define EM_META_XATTR_LIST_MAX 65536

/* Every request's fields, decoded; each method uses the ones its line in
 * the table above names. Strings are NUL-terminated copies; value points
 * into the decoded payload. */
struct em_meta_req {
	struct em_meta_cred cred;
	uint64_t ino;              /* ino, parent, or rename's source parent */
	uint64_t ino2;             /* link's new parent, rename's destination parent */
	uint64_t session, length, client, rdev;
	uint32_t mode, flags, max; /* flags: open (host O_*), rename, xattr or close flags */
	struct em_meta_setattr sa;
	struct em_meta_lock lock;
	char name[EM_META_XATTR_NAME_MAX + 1];  /* also readdir's "after" */
	char name2[EM_META_SYMLINK_MAX + 1];    /* rename's destination, symlink's target */
	const void *value;
	uint32_t vlen;
};

/* Bytes em_meta_enc_req may need for a request with a value of vlen bytes. */
size_t em_meta_req_size(uint32_t vlen);
/* Encodes method's fields of r. Returns the encoder's error (0 or -EMSGSIZE). */
int em_meta_enc_req(struct em_enc *e, uint16_t method, const struct em_meta_req *r);
/* Returns 0, -EBADMSG (short, a bound exceeded, a NUL in a string) or
 * -ENOSYS (unknown method). */
int em_meta_dec_req(uint16_t method, const void *p, size_t len, struct em_meta_req *r);

/* Host open(2) flags <-> wire bits (only those meta.h honours). */
uint32_t em_meta_flags_to_wire(int flags);
int em_meta_flags_from_wire(uint32_t w);

void em_meta_enc_attr(struct em_enc *e, const struct em_meta_attr *a);
void em_meta_dec_attr(struct em_dec *d, struct em_meta_attr *a);
void em_meta_enc_layout(struct em_enc *e, const struct em_meta_layout *l);
void em_meta_dec_layout(struct em_dec *d, struct em_meta_layout *l);

/* Response encoders (the server's half); each leaves errors in e. */
/* The attr-returning methods' answer: attr, then rdev. */
void em_meta_enc_attr_rsp(struct em_enc *e, const struct em_meta_attr *a);
void em_meta_enc_open_rsp(struct em_enc *e, const struct em_meta_open_res *r);
void em_meta_enc_bytes_rsp(struct em_enc *e, uint32_t full, const void *p, uint32_t len);
void em_meta_enc_readdir_rsp(struct em_enc *e, const struct em_meta_dirent *ents, size_t n,
			     bool eof);
void em_meta_enc_statfs_rsp(struct em_enc *e, const struct em_meta_statfs *s);
void em_meta_enc_lock_rsp(struct em_enc *e, const struct em_meta_lock_range *r);
void em_meta_enc_gc_list_rsp(struct em_enc *e, const struct em_meta_gc_entry *ents, size_t n);

/* Response decoders; each returns 0 or -EBADMSG and fills only on success. */
int em_meta_dec_attr_rsp(const void *p, size_t len, struct em_meta_attr *out);
int em_meta_dec_open_rsp(const void *p, size_t len, struct em_meta_open_res *out);
/* Copies min(full, cap) bytes into buf; returns the full length. */
int em_meta_dec_bytes_rsp(const void *p, size_t len, void *buf, size_t cap);
int em_meta_dec_readdir_rsp(const void *p, size_t len, struct em_meta_dirent *ents, size_t max,
			    size_t *n, bool *eof);
int em_meta_dec_statfs_rsp(const void *p, size_t len, struct em_meta_statfs *out);
int em_meta_dec_lock_rsp(const void *p, size_t len, struct em_meta_lock_range *out);
int em_meta_dec_gc_list_rsp(const void *p, size_t len, struct em_meta_gc_entry *ents,
			    size_t max, size_t *n);

#endif
