/* Key layout and bounds-checked value codecs (see record.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ember/errors.h"
#include "fs/meta/record.h"
#include "net/core/crc32c.h"
#include "net/serde.h" /* little-endian fields: em_put_le* / em_get_le* */

#define RECORD_VERSION 1
#define INODE_FIXED 100    /* bytes before the symlink target length */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t em_meta_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t em_meta_key_ino_prefix(uint8_t *out, char tag, uint64_t ino)
{
	out[0] = (uint8_t)tag;
	put_be64(out + 1, ino);
	return 9;
}

size_t em_meta_key_inode(uint8_t *out, uint64_t ino)
{
	return em_meta_key_ino_prefix(out, 'I', ino);
}

size_t em_meta_key_dentry(uint8_t *out, uint64_t parent, const char *name, size_t nlen)
{
	size_t n = em_meta_key_ino_prefix(out, 'D', parent);
	memcpy(out + n, name, nlen);
	return n + nlen;
}

size_t em_meta_key_xattr(uint8_t *out, uint64_t ino, const char *name, size_t nlen)
{
	size_t n = em_meta_key_ino_prefix(out, 'X', ino);
	memcpy(out + n, name, nlen);
	return n + nlen;
}

size_t em_meta_key_session(uint8_t *out, uint64_t ino, uint64_t session)
{
	size_t n = em_meta_key_ino_prefix(out, 'S', ino);
	put_be64(out + n, session);
	return n + 8;
}

enum em_meta_type em_meta_type_of_mode(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EM_META_T_FILE;
	case S_IFDIR:
		return EM_META_T_DIR;
	case S_IFLNK:
		return EM_META_T_SYMLINK;
	case S_IFIFO:
		return EM_META_T_FIFO;
	case S_IFCHR:
		return EM_META_T_CHR;
	case S_IFBLK:
		return EM_META_T_BLK;
	case S_IFSOCK:
		return EM_META_T_SOCK;
	default:
		return 0;
	}
}

static size_t seal(uint8_t *buf, size_t len)
{
	em_put_le32(buf + len, em_crc32c(0, buf, len));
	return len + 4;
}

/* Checks version and CRC; *body is the length before the CRC. */
static int unseal(const uint8_t *buf, size_t len, size_t min, size_t *body)
{
	if (len < min + 4)
		return -EUCLEAN;
	if (em_crc32c(0, buf, len - 4) != em_get_le32(buf + len - 4))
		return -EM_ECHECKSUM;
	if (buf[0] != RECORD_VERSION)
		return -EUCLEAN;
	*body = len - 4;
	return 0;
}

static void put_layout(uint8_t *p, const struct em_meta_layout *l)
{
	em_put_le32(p, l->table_id);
	em_put_le32(p + 4, l->table_version);
	em_put_le32(p + 8, l->chunk_size);
	em_put_le32(p + 12, l->stripe);
	em_put_le32(p + 16, l->first_chain);
	em_put_le64(p + 20, l->seed);
}

static void get_layout(const uint8_t *p, struct em_meta_layout *l)
{
	l->table_id = em_get_le32(p);
	l->table_version = em_get_le32(p + 4);
	l->chunk_size = em_get_le32(p + 8);
	l->stripe = em_get_le32(p + 12);
	l->first_chain = em_get_le32(p + 16);
	l->seed = em_get_le64(p + 20);
}

static bool layout_ok(const struct em_meta_layout *l)
{
	return l->chunk_size >= 4096 && (l->chunk_size & (l->chunk_size - 1)) == 0 &&
	       l->stripe >= 1;
}

/* Inode: version u8, type u8, fixed-part length u16 (newer writers may
 * append fields, older readers skip them), mode, uid, gid, nlink, pad u32,
 * size u64, atime, mtime, ctime i64, parent u64, rdev u64 (device nodes;
 * zero elsewhere, as the padding it replaced), layout (28 bytes; zero for
 * symlinks and special files), then target length u16, target bytes, CRC32C. */
