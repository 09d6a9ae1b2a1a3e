/* The nvme engine: NVMe commands passed straight to a namespace through
 * io_uring IORING_OP_URING_CMD on its generic character device /dev/ngXnY,
 * bypassing the block layer. The ring needs 128-byte SQEs (the command rides
 * in the SQE) and 32-byte CQEs. */
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <libnvme.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/dev/ring.h"
#include "include/ember/errors.h"
#include "net/core/log.h"

enum {
	NVME_OP_FLUSH = 0x00,
	NVME_OP_WRITE = 0x01,
	NVME_OP_READ = 0x02,
	NVME_OP_WRITE_ZEROES = 0x08,
	NVME_OP_DSM = 0x09,
};
#define NVME_CDW12_FUA (1u << 30)
#define NVME_DSM_DEALLOCATE (1u << 2)
/* Without a kernel limit to read, stay under every MDTS seen in practice. */
#define NVME_FALLBACK_TRANSFER (128u * 1024)

struct nvme_dev {
	struct em_ring_dev r;
	uint32_t nsid;
	uint32_t lba_shift;
};

/* NVMe DSM range (NVMe base spec "Dataset Management - Range Definition");
 * lives in io->priv while the command is in flight. */
struct dsm_range {
	uint32_t cattr;
	uint32_t nlb;
	uint64_t slba;
};
_Static_assert(sizeof(struct dsm_range) <= sizeof(((struct em_bdev_io *)0)->priv),
	       "DSM range fits the io scratch space");

static const char cap_hint[] =
	"NVMe passthrough on Linux < 6.2 needs CAP_SYS_ADMIN regardless of the "
	"device's file mode: run as root or grant the capability";

static void nvme_prep(struct em_ring_dev *r, struct io_uring_sqe *sqe,
		      struct em_bdev_io *io, int idx)
{
	struct nvme_dev *n = (struct nvme_dev *)r;
	struct nvme_uring_cmd c;
	memset(&c, 0, sizeof(c));
	c.nsid = n->nsid;
	uint64_t slba = io->offset >> n->lba_shift;
	uint32_t nlb = io->len >> n->lba_shift;
	switch (io->op) {
	case EM_BDEV_READ:
	case EM_BDEV_WRITE:
		c.opcode = io->op == EM_BDEV_READ ? NVME_OP_READ : NVME_OP_WRITE;
		c.addr = (uintptr_t)io->buf;
		c.data_len = io->len;
		break;
	case EM_BDEV_WRITE_ZEROES:
		c.opcode = NVME_OP_WRITE_ZEROES;
		break;
	case EM_BDEV_FLUSH:
		c.opcode = NVME_OP_FLUSH;
		break;
	case EM_BDEV_DISCARD: {
		struct dsm_range *rg = (struct dsm_range *)io->priv;
		rg->cattr = 0;
		rg->nlb = nlb;
		rg->slba = slba;
		c.opcode = NVME_OP_DSM;
		c.addr = (uintptr_t)rg;
		c.data_len = sizeof(*rg);
		c.cdw10 = 0; /* one range, 0-based */
		c.cdw11 = NVME_DSM_DEALLOCATE;
		break;
	}
	}
	if (io->op == EM_BDEV_READ || io->op == EM_BDEV_WRITE ||
	    io->op == EM_BDEV_WRITE_ZEROES) {
		c.cdw10 = (uint32_t)slba;
		c.cdw11 = (uint32_t)(slba >> 32);
		c.cdw12 = nlb - 1;
		if (io->flags & EM_BDEV_FUA)
			c.cdw12 |= NVME_CDW12_FUA;
	}
	/* liburing 2.3 has no uring_cmd helper: prep a blank rw SQE, then set
	 * cmd_op (which shares space with the offset) and the command. */
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, 0, NULL, 0, 0);
	sqe->cmd_op = NVME_URING_CMD_IO;
	memcpy(sqe->cmd, &c, sizeof(c));
	sqe->flags |= IOSQE_FIXED_FILE;
	if (idx >= 0) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (uint16_t)idx;
	}
}

static int nvme_result(struct em_ring_dev *r, struct em_bdev_io *io,
		       const struct io_uring_cqe *cqe)
{
	if (cqe->res < 0) {
		if (cqe->res == -EACCES)
			EM_ERR("bdev", "nvme: %s", cap_hint);
		return cqe->res;
	}
	/* Positive: the NVMe status field without the phase bit; keep SCT and
	 * SC, drop the retry-delay, More and DNR bits. */
	io->nvme_status = (uint16_t)(cqe->res & 0x7ff);
	return em_bdev_nvme_status_errno(io->nvme_status);
}

static const struct em_ring_ops nvme_ops = { nvme_prep, nvme_result };

static const struct em_bdev_backend nvme_backend = {
	.submit = em_ring_submit,
	.reap = em_ring_reap,
	.register_buf = em_ring_register_buf,
	.close = em_ring_close,
};

/* libnvme: 0, -1 with errno, or a positive NVMe status. */
static int nvme_rc(int rc)
{
	if (rc < 0)
		return -errno;
	if (rc > 0)
		return em_bdev_nvme_status_errno((uint16_t)(rc & 0x7ff));
	return 0;
}

