/* The NVMe-oF command layer driven by constructed capsules, without RDMA:
 * a test queue stands in for the transport (its data phase is a memcpy),
 * namespaces are real io_uring file devices and timers a real reactor. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvme/types.h>

#include "block/chunk/engine.h"
#include "block/nvmf/config.h"
#include "block/nvmf/internal.h"
#include "net/core/reactor.h"
#include "tap.h"

#define NQN "nqn.2024-01.io.ember:unit"
#define HOST "nqn.2024-01.io.ember:host-a"
#define OTHER "nqn.2024-01.io.ember:host-b"
#define AREA (8u << 20)
#define BUF_SIZE (128u * 1024)
#define ICD_SIZE 4096u

static struct em_reactor *R;
static uint32_t BS; /* the file device's block size */
/* How long run() waits for a completion; short where none must come. */
static uint64_t wait_ms = 3000;

struct tq {
	struct em_nvmf_queue q;
	int completions, disconnects;
	uint8_t *buf, *icd;
};

static void tq_complete(struct em_nvmf_req *req)
{
	struct tq *t = (struct tq *)req->q;
	t->completions++;
}

/* A transport tears its connection down and later detaches; do it at once. */
static void tq_disconnect(struct em_nvmf_queue *q)
{
	((struct tq *)q)->disconnects++;
	em_nvmf_queue_detach(q);
}

static const struct em_nvmf_queue_ops tq_ops = { tq_complete, tq_disconnect };

static void tq_init(struct tq *t, struct em_nvmf_tgt *tgt, uint16_t qid, uint16_t size)
{
	memset(t, 0, sizeof *t);
	t->q.tgt = tgt;
	t->q.ops = &tq_ops;
	t->q.qid = qid;
	t->q.size = size;
	if (posix_memalign((void **)&t->buf, 4096, BUF_SIZE) ||
	    posix_memalign((void **)&t->icd, 4096, ICD_SIZE))
		abort();
}

static void tq_fini(struct tq *t)
{
	free(t->buf);
	free(t->icd);
}

/* A command with a keyed SGL of len bytes (0: no data). */
static void sqe_keyed(struct em_nvmf_req *r, uint8_t opc, uint32_t len)
{
	memset(&r->cmd, 0, sizeof r->cmd);
	r->cmd.opc = opc;
	r->cmd.flags = 0x40;
	r->cmd.cid = htole16(7);
	em_put_le64(r->cmd.dptr, 0x1000);
	r->cmd.dptr[8] = (uint8_t)len;
	r->cmd.dptr[9] = (uint8_t)(len >> 8);
	r->cmd.dptr[10] = (uint8_t)(len >> 16);
	em_put_le32(r->cmd.dptr + 11, 0x1234);
	r->cmd.dptr[15] = 0x4f;
}

static void sqe_inline(struct em_nvmf_req *r, uint8_t opc, uint64_t off, uint32_t len)
{
	sqe_keyed(r, opc, 0);
	em_put_le64(r->cmd.dptr, off);
	em_put_le32(r->cmd.dptr + 8, len);
	r->cmd.dptr[15] = 0x01;
}

/* Runs one request like a transport would: parse, data in (host_data),
 * execute, wait for the completion. Returns the status field. */
static uint16_t run(struct tq *t, struct em_nvmf_req *r, const void *host_data, uint32_t icd_len)
{
	int before = t->completions;
	uint16_t st;

	r->q = &t->q;
	r->buf = t->buf;
	r->buf_size = BUF_SIZE;
	r->icd = t->icd;
	r->icd_len = icd_len;
	st = em_nvmf_req_parse(r);
	if (st) {
		em_nvmf_req_complete(r, st);
	} else {
		if (r->keyed && r->xfer == EM_XFER_H2C && host_data)
			memcpy(r->data, host_data, r->data_len);
		em_nvmf_req_execute(r);
	}
	for (uint64_t end = em_now_ms() + wait_ms; t->completions == before && em_now_ms() < end;)
		em_reactor_run_once(R, 10);
	if (t->completions == before)
		return 0xffff;
	is_int(r->rsp.cid, htole16(7), "response echoes the command id");
	return le16toh(r->rsp.status) >> 1;
}

