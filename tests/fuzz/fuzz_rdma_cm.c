/* libFuzzer: the rdma_cm private data a peer sends before anything is
 * allocated for it: Ember's own (net/verbs_pd.h, byte 0 even: a connect
 * request, odd: an accept) and the NVMe-oF RDMA binding's connect request
 * (block/nvmf/wire.h, byte 0 == 2). What either check accepts must be
 * inside the limits it was given. */
#include <stdint.h>
#include <stdlib.h>

#include "block/nvmf/wire.h"
#include "net/verbs_pd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 2) {
		struct em_nvmf_rdma_cm_info ci;
		if (em_nvmf_rdma_check_cm_req(data + 1, size - 1, 16, 32, 128, &ci) == 0 &&
		    (ci.qid > 16 || ci.depth < 2 || ci.depth > (ci.qid ? 128u : 32u)))
			abort();
		return 0;
	}
	bool request = !(data[0] & 1);
	struct em_vpd pd;
	if (em_vpd_parse(data + 1, size - 1, request, 65536, &pd))
		return 0;
	if (pd.magic != EM_VPD_MAGIC || pd.recv_depth < 2 ||
	    (request && (pd.npaths < 1 || pd.npaths > EM_VPD_MAX_PATHS || pd.path >= pd.npaths ||
			 pd.msg_buf != 65536)))
		abort();
	return 0;
}
