/* Chain service payloads (proto.h): every bound checked on decode. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fs/chain/proto.h"
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/serde.h"

static int enc_done(const struct em_enc *e)
{
	return em_enc_error(e) ? -EMSGSIZE : (int)e->len;
}

/* A chunk range must lie inside the largest chunk; checked in 64 bits so
 * offset + len cannot wrap. */
static int range_ok(uint32_t offset, uint32_t len)
{
	return (uint64_t)offset + len <= EM_CHUNK_MAX_SIZE;
}

/* Every request names its replica the same way (chain, the sender's view of
 * its version, the receiving target) and proto.h's structs keep those three
 * as separate members, so the helpers take the fields one by one. */
static void enc_replica(struct em_enc *e, uint32_t chain, uint64_t chain_ver, uint32_t target)
{
	em_enc_u32(e, chain);
	em_enc_u64(e, chain_ver);
	em_enc_u32(e, target);
}

static void dec_replica(struct em_dec *d, uint32_t *chain, uint64_t *chain_ver, uint32_t *target)
{
	*chain = em_dec_u32(d);
	*chain_ver = em_dec_u64(d);
	*target = em_dec_u32(d);
}

int em_chain_enc_update(void *buf, size_t cap, const struct em_chain_update_req *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	enc_replica(&e, r->chain, r->chain_ver, r->target);
	em_enc_raw(&e, r->id.b, sizeof(r->id.b));
	em_enc_u8(&e, r->op);
	em_enc_u32(&e, r->offset);
	em_enc_u32(&e, r->len);
	em_enc_u32(&e, r->crc);
	em_enc_u32(&e, r->update_ver);
	em_enc_u64(&e, r->client);
	em_enc_u32(&e, r->channel);
	em_enc_u64(&e, r->seq);
	em_enc_desc(&e, &r->buf);
	return enc_done(&e);
}

int em_chain_dec_update(const void *p, size_t len, struct em_chain_update_req *out)
{
	struct em_dec d;
	memset(out, 0, sizeof(*out));
	em_dec_init(&d, p, len);
	dec_replica(&d, &out->chain, &out->chain_ver, &out->target);
	em_dec_raw(&d, out->id.b, sizeof(out->id.b));
	out->op = em_dec_u8(&d);
	out->offset = em_dec_u32(&d);
	out->len = em_dec_u32(&d);
	out->crc = em_dec_u32(&d);
	out->update_ver = em_dec_u32(&d);
	out->client = em_dec_u64(&d);
	out->channel = em_dec_u32(&d);
	out->seq = em_dec_u64(&d);
	em_dec_desc(&d, &out->buf);
	bool bytes = out->op == EM_CHAIN_OP_WRITE || out->op == EM_CHAIN_OP_REPLACE;
	if (em_dec_error(&d) || out->op >= EM_CHAIN_OP_END || !range_ok(out->offset, out->len) ||
	    (bytes && out->buf.len != out->len) || (!bytes && (out->len || out->buf.len)) ||
	    (out->op == EM_CHAIN_OP_REPLACE && out->offset != 0))
		return -EBADMSG;
	return 0;
}

int em_chain_enc_update_rsp(void *buf, size_t cap, const struct em_chain_update_rsp *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_enc_u32(&e, r->commit_ver);
	em_enc_u32(&e, r->length);
	em_enc_u32(&e, r->crc);
	return enc_done(&e);
}

int em_chain_dec_update_rsp(const void *p, size_t len, struct em_chain_update_rsp *out)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	out->commit_ver = em_dec_u32(&d);
	out->length = em_dec_u32(&d);
	out->crc = em_dec_u32(&d);
	return em_dec_error(&d) ? -EBADMSG : 0;
}

int em_chain_enc_read(void *buf, size_t cap, const struct em_chain_read_req *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	enc_replica(&e, r->chain, r->chain_ver, r->target);
	em_enc_raw(&e, r->id.b, sizeof(r->id.b));
	em_enc_u32(&e, r->offset);
	em_enc_u32(&e, r->len);
	em_enc_desc(&e, &r->buf);
	return enc_done(&e);
}