static uint16_t connect(struct tq *t, const char *subnqn, const char *host, uint16_t qid,
			uint16_t cntlid, uint32_t kato, uint16_t *got_cntlid)
{
	struct em_nvmf_req r;
	struct nvmf_connect_data d;
	uint8_t *raw = (uint8_t *)&r.cmd;
	uint16_t st;

	memset(&d, 0, sizeof d);
	d.cntlid = htole16(cntlid);
	strcpy(d.subsysnqn, subnqn);
	strcpy(d.hostnqn, host);
	sqe_keyed(&r, EM_FABRICS_OPC, sizeof d);
	raw[EM_NVMF_OFF_FCTYPE] = EM_FCTYPE_CONNECT;
	em_put_le16(raw + EM_NVMF_OFF_CONN_QID, qid);
	em_put_le16(raw + EM_NVMF_OFF_CONN_SQSIZE, (uint16_t)(t->q.size - 1));
	em_put_le32(raw + EM_NVMF_OFF_CONN_KATO, kato);
	st = run(t, &r, &d, 0);
	if (got_cntlid)
		*got_cntlid = (uint16_t)le64toh(r.rsp.result);
	if (st == (EM_SC_CONNECT_INVALID_HOST | EM_NVME_DNR))
		is_int(le64toh(r.rsp.result), 1u << 16 | 512, "refusal points at the host NQN");
	return st;
}

static uint16_t prop(struct tq *t, bool set, uint32_t off, uint64_t val, bool wide, uint64_t *out)
{
	struct em_nvmf_req r;
	uint8_t *raw = (uint8_t *)&r.cmd;
	uint16_t st;

	sqe_keyed(&r, EM_FABRICS_OPC, 0);
	raw[EM_NVMF_OFF_FCTYPE] = set ? EM_FCTYPE_PROP_SET : EM_FCTYPE_PROP_GET;
	raw[EM_NVMF_OFF_PROP_ATTRIB] = wide;
	em_put_le32(raw + EM_NVMF_OFF_PROP_OFFSET, off);
	em_put_le64(raw + EM_NVMF_OFF_PROP_VALUE, val);
	st = run(t, &r, NULL, 0);
	if (out)
		*out = le64toh(r.rsp.result);
	return st;
}

static void enable(struct tq *t)
{
	uint64_t csts = 0;
	/* EN, IOSQES 6, IOCQES 4: what the Linux host writes. */
	is_int(prop(t, true, EM_PROP_CC, 1 | 6u << 16 | 4u << 20, false, NULL), 0, "CC.EN set");
	prop(t, false, EM_PROP_CSTS, 0, false, &csts);
	is_int(csts & EM_CSTS_RDY, EM_CSTS_RDY, "CSTS.RDY after enable");
}

static uint16_t admin(struct tq *t, struct em_nvmf_req *r, uint8_t opc, uint32_t nsid,
		      uint32_t cdw10, uint32_t cdw11, uint32_t len)
{
	sqe_keyed(r, opc, len);
	r->cmd.nsid = htole32(nsid);
	r->cmd.cdw10 = htole32(cdw10);
	r->cmd.cdw11 = htole32(cdw11);
	return run(t, r, NULL, 0);
}

static uint32_t log_cdw10(uint8_t lid, uint32_t len)
{
	return lid | ((len / 4 - 1) << 16);
}

