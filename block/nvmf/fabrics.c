/* Fabrics commands (Connect, Property Get/Set) and the request flow every
 * transport drives: parse the data pointer, execute, complete. */
#include <errno.h>
#include <string.h>

#include <nvme/types.h>

#include "block/nvmf/internal.h"
#include "net/core/log.h"

#define NVMF_VS_1_3 0x00010300u
/* CAP.TO in 500 ms units: how long the host waits for CSTS.RDY. */
#define NVMF_CAP_TO 15
/* Connect's "invalid parameter" result: IATTR (1 = in the Connect data,
 * 0 = in the SQE) in bits 23:16, byte offset in bits 15:0. */
#define IPO(iattr, off) ((uint64_t)(((iattr) << 16) | (off)))

static unsigned xfer_dir_bits(const struct em_nvme_sqe *c)
{
	/* Bits 1:0 of the opcode (or, for Fabrics, of FCTYPE) give the data
	 * direction: 01b host to controller, 10b controller to host. */
	const uint8_t *raw = (const uint8_t *)c;
	uint8_t op = c->opc == EM_FABRICS_OPC ? raw[EM_NVMF_OFF_FCTYPE] : c->opc;
	return op & 3;
}

uint16_t em_nvmf_req_parse(struct em_nvmf_req *req)
{
	const struct em_nvme_sqe *c = &req->cmd;
	const uint8_t *d = c->dptr;
	unsigned dir = xfer_dir_bits(c);
	uint8_t type = d[15] >> 4, subtype = d[15] & 0xf;
	uint32_t len;

	memset(&req->rsp, 0, sizeof req->rsp);
	req->xfer = EM_XFER_NONE;
	req->data_len = 0;
	req->keyed = false;
	req->sgl_invalidate = false;
	req->data = NULL;
	req->q->sqhd = (uint16_t)((req->q->sqhd + 1) % req->q->size);

	/* Fabrics mandates SGLs (PSDT 01b); fused operations are not supported. */
	if ((c->flags & EM_SQE_PSDT_MASK) != 0x40 || (c->flags & 0x3))
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;

	switch (type) {
	case EM_SGL_TYPE_KEYED_DATA_BLOCK:
		if (subtype != EM_SGL_SUBTYPE_ADDRESS && subtype != EM_SGL_SUBTYPE_INVALIDATE)
			return EM_SC_SGL_INVALID_TYPE | EM_NVME_DNR;
		len = (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16;
		if (len == 0)
			return 0;
		if (dir != 1 && dir != 2)
			return EM_SC_INVALID_FIELD | EM_NVME_DNR;
		if (len > req->buf_size)
			return EM_SC_SGL_INVALID_DATA | EM_NVME_DNR;
		req->keyed = true;
		req->sgl_addr = em_le64(d);
		req->sgl_key = em_le32(d + 11);
		req->sgl_invalidate = subtype == EM_SGL_SUBTYPE_INVALIDATE;
		req->data = req->buf;
		break;
	case EM_SGL_TYPE_DATA_BLOCK: {
		/* In-capsule data: the address is an offset into the data that
		 * followed the SQE in the same SEND. */
		uint64_t off = em_le64(d);
		if (subtype != EM_SGL_SUBTYPE_OFFSET)
			return EM_SC_SGL_INVALID_TYPE | EM_NVME_DNR;
		len = em_le32(d + 8);
		if (len == 0)
			return 0;
		if (dir != 1)
			return EM_SC_INVALID_FIELD | EM_NVME_DNR;
		if (off > req->icd_len || len > req->icd_len - off)
			return EM_SC_SGL_INVALID_OFFSET | EM_NVME_DNR;
		req->data = (uint8_t *)req->icd + off;
		break;
	}
	default:
		return EM_SC_SGL_INVALID_TYPE | EM_NVME_DNR;
	}
	req->data_len = len;
	req->xfer = dir == 1 ? EM_XFER_H2C : EM_XFER_C2H;
	return 0;
}

static bool ctrl_ready(const struct em_nvmf_ctrl *c)
{
	return (c->cc & EM_CC_EN) && (c->csts & EM_CSTS_RDY);
}

void em_nvmf_req_execute(struct em_nvmf_req *req)
{
	struct em_nvmf_queue *q = req->q;

	if (req->cmd.opc == EM_FABRICS_OPC) {
		em_nvmf_fabrics_execute(req);
		return;
	}
	/* Nothing but Connect before Connect, nothing but Fabrics commands
	 * before the host enabled the controller. */
	if (!q->ctrl || !ctrl_ready(q->ctrl)) {
		em_nvmf_req_complete(req, EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR);
		return;
	}
	if (q->qid != 0)
		em_nvmf_io_execute(req);
	else if (q->ctrl->subsys->discovery)
		em_nvmf_discovery_execute(req);
	else
		em_nvmf_admin_execute(req);
}

void em_nvmf_req_complete(struct em_nvmf_req *req, uint16_t status)
{
	struct em_nvmf_queue *q = req->q;

	req->rsp.sqhd = htole16(q->sqhd);
	req->rsp.sqid = htole16(q->qid);
	req->rsp.cid = req->cmd.cid; /* opaque to us: echoed byte for byte */
	req->rsp.status = htole16((uint16_t)(status << 1));
	if (status)
		EM_DEBUG("nvmf", "qid %u cid %u opc 0x%02x: status 0x%04x", q->qid,
			 le16toh(req->cmd.cid), req->cmd.opc, status);
	q->ops->complete(req);
}

static uint16_t connect_fail(struct em_nvmf_req *req, uint16_t status, uint64_t ipo)
{
	req->rsp.result = htole64(ipo);
	return status | EM_NVME_DNR;
}

/* Copies a NUL-terminated NQN out of a fixed 256-byte field. */
static bool get_nqn(char *dst, const char *src)
{
	size_t n = strnlen(src, NVME_NQN_LENGTH);
	if (n == 0 || n > EM_NVMF_NQN_MAX)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static uint16_t connect_admin(struct em_nvmf_req *req, struct em_nvmf_subsys *s,
			      const struct nvmf_connect_data *d, const char *hostnqn,
			      uint32_t kato)
{
	struct em_nvmf_ctrl *c;
	int rc = em_nvmf_ctrl_create(s, hostnqn, d->hostid, kato, &c);
	if (rc < 0)
		return connect_fail(req, EM_SC_CONNECT_CTRL_BUSY, 0);
	c->queues[0] = req->q;
	req->q->ctrl = c;
	req->rsp.result = htole64(c->cntlid);
	EM_INFO("nvmf", "controller %u of %s for host %s", c->cntlid, s->nqn, hostnqn);
	return 0;
}

static uint16_t connect_io(struct em_nvmf_req *req, struct em_nvmf_subsys *s,
			   const struct nvmf_connect_data *d, const char *hostnqn, uint16_t qid)
{
	struct em_nvmf_ctrl *c = em_nvmf_ctrl_find(s, le16toh(d->cntlid));

	if (!c)
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(1, offsetof(struct nvmf_connect_data, cntlid)));
	if (strcmp(c->hostnqn, hostnqn) != 0)
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(1, offsetof(struct nvmf_connect_data, hostnqn)));
	if (!ctrl_ready(c))
		return EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR;
	if (qid > c->nr_io_queues || c->queues[qid])
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(0, EM_NVMF_OFF_CONN_QID));
	c->queues[qid] = req->q;
	req->q->ctrl = c;
	req->rsp.result = htole64(c->cntlid);
	return 0;
}

