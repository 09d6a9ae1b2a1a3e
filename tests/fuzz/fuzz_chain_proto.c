/* libFuzzer: the chain service's payload decoders (fs/chain/proto.h), which
 * ember-storage runs on bytes from clients and peers. The first input byte
 * picks the decoder; whatever decodes is re-encoded and must decode to the
 * same value. */
#include <stdlib.h>
#include <string.h>

#include "fs/chain/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0] % 7;
	data++;
	size--;
	static uint8_t buf[EM_CHAIN_SCRUB_RSP_SIZE];
	int n;
	switch (which) {
	case 0: {
		struct em_chain_update_req a, b;
		if (em_chain_dec_update(data, size, &a))
			return 0;
		n = em_chain_enc_update(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_update(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		break;
	}
	case 1: {
		struct em_chain_update_rsp a, b;
		if (em_chain_dec_update_rsp(data, size, &a))
			return 0;
		n = em_chain_enc_update_rsp(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_update_rsp(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		break;
	}
	case 2: {
		struct em_chain_read_req a, b;
		if (em_chain_dec_read(data, size, &a))
			return 0;
		n = em_chain_enc_read(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_read(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		break;
	}
	case 6: {
		struct em_chain_read_rsp a, b;
		if (em_chain_dec_read_rsp(data, size, &a))
			return 0;
		n = em_chain_enc_read_rsp(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_read_rsp(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		/* The check never reads past what the caller asked for. */
		em_chain_read_rsp_check(&a, buf, 0);
		break;
	}
	case 4: {
		struct em_chain_scrub_req a, b;
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		if (em_chain_dec_scrub(data, size, &a))
			return 0;
		n = em_chain_enc_scrub(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_scrub(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		break;
	}
	case 5: {
		static struct em_chain_scrub_stat a[EM_CHAIN_SCRUB_MAX], b[EM_CHAIN_SCRUB_MAX];
		uint32_t na, nb;
		if (em_chain_dec_scrub_rsp(data, size, a, EM_CHAIN_SCRUB_MAX, &na))
			return 0;
		n = em_chain_enc_scrub_rsp(buf, sizeof(buf), a, na);
		if (n < 0 || em_chain_dec_scrub_rsp(buf, (size_t)n, b, EM_CHAIN_SCRUB_MAX, &nb) ||
		    na != nb || memcmp(a, b, na * sizeof(a[0])))
			abort();
		break;
	}
	default: {
		struct em_chain_sync_done a, b;
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		if (em_chain_dec_sync_done(data, size, &a))
			return 0;
		n = em_chain_enc_sync_done(buf, sizeof(buf), &a);
		if (n < 0 || em_chain_dec_sync_done(buf, (size_t)n, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		break;
	}
	}
	return 0;
}