static void test_discovery(struct em_nvmf_tgt *tgt)
{
	struct tq t;
	struct em_nvmf_req r;
	uint16_t cntlid = 0;
	uint64_t cap = 0;

	tq_init(&t, tgt, 0, 32);
	is_int(admin(&t, &r, EM_ADM_IDENTIFY, 0, 1, 0, 4096), EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR,
	       "identify before connect: command sequence error");
	is_int(connect(&t, EM_NVMF_DISCOVERY_NQN, HOST, 0, 0xffff, 0, &cntlid), 0,
	       "connect to the discovery controller");
	ok(cntlid >= 1 && cntlid < 0xfff0, "dynamic controller id");
	is_int(admin(&t, &r, EM_ADM_IDENTIFY, 0, 1, 0, 4096), EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR,
	       "identify before CC.EN: command sequence error");
	is_int(prop(&t, false, EM_PROP_CAP, 0, true, &cap), 0, "property get CAP");
	is_int(cap & 0xffff, 127, "CAP.MQES 127");
	ok(cap & 1ull << 37, "CAP.CSS NVM");
	is_int((cap >> 48) & 0xf, 0, "CAP.MPSMIN 4 KiB");
	is_int(prop(&t, true, EM_PROP_VS, 0, false, NULL), EM_SC_INVALID_FIELD | EM_NVME_DNR,
	       "VS is read-only");
	is_int(prop(&t, false, 0x40, 0, false, NULL), EM_SC_INVALID_FIELD | EM_NVME_DNR,
	       "unknown property");
	enable(&t);

	is_int(admin(&t, &r, EM_ADM_IDENTIFY, 0, 1, 0, 4096), 0, "identify controller");
	{
		const struct nvme_id_ctrl *id = r.data;
		is_int(id->cntrltype, 2, "discovery controller type");
		is_str(id->subnqn, EM_NVMF_DISCOVERY_NQN, "discovery subnqn");
		is_int(le16toh(id->cntlid), cntlid, "identify cntlid matches connect");
		ok(le32toh(id->sgls) & 1u << 2, "keyed SGLs advertised");
	}
	is_int(admin(&t, &r, EM_ADM_IDENTIFY, 1, 0, 0, 4096), EM_SC_INVALID_FIELD | EM_NVME_DNR,
	       "discovery: identify namespace refused");

	is_int(admin(&t, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x70, 1024), 0, 1024), 0,
	       "discovery log header");
	{
		const struct nvmf_discovery_log *h = r.data;
		is_int(le64toh(h->numrec), 1, "one subsystem visible to an allowed host");
		ok(le64toh(h->genctr) > 0, "generation counter set");
	}
	sqe_keyed(&r, EM_ADM_GET_LOG_PAGE, 1024);
	r.cmd.cdw10 = htole32(log_cdw10(0x70, 1024));
	r.cmd.cdw12 = htole32(1024);
	is_int(run(&t, &r, NULL, 0), 0, "discovery log entry by offset");
	{
		const struct nvmf_disc_log_entry *e = r.data;
		is_str(e->subnqn, NQN, "entry subnqn");
		is_int(e->trtype, NVMF_TRTYPE_RDMA, "entry trtype rdma");
		ok(strncmp(e->traddr, "192.0.2.1 ", 10) == 0, "entry traddr");
		ok(strncmp(e->trsvcid, "4420", 4) == 0, "entry trsvcid");
	}
	r.cmd.cdw12 = htole32(1026);
	is_int(run(&t, &r, NULL, 0), EM_SC_INVALID_FIELD | EM_NVME_DNR, "unaligned log offset");
	r.cmd.cdw12 = htole32(1u << 20);
	is_int(run(&t, &r, NULL, 0), EM_SC_INVALID_FIELD | EM_NVME_DNR, "offset past the log");
	is_int(admin(&t, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x70, 2048), 0, 1024),
	       EM_SC_SGL_INVALID_DATA | EM_NVME_DNR, "log length larger than the buffer");
	is_int(admin(&t, &r, 0x80, 0, 0, 0, 0), EM_SC_INVALID_OPCODE | EM_NVME_DNR,
	       "unknown admin opcode");
	is_int(admin(&t, &r, EM_ADM_KEEP_ALIVE, 0, 0, 0, 0), EM_SC_KAT_INVALID | EM_NVME_DNR,
	       "keep alive without KATO");

	em_nvmf_queue_detach(&t.q);
	tq_fini(&t);

	/* A host that may not use the subsystem does not see it. */
	tq_init(&t, tgt, 0, 32);
	is_int(connect(&t, EM_NVMF_DISCOVERY_NQN, OTHER, 0, 0xffff, 0, NULL), 0,
	       "any host may use discovery");
	enable(&t);
	is_int(admin(&t, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x70, 1024), 0, 1024), 0,
	       "discovery log for another host");
	is_int(le64toh(((const struct nvmf_discovery_log *)r.data)->numrec), 0,
	       "no entries for a disallowed host");
	em_nvmf_queue_detach(&t.q);
	tq_fini(&t);
}

static void test_sgl_parse(struct em_nvmf_tgt *tgt)
{
	struct tq t;
	struct em_nvmf_req r;

	tq_init(&t, tgt, 0, 32);
	sqe_keyed(&r, EM_ADM_IDENTIFY, 4096);
	r.cmd.flags = 0;
	is_int(run(&t, &r, NULL, 0), EM_SC_INVALID_FIELD | EM_NVME_DNR, "PRP refused");
	sqe_keyed(&r, EM_ADM_IDENTIFY, 4096);
	r.cmd.dptr[15] = 0x20;
	is_int(run(&t, &r, NULL, 0), EM_SC_SGL_INVALID_TYPE | EM_NVME_DNR, "segment SGL refused");
	sqe_keyed(&r, EM_ADM_IDENTIFY, 4096);
	r.cmd.dptr[15] = 0x4e;
	is_int(run(&t, &r, NULL, 0), EM_SC_SGL_INVALID_TYPE | EM_NVME_DNR, "keyed subtype 0xe");
	sqe_keyed(&r, EM_ADM_IDENTIFY, BUF_SIZE + 4096);
	is_int(run(&t, &r, NULL, 0), EM_SC_SGL_INVALID_DATA | EM_NVME_DNR, "keyed SGL too long");
	sqe_inline(&r, EM_IO_WRITE, 0, 512);
	is_int(run(&t, &r, NULL, 256), EM_SC_SGL_INVALID_OFFSET | EM_NVME_DNR,
	       "in-capsule data longer than received");
	sqe_inline(&r, EM_IO_WRITE, 0xffffffffffffff00ull, 512);
	is_int(run(&t, &r, NULL, 4096), EM_SC_SGL_INVALID_OFFSET | EM_NVME_DNR,
	       "in-capsule offset overflow");
	sqe_inline(&r, EM_IO_READ, 0, 512);
	is_int(run(&t, &r, NULL, 4096), EM_SC_INVALID_FIELD | EM_NVME_DNR,
	       "in-capsule data on a read");
	tq_fini(&t);
}

