/* Explicit little-endian encoding of RPC payloads.
 *
 * Every message type has a pair of hand-written functions that put and get
 * its fields in order with these helpers. Errors are sticky: after the first
 * overflow (encoder) or short read (decoder) every further call is a no-op and
 * em_enc_error()/em_dec_error() report it, so a decode function reads all its
 * fields and checks once at the end.
 *
 * Compatibility: fields are only ever appended. An old reader stops after the
 * fields it knows and ignores the rest; a new reader of an old message checks
 * em_dec_remaining() before optional trailing fields.
 */
#ifndef EMBER_NET_SERDE_H
#define EMBER_NET_SERDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/mr.h"

struct em_enc {
	uint8_t *buf;
	size_t cap, len;
	int err; /* 0 or -EMSGSIZE */
};

struct em_dec {
	const uint8_t *p;
	size_t len, off;
	int err; /* 0 or -EBADMSG */
};

static inline void em_enc_init(struct em_enc *e, void *buf, size_t cap)
{
	e->buf = buf;
	e->cap = cap;
	e->len = 0;
	e->err = 0;
}

static inline void em_dec_init(struct em_dec *d, const void *p, size_t len)
{
	d->p = p;
	d->len = len;
	d->off = 0;
	d->err = 0;
}

static inline int em_enc_error(const struct em_enc *e) { return e->err; }
static inline int em_dec_error(const struct em_dec *d) { return d->err; }
static inline size_t em_dec_remaining(const struct em_dec *d) { return d->err ? 0 : d->len - d->off; }

void em_enc_u8(struct em_enc *e, uint8_t v);
void em_enc_u16(struct em_enc *e, uint16_t v);
void em_enc_u32(struct em_enc *e, uint32_t v);
void em_enc_u64(struct em_enc *e, uint64_t v);
void em_enc_i32(struct em_enc *e, int32_t v);
void em_enc_raw(struct em_enc *e, const void *p, size_t len);  /* fixed size, no length */
void em_enc_bytes(struct em_enc *e, const void *p, uint32_t len); /* u32 length + bytes */
void em_enc_str(struct em_enc *e, const char *s);               /* em_enc_bytes of strlen */
void em_enc_desc(struct em_enc *e, const struct em_buf_desc *d); /* addr u64, len u32, rkey u32 */

uint8_t em_dec_u8(struct em_dec *d);
uint16_t em_dec_u16(struct em_dec *d);
uint32_t em_dec_u32(struct em_dec *d);
uint64_t em_dec_u64(struct em_dec *d);
int32_t em_dec_i32(struct em_dec *d);
void em_dec_raw(struct em_dec *d, void *out, size_t len);
/* Points into the input (no copy); rejects a length above max or beyond the
 * end. *p is NULL and *len 0 on error. */
void em_dec_bytes(struct em_dec *d, const void **p, uint32_t *len, uint32_t max);
/* Copies into out[cap] with a terminating NUL; rejects embedded NULs and
 * strings that do not fit. */
void em_dec_str(struct em_dec *d, char *out, size_t cap);
void em_dec_desc(struct em_dec *d, struct em_buf_desc *out);

/* Little-endian loads and stores for fixed layouts (headers). */
static inline void em_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void em_put_le32(uint8_t *p, uint32_t v)
{
	em_put_le16(p, (uint16_t)v);
	em_put_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void em_put_le64(uint8_t *p, uint64_t v)
{
	em_put_le32(p, (uint32_t)v);
	em_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t em_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t em_get_le32(const uint8_t *p)
{
	return em_get_le16(p) | (uint32_t)em_get_le16(p + 2) << 16;
}
static inline uint64_t em_get_le64(const uint8_t *p)
{
	return em_get_le32(p) | (uint64_t)em_get_le32(p + 4) << 32;
}

#endif