size_t em_meta_inode_encode(const struct em_meta_inode *in, uint8_t *out)
{
	const struct em_meta_attr *a = &in->a;
	memset(out, 0, INODE_FIXED);
	out[0] = RECORD_VERSION;
	out[1] = (uint8_t)em_meta_type_of_mode(a->mode);
	em_put_le16(out + 2, INODE_FIXED);
	em_put_le32(out + 4, a->mode);
	em_put_le32(out + 8, a->uid);
	em_put_le32(out + 12, a->gid);
	em_put_le32(out + 16, a->nlink);
	em_put_le64(out + 24, a->size);
	em_put_le64(out + 32, (uint64_t)a->atime_ns);
	em_put_le64(out + 40, (uint64_t)a->mtime_ns);
	em_put_le64(out + 48, (uint64_t)a->ctime_ns);
	em_put_le64(out + 56, a->parent);
	em_put_le64(out + 64, a->rdev);
	put_layout(out + 72, &a->layout);
	em_put_le16(out + INODE_FIXED, in->tlen);
	memcpy(out + INODE_FIXED + 2, in->target, in->tlen);
	return seal(out, INODE_FIXED + 2 + in->tlen);
}

int em_meta_inode_decode(const void *buf, size_t len, struct em_meta_inode *out)
{
	const uint8_t *p = buf;
	size_t body, fixed;
	int rc = unseal(p, len, INODE_FIXED + 2, &body);
	if (rc < 0)
		return rc;
	fixed = em_get_le16(p + 2);
	if (fixed < INODE_FIXED || fixed + 2 > body)
		return -EUCLEAN;

	struct em_meta_attr *a = &out->a;
	memset(a, 0, sizeof(*a));
	a->mode = em_get_le32(p + 4);
	a->uid = em_get_le32(p + 8);
	a->gid = em_get_le32(p + 12);
	a->nlink = em_get_le32(p + 16);
	a->size = em_get_le64(p + 24);
	a->atime_ns = (int64_t)em_get_le64(p + 32);
	a->mtime_ns = (int64_t)em_get_le64(p + 40);
	a->ctime_ns = (int64_t)em_get_le64(p + 48);
	a->parent = em_get_le64(p + 56);
	a->rdev = em_get_le64(p + 64);
	get_layout(p + 72, &a->layout);
	out->tlen = em_get_le16(p + fixed);
	if (out->tlen > EM_META_SYMLINK_MAX || fixed + 2 + out->tlen != body)
		return -EUCLEAN;
	memcpy(out->target, p + fixed + 2, out->tlen);
	out->target[out->tlen] = 0;

	enum em_meta_type t = em_meta_type_of_mode(a->mode);
	if (!t || t != p[1] || a->nlink > EM_META_LINK_MAX + 2)
		return -EUCLEAN;
	if (t == EM_META_T_SYMLINK ? out->tlen == 0 || memchr(out->target, 0, out->tlen)
				   : out->tlen != 0)
		return -EUCLEAN;
	bool has_layout = t == EM_META_T_FILE || t == EM_META_T_DIR;
	if (has_layout && !layout_ok(&a->layout))
		return -EUCLEAN;
	if (a->rdev && t != EM_META_T_CHR && t != EM_META_T_BLK)
		return -EUCLEAN;
	return 0;
}

size_t em_meta_dentry_encode(const struct em_meta_dentry *d, uint8_t *out)
{
	out[0] = RECORD_VERSION;
	out[1] = d->type;
	em_put_le64(out + 2, d->ino);
	return seal(out, 10);
}

int em_meta_dentry_decode(const void *buf, size_t len, struct em_meta_dentry *out)
{
	const uint8_t *p = buf;
	size_t body;
	int rc = unseal(p, len, 10, &body);
	if (rc < 0)
		return rc;
	out->type = p[1];
	out->ino = em_get_le64(p + 2);
	if (out->type < EM_META_T_FILE || out->type > EM_META_T_SOCK || out->ino == 0)
		return -EUCLEAN;
	return 0;
}

size_t em_meta_session_encode(const struct em_meta_session *s, uint8_t *out)
{
	out[0] = RECORD_VERSION;
	em_put_le64(out + 1, s->client_id);
	em_put_le64(out + 9, (uint64_t)s->created_ns);
	em_put_le32(out + 17, s->uid);
	em_put_le32(out + 21, s->lease_ms);
	return seal(out, 25);
}

int em_meta_session_decode(const void *buf, size_t len, struct em_meta_session *out)
{
	const uint8_t *p = buf;
	size_t body;
	int rc = unseal(p, len, 21, &body);
	if (rc < 0)
		return rc;
	out->client_id = em_get_le64(p + 1);
	out->created_ns = (int64_t)em_get_le64(p + 9);
	out->uid = em_get_le32(p + 17);
	out->lease_ms = body >= 25 ? em_get_le32(p + 21) : 0;
	return 0;
}