static void test_nvm(struct em_nvmf_tgt *tgt)
{
	struct tq a, io, io2;
	struct em_nvmf_req r;
	uint16_t cntlid = 0;
	uint8_t pattern[4096];

	tq_init(&a, tgt, 0, 32);
	is_int(connect(&a, NQN, OTHER, 0, 0xffff, 0, NULL), EM_SC_CONNECT_INVALID_HOST | EM_NVME_DNR,
	       "disallowed host refused at connect");
	ok(a.q.ctrl == NULL, "no controller for a refused host");
	is_int(connect(&a, "nqn.2024-01.io.ember:nope", HOST, 0, 0xffff, 0, NULL),
	       EM_SC_CONNECT_INVALID_PARAM | EM_NVME_DNR, "unknown subsystem refused");
	is_int(connect(&a, NQN, HOST, 1, 0xffff, 0, NULL), EM_SC_CONNECT_INVALID_PARAM | EM_NVME_DNR,
	       "qid must match the transport's queue");
	is_int(connect(&a, NQN, HOST, 0, 0xffff, 5000, &cntlid), 0, "admin connect");
	is_int(connect(&a, NQN, HOST, 0, 0xffff, 5000, NULL), EM_SC_CMD_SEQ_ERROR | EM_NVME_DNR,
	       "second connect on a queue refused");
	enable(&a);

	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 0, 1, 0, 4096), 0, "identify controller");
	{
		const struct nvme_id_ctrl *id = r.data;
		ok(memcmp(id->sn, "UNIT0001            ", 20) == 0, "serial, space padded");
		ok(memcmp(id->mn, "Ember Unit", 10) == 0, "model");
		is_int(id->cntrltype, 1, "I/O controller");
		is_int(le16toh(id->cntlid), cntlid, "cntlid matches connect");
		is_int(id->mdts, 5, "MDTS from the 128 KiB limit");
		ok(le16toh(id->kas) != 0, "keep-alive supported");
		is_int(le32toh(id->nn), 1, "one namespace");
		is_int(le32toh(id->ioccsz), (64 + ICD_SIZE) / 16, "IOCCSZ covers in-capsule data");
		is_int(le16toh(id->icdoff), 0, "ICDOFF 0");
		is_int(id->sqes, 0x66, "SQES");
		ok(le32toh(id->sgls) & 1u << 20, "in-capsule data advertised");
	}
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 1, 0, 0, 4096), 0, "identify namespace");
	{
		const struct nvme_id_ns *id = r.data;
		is_int(le64toh(id->nsze), AREA / BS, "namespace size in blocks");
		is_int(1u << id->lbaf[0].ds, BS, "LBA format of the device's block size");
	}
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 2, 0, 0, 4096), EM_SC_INVALID_NS | EM_NVME_DNR,
	       "identify missing namespace");
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 0, 2, 0, 4096), 0, "active namespace list");
	is_int(em_le32(r.data), 1, "lists nsid 1");
	is_int(em_le32((uint8_t *)r.data + 4), 0, "and nothing else");
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 1, 3, 0, 4096), 0, "namespace descriptors");
	is_int(((uint8_t *)r.data)[0], NVME_NIDT_NGUID, "first descriptor is the NGUID");
	is_int(admin(&a, &r, EM_ADM_SET_FEATURES, 0, 0x07, 3 | 3u << 16, 0), 0,
	       "set number of queues");
	is_int(le64toh(r.rsp.result), 3 | 3u << 16, "4 queues granted");
	is_int(admin(&a, &r, EM_ADM_SET_FEATURES, 0, 0x07, 0xffff, 0),
	       EM_SC_INVALID_FIELD | EM_NVME_DNR, "0xffff queues refused");
	is_int(admin(&a, &r, EM_ADM_GET_FEATURES, 0, 0x0f, 0, 0), 0, "get KATO");
	is_int(le64toh(r.rsp.result), 5000, "KATO from connect");
	is_int(admin(&a, &r, EM_ADM_SET_FEATURES, 0, 0x0b, 0x100, 0), 0, "set async event config");
	is_int(admin(&a, &r, EM_ADM_KEEP_ALIVE, 0, 0, 0, 0), 0, "keep alive");
	is_int(admin(&a, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x02, 512), 0, 512), 0, "SMART log");
	is_int(admin(&a, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x01, 64), 0, 64), 0, "error log");
	is_int(admin(&a, &r, EM_ADM_GET_LOG_PAGE, 0, log_cdw10(0x70, 1024), 0, 1024),
	       EM_SC_INVALID_LOG_PAGE | EM_NVME_DNR, "no discovery log on an I/O controller");
	is_int(admin(&a, &r, 0x10, 0, 0, 0, 0), EM_SC_INVALID_OPCODE | EM_NVME_DNR,
	       "firmware commit is an invalid opcode");

	/* I/O queues. */
	tq_init(&io, tgt, 1, 128);
	is_int(connect(&io, NQN, HOST, 1, (uint16_t)(cntlid + 100), 0, NULL),
	       EM_SC_CONNECT_INVALID_PARAM | EM_NVME_DNR, "I/O connect to an unknown controller");
	is_int(connect(&io, NQN, OTHER, 1, cntlid, 0, NULL), EM_SC_CONNECT_INVALID_HOST | EM_NVME_DNR,
	       "I/O connect from a disallowed host");
	is_int(connect(&io, NQN, HOST, 1, cntlid, 0, NULL), 0, "I/O queue 1 connect");
	tq_init(&io2, tgt, 5, 128);
	is_int(connect(&io2, NQN, HOST, 5, cntlid, 0, NULL),
	       EM_SC_CONNECT_INVALID_PARAM | EM_NVME_DNR, "qid above the granted count");
	tq_fini(&io2);

	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	memcpy(io.icd, pattern, sizeof pattern);
	sqe_inline(&r, EM_IO_WRITE, 0, 4096);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(8);
	r.cmd.cdw12 = htole32(4096 / BS - 1);
	is_int(run(&io, &r, NULL, 4096), 0, "write 4 KiB of in-capsule data");

	sqe_keyed(&r, EM_IO_READ, 4096);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(8);
	r.cmd.cdw12 = htole32(4096 / BS - 1);
	is_int(run(&io, &r, NULL, 0), 0, "read it back (keyed SGL)");
	ok(memcmp(r.data, pattern, sizeof pattern) == 0, "read data matches");

	sqe_keyed(&r, EM_IO_WRITE, 8192);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(16);
	r.cmd.cdw12 = htole32(8192 / BS - 1);
	{
		uint8_t big[8192];
		memset(big, 0xab, sizeof big);
		is_int(run(&io, &r, big, 0), 0, "write 8 KiB (keyed SGL, data pulled)");
	}
	sqe_keyed(&r, EM_IO_READ, BS);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(AREA / BS);
	is_int(run(&io, &r, NULL, 0), EM_SC_LBA_RANGE | EM_NVME_DNR, "read past the end");
	sqe_keyed(&r, EM_IO_READ, 2 * BS);
	r.cmd.nsid = htole32(1);
	is_int(run(&io, &r, NULL, 0), EM_SC_SGL_INVALID_DATA | EM_NVME_DNR,
	       "SGL length differs from the block count");
	sqe_keyed(&r, EM_IO_READ, BS);
	r.cmd.nsid = htole32(2);
	is_int(run(&io, &r, NULL, 0), EM_SC_INVALID_NS | EM_NVME_DNR, "read from nsid 2");
	sqe_keyed(&r, EM_IO_READ, BS);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw11 = htole32(0xffffffff);
	is_int(run(&io, &r, NULL, 0), EM_SC_LBA_RANGE | EM_NVME_DNR, "64-bit LBA far out of range");

	sqe_keyed(&r, EM_IO_WRITE_ZEROES, 0);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(8);
	r.cmd.cdw12 = htole32(4096 / BS - 1);
	is_int(run(&io, &r, NULL, 0), 0, "write zeroes");
	sqe_keyed(&r, EM_IO_READ, 4096);
	r.cmd.nsid = htole32(1);
	r.cmd.cdw10 = htole32(8);
	r.cmd.cdw12 = htole32(4096 / BS - 1);
	is_int(run(&io, &r, NULL, 0), 0, "read zeroed blocks");
	{
		static const uint8_t zero[4096];
		ok(memcmp(r.data, zero, sizeof zero) == 0, "zeroes read back");
	}
	sqe_keyed(&r, EM_IO_FLUSH, 0);
	r.cmd.nsid = htole32(1);
	is_int(run(&io, &r, NULL, 0), 0, "flush");
	{
		uint8_t ranges[32] = {0};
		em_put_le32(ranges + 4, 8);
		em_put_le64(ranges + 8, 16);
		em_put_le32(ranges + 16 + 4, 8);
		em_put_le64(ranges + 16 + 8, AREA / BS - 4);
		sqe_keyed(&r, EM_IO_DSM, 32);
		r.cmd.nsid = htole32(1);
		r.cmd.cdw10 = htole32(1);
		r.cmd.cdw11 = htole32(1u << 2);
		is_int(run(&io, &r, ranges, 0), EM_SC_LBA_RANGE | EM_NVME_DNR,
		       "deallocate range past the end");
		em_put_le64(ranges + 16 + 8, 64);
		is_int(run(&io, &r, ranges, 0), 0, "deallocate two ranges");
	}
	sqe_keyed(&r, 0x05, 0);
	r.cmd.nsid = htole32(1);
	is_int(run(&io, &r, NULL, 0), EM_SC_INVALID_OPCODE | EM_NVME_DNR, "compare: invalid opcode");
	sqe_keyed(&r, EM_FABRICS_OPC, 0);
	((uint8_t *)&r.cmd)[EM_NVMF_OFF_FCTYPE] = EM_FCTYPE_PROP_GET;
	is_int(run(&io, &r, NULL, 0), EM_SC_INVALID_FIELD | EM_NVME_DNR,
	       "property get on an I/O queue");

	/* Shutdown, then the admin queue goes: the I/O queue is told to go. */
	wait_ms = 100;
	is_int(admin(&a, &r, EM_ADM_ASYNC_EVENT, 0, 0, 0, 0), 0xffff, "AER stays outstanding");
	wait_ms = 3000;
	{
		uint64_t csts = 0;
		is_int(prop(&a, true, EM_PROP_CC, 1 | 6u << 16 | 4u << 20 | 1u << 14, false, NULL), 0,
		       "CC.SHN normal shutdown");
		prop(&a, false, EM_PROP_CSTS, 0, false, &csts);
		is_int(csts & (3u << 2), EM_CSTS_SHST_DONE, "CSTS.SHST complete");
	}
	int before = a.completions;
	em_nvmf_queue_detach(&a.q);
	is_int(a.completions, before + 1, "outstanding AER completed when the controller goes");
	is_int(le16toh(r.rsp.status) >> 1, EM_SC_ABORT_SQ_DELETED, "AER aborted");
	is_int(io.disconnects, 1, "I/O queue disconnected with its controller");
	ok(io.q.ctrl == NULL, "I/O queue detached");
	tq_fini(&io);
	tq_fini(&a);
}

