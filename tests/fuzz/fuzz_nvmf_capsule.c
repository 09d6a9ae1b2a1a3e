/* libFuzzer: arbitrary NVMe-oF command capsules through the target's command
 * layer (SGL decoding, Fabrics, admin, discovery and I/O handlers).
 *
 * Input: byte 0 picks the queue (unconnected, discovery admin, NVM admin,
 * NVM I/O), bytes 1..64 are the SQE, the rest is both the in-capsule data
 * and the host memory a keyed SGL points at. Each input runs on freshly
 * connected and enabled controllers; it must get exactly one response with
 * its command id, or be parked (an AER), and never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvme/types.h>

#include "block/nvmf/internal.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define NQN "nqn.2024-01.io.ember:fuzz"
#define HOST "nqn.2024-01.io.ember:fuzz-host"
#define BUF_SIZE (128u * 1024)
#define ICD_SIZE 8192u

struct fq {
	struct em_nvmf_queue q;
	int completions;
};

static void fq_complete(struct em_nvmf_req *req)
{
	((struct fq *)req->q)->completions++;
}

static void fq_disconnect(struct em_nvmf_queue *q)
{
	em_nvmf_queue_detach(q);
}

static const struct em_nvmf_queue_ops fq_ops = { fq_complete, fq_disconnect };

static struct em_reactor *R;
static struct em_nvmf_tgt *T;
static struct em_bdev *D;
static uint8_t *buf, *icd;

static void setup(void)
{
	struct em_nvmf_tgt_opts o = { .traddr = "192.0.2.1", .inline_data_size = ICD_SIZE };
	struct em_nvmf_subsys_opts so = { .nqn = NQN, .serial = "FUZZ", .model = "Fuzz" };
	struct em_bdev_opts bo = { .kind = EM_BDEV_URING };
	struct em_nvmf_subsys *s;
	char path[] = "nvmf-fuzz-XXXXXX";
	int fd = mkstemp(path);

	em_log_set_level(EM_LOG_ERROR);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	if (em_reactor_create("fuzz", &R) || em_nvmf_tgt_create(R, &o, &T) ||
	    em_nvmf_subsys_add(T, &so, &s) || em_nvmf_subsys_allow_host(s, HOST) ||
	    em_bdev_open(path, &bo, &D) || em_bdev_attach(D, R) || em_nvmf_ns_add_bdev(s, D, NULL))
		abort();
	unlink(path);
	if (posix_memalign((void **)&buf, 4096, BUF_SIZE) ||
	    posix_memalign((void **)&icd, 4096, ICD_SIZE))
		abort();
}

/* Runs one request as a transport would; returns whether it completed. */
static bool run(struct fq *q, struct em_nvmf_req *r, const uint8_t *host, size_t host_len,
		size_t icd_len)
{
	int before = q->completions;
	uint16_t st;

	r->q = &q->q;
	r->buf = buf;
	r->buf_size = BUF_SIZE;
	r->icd = icd;
	r->icd_len = (uint32_t)icd_len;
	st = em_nvmf_req_parse(r);
	if (st) {
		em_nvmf_req_complete(r, st);
	} else {
		if (r->keyed && r->xfer == EM_XFER_H2C) {
			size_t n = host_len < r->data_len ? host_len : r->data_len;
			memcpy(r->data, host, n);
			memset((uint8_t *)r->data + n, 0, r->data_len - n);
		}
		em_nvmf_req_execute(r);
	}
	/* Device I/O completes through the reactor; with nothing in flight a
	 * missing completion means the command was parked. */
	while (q->completions == before && em_bdev_inflight(D) > 0)
		em_reactor_run_once(R, 1);
	if (q->completions > before + 1)
		abort();
	return q->completions > before;
}

static void sqe_connect(struct em_nvmf_req *r, uint16_t qid, uint16_t sqsize)
{
	uint8_t *raw = (uint8_t *)&r->cmd;
	memset(&r->cmd, 0, sizeof r->cmd);
	r->cmd.opc = EM_FABRICS_OPC;
	r->cmd.flags = 0x40;
	raw[EM_NVMF_OFF_FCTYPE] = EM_FCTYPE_CONNECT;
	r->cmd.dptr[9] = 1024 >> 8;
	r->cmd.dptr[15] = 0x40;
	em_put_le16(raw + EM_NVMF_OFF_CONN_QID, qid);
	em_put_le16(raw + EM_NVMF_OFF_CONN_SQSIZE, sqsize);
}

static void connect_queue(struct fq *q, const char *nqn, uint16_t cntlid)
{
	struct em_nvmf_req r;
	struct nvmf_connect_data d;

	memset(&d, 0, sizeof d);
	d.cntlid = htole16(cntlid);
	strcpy(d.subsysnqn, nqn);
	strcpy(d.hostnqn, HOST);
	sqe_connect(&r, q->q.qid, (uint16_t)(q->q.size - 1));
	run(q, &r, (const uint8_t *)&d, sizeof d, 0);
	if (q->q.qid == 0 && q->q.ctrl) {
		struct em_nvmf_req p;
		uint8_t *raw = (uint8_t *)&p.cmd;
		memset(&p.cmd, 0, sizeof p.cmd);
		p.cmd.opc = EM_FABRICS_OPC;
		p.cmd.flags = 0x40;
		p.cmd.dptr[15] = 0x40;
		raw[EM_NVMF_OFF_FCTYPE] = EM_FCTYPE_PROP_SET;
		em_put_le32(raw + EM_NVMF_OFF_PROP_OFFSET, EM_PROP_CC);
		em_put_le32(raw + EM_NVMF_OFF_PROP_VALUE, 1 | 6u << 16 | 4u << 20);
		run(q, &p, NULL, 0, 0);
	}
}

static void init_q(struct fq *q, uint16_t qid, uint16_t size)
{
	memset(q, 0, sizeof *q);
	q->q.tgt = T;
	q->q.ops = &fq_ops;
	q->q.qid = qid;
	q->q.size = size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fq adm, ioq, *target;
	struct em_nvmf_req r;
	size_t rest;

	if (!R)
		setup();
	if (size < 1 + EM_NVME_SQE_SIZE)
		return 0;
	init_q(&adm, 0, 32);
	init_q(&ioq, 1, 128);
	switch (data[0] & 3) {
	case 0: /* nothing connected yet: only Connect may work */
		target = &ioq;
		break;
	case 1:
		connect_queue(&adm, EM_NVMF_DISCOVERY_NQN, 0xffff);
		target = &adm;
		break;
	case 2:
		connect_queue(&adm, NQN, 0xffff);
		target = &adm;
		break;
	default:
		connect_queue(&adm, NQN, 0xffff);
		if (adm.q.ctrl)
			connect_queue(&ioq, NQN, adm.q.ctrl->cntlid);
		target = &ioq;
		break;
	}
	memset(&r, 0, sizeof r);
	memcpy(&r.cmd, data + 1, EM_NVME_SQE_SIZE);
	rest = size - 1 - EM_NVME_SQE_SIZE;
	memset(icd, 0, ICD_SIZE);
	memcpy(icd, data + 1 + EM_NVME_SQE_SIZE, rest < ICD_SIZE ? rest : ICD_SIZE);
	if (run(target, &r, data + 1 + EM_NVME_SQE_SIZE, rest, rest < ICD_SIZE ? rest : ICD_SIZE) &&
	    r.rsp.cid != r.cmd.cid)
		abort();
	/* Tear down like a transport whose connections dropped. */
	em_nvmf_queue_detach(&ioq.q);
	em_nvmf_queue_detach(&adm.q);
	return 0;
}