static uint16_t connect(struct em_nvmf_req *req)
{
	const uint8_t *raw = (const uint8_t *)&req->cmd;
	struct em_nvmf_queue *q = req->q;
	const struct nvmf_connect_data *d = req->data;
	char subnqn[EM_NVMF_NQN_MAX + 1], hostnqn[EM_NVMF_NQN_MAX + 1];
	uint16_t qid = em_le16(raw + EM_NVMF_OFF_CONN_QID);
	uint16_t sqsize = em_le16(raw + EM_NVMF_OFF_CONN_SQSIZE);
	struct em_nvmf_subsys *s;

	if (q->ctrl)
		return EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR;
	if (em_le16(raw + EM_NVMF_OFF_CONN_RECFMT) != 0)
		return EM_SC_CONNECT_FORMAT | EM_NVME_DNR;
	if (req->xfer != EM_XFER_H2C || req->data_len != EM_NVMF_CONNECT_DATA_LEN)
		return EM_SC_SGL_INVALID_DATA | EM_NVME_DNR;
	/* The transport already sized the queue from its own connect data;
	 * the Connect command must agree with it. */
	if (qid != q->qid)
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(0, EM_NVMF_OFF_CONN_QID));
	if (sqsize == 0 || sqsize >= q->size)
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(0, EM_NVMF_OFF_CONN_SQSIZE));
	if (!get_nqn(subnqn, d->subsysnqn))
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(1, offsetof(struct nvmf_connect_data, subsysnqn)));
	if (!get_nqn(hostnqn, d->hostnqn))
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(1, offsetof(struct nvmf_connect_data, hostnqn)));
	s = em_nvmf_subsys_find(q->tgt, subnqn);
	if (!s) {
		EM_INFO("nvmf", "connect from %s to unknown subsystem %s", hostnqn, subnqn);
		return connect_fail(req, EM_SC_CONNECT_INVALID_PARAM,
				    IPO(1, offsetof(struct nvmf_connect_data, subsysnqn)));
	}
	if (!em_nvmf_host_allowed(s, hostnqn)) {
		EM_WARN("nvmf", "host %s is not allowed to connect to %s", hostnqn, subnqn);
		return connect_fail(req, EM_SC_CONNECT_INVALID_HOST,
				    IPO(1, offsetof(struct nvmf_connect_data, hostnqn)));
	}
	if (qid == 0)
		return connect_admin(req, s, d, hostnqn, em_le32(raw + EM_NVMF_OFF_CONN_KATO));
	return connect_io(req, s, d, hostnqn, qid);
}