static void test_keep_alive(struct em_nvmf_tgt *tgt)
{
	struct tq a;
	struct em_nvmf_req r;
	uint64_t until;

	tq_init(&a, tgt, 0, 32);
	is_int(connect(&a, NQN, HOST, 0, 0xffff, 300, NULL), 0, "connect with KATO 300 ms");
	enable(&a);
	until = em_now_ms() + 700;
	while (em_now_ms() < until) {
		em_reactor_run_once(R, 50);
		admin(&a, &r, EM_ADM_KEEP_ALIVE, 0, 0, 0, 0);
	}
	is_int(a.disconnects, 0, "association kept while keep-alives arrive");
	until = em_now_ms() + 1000;
	while (em_now_ms() < until && !a.disconnects)
		em_reactor_run_once(R, 50);
	is_int(a.disconnects, 1, "association dropped once keep-alives stop");
	ok(a.q.ctrl == NULL, "controller gone");
	tq_fini(&a);
}

static void test_config(const char *path)
{
	char ini[1024], err[256];
	struct em_config *cfg;
	struct em_nvmf_tgt *t = NULL;

	snprintf(ini, sizeof ini,
		 "[nvmf]\nlisten = 192.0.2.1\n"
		 "[subsystem.a]\nnqn = %s\nallowed_hosts = %s, %s\nnamespace = %s\nbackend = uring\n",
		 NQN, HOST, OTHER, path);
	is_int(em_config_load_string(ini, "t.ini", em_nvmf_config_schema, &cfg, err, sizeof err), 0,
	       "config loads");
	is_int(em_nvmf_tgt_from_config(cfg, R, &t, err, sizeof err), 0, "target from config");
	if (t) {
		struct em_nvmf_subsys *s = em_nvmf_subsys_find(t, NQN);
		ok(s && s->nn == 1 && s->n_hosts == 2, "subsystem with namespace and two hosts");
		ok(s && strcmp(s->serial, "a") == 0, "serial defaults to the section name");
		em_nvmf_tgt_destroy(t);
	}
	em_config_free(cfg);

	snprintf(ini, sizeof ini, "[nvmf]\nlisten = 0.0.0.0\n");
	em_config_load_string(ini, "t.ini", em_nvmf_config_schema, &cfg, err, sizeof err);
	ok(em_nvmf_tgt_from_config(cfg, R, &t, err, sizeof err) < 0, "wildcard listen refused");
	em_config_free(cfg);
	snprintf(ini, sizeof ini, "[nvmf]\nlisten = 192.0.2.1\n[subsystem.b]\nnqn = %s\n"
				  "namespace = /nonexistent/dev\n", NQN);
	em_config_load_string(ini, "t.ini", em_nvmf_config_schema, &cfg, err, sizeof err);
	ok(em_nvmf_tgt_from_config(cfg, R, &t, err, sizeof err) < 0, "missing device refused");
	ok(strstr(err, "/nonexistent/dev") != NULL, "error names the device");
	em_config_free(cfg);
}

