/* The NVMe-oF RDMA binding's connect request check (wire.h), apart from the
 * rdma_cm plumbing of rdma.c so that the fuzz tier reaches it. */
#include <endian.h>
#include <string.h>

#include "block/nvmf/wire.h"

uint16_t em_nvmf_rdma_check_cm_req(const void *p, size_t len, uint16_t max_io_queues,
				   uint32_t admin_depth, uint32_t io_depth,
				   struct em_nvmf_rdma_cm_info *out)
{
	struct em_nvmf_rdma_cm_req creq;
	/* librdmacm may report more private data than the host sent. */
	if (!p || len < sizeof creq)
		return EM_NVMF_RDMA_REJ_INVALID_LEN;
	memcpy(&creq, p, sizeof creq);
	if (le16toh(creq.recfmt) != 0)
		return EM_NVMF_RDMA_REJ_INVALID_RECFMT;
	uint16_t qid = le16toh(creq.qid), hrqsize = le16toh(creq.hrqsize);
	uint32_t depth = (uint32_t)le16toh(creq.hsqsize) + 1;
	if (qid > max_io_queues)
		return EM_NVMF_RDMA_REJ_INVALID_QID;
	if (depth < 2 || depth > (qid == 0 ? admin_depth : io_depth))
		return EM_NVMF_RDMA_REJ_INVALID_HSQSIZE;
	/* One response per command: the host must be able to receive them all. */
	if (hrqsize < depth)
		return EM_NVMF_RDMA_REJ_INVALID_HRQSIZE;
	out->qid = qid;
	out->depth = depth;
	return 0;
}
