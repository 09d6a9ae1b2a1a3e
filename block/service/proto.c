/* Chunk service payloads: encode and decode, every bound checked (proto.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/service/proto.h"
#include "ember/errors.h"
#include "net/core/crc32c.h"

/* Largest encoded item/result/record; anything longer is malformed. */
#define ITEM_MAX 128
#define META_WIRE (16 + 7 * 4)

static const char *const method_names[EM_CS_METHOD_END] = {
	[EM_CS_READ] = "read",     [EM_CS_WRITE] = "write",  [EM_CS_COMMIT] = "commit",
	[EM_CS_REMOVE] = "remove", [EM_CS_TRUNCATE] = "truncate", [EM_CS_QUERY] = "query",
	[EM_CS_LIST] = "list",     [EM_CS_STATS] = "stats",
};

const char *em_cs_method_name(uint16_t method)
{
	if (method < EM_CS_METHOD_END && method_names[method])
		return method_names[method];
	return "unknown";
}

size_t em_cs_items_size(uint32_t n)
{
	return 4 + (size_t)n * (4 + ITEM_MAX);
}

size_t em_cs_results_size(uint32_t n)
{
	return 4 + (size_t)n * (4 + 8 + 1 + META_WIRE);
}

static void enc_meta(struct em_enc *e, const struct em_chunk_meta *m)
{
	em_enc_raw(e, m->id.b, 16);
	em_enc_u32(e, m->chain_ver);
	em_enc_u32(e, m->commit_ver);
	em_enc_u32(e, m->pending_ver);
	em_enc_u32(e, m->length);
	em_enc_u32(e, m->crc);
	em_enc_u32(e, m->pending_length);
	em_enc_u32(e, m->pending_crc);
}

static void dec_meta(struct em_dec *d, struct em_chunk_meta *m)
{
	memset(m, 0, sizeof(*m));
	em_dec_raw(d, m->id.b, 16);
	m->chain_ver = em_dec_u32(d);
	m->commit_ver = em_dec_u32(d);
	m->pending_ver = em_dec_u32(d);
	m->length = em_dec_u32(d);
	m->crc = em_dec_u32(d);
	m->pending_length = em_dec_u32(d);
	m->pending_crc = em_dec_u32(d);
}

/* Each element travels as u32 length + fields: the length is patched in
 * after the fields are written. */
static size_t enc_open(struct em_enc *e)
{
	em_enc_u32(e, 0);
	return e->len;
}

static void enc_close(struct em_enc *e, size_t start)
{
	if (!e->err)
		em_put_le32(e->buf + start - 4, (uint32_t)(e->len - start));
}

static void enc_item(struct em_enc *e, uint16_t method, const struct em_cs_item *it)
{
	size_t start = enc_open(e);
	em_enc_u32(e, it->target);
	em_enc_raw(e, it->id.b, 16);
	switch (method) {
	case EM_CS_READ:
		em_enc_u32(e, it->offset);
		em_enc_u32(e, it->len);
		em_enc_u32(e, it->flags);
		em_enc_desc(e, &it->buf);
		break;
	case EM_CS_WRITE:
		em_enc_u32(e, it->offset);
		em_enc_u32(e, it->len);
		em_enc_u32(e, it->ver);
		em_enc_u32(e, it->chain_ver);
		em_enc_u32(e, it->flags);
		em_enc_u32(e, it->crc);
		em_enc_desc(e, &it->buf);
		break;
	case EM_CS_TRUNCATE:
		em_enc_u32(e, it->len);
		em_enc_u32(e, it->ver);
		em_enc_u32(e, it->chain_ver);
		em_enc_u32(e, it->flags);
		break;
	case EM_CS_COMMIT:
		em_enc_u32(e, it->ver);
		break;
	default: /* REMOVE, QUERY: target and id only */
		break;
	}
	enc_close(e, start);
}

static void dec_item(struct em_dec *d, uint16_t method, struct em_cs_item *it)
{
	memset(it, 0, sizeof(*it));
	it->target = em_dec_u32(d);
	em_dec_raw(d, it->id.b, 16);
	switch (method) {
	case EM_CS_READ:
		it->offset = em_dec_u32(d);
		it->len = em_dec_u32(d);
		it->flags = em_dec_u32(d);
		em_dec_desc(d, &it->buf);
		break;
	case EM_CS_WRITE:
		it->offset = em_dec_u32(d);
		it->len = em_dec_u32(d);
		it->ver = em_dec_u32(d);
		it->chain_ver = em_dec_u32(d);
		it->flags = em_dec_u32(d);
		it->crc = em_dec_u32(d);
		em_dec_desc(d, &it->buf);
		break;
	case EM_CS_TRUNCATE:
		it->len = em_dec_u32(d);
		it->ver = em_dec_u32(d);
		it->chain_ver = em_dec_u32(d);
		it->flags = em_dec_u32(d);
		break;
	case EM_CS_COMMIT:
		it->ver = em_dec_u32(d);
		break;
	default:
		break;
	}
}

