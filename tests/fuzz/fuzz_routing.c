/* Routing info reaches clients over the network and sits in their caches:
 * no input may crash the decoder, and whatever it accepts must be consistent
 * enough to encode and decode again.
 *
 * Most random inputs die at the CRC check, so the input is tried twice: as
 * is, and with a correct CRC appended, which lets the fuzzer explore the
 * structure behind the checksum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/routing.h"
#include "net/core/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *buf, size_t len)
{
	struct em_routing r;
	if (em_routing_decode(&r, buf, len) < 0)
		return;
	/* Accepted: it must be consistent enough to encode and decode again. */
	size_t need = em_routing_encoded_size(&r), got;
	uint8_t *out = malloc(need);
	if (out) {
		struct em_routing again;
		if (em_routing_encode(&r, out, need, &got) != 0 || got != need ||
		    em_routing_decode(&again, out, got) != 0)
			abort();
		em_routing_clear(&again);
		free(out);
	}
	em_routing_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	roundtrip(data, size);
	uint8_t *sealed = malloc(size + 4);
	if (!sealed)
		return 0;
	memcpy(sealed, data, size);
	uint32_t crc = em_crc32c(0, data, size);
	for (int i = 0; i < 4; i++)
		sealed[size + i] = (uint8_t)(crc >> (8 * i));
	roundtrip(sealed, size + 4);
	free(sealed);
	return 0;
}
