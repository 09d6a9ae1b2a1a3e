#include "net/serde.h"

#include <errno.h>
#include <string.h>

/* Reserves n bytes, or marks the encoder failed. */
static uint8_t *enc_take(struct em_enc *e, size_t n)
{
	if (e->err || n > e->cap - e->len) {
		e->err = -EMSGSIZE;
		return NULL;
	}
	uint8_t *p = e->buf + e->len;
	e->len += n;
	return p;
}

static const uint8_t *dec_take(struct em_dec *d, size_t n)
{
	if (d->err || n > d->len - d->off) {
		d->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = d->p + d->off;
	d->off += n;
	return p;
}

void em_enc_u8(struct em_enc *e, uint8_t v)
{
	uint8_t *p = enc_take(e, 1);
	if (p)
		*p = v;
}

void em_enc_u16(struct em_enc *e, uint16_t v)
{
	uint8_t *p = enc_take(e, 2);
	if (p)
		em_put_le16(p, v);
}

void em_enc_u32(struct em_enc *e, uint32_t v)
{
	uint8_t *p = enc_take(e, 4);
	if (p)
		em_put_le32(p, v);
}

void em_enc_u64(struct em_enc *e, uint64_t v)
{
	uint8_t *p = enc_take(e, 8);
	if (p)
		em_put_le64(p, v);
}

void em_enc_i32(struct em_enc *e, int32_t v)
{
	em_enc_u32(e, (uint32_t)v);
}

void em_enc_raw(struct em_enc *e, const void *src, size_t len)
{
	uint8_t *p = enc_take(e, len);
	if (p && len)
		memcpy(p, src, len);
}

void em_enc_bytes(struct em_enc *e, const void *src, uint32_t len)
{
	em_enc_u32(e, len);
	em_enc_raw(e, src, len);
}

void em_enc_str(struct em_enc *e, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT32_MAX) {
		e->err = -EMSGSIZE;
		return;
	}
	em_enc_bytes(e, s, (uint32_t)n);
}

void em_enc_desc(struct em_enc *e, const struct em_buf_desc *d)
{
	em_enc_u64(e, d->addr);
	em_enc_u32(e, d->len);
	em_enc_u32(e, d->rkey);
}

uint8_t em_dec_u8(struct em_dec *d)
{
	const uint8_t *p = dec_take(d, 1);
	return p ? *p : 0;
}

uint16_t em_dec_u16(struct em_dec *d)
{
	const uint8_t *p = dec_take(d, 2);
	return p ? em_get_le16(p) : 0;
}

uint32_t em_dec_u32(struct em_dec *d)
{
	const uint8_t *p = dec_take(d, 4);
	return p ? em_get_le32(p) : 0;
}

uint64_t em_dec_u64(struct em_dec *d)
{
	const uint8_t *p = dec_take(d, 8);
	return p ? em_get_le64(p) : 0;
}

int32_t em_dec_i32(struct em_dec *d)
{
	return (int32_t)em_dec_u32(d);
}

void em_dec_raw(struct em_dec *d, void *out, size_t len)
{
	const uint8_t *p = dec_take(d, len);
	if (p)
		memcpy(out, p, len);
	else
		memset(out, 0, len);
}

void em_dec_bytes(struct em_dec *d, const void **out, uint32_t *len, uint32_t max)
{
	uint32_t n = em_dec_u32(d);
	if (!d->err && n > max)
		d->err = -EBADMSG;
	const uint8_t *p = dec_take(d, n);
	*out = p;
	*len = p ? n : 0;
}

void em_dec_str(struct em_dec *d, char *out, size_t cap)
{
	const void *p;
	uint32_t n;
	out[0] = '\0';
	em_dec_bytes(d, &p, &n, cap ? (uint32_t)(cap - 1 < UINT32_MAX ? cap - 1 : UINT32_MAX) : 0);
	if (!p)
		return;
	if (memchr(p, '\0', n)) {
		d->err = -EBADMSG;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

void em_dec_desc(struct em_dec *d, struct em_buf_desc *out)
{
	out->addr = em_dec_u64(d);
	out->len = em_dec_u32(d);
	out->rkey = em_dec_u32(d);
}