static bool batched(uint16_t method)
{
	return method >= EM_CS_READ && method <= EM_CS_QUERY;
}

void em_cs_enc_items(struct em_enc *e, uint16_t method, const struct em_cs_item *items, uint32_t n)
{
	em_enc_u32(e, n);
	for (uint32_t i = 0; i < n; i++)
		enc_item(e, method, &items[i]);
}

/* Opens element i of a counted sequence as a sub-decoder over its bytes. */
static void dec_elem(struct em_dec *d, struct em_dec *sub)
{
	const void *p;
	uint32_t len;
	em_dec_bytes(d, &p, &len, ITEM_MAX);
	em_dec_init(sub, p, len);
	if (em_dec_error(d))
		sub->err = -EBADMSG;
}

/* Reads the count and checks that many elements (at least their length
 * prefix) can fit in what is left, before anything is allocated. */
static int dec_count(struct em_dec *d, uint32_t limit, uint32_t *n)
{
	*n = em_dec_u32(d);
	if (em_dec_error(d))
		return -EBADMSG;
	if (*n > limit)
		return -E2BIG;
	if ((uint64_t)*n * 4 > em_dec_remaining(d))
		return -EBADMSG;
	return 0;
}

int em_cs_dec_items(const void *p, size_t len, uint16_t method, struct em_cs_item **out,
		    uint32_t *n)
{
	struct em_dec d;
	*out = NULL;
	*n = 0;
	if (!batched(method))
		return -EINVAL;
	em_dec_init(&d, p, len);
	uint32_t count;
	int rc = dec_count(&d, EM_CS_MAX_BATCH, &count);
	if (rc)
		return rc;
	struct em_cs_item *items = calloc(count ? count : 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		struct em_dec sub;
		dec_elem(&d, &sub);
		dec_item(&sub, method, &items[i]);
		if (em_dec_error(&sub)) {
			free(items);
			return -EBADMSG;
		}
	}
	*out = items;
	*n = count;
	return 0;
}

void em_cs_enc_results(struct em_enc *e, uint16_t method, const struct em_cs_result *res, uint32_t n)
{
	em_enc_u32(e, n);
	for (uint32_t i = 0; i < n; i++) {
		size_t start = enc_open(e);
		em_enc_i32(e, res[i].status);
		if (method == EM_CS_READ) {
			em_enc_u32(e, res[i].len);
			em_enc_u32(e, res[i].crc);
		} else {
			em_enc_u8(e, res[i].has_meta ? 1 : 0);
			if (res[i].has_meta)
				enc_meta(e, &res[i].meta);
		}
		enc_close(e, start);
	}
}

int em_cs_dec_results(const void *p, size_t len, uint16_t method, struct em_cs_result *out,
		      uint32_t max, uint32_t *n)
{
	struct em_dec d;
	*n = 0;
	em_dec_init(&d, p, len);
	uint32_t count;
	int rc = dec_count(&d, max < EM_CS_MAX_BATCH ? max : EM_CS_MAX_BATCH, &count);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < count; i++) {
		struct em_dec sub;
		struct em_cs_result *r = &out[i];
		memset(r, 0, sizeof(*r));
		dec_elem(&d, &sub);
		r->status = em_dec_i32(&sub);
		if (method == EM_CS_READ) {
			r->len = em_dec_u32(&sub);
			r->has_crc = em_dec_remaining(&sub) >= 4;
			if (r->has_crc)
				r->crc = em_dec_u32(&sub);
		} else {
			uint8_t has = em_dec_u8(&sub);
			if (has > 1)
				return -EBADMSG;
			r->has_meta = has == 1;
			if (r->has_meta)
				dec_meta(&sub, &r->meta);
		}
		if (em_dec_error(&sub) || r->status > 0)
			return -EBADMSG;
	}
	*n = count;
	return 0;
}

void em_cs_enc_list_req(struct em_enc *e, const struct em_cs_list_req *r)
{
	em_enc_u32(e, r->target);
	em_enc_u8(e, r->has_after ? 1 : 0);
	em_enc_raw(e, r->after.b, 16);
	em_enc_u32(e, r->max);
}