int em_chain_dec_read(const void *p, size_t len, struct em_chain_read_req *out)
{
	struct em_dec d;
	memset(out, 0, sizeof(*out));
	em_dec_init(&d, p, len);
	dec_replica(&d, &out->chain, &out->chain_ver, &out->target);
	em_dec_raw(&d, out->id.b, sizeof(out->id.b));
	out->offset = em_dec_u32(&d);
	out->len = em_dec_u32(&d);
	em_dec_desc(&d, &out->buf);
	if (em_dec_error(&d) || !range_ok(out->offset, out->len) || out->buf.len != out->len)
		return -EBADMSG;
	return 0;
}

int em_chain_enc_read_rsp(void *buf, size_t cap, const struct em_chain_read_rsp *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_enc_u32(&e, r->bytes);
	if (r->has_crc)
		em_enc_u32(&e, r->crc);
	return enc_done(&e);
}

int em_chain_dec_read_rsp(const void *p, size_t len, struct em_chain_read_rsp *out)
{
	struct em_dec d;
	memset(out, 0, sizeof(*out));
	em_dec_init(&d, p, len);
	out->bytes = em_dec_u32(&d);
	out->has_crc = em_dec_remaining(&d) >= 4;
	if (out->has_crc)
		out->crc = em_dec_u32(&d);
	return em_dec_error(&d) || !range_ok(0, out->bytes) ? -EBADMSG : 0;
}

int em_chain_read_rsp_check(const struct em_chain_read_rsp *r, const void *buf, uint32_t cap)
{
	if (r->bytes > cap)
		return -EBADMSG;
	if (r->has_crc && r->bytes && em_crc32c(0, buf, r->bytes) != r->crc)
		return -EM_ECHECKSUM;
	return (int)r->bytes;
}

int em_chain_enc_sync_done(void *buf, size_t cap, const struct em_chain_sync_done *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	enc_replica(&e, r->chain, r->chain_ver, r->target);
	return enc_done(&e);
}

int em_chain_dec_sync_done(const void *p, size_t len, struct em_chain_sync_done *out)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	dec_replica(&d, &out->chain, &out->chain_ver, &out->target);
	return em_dec_error(&d) ? -EBADMSG : 0;
}

int em_chain_enc_scrub(void *buf, size_t cap, const struct em_chain_scrub_req *r)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_enc_u8(&e, r->op);
	em_enc_u32(&e, r->target);
	return enc_done(&e);
}

int em_chain_dec_scrub(const void *p, size_t len, struct em_chain_scrub_req *out)
{
	struct em_dec d;
	memset(out, 0, sizeof(*out));
	em_dec_init(&d, p, len);
	out->op = em_dec_u8(&d);
	out->target = em_dec_u32(&d);
	return em_dec_error(&d) || out->op >= EM_CHAIN_SCRUB_OP_END ? -EBADMSG : 0;
}

int em_chain_enc_scrub_rsp(void *buf, size_t cap, const struct em_chain_scrub_stat *s,
			   uint32_t n)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_enc_u32(&e, n);
	for (uint32_t i = 0; i < n; i++) {
		em_enc_u32(&e, s[i].target);
		em_enc_u8(&e, s[i].running);
		em_enc_u64(&e, s[i].chunks_done);
		em_enc_u64(&e, s[i].chunks_total);
		em_enc_u64(&e, s[i].bytes_done);
		em_enc_u64(&e, s[i].passes);
		em_enc_u64(&e, s[i].last_pass_ms);
		em_enc_u64(&e, s[i].errors);
		em_enc_u64(&e, s[i].repaired);
		em_enc_u64(&e, s[i].unrepairable);
		em_enc_u64(&e, s[i].divergent);
	}
	return enc_done(&e);
}

int em_chain_dec_scrub_rsp(const void *p, size_t len, struct em_chain_scrub_stat *out,
			   uint32_t max, uint32_t *n)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	uint32_t count = em_dec_u32(&d);
	if (em_dec_error(&d) || count > max)
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		struct em_chain_scrub_stat *s = &out[i];
		memset(s, 0, sizeof(*s));
		s->target = em_dec_u32(&d);
		s->running = em_dec_u8(&d);
		s->chunks_done = em_dec_u64(&d);
		s->chunks_total = em_dec_u64(&d);
		s->bytes_done = em_dec_u64(&d);
		s->passes = em_dec_u64(&d);
		s->last_pass_ms = em_dec_u64(&d);
		s->errors = em_dec_u64(&d);
		s->repaired = em_dec_u64(&d);
		s->unrepairable = em_dec_u64(&d);
		s->divergent = em_dec_u64(&d);
		if (em_dec_error(&d))
			return -EBADMSG;
	}
	*n = count;
	return 0;
}
