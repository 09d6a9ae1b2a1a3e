/* The metadata RPC payloads (layout in proto.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs/meta/proto.h"

/* Credentials, the longest name pair, the setattr block and the value. */
size_t em_meta_req_size(uint32_t vlen)
{
	return 12 + 4 * EM_META_NGROUPS_MAX + 8 * 8 + 4 * 8 + 2 * 4 +
	       (EM_META_XATTR_NAME_MAX + EM_META_SYMLINK_MAX) + 4 + (size_t)vlen;
}

uint32_t em_meta_flags_to_wire(int flags)
{
	uint32_t w = 0;
	if ((flags & O_ACCMODE) == O_WRONLY)
		w |= EM_META_WIRE_WRONLY;
	if ((flags & O_ACCMODE) == O_RDWR)
		w |= EM_META_WIRE_RDWR;
	w |= flags & O_CREAT ? EM_META_WIRE_CREAT : 0;
	w |= flags & O_EXCL ? EM_META_WIRE_EXCL : 0;
	w |= flags & O_TRUNC ? EM_META_WIRE_TRUNC : 0;
	return w;
}

int em_meta_flags_from_wire(uint32_t w)
{
	int f = w & EM_META_WIRE_RDWR ? O_RDWR : w & EM_META_WIRE_WRONLY ? O_WRONLY : O_RDONLY;
	f |= w & EM_META_WIRE_CREAT ? O_CREAT : 0;
	f |= w & EM_META_WIRE_EXCL ? O_EXCL : 0;
	f |= w & EM_META_WIRE_TRUNC ? O_TRUNC : 0;
	return f;
}

static void enc_cred(struct em_enc *e, const struct em_meta_cred *c)
{
	em_enc_u32(e, c->uid);
	em_enc_u32(e, c->gid);
	uint32_t n = c->ngroups < EM_META_NGROUPS_MAX ? c->ngroups : EM_META_NGROUPS_MAX;
	em_enc_u32(e, n);
	for (uint32_t i = 0; i < n; i++)
		em_enc_u32(e, c->groups[i]);
}

static void dec_cred(struct em_dec *d, struct em_meta_cred *c)
{
	c->uid = em_dec_u32(d);
	c->gid = em_dec_u32(d);
	c->ngroups = em_dec_u32(d);
	if (c->ngroups > EM_META_NGROUPS_MAX) {
		c->ngroups = 0;
		d->err = -EBADMSG;
		return;
	}
	for (uint32_t i = 0; i < c->ngroups; i++)
		c->groups[i] = em_dec_u32(d);
}

static void enc_setattr(struct em_enc *e, const struct em_meta_setattr *s)
{
	em_enc_u32(e, s->valid);
	em_enc_u32(e, s->mode);
	em_enc_u32(e, s->uid);
	em_enc_u32(e, s->gid);
	em_enc_u64(e, s->size);
	em_enc_u64(e, (uint64_t)s->atime_ns);
	em_enc_u64(e, (uint64_t)s->mtime_ns);
	em_enc_u64(e, s->session);
}

static void dec_setattr(struct em_dec *d, struct em_meta_setattr *s)
{
	s->valid = em_dec_u32(d);
	s->mode = em_dec_u32(d);
	s->uid = em_dec_u32(d);
	s->gid = em_dec_u32(d);
	s->size = em_dec_u64(d);
	s->atime_ns = (int64_t)em_dec_u64(d);
	s->mtime_ns = (int64_t)em_dec_u64(d);
	s->session = em_dec_remaining(d) ? em_dec_u64(d) : 0; /* appended */
}

/* Both directions walk the same per-method field list, so the table in
 * proto.h exists once in code: `dec` is NULL when encoding. */
struct codec {
	struct em_enc *e;
	struct em_dec *d;
	struct em_meta_req *r;
};

static void f_u64(struct codec *c, uint64_t *v)
{
	if (c->d)
		*v = em_dec_u64(c->d);
	else
		em_enc_u64(c->e, *v);
}

static void f_u32(struct codec *c, uint32_t *v)
{
	if (c->d)
		*v = em_dec_u32(c->d);
	else
		em_enc_u32(c->e, *v);
}

static void f_u8(struct codec *c, uint8_t *v)
{
	if (c->d)
		*v = em_dec_u8(c->d);
	else
		em_enc_u8(c->e, *v);
}

