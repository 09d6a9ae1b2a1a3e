/* NVMe over Fabrics wire formats: command and response capsules, SGL
 * descriptors, Fabrics command fields, the RDMA transport's rdma_cm private
 * data, and the status codes the target speaks.
 *
 * Everything on the wire is little-endian; fields are read and written with
 * the em_le* helpers so the decoders never depend on host byte order or on
 * struct packing. The large data structures (Identify, log pages, discovery
 * entries, Connect data) come from libnvme's <nvme/types.h>, which already
 * lays them out byte for byte.
 */
#ifndef EMBER_BLOCK_NVMF_WIRE_H
#define EMBER_BLOCK_NVMF_WIRE_H

#include <endian.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define EM_NVME_SQE_SIZE 64
#define EM_NVME_CQE_SIZE 16

/* Submission queue entry (command capsule without in-capsule data).
 * Offsets follow the NVMe base specification; Fabrics commands reuse the
 * same 64 bytes with their own field layout (see the EM_NVMF_* offsets). */
struct em_nvme_sqe {
	uint8_t opc;
	uint8_t flags;     /* FUSE bits 1:0, PSDT bits 7:6 */
	uint16_t cid;      /* echoed verbatim in the response */
	uint32_t nsid;     /* Fabrics commands: byte 4 is FCTYPE */
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	uint8_t dptr[16];  /* one SGL descriptor */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct em_nvme_sqe) == EM_NVME_SQE_SIZE, "SQE is 64 bytes");

/* Completion queue entry (response capsule). */
struct em_nvme_cqe {
	uint64_t result;   /* command specific, DW0 in the low half */
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;   /* phase bit 0, then the status field */
};
_Static_assert(sizeof(struct em_nvme_cqe) == EM_NVME_CQE_SIZE, "CQE is 16 bytes");

/* Status field value (the CQE's upper 15 bits): SC bits 7:0, SCT bits 10:8,
 * More bit 13, DNR bit 14. Handlers return these; 0 is success. */
#define EM_NVME_SCT_GENERIC 0x0
#define EM_NVME_SCT_CMD     0x1
#define EM_NVME_SCT_MEDIA   0x2
#define EM_NVME_STATUS(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define EM_NVME_DNR 0x4000

enum {
	/* Generic command status. */
	EM_SC_SUCCESS = EM_NVME_STATUS(0, 0x00),
	EM_SC_INVALID_OPCODE = EM_NVME_STATUS(0, 0x01),
	EM_SC_INVALID_FIELD = EM_NVME_STATUS(0, 0x02),
	EM_SC_DATA_XFER_ERROR = EM_NVME_STATUS(0, 0x04),
	EM_SC_INTERNAL = EM_NVME_STATUS(0, 0x06),
	EM_SC_ABORT_SQ_DELETED = EM_NVME_STATUS(0, 0x08),
	EM_SC_INVALID_NS = EM_NVME_STATUS(0, 0x0b),
	EM_SC_CMD_SEQ_ERROR = EM_NVME_STATUS(0, 0x0c),
	EM_SC_SGL_INVALID_DATA = EM_NVME_STATUS(0, 0x0f),
	EM_SC_SGL_INVALID_TYPE = EM_NVME_STATUS(0, 0x11),
	EM_SC_SGL_INVALID_OFFSET = EM_NVME_STATUS(0, 0x16),
	EM_SC_KAT_INVALID = EM_NVME_STATUS(0, 0x1a),
	EM_SC_LBA_RANGE = EM_NVME_STATUS(0, 0x80),
	EM_SC_CAP_EXCEEDED = EM_NVME_STATUS(0, 0x81),
	/* Command specific status. */
	EM_SC_ASYNC_LIMIT = EM_NVME_STATUS(1, 0x05),
	EM_SC_INVALID_LOG_PAGE = EM_NVME_STATUS(1, 0x09),
	EM_SC_FEATURE_NOT_CHANGEABLE = EM_NVME_STATUS(1, 0x0e),
	EM_SC_CONNECT_FORMAT = EM_NVME_STATUS(1, 0x80),
	EM_SC_CONNECT_CTRL_BUSY = EM_NVME_STATUS(1, 0x81),
	EM_SC_CONNECT_INVALID_PARAM = EM_NVME_STATUS(1, 0x82),
	EM_SC_CONNECT_INVALID_HOST = EM_NVME_STATUS(1, 0x84),
	/* Media and data integrity errors. */
	EM_SC_WRITE_FAULT = EM_NVME_STATUS(2, 0x80),
	EM_SC_READ_ERROR = EM_NVME_STATUS(2, 0x81),
};

/* SGL descriptor identifier (byte 15): type in bits 7:4, subtype in 3:0. */
#define EM_SGL_TYPE_DATA_BLOCK       0x0
#define EM_SGL_TYPE_KEYED_DATA_BLOCK 0x4
#define EM_SGL_SUBTYPE_ADDRESS       0x0
#define EM_SGL_SUBTYPE_OFFSET        0x1
#define EM_SGL_SUBTYPE_INVALIDATE    0xf
/* PSDT 01b or 10b in the SQE flags: data pointer is an SGL. Fabrics
 * requires SGLs, so PRP (00b) is refused. */
#define EM_SQE_PSDT_MASK 0xc0

