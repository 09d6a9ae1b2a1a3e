/* The mgmtd payload decoders (fs/mgmt/proto.h) read bytes from any peer
 * that knows the cluster secret, and LIST answers from whatever answers as
 * mgmtd: no input may crash them. The first byte picks the decoder. */
#include <stdint.h>
#include <stdlib.h>

#include "fs/mgmt/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 0: {
		struct em_mgmt_register m;
		if (em_mgmt_dec_register(p, n, &m) == 0 && m.n > EM_MGMT_MAX_TARGETS)
			abort();
		break;
	}
	case 1: {
		struct em_mgmt_heartbeat m;
		if (em_mgmt_dec_heartbeat(p, n, &m) == 0)
			for (uint32_t i = 0; i < m.n; i++)
				if (m.reports[i].local >= EM_LOCAL_COUNT)
					abort();
		break;
	}
	case 2: {
		struct em_mgmt_create_chains m;
		em_mgmt_dec_create_chains(p, n, &m);
		break;
	}
	default: {
		struct em_mgmt_list l;
		if (em_mgmt_dec_list(p, n, &l) == 0 && l.routing.nnodes && !l.hb_age_ms)
			abort();
		em_mgmt_list_free(&l);
		break;
	}
	}
	return 0;
}