static void f_lock(struct codec *c, struct em_meta_lock *l)
{
	uint8_t test = l->test;
	f_u64(c, &l->client);
	f_u64(c, &l->owner);
	f_u64(c, &l->start);
	f_u64(c, &l->end);
	f_u32(c, &l->pid);
	f_u8(c, &l->type);
	f_u8(c, &l->kind);
	f_u8(c, &test);
	l->test = test != 0;
}

static void f_str(struct codec *c, char *s, size_t cap)
{
	if (c->d)
		em_dec_str(c->d, s, cap);
	else
		em_enc_str(c->e, s);
}

static void f_value(struct codec *c)
{
	struct em_meta_req *r = c->r;
	if (c->d)
		em_dec_bytes(c->d, &r->value, &r->vlen, EM_META_XATTR_SIZE_MAX);
	else
		em_enc_bytes(c->e, r->value, r->vlen);
}

#define NAME(c) f_str(c, (c)->r->name, EM_META_NAME_MAX + 1)

static int fields(struct codec *c, uint16_t method)
{
	struct em_meta_req *r = c->r;
	switch (method) {
	case EM_META_LOOKUP:
	case EM_META_UNLINK:
	case EM_META_RMDIR:
		f_u64(c, &r->ino);
		NAME(c);
		return 0;
	case EM_META_GETATTR:
	case EM_META_GC_DONE:
		f_u64(c, &r->ino);
		return 0;
	case EM_META_SETATTR:
		f_u64(c, &r->ino);
		if (c->d)
			dec_setattr(c->d, &r->sa);
		else
			enc_setattr(c->e, &r->sa);
		return 0;
	case EM_META_CREATE:
		f_u64(c, &r->ino);
		NAME(c);
		f_u32(c, &r->mode);
		f_u32(c, &r->flags);
		f_u64(c, &r->client);
		return 0;
	case EM_META_OPEN:
		f_u64(c, &r->ino);
		f_u32(c, &r->flags);
		f_u64(c, &r->client);
		return 0;
	case EM_META_CLOSE:
	case EM_META_SET_LENGTH:
		f_u64(c, &r->ino);
		f_u64(c, &r->session);
		f_u64(c, &r->length);
		/* Appended: a request without it wrote nothing it reports. */
		if (!c->d || em_dec_remaining(c->d))
			f_u32(c, &r->flags);
		return 0;
	case EM_META_MKDIR:
		f_u64(c, &r->ino);
		NAME(c);
		f_u32(c, &r->mode);
		return 0;
	case EM_META_SYMLINK:
		f_u64(c, &r->ino);
		NAME(c);
		f_str(c, r->name2, EM_META_SYMLINK_MAX + 1);
		return 0;
	case EM_META_LINK:
		f_u64(c, &r->ino);
		f_u64(c, &r->ino2);
		NAME(c);
		return 0;
	case EM_META_RENAME:
		f_u64(c, &r->ino);
		NAME(c);
		f_u64(c, &r->ino2);
		f_str(c, r->name2, EM_META_NAME_MAX + 1);
		f_u32(c, &r->flags);
		return 0;
	case EM_META_READLINK:
	case EM_META_LISTXATTR:
		f_u64(c, &r->ino);
		f_u32(c, &r->max);
		return 0;
	case EM_META_READDIR:
		f_u64(c, &r->ino);
		NAME(c);
		f_u32(c, &r->max);
		return 0;
	case EM_META_STATFS:
		return 0;
	case EM_META_GETXATTR:
		f_u64(c, &r->ino);
		f_str(c, r->name, EM_META_XATTR_NAME_MAX + 1);
		f_u32(c, &r->max);
		return 0;
	case EM_META_SETXATTR:
		f_u64(c, &r->ino);
		f_str(c, r->name, EM_META_XATTR_NAME_MAX + 1);
		f_value(c);
		f_u32(c, &r->flags);
		return 0;
	case EM_META_REMOVEXATTR:
		f_u64(c, &r->ino);
		f_str(c, r->name, EM_META_XATTR_NAME_MAX + 1);
		return 0;
	case EM_META_GC_LIST:
		f_u32(c, &r->max);
		return 0;
	case EM_META_RENEW:
		f_u64(c, &r->client);
		return 0;
	case EM_META_LOCK:
		f_u64(c, &r->ino);
		f_lock(c, &r->lock);
		return 0;
	case EM_META_MKNOD:
		f_u64(c, &r->ino);
		NAME(c);
		f_u32(c, &r->mode);
		f_u64(c, &r->rdev);
		return 0;
	default:
		return -ENOSYS;
	}
}