static uint64_t prop_cap(const struct em_nvmf_queue *q)
{
	return (uint64_t)(q->tgt->max_queue_depth - 1)  /* MQES, 0-based */
	       | 1ull << 16                              /* CQR: contiguous queues */
	       | (uint64_t)NVMF_CAP_TO << 24
	       | 1ull << 37;                             /* CSS: NVM command set */
	/* MPSMIN = MPSMAX = 0 (4 KiB); CRMS (59/60) clear so the host does
	 * not look for CRTO. */
}

static uint16_t prop_get(struct em_nvmf_req *req)
{
	const uint8_t *raw = (const uint8_t *)&req->cmd;
	struct em_nvmf_ctrl *c = req->q->ctrl;
	bool wide = raw[EM_NVMF_OFF_PROP_ATTRIB] & 1;
	uint64_t v;

	switch (em_le32(raw + EM_NVMF_OFF_PROP_OFFSET)) {
	case EM_PROP_CAP:
		v = prop_cap(req->q);
		break;
	case EM_PROP_VS:
		v = NVMF_VS_1_3;
		break;
	case EM_PROP_CC:
		v = c->cc;
		break;
	case EM_PROP_CSTS:
		v = c->csts;
		break;
	default:
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	}
	req->rsp.result = htole64(wide ? v : (uint32_t)v);
	return 0;
}

static void update_cc(struct em_nvmf_ctrl *c, uint32_t cc)
{
	uint32_t old = c->cc;

	c->cc = cc;
	if ((cc & EM_CC_EN) && !(old & EM_CC_EN)) {
		/* We only speak 64-byte SQEs, 16-byte CQEs and 4 KiB pages. */
		if (EM_CC_IOSQES(cc) != 6 || EM_CC_IOCQES(cc) != 4 || EM_CC_MPS(cc) != 0)
			c->csts |= EM_CSTS_CFS;
		else
			c->csts |= EM_CSTS_RDY;
	}
	if (!(cc & EM_CC_EN) && (old & EM_CC_EN))
		c->csts &= ~(EM_CSTS_RDY | EM_CSTS_CFS);
	if ((cc & EM_CC_SHN_MASK) && !(old & EM_CC_SHN_MASK)) {
		/* Nothing is cached: every write completed only once the
		 * device had it, so shutdown is immediate. */
		c->csts &= ~EM_CSTS_RDY;
		c->csts |= EM_CSTS_SHST_DONE;
		EM_INFO("nvmf", "controller %u of %s shut down by the host", c->cntlid,
			c->subsys->nqn);
	}
	if (!(cc & EM_CC_SHN_MASK) && (old & EM_CC_SHN_MASK))
		c->csts &= ~EM_CSTS_SHST_DONE;
}

static uint16_t prop_set(struct em_nvmf_req *req)
{
	const uint8_t *raw = (const uint8_t *)&req->cmd;

	if (raw[EM_NVMF_OFF_PROP_ATTRIB] & 1)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	if (em_le32(raw + EM_NVMF_OFF_PROP_OFFSET) != EM_PROP_CC)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	update_cc(req->q->ctrl, em_le32(raw + EM_NVMF_OFF_PROP_VALUE));
	return 0;
}

void em_nvmf_fabrics_execute(struct em_nvmf_req *req)
{
	uint8_t fctype = ((const uint8_t *)&req->cmd)[EM_NVMF_OFF_FCTYPE];
	uint16_t status;

	if (fctype == EM_FCTYPE_CONNECT) {
		status = connect(req);
	} else if (fctype != EM_FCTYPE_PROP_GET && fctype != EM_FCTYPE_PROP_SET) {
		status = EM_SC_INVALID_OPCODE | EM_NVME_DNR;
	} else if (!req->q->ctrl) {
		status = EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR;
	} else if (req->q->qid != 0) {
		/* Properties live on the admin queue only. */
		status = EM_SC_INVALID_FIELD | EM_NVME_DNR;
	} else {
		status = fctype == EM_FCTYPE_PROP_GET ? prop_get(req) : prop_set(req);
	}
	em_nvmf_req_complete(req, status);
}

void em_nvmf_queue_detach(struct em_nvmf_queue *q)
{
	struct em_nvmf_ctrl *c = q->ctrl;

	if (!c)
		return;
	q->ctrl = NULL;
	c->queues[q->qid] = NULL;
	if (q->qid == 0)
		em_nvmf_ctrl_destroy(c);
}
