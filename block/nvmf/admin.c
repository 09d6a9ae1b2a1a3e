/* Admin commands of an NVM subsystem's controller: Identify, Get Log Page,
 * Get/Set Features, Keep Alive, Asynchronous Event Request. A discovery
 * controller runs the same set through em_nvmf_admin_dispatch(). */
#include <string.h>

#include <nvme/types.h>

#include "block/nvmf/internal.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define FW_REV "0.1.0"
#define KAS_100MS 10   /* keep-alive granularity: 1 s */

enum {
	CNS_NS = 0x00,
	CNS_CTRL = 0x01,
	CNS_NS_ACTIVE_LIST = 0x02,
	CNS_NS_DESC_LIST = 0x03,
};

enum {
	FEAT_VWC = 0x06,
	FEAT_NUM_QUEUES = 0x07,
	FEAT_ASYNC_EVENT = 0x0b,
	FEAT_KATO = 0x0f,
	FEAT_HOST_ID = 0x81,
};

enum {
	LID_ERROR = 0x01,
	LID_SMART = 0x02,
	LID_FW_SLOT = 0x03,
	LID_CHANGED_NS = 0x04,
};

/* Reply with a data image: as much as the host's buffer holds, zero-padded. */
static uint16_t put_data(struct em_nvmf_req *req, const void *img, size_t len)
{
	if (req->xfer != EM_XFER_C2H)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	if (len > req->data_len)
		len = req->data_len;
	memcpy(req->data, img, len);
	memset((uint8_t *)req->data + len, 0, req->data_len - len);
	return 0;
}

static uint8_t log2_floor(uint32_t v)
{
	return (uint8_t)(31 - __builtin_clz(v));
}

/* Optional NVM commands: DSM always (deallocation is advisory), Write
 * Zeroes when every namespace's device can do it. */
static uint16_t oncs(const struct em_nvmf_subsys *s)
{
	uint16_t v = 1u << 2 | 1u << 3;

	for (uint32_t i = 0; i < s->nn; i++)
		if (!s->ns[i]->info.write_zeroes)
			v &= (uint16_t)~(1u << 3);
	return v;
}

uint16_t em_nvmf_identify_ctrl(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;
	struct em_nvmf_subsys *s = c->subsys;
	struct em_nvmf_tgt *t = s->tgt;
	struct nvme_id_ctrl id;

	memset(&id, 0, sizeof id);
	em_nvmf_copy_padded(id.sn, sizeof id.sn, s->serial);
	em_nvmf_copy_padded(id.mn, sizeof id.mn, s->model);
	em_nvmf_copy_padded(id.fr, sizeof id.fr, FW_REV);
	id.rab = 6;
	id.cmic = 1 << 1; /* several controllers (hosts) per subsystem */
	id.mdts = log2_floor(s->mdts_bytes / 4096);
	id.cntlid = htole16(c->cntlid);
	id.ver = htole32(0x00010300);
	id.cntrltype = s->discovery ? 2 : 1;
	id.acl = 3;
	id.aerl = EM_NVMF_MAX_AER - 1;
	id.lpa = 1 << 2; /* extended Get Log Page: 32-bit NUMD and offsets */
	id.kas = htole16(KAS_100MS);
	id.sqes = 0x66;
	id.cqes = 0x44;
	id.sgls = htole32(1u | 1u << 2 | (s->discovery ? 0 : 1u << 20));
	strcpy(id.subnqn, s->nqn);
	id.iorcsz = htole32(1);
	id.msdbd = 1;
	if (s->discovery) {
		id.maxcmd = htole16(EM_NVMF_ADMIN_QUEUE_DEPTH);
		id.ioccsz = htole32(EM_NVME_SQE_SIZE / 16);
	} else {
		id.oaes = htole32(1u << 8); /* namespace attribute notices */
		id.frmw = 1 << 1 | 1;       /* one slot, read-only */
		id.maxcmd = htole16(t->max_queue_depth);
		id.nn = htole32(s->nn);
		id.oncs = htole16(oncs(s));
		id.vwc = 1;                           /* host sends Flush */
		id.ioccsz = htole32((EM_NVME_SQE_SIZE + t->inline_data_size) / 16);
	}
	return put_data(req, &id, sizeof id);
}

static uint16_t identify_ns(struct em_nvmf_req *req, uint32_t nsid)
{
	struct em_nvmf_ns *ns = em_nvmf_ns_find(req->q->ctrl->subsys, nsid);
	struct nvme_id_ns id;

	if (!ns)
		return EM_SC_INVALID_NS | EM_NVME_DNR;
	memset(&id, 0, sizeof id);
	id.nsze = id.ncap = id.nuse = htole64(ns->nblocks);
	id.nlbaf = 0;
	id.flbas = 0;
	id.nmic = 1; /* may be attached to several controllers */
	memcpy(id.nguid, ns->nguid, sizeof id.nguid);
	id.lbaf[0].ds = ns->lbads;
	/* Read behaviour of deallocated blocks: 001b = zeroes. */
	id.dlfeat = ns->dealloc_zeroes ? 1 : 0;
	return put_data(req, &id, sizeof id);
}

