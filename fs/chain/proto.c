/* Chain service payloads (proto.h): every bound checked on decode. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fs/chain/proto.h"
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
