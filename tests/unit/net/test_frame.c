/* RPC frame header: layout, and rejection of anything truncated, oversized
 * or corrupt. */
#include <errno.h>
#include <stdlib.h>

#include "ember/errors.h"
#include "net/frame.h"
#include "net/serde.h"
#include "tap.h"

int main(void)
{
	const char payload[] = "hello, chunk service";
	struct em_frame_hdr h = { .flags = EM_FRAME_RESPONSE, .service = 3, .method = 7,
				  .timeout_ms = 1500, .id = 0x1122334455667788ull, .status = -EM_EVERSION,
				  .len = sizeof(payload) };
	uint8_t msg[EM_FRAME_HDR + sizeof(payload)];
	em_frame_encode(&h, payload, msg);
	memcpy(msg + EM_FRAME_HDR, payload, sizeof(payload));

	is_int(em_get_le32(msg), EM_FRAME_MAGIC, "magic first, little-endian");
	is_int(msg[4], EM_FRAME_VERSION, "version at 4");
	is_int(em_get_le16(msg + 6), 3, "service at 6");
	is_int(em_get_le64(msg + 16), 0x1122334455667788ull, "request id at 16");
	is_int(em_get_le32(msg + 28), sizeof(payload), "length at 28");

	struct em_frame_hdr o;
	const void *p;
	is_int(em_frame_decode(msg, sizeof(msg), &o, &p), 0, "decodes");
	ok(o.flags == h.flags && o.service == 3 && o.method == 7 && o.timeout_ms == 1500 &&
	   o.id == h.id && o.status == -EM_EVERSION && o.len == sizeof(payload), "fields round-trip");
	ok(p == msg + EM_FRAME_HDR, "payload points into the message");

	/* Every flipped bit is caught: by the CRC or by a field check. */
	int missed = 0;
	for (size_t bit = 0; bit < sizeof(msg) * 8; bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (em_frame_decode(msg, sizeof(msg), &o, &p) == 0)
			missed++;
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	is_int(missed, 0, "every single-bit corruption is rejected");

	/* Truncated or extended messages. */
	int bad = 0;
	for (size_t len = 0; len < sizeof(msg); len++) {
		uint8_t *t = malloc(len ? len : 1);
		memcpy(t, msg, len);
		if (em_frame_decode(t, len, &o, &p) == 0)
			bad++;
		free(t);
	}
	is_int(bad, 0, "every truncation is rejected");
	uint8_t longer[sizeof(msg) + 1];
	memcpy(longer, msg, sizeof(msg));
	is_int(em_frame_decode(longer, sizeof(longer), &o, &p), -EBADMSG, "trailing bytes rejected");

	/* A newer protocol version is named as such, not as corruption. */
	msg[4] = EM_FRAME_VERSION + 1;
	is_int(em_frame_decode(msg, sizeof(msg), &o, &p), -EM_EPROTO_VERSION, "version mismatch");
	msg[4] = EM_FRAME_VERSION;
	msg[EM_FRAME_HDR] ^= 0x20;
	is_int(em_frame_decode(msg, sizeof(msg), &o, &p), -EM_ECHECKSUM, "payload corruption");

	/* An empty payload is a valid frame. */
	struct em_frame_hdr e = { .service = 1, .method = 1, .id = 1 };
	uint8_t em[EM_FRAME_HDR];
	em_frame_encode(&e, NULL, em);
	is_int(em_frame_decode(em, sizeof(em), &o, &p), 0, "empty payload");
	return tap_done();
}