int em_cs_dec_list_req(const void *p, size_t len, struct em_cs_list_req *out)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	memset(out, 0, sizeof(*out));
	out->target = em_dec_u32(&d);
	uint8_t has = em_dec_u8(&d);
	em_dec_raw(&d, out->after.b, 16);
	out->max = em_dec_u32(&d);
	if (em_dec_error(&d) || has > 1)
		return -EBADMSG;
	out->has_after = has == 1;
	if (out->max == 0 || out->max > EM_CS_MAX_LIST)
		return -E2BIG;
	return 0;
}

void em_cs_enc_metas(struct em_enc *e, const struct em_chunk_meta *m, uint32_t n)
{
	em_enc_u32(e, n);
	for (uint32_t i = 0; i < n; i++) {
		size_t start = enc_open(e);
		enc_meta(e, &m[i]);
		enc_close(e, start);
	}
}

int em_cs_dec_metas(const void *p, size_t len, struct em_chunk_meta *out, uint32_t max,
		    uint32_t *n)
{
	struct em_dec d;
	*n = 0;
	em_dec_init(&d, p, len);
	uint32_t count;
	int rc = dec_count(&d, max < EM_CS_MAX_LIST ? max : EM_CS_MAX_LIST, &count);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < count; i++) {
		struct em_dec sub;
		dec_elem(&d, &sub);
		dec_meta(&sub, &out[i]);
		if (em_dec_error(&sub))
			return -EBADMSG;
	}
	*n = count;
	return 0;
}

void em_cs_enc_stats(struct em_enc *e, const struct em_cs_target_stats *s, uint32_t n)
{
	em_enc_u32(e, n);
	for (uint32_t i = 0; i < n; i++) {
		size_t start = enc_open(e);
		em_enc_u32(e, s[i].target);
		em_enc_str(e, s[i].name);
		em_enc_u8(e, s[i].state);
		em_enc_u32(e, s[i].block_size);
		em_enc_u64(e, s[i].dev_size);
		em_enc_u32(e, s[i].data_segments);
		em_enc_u32(e, s[i].free_segments);
		em_enc_u64(e, s[i].chunks);
		em_enc_u64(e, s[i].bytes);
		em_enc_u32(e, s[i].log_pages);
		em_enc_u64(e, s[i].log_used);
		enc_close(e, start);
	}
}

int em_cs_dec_stats(const void *p, size_t len, struct em_cs_target_stats *out, uint32_t max,
		    uint32_t *n)
{
	struct em_dec d;
	*n = 0;
	em_dec_init(&d, p, len);
	uint32_t count;
	int rc = dec_count(&d, max < EM_CS_MAX_TARGETS ? max : EM_CS_MAX_TARGETS, &count);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < count; i++) {
		struct em_dec sub;
		struct em_cs_target_stats *s = &out[i];
		memset(s, 0, sizeof(*s));
		dec_elem(&d, &sub);
		s->target = em_dec_u32(&sub);
		em_dec_str(&sub, s->name, sizeof(s->name));
		s->state = em_dec_u8(&sub);
		s->block_size = em_dec_u32(&sub);
		s->dev_size = em_dec_u64(&sub);
		s->data_segments = em_dec_u32(&sub);
		s->free_segments = em_dec_u32(&sub);
		s->chunks = em_dec_u64(&sub);
		s->bytes = em_dec_u64(&sub);
		s->log_pages = em_dec_u32(&sub);
		s->log_used = em_dec_u64(&sub);
		if (em_dec_error(&sub) || s->state > EM_CS_OFFLINE)
			return -EBADMSG;
	}
	*n = count;
	return 0;
}

void em_cs_id_fmt(const struct em_chunk_id *id, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[32] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int em_cs_id_parse(const char *s, struct em_chunk_id *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = strlen(s);
	if (n == 32) {
		for (int i = 0; i < 16; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			out->b[i] = (uint8_t)(hi << 4 | lo);
		}
		return 0;
	}
	if (n == 0 || n > 20)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -ERANGE;
	}
	for (int i = 0; i < 8; i++)
		out->b[8 + i] = (uint8_t)(v >> (56 - 8 * i));
	return 0;
}

void em_cs_read_result_check(struct em_cs_result *r, const void *data, uint32_t asked)
{
	if (r->status == 0 && r->len &&
	    (r->len > asked || (r->has_crc && em_crc32c(0, data, r->len) != r->crc)))
		r->status = -EM_ECHECKSUM;
}
