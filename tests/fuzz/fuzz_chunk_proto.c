/* libFuzzer: the chunk service's payload decoders (block/service/proto.h),
 * which ember-target runs on bytes from the network. The first input byte
 * picks the decoder; a decoded batch is re-encoded and decoded again, and
 * must come back identical. */
#include <stdlib.h>
#include <string.h>

#include "block/service/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip_items(uint16_t method, const struct em_cs_item *items, uint32_t n)
{
	size_t cap = em_cs_items_size(n);
	uint8_t *buf = malloc(cap);
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_cs_enc_items(&e, method, items, n);
	if (em_enc_error(&e))
		abort();
	struct em_cs_item *again;
	uint32_t n2;
	if (em_cs_dec_items(buf, e.len, method, &again, &n2) || n2 != n ||
	    memcmp(again, items, n * sizeof(*items)))
		abort();
	free(again);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0];
	data++;
	size--;
	static struct em_cs_result res[EM_CS_MAX_BATCH];
	static struct em_chunk_meta metas[EM_CS_MAX_LIST];
	static struct em_cs_target_stats stats[EM_CS_MAX_TARGETS];
	uint32_t n;
	switch (which % 10) {
	case 0: case 1: case 2: case 3: case 4: case 5: {
		uint16_t method = (uint16_t)(EM_CS_READ + which % 6);
		struct em_cs_item *items;
		if (em_cs_dec_items(data, size, method, &items, &n) == 0) {
			roundtrip_items(method, items, n);
			free(items);
		}
		break;
	}
	case 6:
		em_cs_dec_results(data, size, (which & 0x80) ? EM_CS_READ : EM_CS_WRITE, res,
				  EM_CS_MAX_BATCH, &n);
		break;
	case 7: {
		struct em_cs_list_req r;
		em_cs_dec_list_req(data, size, &r);
		break;
	}
	case 8:
		em_cs_dec_metas(data, size, metas, EM_CS_MAX_LIST, &n);
		break;
	default:
		em_cs_dec_stats(data, size, stats, EM_CS_MAX_TARGETS, &n);
		break;
	}
	return 0;
}