int em_meta_enc_req(struct em_enc *e, uint16_t method, const struct em_meta_req *r)
{
	/* The codec writes through r only when decoding. */
	struct codec c = { .e = e, .r = (struct em_meta_req *)r };
	enc_cred(e, &r->cred);
	int rc = fields(&c, method);
	return rc < 0 ? rc : em_enc_error(e);
}

int em_meta_dec_req(uint16_t method, const void *p, size_t len, struct em_meta_req *r)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	memset(r, 0, offsetof(struct em_meta_req, name));
	r->name[0] = r->name2[0] = '\0';
	r->value = NULL;
	r->vlen = 0;
	struct codec c = { .d = &d, .r = r };
	dec_cred(&d, &r->cred);
	int rc = fields(&c, method);
	if (rc < 0)
		return rc;
	return em_dec_error(&d) ? -EBADMSG : 0;
}

void em_meta_enc_layout(struct em_enc *e, const struct em_meta_layout *l)
{
	em_enc_u32(e, l->table_id);
	em_enc_u32(e, l->table_version);
	em_enc_u32(e, l->chunk_size);
	em_enc_u32(e, l->stripe);
	em_enc_u32(e, l->first_chain);
	em_enc_u64(e, l->seed);
}

void em_meta_dec_layout(struct em_dec *d, struct em_meta_layout *l)
{
	l->table_id = em_dec_u32(d);
	l->table_version = em_dec_u32(d);
	l->chunk_size = em_dec_u32(d);
	l->stripe = em_dec_u32(d);
	l->first_chain = em_dec_u32(d);
	l->seed = em_dec_u64(d);
}

void em_meta_enc_attr(struct em_enc *e, const struct em_meta_attr *a)
{
	em_enc_u64(e, a->ino);
	em_enc_u32(e, a->mode);
	em_enc_u32(e, a->uid);
	em_enc_u32(e, a->gid);
	em_enc_u32(e, a->nlink);
	em_enc_u64(e, a->size);
	em_enc_u64(e, (uint64_t)a->atime_ns);
	em_enc_u64(e, (uint64_t)a->mtime_ns);
	em_enc_u64(e, (uint64_t)a->ctime_ns);
	em_enc_u64(e, a->parent);
	em_meta_enc_layout(e, &a->layout);
}

void em_meta_dec_attr(struct em_dec *d, struct em_meta_attr *a)
{
	a->ino = em_dec_u64(d);
	a->mode = em_dec_u32(d);
	a->uid = em_dec_u32(d);
	a->gid = em_dec_u32(d);
	a->nlink = em_dec_u32(d);
	a->size = em_dec_u64(d);
	a->atime_ns = (int64_t)em_dec_u64(d);
	a->mtime_ns = (int64_t)em_dec_u64(d);
	a->ctime_ns = (int64_t)em_dec_u64(d);
	a->parent = em_dec_u64(d);
	em_meta_dec_layout(d, &a->layout);
}

void em_meta_enc_attr_rsp(struct em_enc *e, const struct em_meta_attr *a)
{
	em_meta_enc_attr(e, a);
	em_enc_u64(e, a->rdev);
}

void em_meta_enc_open_rsp(struct em_enc *e, const struct em_meta_open_res *r)
{
	em_meta_enc_attr(e, &r->attr);
	em_enc_u64(e, r->session);
	em_enc_u8(e, r->created);
}

void em_meta_enc_bytes_rsp(struct em_enc *e, uint32_t full, const void *p, uint32_t len)
{
	em_enc_u32(e, full);
	em_enc_bytes(e, p, len);
}

void em_meta_enc_readdir_rsp(struct em_enc *e, const struct em_meta_dirent *ents, size_t n,
			     bool eof)
{
	em_enc_u8(e, eof);
	em_enc_u32(e, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		em_enc_u64(e, ents[i].ino);
		em_enc_u32(e, ents[i].type);
		em_enc_str(e, ents[i].name);
	}
}

void em_meta_enc_statfs_rsp(struct em_enc *e, const struct em_meta_statfs *s)
{
	em_enc_u64(e, s->bsize);
	em_enc_u64(e, s->blocks);
	em_enc_u64(e, s->bfree);
	em_enc_u64(e, s->bavail);
	em_enc_u64(e, s->files);
	em_enc_u64(e, s->ffree);
	em_enc_u32(e, s->namemax);
}

