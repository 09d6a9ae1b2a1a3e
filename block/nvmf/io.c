/* I/O commands against a namespace's backend (block device or chunk
 * volume): Read, Write, Flush, Write Zeroes, Dataset Management. Data is
 * already in (or goes out of) the request buffer; the backend works on it
 * directly. */
#include <errno.h>
#include <string.h>

#include "block/nvmf/internal.h"
#include "ember/errors.h"
#include "net/core/log.h"

#define CDW12_NLB(v) (((v) & 0xffffu) + 1)   /* 0-based block count */
#define CDW12_FUA (1u << 30)
#define DSM_AD (1u << 2)                      /* cdw11: deallocate */
#define DSM_RANGE_SIZE 16
/* One device command of a Write Zeroes or deallocate covers at most this
 * much, so byte lengths fit the 32-bit em_bdev_io length. */
#define DSM_CHUNK_BYTES (1u << 30)

static uint16_t errno_status(enum em_bdev_op op, int err)
{
	switch (err) {
	case -EINVAL:
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	case -ERANGE:
		return EM_SC_LBA_RANGE | EM_NVME_DNR;
	case -ENOSPC:
		return EM_SC_CAP_EXCEEDED | EM_NVME_DNR;
	case -EOPNOTSUPP:
		return EM_SC_INVALID_OPCODE | EM_NVME_DNR;
	case -EIO:
	case -ENODATA:
	case -EM_ECHECKSUM: /* a chunk volume's block failed its CRC32C: never its bytes */
		return op == EM_BDEV_READ ? EM_SC_READ_ERROR : EM_SC_WRITE_FAULT;
	default:
		return EM_SC_INTERNAL;
	}
}

static bool lba_range_ok(const struct em_nvmf_ns *ns, uint64_t slba, uint64_t nlb)
{
	return slba <= ns->nblocks && nlb <= ns->nblocks - slba;
}

static void submit(struct em_nvmf_req *req, enum em_bdev_op op, uint64_t offset,
		   uint32_t len, uint32_t flags, em_bdev_cb cb)
{
	struct em_bdev_io *io = &req->bio;
	int rc;

	memset(io, 0, sizeof *io);
	io->op = op;
	io->flags = flags;
	io->offset = offset;
	io->len = len;
	io->buf = req->data;
	io->cb = cb;
	io->arg = req;
	rc = em_nvmf_ns_submit(req->ns, io);
	if (rc < 0) {
		EM_DEBUG("nvmf", "nsid %u: device refused op %d at %llu+%u: %s", req->ns->nsid,
			 op, (unsigned long long)offset, len, em_errname(rc));
		em_nvmf_req_complete(req, errno_status(op, rc));
	}
}

static void rw_done(struct em_bdev_io *io, int status)
{
	struct em_nvmf_req *req = io->arg;
	struct em_nvmf_stats *st = &req->ns->stats;

	if (status < 0) {
		st->media_errors += status == -EIO;
		/* A passthrough device's own NVMe status goes to the host as is. */
		em_nvmf_req_complete(req, io->nvme_status ? io->nvme_status
							  : errno_status(io->op, status));
		return;
	}
	if (io->op == EM_BDEV_READ) {
		st->read_bytes += io->len;
		st->read_cmds++;
	} else if (io->op == EM_BDEV_WRITE) {
		st->write_bytes += io->len;
		st->write_cmds++;
	}
	em_nvmf_req_complete(req, 0);
}

static uint16_t read_write(struct em_nvmf_req *req, bool write)
{
	struct em_nvmf_ns *ns = req->ns;
	const struct em_nvme_sqe *c = &req->cmd;
	uint64_t slba = le32toh(c->cdw10) | (uint64_t)le32toh(c->cdw11) << 32;
	uint32_t cdw12 = le32toh(c->cdw12);
	uint64_t nlb = CDW12_NLB(cdw12);
	uint64_t len = nlb << ns->lbads;

	if (!lba_range_ok(ns, slba, nlb))
		return EM_SC_LBA_RANGE | EM_NVME_DNR;
	if (len > req->q->ctrl->subsys->mdts_bytes)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	if (len != req->data_len)
		return EM_SC_SGL_INVALID_DATA | EM_NVME_DNR;
	/* In-capsule data at an offset the device cannot DMA from directly
	 * moves to the aligned request buffer first. */
	if (((uintptr_t)req->data & (ns->block_size - 1)) != 0) {
		memmove(req->buf, req->data, req->data_len);
		req->data = req->buf;
	}
	submit(req, write ? EM_BDEV_WRITE : EM_BDEV_READ, slba << ns->lbads, (uint32_t)len,
	       (cdw12 & CDW12_FUA) ? EM_BDEV_FUA : 0, rw_done);
	return 0;
}

/* Write Zeroes and deallocate work on block ranges that may exceed what one
 * device command takes: range i of the request, as (slba, nlb). Write
 * Zeroes has one range in the command itself, Dataset Management a list of
 * 16-byte {attributes, nlb, slba} entries in its data. */