static uint16_t identify_active_list(struct em_nvmf_req *req, uint32_t after)
{
	struct em_nvmf_subsys *s = req->q->ctrl->subsys;
	uint32_t list[1024];
	size_t n = 0;

	if (after >= 0xfffffffe)
		return EM_SC_INVALID_NS | EM_NVME_DNR;
	memset(list, 0, sizeof list);
	for (uint32_t i = 0; i < s->nn && n < 1024; i++)
		if (s->ns[i]->nsid > after)
			list[n++] = htole32(s->ns[i]->nsid);
	return put_data(req, list, sizeof list);
}

static uint16_t identify_desc_list(struct em_nvmf_req *req, uint32_t nsid)
{
	struct em_nvmf_ns *ns = em_nvmf_ns_find(req->q->ctrl->subsys, nsid);
	uint8_t buf[4096] = {0};
	size_t off = 0;

	if (!ns)
		return EM_SC_INVALID_NS | EM_NVME_DNR;
	/* {type, length, reserved[2], id}: the NGUID, then the command set
	 * (NVM = 0). A zero length ends the list. */
	buf[off] = NVME_NIDT_NGUID;
	buf[off + 1] = NVME_NIDT_NGUID_LEN;
	memcpy(buf + off + 4, ns->nguid, NVME_NIDT_NGUID_LEN);
	off += 4 + NVME_NIDT_NGUID_LEN;
	buf[off] = NVME_NIDT_CSI;
	buf[off + 1] = NVME_NIDT_CSI_LEN;
	return put_data(req, buf, sizeof buf);
}

static uint16_t identify(struct em_nvmf_req *req)
{
	uint32_t nsid = le32toh(req->cmd.nsid);

	switch (le32toh(req->cmd.cdw10) & 0xff) {
	case CNS_NS:
		return identify_ns(req, nsid);
	case CNS_CTRL:
		return em_nvmf_identify_ctrl(req);
	case CNS_NS_ACTIVE_LIST:
		return identify_active_list(req, nsid);
	case CNS_NS_DESC_LIST:
		return identify_desc_list(req, nsid);
	default:
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	}
}

uint16_t em_nvmf_copy_log(struct em_nvmf_req *req, const void *log, size_t log_len)
{
	const struct em_nvme_sqe *c = &req->cmd;
	uint32_t cdw10 = le32toh(c->cdw10), cdw11 = le32toh(c->cdw11);
	uint64_t numd = ((uint64_t)(cdw11 & 0xffff) << 16 | cdw10 >> 16) + 1;
	uint64_t len = numd * 4;
	uint64_t lpo = le32toh(c->cdw12) | (uint64_t)le32toh(c->cdw13) << 32;
	size_t n;

	if (req->xfer != EM_XFER_C2H || len > req->data_len)
		return EM_SC_SGL_INVALID_DATA | EM_NVME_DNR;
	if ((lpo & 3) || lpo > log_len)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	n = log_len - lpo < len ? log_len - lpo : len;
	memcpy(req->data, (const uint8_t *)log + lpo, n);
	memset((uint8_t *)req->data + n, 0, req->data_len - n);
	return 0;
}

static void put_u128(uint8_t dst[16], uint64_t v)
{
	memset(dst, 0, 16);
	em_put_le64(dst, v);
}

static uint16_t log_smart(struct em_nvmf_req *req)
{
	const struct em_nvmf_subsys *s = req->q->ctrl->subsys;
	struct em_nvmf_stats sum = {0}, *st = &sum;
	struct nvme_smart_log l;
	uint16_t kelvin = 273 + 25; /* no sensor: report room temperature */

	for (uint32_t i = 0; i < s->nn; i++) {
		const struct em_nvmf_stats *n = &s->ns[i]->stats;
		sum.read_bytes += n->read_bytes;
		sum.write_bytes += n->write_bytes;
		sum.read_cmds += n->read_cmds;
		sum.write_cmds += n->write_cmds;
		sum.media_errors += n->media_errors;
	}
	memset(&l, 0, sizeof l);
	em_put_le16(l.temperature, kelvin);
	l.avail_spare = 100;
	l.spare_thresh = 10;
	/* Data units are thousands of 512-byte units, rounded up. */
	put_u128(l.data_units_read, (st->read_bytes / 512 + 999) / 1000);
	put_u128(l.data_units_written, (st->write_bytes / 512 + 999) / 1000);
	put_u128(l.host_reads, st->read_cmds);
	put_u128(l.host_writes, st->write_cmds);
	put_u128(l.media_errors, st->media_errors);
	return em_nvmf_copy_log(req, &l, sizeof l);
}

static uint16_t get_log_page(struct em_nvmf_req *req)
{
	uint8_t page[4096];

	memset(page, 0, sizeof page);
	switch (le32toh(req->cmd.cdw10) & 0xff) {
	case LID_ERROR:
		/* One entry (ELPE = 0); errors are reported in completions only. */
		return em_nvmf_copy_log(req, page, sizeof(struct nvme_error_log_page));
	case LID_SMART:
		return log_smart(req);
	case LID_FW_SLOT:
		page[0] = 1; /* active slot 1 */
		memcpy(page + 8, FW_REV "\0\0\0", 8);
		return em_nvmf_copy_log(req, page, 512);
	case LID_CHANGED_NS:
		/* Namespaces never change while the target runs. */
		return em_nvmf_copy_log(req, page, 4096);
	default:
		return EM_SC_INVALID_LOG_PAGE | EM_NVME_DNR;
	}
}