size_t em_meta_client_rec_encode(const struct em_meta_client_rec *c, uint8_t *out)
{
	out[0] = RECORD_VERSION;
	em_put_le64(out + 1, (uint64_t)c->renewed_ns);
	em_put_le32(out + 9, c->lease_ms);
	return seal(out, 13);
}

int em_meta_client_rec_decode(const void *buf, size_t len, struct em_meta_client_rec *out)
{
	const uint8_t *p = buf;
	size_t body;
	int rc = unseal(p, len, 13, &body);
	if (rc < 0)
		return rc;
	out->renewed_ns = (int64_t)em_get_le64(p + 1);
	out->lease_ms = em_get_le32(p + 9);
	return 0;
}

int64_t em_meta_session_expiry(const struct em_meta_session *s,
			       const struct em_meta_client_rec *c, uint32_t fallback_ms)
{
	int64_t from = s->created_ns;
	uint32_t lease = s->lease_ms;
	if (c && c->renewed_ns > from)
		from = c->renewed_ns;
	if (c && c->lease_ms > lease)
		lease = c->lease_ms;
	if (!lease)
		lease = fallback_ms;
	return from + (int64_t)lease * 1000000;
}

size_t em_meta_gc_encode(const struct em_meta_gc_entry *g, uint8_t *out)
{
	out[0] = RECORD_VERSION;
	em_put_le64(out + 1, g->ino);
	em_put_le64(out + 9, g->length);
	put_layout(out + 17, &g->layout);
	em_put_le64(out + 45, (uint64_t)g->queued_ns);
	return seal(out, 53);
}

int em_meta_gc_decode(const void *buf, size_t len, struct em_meta_gc_entry *out)
{
	const uint8_t *p = buf;
	size_t body;
	int rc = unseal(p, len, 45, &body);
	if (rc < 0)
		return rc;
	out->ino = em_get_le64(p + 1);
	out->length = em_get_le64(p + 9);
	get_layout(p + 17, &out->layout);
	out->queued_ns = body >= 53 ? (int64_t)em_get_le64(p + 45) : 0;
	return layout_ok(&out->layout) ? 0 : -EUCLEAN;
}

size_t em_meta_u64_encode(uint64_t v, uint8_t *out)
{
	em_put_le64(out, v);
	return 8;
}

int em_meta_u64_decode(const void *buf, size_t len, uint64_t *out)
{
	if (len != 8)
		return -EUCLEAN;
	*out = em_get_le64(buf);
	return 0;
}

/* Lock record: version u8, count u16, count x {start u64, end u64, pid u32,
 * type u8}, CRC32C. */
size_t em_meta_lock_rec_encode(const struct em_meta_lock_rec *l, uint8_t *out)
{
	out[0] = RECORD_VERSION;
	em_put_le16(out + 1, (uint16_t)l->n);
	uint8_t *p = out + 3;
	for (uint32_t i = 0; i < l->n; i++, p += 21) {
		em_put_le64(p, l->r[i].start);
		em_put_le64(p + 8, l->r[i].end);
		em_put_le32(p + 16, l->r[i].pid);
		p[20] = l->r[i].type;
	}
	return seal(out, (size_t)(p - out));
}

int em_meta_lock_rec_decode(const void *buf, size_t len, struct em_meta_lock_rec *out)
{
	const uint8_t *p = buf;
	size_t body;
	int rc = unseal(p, len, 3, &body);
	if (rc < 0)
		return rc;
	uint32_t n = em_get_le16(p + 1);
	if (n == 0 || n > EM_META_LOCK_RANGES || body != 3 + (size_t)n * 21)
		return -EUCLEAN;
	p += 3;
	for (uint32_t i = 0; i < n; i++, p += 21) {
		struct em_meta_lock_range *r = &out->r[i];
		r->start = em_get_le64(p);
		r->end = em_get_le64(p + 8);
		r->pid = em_get_le32(p + 16);
		r->type = p[20];
		if (r->start > r->end || (r->type != EM_META_LOCK_RD && r->type != EM_META_LOCK_WR) ||
		    (i && r->start <= out->r[i - 1].end))
			return -EUCLEAN;
	}
	out->n = n;
	return 0;
}
