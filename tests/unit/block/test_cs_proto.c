/* The chunk service's READ results (block/service/proto.h): the CRC32C a
 * server sends with read bytes, and the client's check of what arrived. */
#include <string.h>

#include "block/service/proto.h"
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "tap.h"

int main(void)
{
	uint8_t data[6000], wire[256];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	struct em_cs_result sent[2] = { { .status = 0, .len = 5000 },
					{ .status = -EM_ECHECKSUM } }, got[2];
	sent[0].crc = em_crc32c(0, data, 5000);
	struct em_enc e;
	em_enc_init(&e, wire, sizeof(wire));
	em_cs_enc_results(&e, EM_CS_READ, sent, 2);
	uint32_t n = 0;
	is_int(em_cs_dec_results(wire, e.len, EM_CS_READ, got, 2, &n), 0, "READ results decode");
	ok(n == 2 && got[0].len == 5000 && got[0].has_crc && got[0].crc == sent[0].crc &&
	   got[1].status == -EM_ECHECKSUM, "count, length, CRC and a failed item's status");

	struct em_cs_result r = got[0];
	em_cs_read_result_check(&r, data, sizeof(data));
	is_int(r.status, 0, "bytes as they left: the item stands");
	data[4999] ^= 0x80;
	r = got[0];
	em_cs_read_result_check(&r, data, sizeof(data));
	is_int(r.status, -EM_ECHECKSUM, "a bit flipped on the way: EM_ECHECKSUM");
	data[4999] ^= 0x80;
	r = got[0];
	em_cs_read_result_check(&r, data, 4096);
	is_int(r.status, -EM_ECHECKSUM, "more bytes than asked: refused too");

	/* An older server: status and length only. */
	static const uint8_t old[] = { 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x64, 0, 0, 0 };
	is_int(em_cs_dec_results(old, sizeof(old), EM_CS_READ, got, 2, &n), 0,
	       "an older server's result decodes");
	ok(n == 1 && got[0].len == 100 && !got[0].has_crc, "without a CRC");
	r = got[0];
	em_cs_read_result_check(&r, data, sizeof(data));
	is_int(r.status, 0, "and is taken as it is");
	return tap_done();
}