static uint16_t set_num_queues(struct em_nvmf_req *req, uint32_t cdw11)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;
	uint32_t nsqr = cdw11 & 0xffff, ncqr = cdw11 >> 16;
	uint32_t n;

	if (nsqr == 0xffff || ncqr == 0xffff || c->subsys->discovery)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	n = (nsqr < ncqr ? nsqr : ncqr) + 1;
	if (n > c->subsys->tgt->max_io_queues)
		n = c->subsys->tgt->max_io_queues;
	c->nr_io_queues = (uint16_t)n;
	req->rsp.result = htole64((n - 1) | (n - 1) << 16);
	return 0;
}

static void set_features(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;
	uint32_t cdw10 = le32toh(req->cmd.cdw10), cdw11 = le32toh(req->cmd.cdw11);
	uint16_t status = 0;

	if (cdw10 & 1u << 31) { /* SV: nothing here survives a restart */
		em_nvmf_req_complete(req, EM_NVME_STATUS(1, 0x0d) | EM_NVME_DNR);
		return;
	}
	switch (cdw10 & 0xff) {
	case FEAT_NUM_QUEUES:
		status = set_num_queues(req, cdw11);
		break;
	case FEAT_KATO:
		em_nvmf_ctrl_set_kato(c, cdw11);
		break;
	case FEAT_ASYNC_EVENT:
		c->aec = cdw11;
		break;
	case FEAT_VWC:
	case FEAT_HOST_ID:
		status = EM_SC_FEATURE_NOT_CHANGEABLE | EM_NVME_DNR;
		break;
	default:
		status = EM_SC_INVALID_FIELD | EM_NVME_DNR;
	}
	em_nvmf_req_complete(req, status);
}

static void get_features(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;
	uint32_t cdw10 = le32toh(req->cmd.cdw10), cdw11 = le32toh(req->cmd.cdw11);
	uint16_t status = 0;
	uint32_t n = c->nr_io_queues ? c->nr_io_queues - 1u : 0;

	switch (cdw10 & 0xff) {
	case FEAT_NUM_QUEUES:
		req->rsp.result = htole64(n | n << 16);
		break;
	case FEAT_KATO:
		req->rsp.result = htole64(c->kato_ms);
		break;
	case FEAT_ASYNC_EVENT:
		req->rsp.result = htole64(c->aec);
		break;
	case FEAT_VWC:
		req->rsp.result = htole64(c->subsys->discovery ? 0 : 1);
		break;
	case FEAT_HOST_ID:
		/* Fabrics uses the 128-bit host identifier only (EXHID). */
		status = (cdw11 & 1) ? put_data(req, c->hostid, sizeof c->hostid)
				     : EM_SC_INVALID_FIELD | EM_NVME_DNR;
		break;
	default:
		status = EM_SC_INVALID_FIELD | EM_NVME_DNR;
	}
	em_nvmf_req_complete(req, status);
}

static uint16_t keep_alive(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;

	if (!c->kato_ms)
		return EM_SC_KAT_INVALID | EM_NVME_DNR;
	c->last_ka_ms = em_now_ms();
	return 0;
}

static void async_event(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;

	if (c->n_aer >= EM_NVMF_MAX_AER) {
		em_nvmf_req_complete(req, EM_SC_ASYNC_LIMIT | EM_NVME_DNR);
		return;
	}
	/* Parked until an event happens or the controller goes away (the
	 * transport then frees the request with its queue). */
	c->aer[c->n_aer++] = req;
}

/* Both controller kinds (NVM subsystem and discovery) run the same admin
 * command set and differ only in what Identify and Get Log Page may return,
 * so one dispatcher serves both with those two handlers passed in. */
void em_nvmf_admin_dispatch(struct em_nvmf_req *req, em_nvmf_admin_fn identify_fn,
			    em_nvmf_admin_fn get_log_page_fn)
{
	uint16_t status;

	switch (req->cmd.opc) {
	case EM_ADM_IDENTIFY:
		status = identify_fn(req);
		break;
	case EM_ADM_GET_LOG_PAGE:
		status = get_log_page_fn(req);
		break;
	case EM_ADM_KEEP_ALIVE:
		status = keep_alive(req);
		break;
	case EM_ADM_SET_FEATURES:
		set_features(req);
		return;
	case EM_ADM_GET_FEATURES:
		get_features(req);
		return;
	case EM_ADM_ASYNC_EVENT:
		async_event(req);
		return;
	default:
		status = EM_SC_INVALID_OPCODE | EM_NVME_DNR;
	}
	em_nvmf_req_complete(req, status);
}

void em_nvmf_admin_execute(struct em_nvmf_req *req)
{
	em_nvmf_admin_dispatch(req, identify, get_log_page);
}