/* One I/O command on nsid 1 with a keyed SGL for the blocks' bytes. */
static uint16_t io_cmd(struct tq *t, struct em_nvmf_req *r, uint8_t opc, uint64_t slba,
		       uint32_t nlb, const void *host_data)
{
	sqe_keyed(r, opc, opc == EM_IO_WRITE_ZEROES ? 0 : nlb * 4096);
	r->cmd.nsid = htole32(1);
	r->cmd.cdw10 = htole32((uint32_t)slba);
	r->cmd.cdw11 = htole32((uint32_t)(slba >> 32));
	r->cmd.cdw12 = htole32(nlb - 1);
	return run(t, r, host_data, 0);
}

/* A chunk-volume namespace from the configuration, driven by capsules: the
 * namespace interface is the same as a device's. */
static void test_volume_ns(void)
{
	char engine[] = "nvmf-engine-XXXXXX", ini[1024], err[256];
	struct em_engine_format_opts fo = { .kind = EM_BDEV_URING };
	struct em_config *cfg = NULL;
	struct em_nvmf_tgt *t = NULL;
	struct em_nvmf_req r;
	struct tq a, io;
	uint16_t cntlid = 0;
	static uint8_t data[8192], zero[8192];
	int fd = mkstemp(engine);

	if (fd < 0 || ftruncate(fd, 1 << 30) < 0)
		abort();
	close(fd);
	is_int(em_engine_format(engine, &fo), 0, "chunk engine formatted on a file");
	snprintf(ini, sizeof ini,
		 "[nvmf]\nlisten = 192.0.2.1\n"
		 "[subsystem.v]\nnqn = %s\nallowed_hosts = %s\nnamespace = chunk:%s\n",
		 NQN, HOST, engine);
	is_int(em_config_load_string(ini, "t.ini", em_nvmf_config_schema, &cfg, err, sizeof err), 0,
	       "volume config loads");
	ok(em_nvmf_tgt_from_config(cfg, R, &t, err, sizeof err) < 0, "chunk: without volume_size refused");
	ok(strstr(err, "volume_size") != NULL, "error names volume_size");
	em_config_free(cfg);
	snprintf(ini + strlen(ini), sizeof ini - strlen(ini),
		 "volume_size = 64M\nchunk_size = 1M\nbackend = uring\n");
	em_config_load_string(ini, "t.ini", em_nvmf_config_schema, &cfg, err, sizeof err);
	is_int(em_nvmf_tgt_from_config(cfg, R, &t, err, sizeof err), 0, "target with a chunk volume");
	em_config_free(cfg);
	if (!t) {
		unlink(engine);
		return;
	}
	tq_init(&a, t, 0, 32);
	is_int(connect(&a, NQN, HOST, 0, 0xffff, 0, &cntlid), 0, "admin connect");
	enable(&a);
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 0, 1, 0, 4096), 0, "identify controller");
	is_int(((const struct nvme_id_ctrl *)r.data)->mdts, 5, "MDTS stays at 128 KiB");
	ok(le16toh(((const struct nvme_id_ctrl *)r.data)->oncs) & (1u << 2 | 1u << 3),
	   "DSM and Write Zeroes");
	is_int(admin(&a, &r, EM_ADM_IDENTIFY, 1, 0, 0, 4096), 0, "identify namespace");
	{
		const struct nvme_id_ns *id = r.data;
		is_int(le64toh(id->nsze), (64u << 20) / 4096, "volume size in 4 KiB blocks");
		is_int(id->lbaf[0].ds, 12, "4 KiB LBA format");
		is_int(id->dlfeat & 7, 1, "deallocated blocks read as zeroes");
	}
	tq_init(&io, t, 1, 128);
	is_int(connect(&io, NQN, HOST, 1, cntlid, 0, NULL), 0, "I/O queue connect");
	is_int(io_cmd(&io, &r, EM_IO_READ, 100, 2, NULL), 0, "read unwritten blocks");
	ok(memcmp(r.data, zero, sizeof zero) == 0, "unwritten blocks are zeroes");
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	/* LBA 255..256 straddles chunks 0 and 1. */
	is_int(io_cmd(&io, &r, EM_IO_WRITE, 255, 2, data), 0, "write across a chunk boundary");
	is_int(io_cmd(&io, &r, EM_IO_READ, 255, 2, NULL), 0, "read it back");
	ok(memcmp(r.data, data, sizeof data) == 0, "data matches");
	sqe_keyed(&r, EM_IO_FLUSH, 0);
	r.cmd.nsid = htole32(1);
	is_int(run(&io, &r, NULL, 0), 0, "flush");
	is_int(io_cmd(&io, &r, EM_IO_WRITE_ZEROES, 256, 1, NULL), 0, "write zeroes");
	is_int(io_cmd(&io, &r, EM_IO_READ, 255, 2, NULL), 0, "read");
	ok(memcmp(r.data, data, 4096) == 0 && memcmp((uint8_t *)r.data + 4096, zero, 4096) == 0,
	   "only the zeroed block is zeroes");
	{
		uint8_t range[16] = { 0 };
		em_put_le32(range + 4, 1);
		em_put_le64(range + 8, 255);
		sqe_keyed(&r, EM_IO_DSM, 16);
		r.cmd.nsid = htole32(1);
		r.cmd.cdw11 = htole32(1u << 2);
		is_int(run(&io, &r, range, 0), 0, "deallocate");
	}
	is_int(io_cmd(&io, &r, EM_IO_READ, 255, 2, NULL), 0, "read");
	ok(memcmp(r.data, zero, sizeof zero) == 0, "deallocated blocks read as zeroes");
	is_int(io_cmd(&io, &r, EM_IO_READ, (64u << 20) / 4096 - 1, 2, NULL),
	       EM_SC_LBA_RANGE | EM_NVME_DNR, "read past the volume's end");
	em_nvmf_queue_detach(&a.q);
	tq_fini(&io);
	tq_fini(&a);
	em_nvmf_tgt_destroy(t);
	unlink(engine);
}