static void range_get(const struct em_nvmf_req *req, uint32_t i, uint64_t *slba, uint64_t *nlb)
{
	const struct em_nvme_sqe *c = &req->cmd;

	if (c->opc == EM_IO_WRITE_ZEROES) {
		*slba = le32toh(c->cdw10) | (uint64_t)le32toh(c->cdw11) << 32;
		*nlb = CDW12_NLB(le32toh(c->cdw12));
	} else {
		const uint8_t *r = (const uint8_t *)req->data + (size_t)i * DSM_RANGE_SIZE;
		*nlb = em_le32(r + 4);
		*slba = em_le64(r + 8);
	}
}

/* Issues the next piece of the ranges; runs again as each piece completes. */
static void range_step(struct em_bdev_io *io, int status)
{
	struct em_nvmf_req *req = io->arg;
	struct em_nvmf_ns *ns = req->ns;
	uint64_t max_bytes = ns->info.max_zeroes;
	uint64_t max_blocks, slba, nlb;

	if (status < 0) {
		em_nvmf_req_complete(req, io->nvme_status ? io->nvme_status
							  : errno_status(req->range_op, status));
		return;
	}
	if (max_bytes == 0 || max_bytes > DSM_CHUNK_BYTES)
		max_bytes = DSM_CHUNK_BYTES;
	max_blocks = max_bytes >> ns->lbads;
	if (max_blocks == 0)
		max_blocks = 1;
	while (req->range_next < req->range_count) {
		uint64_t left, n;

		range_get(req, req->range_next, &slba, &nlb);
		left = nlb - req->range_done;
		if (left == 0) {
			req->range_next++;
			req->range_done = 0;
			continue;
		}
		n = left < max_blocks ? left : max_blocks;
		req->range_done += n;
		submit(req, req->range_op, (slba + req->range_done - n) << ns->lbads,
		       (uint32_t)(n << ns->lbads), 0, range_step);
		return;
	}
	em_nvmf_req_complete(req, 0);
}

static uint16_t ranges_start(struct em_nvmf_req *req, enum em_bdev_op op, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		uint64_t slba, nlb;
		range_get(req, i, &slba, &nlb);
		if (!lba_range_ok(req->ns, slba, nlb))
			return EM_SC_LBA_RANGE | EM_NVME_DNR;
	}
	req->range_op = op;
	req->range_next = 0;
	req->range_count = count;
	req->range_done = 0;
	req->bio.arg = req;
	req->bio.nvme_status = 0;
	range_step(&req->bio, 0);
	return 0;
}

static uint16_t write_zeroes(struct em_nvmf_req *req)
{
	if (!req->ns->info.write_zeroes)
		return EM_SC_INVALID_OPCODE | EM_NVME_DNR;
	return ranges_start(req, EM_BDEV_WRITE_ZEROES, 1);
}

static uint16_t dataset_mgmt(struct em_nvmf_req *req)
{
	uint32_t nr = (le32toh(req->cmd.cdw10) & 0xff) + 1;

	if (req->xfer != EM_XFER_H2C || req->data_len < nr * DSM_RANGE_SIZE)
		return EM_SC_SGL_INVALID_DATA | EM_NVME_DNR;
	/* Deallocation is advisory: without device support it is a no-op. */
	if (!(le32toh(req->cmd.cdw11) & DSM_AD) || !req->ns->info.discard) {
		for (uint32_t i = 0; i < nr; i++) {
			uint64_t slba, nlb;
			range_get(req, i, &slba, &nlb);
			if (!lba_range_ok(req->ns, slba, nlb))
				return EM_SC_LBA_RANGE | EM_NVME_DNR;
		}
		em_nvmf_req_complete(req, 0);
		return 0;
	}
	return ranges_start(req, EM_BDEV_DISCARD, nr);
}

void em_nvmf_io_execute(struct em_nvmf_req *req)
{
	uint16_t status;

	req->ns = em_nvmf_ns_find(req->q->ctrl->subsys, le32toh(req->cmd.nsid));
	if (!req->ns) {
		em_nvmf_req_complete(req, EM_SC_INVALID_NS | EM_NVME_DNR);
		return;
	}
	switch (req->cmd.opc) {
	case EM_IO_READ:
		status = read_write(req, false);
		break;
	case EM_IO_WRITE:
		status = read_write(req, true);
		break;
	case EM_IO_FLUSH:
		req->data = NULL;
		submit(req, EM_BDEV_FLUSH, 0, 0, 0, rw_done);
		status = 0;
		break;
	case EM_IO_WRITE_ZEROES:
		status = write_zeroes(req);
		break;
	case EM_IO_DSM:
		status = dataset_mgmt(req);
		break;
	default:
		status = EM_SC_INVALID_OPCODE | EM_NVME_DNR;
	}
	if (status)
		em_nvmf_req_complete(req, status);
}
