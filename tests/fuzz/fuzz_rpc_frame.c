/* libFuzzer: the RPC frame decoder (net/frame.h) on arbitrary messages.
 * Whatever it accepts must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_frame_hdr h;
	const void *payload;
	if (em_frame_decode(data, size, &h, &payload))
		return 0;
	if (h.len != size - EM_FRAME_HDR || payload != data + EM_FRAME_HDR)
		abort();
	uint8_t again[EM_FRAME_HDR];
	em_frame_encode(&h, payload, again);
	if (memcmp(again, data, EM_FRAME_HDR))
		abort();
	return 0;
}