int main(void)
{
	char path[] = "nvmf-test-XXXXXX";
	struct em_nvmf_tgt_opts o = { .traddr = "192.0.2.1", .inline_data_size = ICD_SIZE };
	struct em_nvmf_subsys_opts so = { .nqn = NQN, .serial = "UNIT0001", .model = "Ember Unit" };
	struct em_nvmf_tgt *tgt;
	struct em_nvmf_subsys *s;
	struct em_bdev_opts bo = { .kind = EM_BDEV_URING };
	struct em_bdev *d;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, AREA) < 0) {
		perror("temp file");
		return 1;
	}
	close(fd);
	if (em_reactor_create("test", &R) < 0)
		return 1;
	is_int(em_nvmf_tgt_create(R, &o, &tgt), 0, "target created");
	is_int(em_nvmf_subsys_add(tgt, &so, &s), 0, "subsystem added");
	is_int(em_nvmf_subsys_add(tgt, &so, &s), -EEXIST, "duplicate NQN refused");
	s = em_nvmf_subsys_find(tgt, NQN);
	is_int(em_nvmf_subsys_allow_host(s, HOST), 0, "host allowed");
	is_int(em_bdev_open(path, &bo, &d), 0, "file device opened");
	is_int(em_bdev_attach(d, R), 0, "device attached");
	is_int(em_nvmf_ns_add_bdev(s, d, NULL), 0, "namespace added");
	BS = em_bdev_get_info(d)->block_size;

	test_discovery(tgt);
	test_sgl_parse(tgt);
	test_nvm(tgt);
	test_keep_alive(tgt);
	test_config(path);
	test_volume_ns();

	em_nvmf_tgt_destroy(tgt);
	em_reactor_destroy(R);
	unlink(path);
	return tap_done();
}
