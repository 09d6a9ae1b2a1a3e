/* Payload encoding: round trips, and every decoder rejecting truncated,
 * oversized and corrupt input. */
#include <errno.h>
#include <stdlib.h>

#include "net/serde.h"
#include "tap.h"

/* A sample message as a service would define it, with a trailing field added
 * in "version 2". */
struct sample {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	int32_t e;
	char name[16];
	struct em_buf_desc buf;
	uint32_t v2_extra; /* appended later */
};

static size_t encode(const struct sample *s, uint8_t *out, size_t cap, bool v2)
{
	struct em_enc e;
	em_enc_init(&e, out, cap);
	em_enc_u8(&e, s->a);
	em_enc_u16(&e, s->b);
	em_enc_u32(&e, s->c);
	em_enc_u64(&e, s->d);
	em_enc_i32(&e, s->e);
	em_enc_str(&e, s->name);
	em_enc_desc(&e, &s->buf);
	if (v2)
		em_enc_u32(&e, s->v2_extra);
	return em_enc_error(&e) ? 0 : e.len;
}

static int decode(const uint8_t *p, size_t len, struct sample *s)
{
	struct em_dec d;
	em_dec_init(&d, p, len);
	s->a = em_dec_u8(&d);
	s->b = em_dec_u16(&d);
	s->c = em_dec_u32(&d);
	s->d = em_dec_u64(&d);
	s->e = em_dec_i32(&d);
	em_dec_str(&d, s->name, sizeof(s->name));
	em_dec_desc(&d, &s->buf);
	s->v2_extra = em_dec_remaining(&d) >= 4 ? em_dec_u32(&d) : 7;
	return em_dec_error(&d);
}

int main(void)
{
	struct sample in = { 0xab, 0xbeef, 0xdeadbeef, 0x0123456789abcdefull, -42, "chunk",
			     { 0x7fff00001000ull, 65536, 0x1234 }, 99 };
	uint8_t buf[128], v1[128];
	size_t n = encode(&in, buf, sizeof(buf), true);
	size_t n1 = encode(&in, v1, sizeof(v1), false);
	ok(n > 0 && n1 == n - 4, "encodes");
	is_int(buf[0], 0xab, "u8 first");
	is_int(buf[1], 0xef, "u16 little-endian");
	is_int(buf[2], 0xbe, "u16 high byte");

	struct sample out;
	is_int(decode(buf, n, &out), 0, "decodes");
	ok(out.a == in.a && out.b == in.b && out.c == in.c && out.d == in.d && out.e == in.e,
	   "integers round-trip");
	is_str(out.name, "chunk", "string round-trips");
	ok(out.buf.addr == in.buf.addr && out.buf.len == in.buf.len && out.buf.rkey == in.buf.rkey,
	   "descriptor round-trips");
	is_int(out.v2_extra, 99, "new field read by a new reader");
	is_int(decode(v1, n1, &out), 0, "new reader takes an old message");
	is_int(out.v2_extra, 7, "missing trailing field gets its default");

	/* An old reader ignores what it does not know. */
	struct em_dec d;
	em_dec_init(&d, buf, n);
	em_dec_u8(&d);
	is_int(em_dec_error(&d), 0, "old reader stops early without error");

	/* Every truncation fails, never reads past the end (ASan watches). */
	int bad = 0;
	for (size_t cut = 0; cut < n1; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, buf, cut);
		if (decode(t, cut, &out) != -EBADMSG)
			bad++;
		free(t);
	}
	is_int(bad, 0, "every truncated input is rejected");

	/* A string length beyond the buffer, or beyond the field, is refused. */
	uint8_t s1[] = { 0xff, 0xff, 0xff, 0x7f, 'x' };
	char name[16];
	em_dec_init(&d, s1, sizeof(s1));
	em_dec_str(&d, name, sizeof(name));
	is_int(em_dec_error(&d), -EBADMSG, "huge string length rejected");
	is_str(name, "", "output left empty");
	uint8_t s2[4 + 20] = { 20 };
	memset(s2 + 4, 'y', 20);
	em_dec_init(&d, s2, sizeof(s2));
	em_dec_str(&d, name, sizeof(name));
	is_int(em_dec_error(&d), -EBADMSG, "string longer than its field rejected");
	uint8_t s3[] = { 3, 0, 0, 0, 'a', 0, 'b' };
	em_dec_init(&d, s3, sizeof(s3));
	em_dec_str(&d, name, sizeof(name));
	is_int(em_dec_error(&d), -EBADMSG, "embedded NUL rejected");

	const void *p;
	uint32_t len;
	uint8_t b1[] = { 5, 0, 0, 0, 1, 2, 3, 4, 5 };
	em_dec_init(&d, b1, sizeof(b1));
	em_dec_bytes(&d, &p, &len, 4);
	ok(em_dec_error(&d) == -EBADMSG && p == NULL && len == 0, "bytes above max rejected");
	em_dec_init(&d, b1, sizeof(b1));
	em_dec_bytes(&d, &p, &len, 5);
	ok(em_dec_error(&d) == 0 && p == b1 + 4 && len == 5, "bytes point into the input");

	/* Errors are sticky: later reads return zero and keep the error. */
	em_dec_init(&d, b1, 2);
	em_dec_u32(&d);
	ok(em_dec_u8(&d) == 0 && em_dec_error(&d) == -EBADMSG && em_dec_remaining(&d) == 0,
	   "decoder error is sticky");

	/* Encoder overflow at every capacity. */
	bad = 0;
	for (size_t cap = 0; cap < n; cap++)
		if (encode(&in, buf, cap, true) != 0)
			bad++;
	is_int(bad, 0, "encoder reports overflow at every short capacity");
	struct em_enc e;
	em_enc_init(&e, buf, 2);
	em_enc_u32(&e, 1);
	em_enc_u8(&e, 1);
	ok(em_enc_error(&e) == -EMSGSIZE && e.len == 0, "encoder error is sticky");
	return tap_done();
}