void em_meta_enc_gc_list_rsp(struct em_enc *e, const struct em_meta_gc_entry *ents, size_t n)
{
	em_enc_u32(e, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		em_enc_u64(e, ents[i].ino);
		em_enc_u64(e, ents[i].length);
		em_meta_enc_layout(e, &ents[i].layout);
	}
}

void em_meta_enc_lock_rsp(struct em_enc *e, const struct em_meta_lock_range *r)
{
	em_enc_u64(e, r->start);
	em_enc_u64(e, r->end);
	em_enc_u32(e, r->pid);
	em_enc_u8(e, r->type);
}

int em_meta_dec_lock_rsp(const void *p, size_t len, struct em_meta_lock_range *out)
{
	struct em_dec d;
	struct em_meta_lock_range r;
	em_dec_init(&d, p, len);
	r.start = em_dec_u64(&d);
	r.end = em_dec_u64(&d);
	r.pid = em_dec_u32(&d);
	r.type = em_dec_u8(&d);
	if (em_dec_error(&d) || r.type > EM_META_LOCK_WR)
		return -EBADMSG;
	*out = r;
	return 0;
}

int em_meta_dec_attr_rsp(const void *p, size_t len, struct em_meta_attr *out)
{
	struct em_dec d;
	struct em_meta_attr a;
	em_dec_init(&d, p, len);
	em_meta_dec_attr(&d, &a);
	a.rdev = em_dec_remaining(&d) ? em_dec_u64(&d) : 0;
	if (em_dec_error(&d))
		return -EBADMSG;
	*out = a;
	return 0;
}

int em_meta_dec_open_rsp(const void *p, size_t len, struct em_meta_open_res *out)
{
	struct em_dec d;
	struct em_meta_open_res r;
	em_dec_init(&d, p, len);
	em_meta_dec_attr(&d, &r.attr);
	r.attr.rdev = 0;           /* only regular files open */
	r.session = em_dec_u64(&d);
	r.created = em_dec_u8(&d) != 0;
	if (em_dec_error(&d))
		return -EBADMSG;
	*out = r;
	return 0;
}

int em_meta_dec_bytes_rsp(const void *p, size_t len, void *buf, size_t cap)
{
	struct em_dec d;
	const void *b;
	uint32_t n;
	em_dec_init(&d, p, len);
	uint32_t full = em_dec_u32(&d);
	em_dec_bytes(&d, &b, &n, UINT32_MAX);
	/* The server never sends more than the caller's buffer or the full size. */
	if (em_dec_error(&d) || n > cap || n > full || full > INT32_MAX)
		return -EBADMSG;
	if (n)
		memcpy(buf, b, n);
	return (int)full;
}

int em_meta_dec_readdir_rsp(const void *p, size_t len, struct em_meta_dirent *ents, size_t max,
			    size_t *n, bool *eof)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	bool end = em_dec_u8(&d) != 0;
	uint32_t count = em_dec_u32(&d);
	if (em_dec_error(&d) || count > max)
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		ents[i].ino = em_dec_u64(&d);
		ents[i].type = em_dec_u32(&d);
		em_dec_str(&d, ents[i].name, sizeof(ents[i].name));
	}
	if (em_dec_error(&d))
		return -EBADMSG;
	*n = count;
	*eof = end;
	return 0;
}

int em_meta_dec_statfs_rsp(const void *p, size_t len, struct em_meta_statfs *out)
{
	struct em_dec d;
	struct em_meta_statfs s;
	em_dec_init(&d, p, len);
	s.bsize = em_dec_u64(&d);
	s.blocks = em_dec_u64(&d);
	s.bfree = em_dec_u64(&d);
	s.bavail = em_dec_u64(&d);
	s.files = em_dec_u64(&d);
	s.ffree = em_dec_u64(&d);
	s.namemax = em_dec_u32(&d);
	if (em_dec_error(&d))
		return -EBADMSG;
	*out = s;
	return 0;
}

int em_meta_dec_gc_list_rsp(const void *p, size_t len, struct em_meta_gc_entry *ents,
			    size_t max, size_t *n)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	uint32_t count = em_dec_u32(&d);
	if (em_dec_error(&d) || count > max)
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		ents[i].ino = em_dec_u64(&d);
		ents[i].length = em_dec_u64(&d);
		em_meta_dec_layout(&d, &ents[i].layout);
	}
	if (em_dec_error(&d))
		return -EBADMSG;
	*n = count;
	return 0;
}