/* Opcodes. */
enum {
	EM_ADM_GET_LOG_PAGE = 0x02,
	EM_ADM_IDENTIFY = 0x06,
	EM_ADM_SET_FEATURES = 0x09,
	EM_ADM_GET_FEATURES = 0x0a,
	EM_ADM_ASYNC_EVENT = 0x0c,
	EM_ADM_KEEP_ALIVE = 0x18,
	EM_FABRICS_OPC = 0x7f,

	EM_IO_FLUSH = 0x00,
	EM_IO_WRITE = 0x01,
	EM_IO_READ = 0x02,
	EM_IO_WRITE_ZEROES = 0x08,
	EM_IO_DSM = 0x09,
};

/* Fabrics command types (byte 4 of a 0x7F capsule). */
enum {
	EM_FCTYPE_PROP_SET = 0x00,
	EM_FCTYPE_CONNECT = 0x01,
	EM_FCTYPE_PROP_GET = 0x04,
};

/* Byte offsets of Fabrics command fields inside the 64-byte SQE. */
#define EM_NVMF_OFF_FCTYPE     4
#define EM_NVMF_OFF_CONN_RECFMT 40  /* le16 */
#define EM_NVMF_OFF_CONN_QID    42  /* le16 */
#define EM_NVMF_OFF_CONN_SQSIZE 44  /* le16, 0-based */
#define EM_NVMF_OFF_CONN_CATTR  46  /* u8 */
#define EM_NVMF_OFF_CONN_KATO   48  /* le32, milliseconds */
#define EM_NVMF_OFF_PROP_ATTRIB 40  /* u8: bit 0 set = 8-byte property */
#define EM_NVMF_OFF_PROP_OFFSET 44  /* le32 */
#define EM_NVMF_OFF_PROP_VALUE  48  /* le64 (Property Set) */

#define EM_NVMF_CONNECT_DATA_LEN 1024

/* Controller properties (Fabrics' replacement for BAR registers). */
enum {
	EM_PROP_CAP = 0x00,  /* 8 bytes */
	EM_PROP_VS = 0x08,
	EM_PROP_CC = 0x14,
	EM_PROP_CSTS = 0x1c,
};
#define EM_CC_EN          (1u << 0)
#define EM_CC_SHN_SHIFT   14
#define EM_CC_SHN_MASK    (3u << EM_CC_SHN_SHIFT)
#define EM_CC_IOSQES(cc)  (((cc) >> 16) & 0xf)
#define EM_CC_IOCQES(cc)  (((cc) >> 20) & 0xf)
#define EM_CC_MPS(cc)     (((cc) >> 7) & 0xf)
#define EM_CSTS_RDY       (1u << 0)
#define EM_CSTS_CFS       (1u << 1)
#define EM_CSTS_SHST_DONE (2u << 2)

/* NVMe-oF RDMA transport binding: rdma_cm private data. */
#define EM_NVMF_RDMA_PRIV_LEN 32
struct em_nvmf_rdma_cm_req {   /* host -> target, in CONNECT_REQUEST */
	uint16_t recfmt;
	uint16_t qid;
	uint16_t hrqsize;  /* host receive queue size */
	uint16_t hsqsize;  /* host send queue size, 0-based */
	uint8_t rsvd[24];
};
struct em_nvmf_rdma_cm_rep {   /* target -> host, in rdma_accept */
	uint16_t recfmt;
	uint16_t crqsize;  /* controller receive queue size */
	uint8_t rsvd[28];
};
struct em_nvmf_rdma_cm_rej {   /* target -> host, in rdma_reject */
	uint16_t recfmt;
	uint16_t sts;
};
_Static_assert(sizeof(struct em_nvmf_rdma_cm_req) == EM_NVMF_RDMA_PRIV_LEN, "cm req");
_Static_assert(sizeof(struct em_nvmf_rdma_cm_rep) == EM_NVMF_RDMA_PRIV_LEN, "cm rep");
enum {
	EM_NVMF_RDMA_REJ_INVALID_LEN = 1,
	EM_NVMF_RDMA_REJ_INVALID_RECFMT = 2,
	EM_NVMF_RDMA_REJ_INVALID_QID = 3,
	EM_NVMF_RDMA_REJ_INVALID_HSQSIZE = 4,
	EM_NVMF_RDMA_REJ_INVALID_HRQSIZE = 5,
	EM_NVMF_RDMA_REJ_NO_RESOURCES = 6,
};

/* A connect request's private data as the host sent it (len bytes at p),
 * checked against the target's limits: 0 and the queue id and depth in out,
 * or the EM_NVMF_RDMA_REJ_* status to reject it with. */
struct em_nvmf_rdma_cm_info {
	uint16_t qid;
	uint32_t depth; /* hsqsize + 1 */
};
uint16_t em_nvmf_rdma_check_cm_req(const void *p, size_t len, uint16_t max_io_queues,
				   uint32_t admin_depth, uint32_t io_depth,
				   struct em_nvmf_rdma_cm_info *out);

/* Little-endian loads and stores at arbitrary byte offsets. */
static inline uint16_t em_le16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return le16toh(v);
}
static inline uint32_t em_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return le32toh(v);
}
static inline uint64_t em_le64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return le64toh(v);
}
static inline void em_put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof v);
}
static inline void em_put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof v);
}
static inline void em_put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof v);
}

#endif