static unsigned queue_value(int c, int ns, const char *attr)
{
	char sys[96];
	snprintf(sys, sizeof(sys), "/sys/block/nvme%dn%d/queue/%s", c, ns, attr);
	FILE *f = fopen(sys, "r");
	unsigned v = 0;
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* The block layer caps a passthrough command at the queue's max_hw_sectors;
 * past it the kernel says -EINVAL, so learn it rather than guess. */
static uint32_t kernel_max_transfer(const char *path, const struct nvme_id_ctrl *ctrl)
{
	const char *base = strrchr(path, '/');
	int c, ns;
	if (sscanf(base ? base + 1 : path, "ng%dn%d", &c, &ns) == 2) {
		unsigned kb = queue_value(c, ns, "max_hw_sectors_kb");
		if (kb) {
			uint64_t max = (uint64_t)kb * 1024;
			/* Passthrough is never split: a page-aligned buffer whose
			 * pages are not physically contiguous takes one segment
			 * per page, and past max_segments the kernel says
			 * -EINVAL. Stay within both, at a power of two so that
			 * chunk-sized I/O splits evenly. */
			unsigned segs = queue_value(c, ns, "max_segments");
			if (segs && (uint64_t)segs * 4096 < max)
				max = (uint64_t)segs * 4096;
			uint32_t p2 = 4096;
			while ((uint64_t)p2 * 2 <= max && p2 < (1u << 30))
				p2 *= 2;
			return p2;
		}
	}
	/* MDTS is in units of the minimum page size; 4 KiB on every
	 * controller Linux drives with default settings. */
	if (ctrl && ctrl->mdts && ctrl->mdts < 20) {
		uint32_t mdts = 4096u << ctrl->mdts;
		return mdts < NVME_FALLBACK_TRANSFER ? mdts : NVME_FALLBACK_TRANSFER;
	}
	return NVME_FALLBACK_TRANSFER;
}

static int nvme_geometry(struct nvme_dev *n, const char *path)
{
	struct em_bdev_info *in = &n->r.d.info;
	int fd = n->r.fd;
	int rc = nvme_rc(nvme_get_nsid(fd, &n->nsid));
	if (rc < 0) {
		EM_ERR("bdev", "%s: not an NVMe namespace: %s", path, em_strerror(rc));
		return rc;
	}
	struct nvme_id_ns *id = NULL;
	struct nvme_id_ctrl *ctrl = NULL;
	if (posix_memalign((void **)&id, 4096, sizeof(*id)) ||
	    posix_memalign((void **)&ctrl, 4096, sizeof(*ctrl))) {
		free(id);
		return -ENOMEM;
	}
	rc = nvme_rc(nvme_identify_ns(fd, n->nsid, id));
	if (rc < 0) {
		EM_ERR("bdev", "%s: identify namespace: %s%s%s", path, em_strerror(rc),
		       rc == -EACCES ? ". " : "", rc == -EACCES ? cap_hint : "");
		goto out;
	}
	__u8 idx;
	nvme_id_ns_flbas_to_lbaf_inuse(id->flbas, &idx);
	if (id->lbaf[idx].ms) {
		EM_ERR("bdev", "%s: LBA format %u carries %u metadata bytes per block; "
		       "format the namespace without metadata", path, idx,
		       le16toh(id->lbaf[idx].ms));
		rc = -EINVAL;
		goto out;
	}
	n->lba_shift = id->lbaf[idx].ds;
	if (n->lba_shift < 9 || n->lba_shift > 16) {
		EM_ERR("bdev", "%s: unsupported LBA size 2^%u", path, n->lba_shift);
		rc = -EINVAL;
		goto out;
	}
	in->block_size = 1u << n->lba_shift;
	in->size = le64toh(id->nsze) << n->lba_shift;
	in->nsid = n->nsid;
	/* Identify Controller also goes through the namespace node, which
	 * forwards admin commands to its controller. */
	bool have_ctrl = nvme_rc(nvme_identify_ctrl(fd, ctrl)) == 0;
	uint16_t oncs = have_ctrl ? le16toh(ctrl->oncs) : 0;
	in->write_zeroes = oncs & NVME_CTRL_ONCS_WRITE_ZEROES;
	in->discard = oncs & NVME_CTRL_ONCS_DSM;
	in->max_zeroes = (uint64_t)65536 << n->lba_shift; /* 16-bit NLB */
	in->max_transfer = kernel_max_transfer(path, have_ctrl ? ctrl : NULL);
	rc = 0;
out:
	free(id);
	free(ctrl);
	return rc;
}

int em_bdev_nvme_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out)
{
	struct nvme_dev *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	em_bdev_init(&n->r.d, &nvme_backend, opts);
	n->r.ops = &nvme_ops;
	n->r.fd = open(path, O_RDWR | O_CLOEXEC);
	int rc = n->r.fd < 0 ? -errno : 0;
	if (rc == -EACCES)
		EM_ERR("bdev", "%s: %s", path, strerror(EACCES));
	if (rc == 0)
		rc = nvme_geometry(n, path);
	if (rc == 0) {
		rc = em_ring_setup(&n->r, IORING_SETUP_SQE128 | IORING_SETUP_CQE32);
		if (rc == -EINVAL)
			EM_ERR("bdev", "%s: the kernel lacks io_uring SQE128/CQE32 (Linux >= 5.19)", path);
	}
	if (rc < 0) {
		em_ring_close(&n->r.d);
		return rc;
	}
	*out = &n->r.d;
	return 0;
}
