/* libFuzzer: the payload decoders (net/serde.h). The first byte picks a
 * sequence of field reads, the rest is the payload; every read must stay in
 * bounds (ASan) and a failed decode must leave the decoder in its sticky
 * error state. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/serde.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned plan = data[0];
	struct em_dec d;
	em_dec_init(&d, data + 1, size - 1);
	char name[32];
	const void *p;
	uint32_t len;
	struct em_buf_desc desc;
	uint8_t raw[24];
	for (int i = 0; i < 16; i++) {
		switch ((plan + (unsigned)i * 7) % 9) {
		case 0: em_dec_u8(&d); break;
		case 1: em_dec_u16(&d); break;
		case 2: em_dec_u32(&d); break;
		case 3: em_dec_u64(&d); break;
		case 4: em_dec_i32(&d); break;
		case 5: em_dec_str(&d, name, sizeof(name)); break;
		case 6:
			em_dec_bytes(&d, &p, &len, 1024);
			if (p && (const uint8_t *)p + len > data + size)
				abort();
			break;
		case 7: em_dec_desc(&d, &desc); break;
		case 8: em_dec_raw(&d, raw, sizeof(raw)); break;
		}
	}
	if (em_dec_error(&d) && (em_dec_error(&d) != -EBADMSG || em_dec_remaining(&d) != 0))
		abort();
	if (!em_dec_error(&d) && d.off > d.len)
		abort();
	return 0;
}
