/* The chain service's READ answer and SCRUB payloads (fs/chain/proto.h): a
 * reader must catch bytes that arrived unlike they left, and bad answers are
 * refused, never trusted. */
#include <errno.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/chain/proto.h"
#include "net/core/crc32c.h"
#include "tap.h"

static void test_read_rsp(void)
{
	uint8_t data[10000], wire[16];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	struct em_chain_read_rsp r = { 9000, true, em_crc32c(0, data, 9000) }, got;
	int n = em_chain_enc_read_rsp(wire, sizeof(wire), &r);
	is_int(n, 8, "answer: bytes and CRC");
	is_int(em_chain_dec_read_rsp(wire, (size_t)n, &got), 0, "decodes");
	ok(got.bytes == 9000 && got.has_crc && got.crc == r.crc, "fields survive");
	is_int(em_chain_read_rsp_check(&got, data, sizeof(data)), 9000, "bytes as sent: their count");
	data[4321] ^= 0x08;
	is_int(em_chain_read_rsp_check(&got, data, sizeof(data)), -EM_ECHECKSUM,
	       "one bit flipped on the way: EM_ECHECKSUM");
	data[4321] ^= 0x08;
	is_int(em_chain_read_rsp_check(&got, data, 8999), -EBADMSG, "more bytes than asked: refused");
	is_int(em_chain_dec_read_rsp(wire, 4, &got), 0, "an older server's count alone decodes");
	ok(!got.has_crc, "without a CRC");
	is_int(em_chain_read_rsp_check(&got, data, sizeof(data)), 9000, "and is taken as it is");
	is_int(em_chain_dec_read_rsp(wire, 3, &got), -EBADMSG, "a short answer is refused");
	struct em_chain_read_rsp huge = { EM_CHUNK_MAX_SIZE + 1, false, 0 };
	n = em_chain_enc_read_rsp(wire, sizeof(wire), &huge);
	is_int(em_chain_dec_read_rsp(wire, (size_t)n, &got), -EBADMSG, "beyond a chunk: refused");
}

static void test_scrub(void)
{
	uint8_t wire[EM_CHAIN_SCRUB_RSP_SIZE];
	struct em_chain_scrub_req q = { EM_CHAIN_SCRUB_START, 1001 }, qq;
	int n = em_chain_enc_scrub(wire, sizeof(wire), &q);
	is_int(em_chain_dec_scrub(wire, (size_t)n, &qq), 0, "scrub request decodes");
	ok(qq.op == EM_CHAIN_SCRUB_START && qq.target == 1001, "its fields");
	wire[0] = EM_CHAIN_SCRUB_OP_END;
	is_int(em_chain_dec_scrub(wire, (size_t)n, &qq), -EBADMSG, "unknown op refused");

	struct em_chain_scrub_stat s[2] = {
		{ .target = 1001, .running = 1, .chunks_done = 5, .chunks_total = 9, .bytes_done = 77,
		  .passes = 2, .last_pass_ms = 123456, .errors = 3, .repaired = 2, .unrepairable = 1,
		  .divergent = 4 },
		{ .target = 1002 },
	}, g[2];
	uint32_t cnt = 0;
	n = em_chain_enc_scrub_rsp(wire, sizeof(wire), s, 2);
	is_int(em_chain_dec_scrub_rsp(wire, (size_t)n, g, 2, &cnt), 0, "scrub answer decodes");
	ok(cnt == 2 && g[0].target == 1001 && g[0].running && g[0].chunks_done == 5 &&
	   g[0].chunks_total == 9 && g[0].bytes_done == 77 && g[0].passes == 2 &&
	   g[0].last_pass_ms == 123456 && g[0].errors == 3 && g[0].repaired == 2 &&
	   g[0].unrepairable == 1 && g[0].divergent == 4 && g[1].target == 1002, "every field");
	is_int(em_chain_dec_scrub_rsp(wire, (size_t)n, g, 1, &cnt), -EBADMSG,
	       "more records than room: refused");
	is_int(em_chain_dec_scrub_rsp(wire, (size_t)n - 1, g, 2, &cnt), -EBADMSG,
	       "a cut record: refused");
}

int main(void)
{
	test_read_rsp();
	test_scrub();
	return tap_done();
}
