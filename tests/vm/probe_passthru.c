/* probe_passthru: proves that the vm testbed has working io_uring NVMe
 * passthrough, the data path of Ember's nvme device backend.
 *
 * On the generic char device (default /dev/ng0n1) it reads the namespace id
 * (nvme_get_nsid) and the LBA format (libnvme Identify Namespace), creates an
 * io_uring with 128-byte SQEs and 32-byte CQEs, and at three extents (one
 * block near the start, 64 KiB in the middle, 128 KiB at the very end):
 *   1. writes a seeded pattern with passthrough NVMe Write commands (all three
 *      in flight at once), reads it back with passthrough Read, checks every
 *      byte and the CRC32C;
 *   2. reads the same LBAs through the block device (default: /dev/nvmeXnY
 *      for /dev/ngXnY) with O_DIRECT pread and checks they hold the same bytes;
 *   3. writes a new pattern through the block device (O_DIRECT pwrite) and
 *      checks that a passthrough Read returns it.
 * Exit status 0 only if everything matched. Runs as root in the vm testbed;
 * on Linux 6.1 passthrough needs CAP_SYS_ADMIN whatever the device's mode.
 *
 * usage: probe_passthru [NG_DEVICE [BLOCK_DEVICE]]
 */
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libnvme.h>
#include <liburing.h>
#include <linux/nvme_ioctl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB "probe_passthru"
#define CQE_WAIT_S 20
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ 0x02

struct extent {
	uint64_t slba;
	uint32_t nlb;
	size_t len;
	uint64_t seed;
	unsigned char *buf; /* what was written */
	unsigned char *back; /* what was read */
};

static const char *ng_path;
static const char *blk_path;

static void fill_pattern(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed ^ 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static int report_errno(const char *what, const char *path, int err)
{
	if (err == EACCES || err == EPERM)
		EM_ERR(SUB, "%s %s: %s (%s): NVMe passthrough on Linux 6.1 needs CAP_SYS_ADMIN "
			    "(run as root; file permissions count only from 6.2)",
		       what, path, em_errname(-err), em_strerror(-err));
	else
		EM_ERR(SUB, "%s %s: %s (%s)", what, path, em_errname(-err), em_strerror(-err));
	return -err;
}

static void *alloc_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

/* Compares got with want, byte by byte and by CRC32C. */
static int compare(const char *what, const struct extent *e, const unsigned char *want,
		   const unsigned char *got)
{
	uint32_t cw = em_crc32c(0, want, e->len), cg = em_crc32c(0, got, e->len);

	for (size_t i = 0; i < e->len; i++) {
		if (want[i] != got[i]) {
			EM_ERR(SUB, "%s at LBA %llu: byte %zu of %zu is 0x%02x, expected 0x%02x", what,
			       (unsigned long long)e->slba, i, e->len, got[i], want[i]);
			return -EM_ECHECKSUM;
		}
	}
	if (cw != cg) {
		EM_ERR(SUB, "%s at LBA %llu: crc32c 0x%08x, expected 0x%08x", what,
		       (unsigned long long)e->slba, cg, cw);
		return -EM_ECHECKSUM;
	}
	printf("passthru probe: %s %zu bytes at LBA %llu verified (crc32c 0x%08x)\n", what, e->len,
	       (unsigned long long)e->slba, cg);
	fflush(stdout);
	return 0;
}

/* Queues one passthrough NVMe Read or Write. */
static int queue_io(struct io_uring *ring, int fd, uint32_t nsid, uint8_t opcode,
		    const struct extent *e, void *buf, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct nvme_uring_cmd cmd;
	unsigned char *area;

	if (!sqe) {
		EM_ERR(SUB, "io_uring submission queue full");
		return -EBUSY;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = opcode;
	cmd.flags = 0; /* 6.1 rejects any flag (no PSDT/SGL bits) */
	cmd.nsid = nsid;
	cmd.addr = (uint64_t)(uintptr_t)buf;
	cmd.data_len = (uint32_t)e->len;
	cmd.cdw10 = (uint32_t)e->slba;
	cmd.cdw11 = (uint32_t)(e->slba >> 32);
	cmd.cdw12 = e->nlb - 1; /* 0-based block count */

	/* liburing 2.3 has no helper for IORING_OP_URING_CMD. */
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->__pad1 = 0;
	/* With IORING_SETUP_SQE128 the command area is 80 bytes from cmd[]. */
	area = (unsigned char *)sqe + offsetof(struct io_uring_sqe, cmd);
	memset(area, 0, 80);
	memcpy(area, &cmd, sizeof(cmd));
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

/* Submits what is queued and waits (bounded) for n completions. user_data of
 * each is the index of its extent in ex[]. */
static int submit_wait(struct io_uring *ring, const char *what, struct extent *ex, unsigned n)
{
	int rc = 0, ret = io_uring_submit(ring);

	if (ret < 0)
		return report_errno("io_uring_submit on", ng_path, -ret);
	if ((unsigned)ret != n) {
		EM_ERR(SUB, "io_uring_submit took %d of %u commands", ret, n);
		return -EIO;
	}
	for (unsigned i = 0; i < n; i++) {
		struct __kernel_timespec ts = { .tv_sec = CQE_WAIT_S, .tv_nsec = 0 };
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (ret == -ETIME) {
			EM_ERR(SUB, "%s: no completion within %d s (%u of %u done)", what, CQE_WAIT_S, i,
			       n);
			return -ETIMEDOUT;
		}
		if (ret < 0)
			return report_errno("io_uring_wait_cqe on", ng_path, -ret);
		uint64_t idx = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		uint64_t result = cqe->big_cqe[0];
		io_uring_cqe_seen(ring, cqe);
		if (res < 0) {
			if (res == -EOPNOTSUPP)
				EM_ERR(SUB, "%s: EOPNOTSUPP: passthrough needs a ring with SQE128|CQE32 and "
					    "a kernel >= 5.19", what);
			else if (res == -EINVAL)
				EM_ERR(SUB, "%s: EINVAL: the kernel rejected the command (flags, nsid, "
					    "or data_len above max_hw_sectors?)", what);
			report_errno(what, ng_path, -res);
			rc = res;
		} else if (res > 0) {
			EM_ERR(SUB, "%s at LBA %llu: NVMe status 0x%x (SCT %u, SC 0x%02x), result %llu",
			       what, idx < 16 ? (unsigned long long)ex[idx].slba : 0ull, res,
			       (res >> 8) & 0x7, res & 0xff, (unsigned long long)result);
			rc = -EIO;
		} else {
			EM_DEBUG(SUB, "%s: extent %llu done", what, (unsigned long long)idx);
		}
	}
	return rc;
}

static int identify(int fd, uint32_t *nsid, uint32_t *lba_size, uint64_t *nsze)
{
	struct nvme_id_ns ns;
	uint8_t idx;
	int ret;

	if (nvme_get_nsid(fd, nsid) != 0)
		return report_errno("nvme_get_nsid", ng_path, errno);
	memset(&ns, 0, sizeof(ns));
	ret = nvme_identify_ns(fd, *nsid, &ns);
	if (ret < 0)
		return report_errno("nvme_identify_ns", ng_path, errno);
	if (ret > 0) {
		EM_ERR(SUB, "nvme_identify_ns %s: NVMe status 0x%x", ng_path, ret);
		return -EIO;
	}
	nvme_id_ns_flbas_to_lbaf_inuse(ns.flbas, &idx);
	if (idx > ns.nlbaf) {
		EM_ERR(SUB, "%s: LBA format index %u out of range (%u formats)", ng_path, idx,
		       ns.nlbaf + 1u);
		return -EPROTO;
	}
	*lba_size = 1u << ns.lbaf[idx].ds;
	*nsze = le64toh(ns.nsze);
	if (le16toh(ns.lbaf[idx].ms) != 0 || *lba_size < 512 || *lba_size > 65536) {
		EM_ERR(SUB, "%s: LBA format %u has %u-byte blocks and %u metadata bytes; this probe "
			    "wants plain 512..65536-byte blocks",
		       ng_path, idx, *lba_size, le16toh(ns.lbaf[idx].ms));
		return -EPROTO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char blk_buf[256];
	struct io_uring ring;
	struct extent ex[3];
	uint32_t nsid = 0, lba = 0;
	uint64_t nsze = 0;
	int fd = -1, bfd = -1, rc = 1, ret;
	bool ring_ok = false;

	if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [NG_DEVICE [BLOCK_DEVICE]]   (default /dev/ng0n1)\n",
			argv[0]);
		return 2;
	}
	ng_path = argc > 1 ? argv[1] : "/dev/ng0n1";
	if (argc > 2) {
		blk_path = argv[2];
	} else {
		const char *base = strrchr(ng_path, '/');
		size_t dir = base ? (size_t)(base - ng_path + 1) : 0;
		base = base ? base + 1 : ng_path;
		if (strncmp(base, "ng", 2) != 0) {
			EM_ERR(SUB, "%s is not an /dev/ngXnY name: give the block device too", ng_path);
			return 2;
		}
		snprintf(blk_buf, sizeof(blk_buf), "%.*snvme%s", (int)dir, ng_path, base + 2);
		blk_path = blk_buf;
	}
	memset(ex, 0, sizeof(ex));

	fd = open(ng_path, O_RDWR);
	if (fd < 0) {
		report_errno("open", ng_path, errno);
		goto out;
	}
	if (identify(fd, &nsid, &lba, &nsze) != 0)
		goto out;
	printf("passthru probe: %s nsid %u, %llu blocks of %u bytes (%llu MiB); block device %s\n",
	       ng_path, nsid, (unsigned long long)nsze, lba,
	       (unsigned long long)(nsze * lba >> 20), blk_path);
	fflush(stdout);

	/* One block near the start, 64 KiB in the middle, 128 KiB at the end. */
	uint32_t nlb[3] = { 1, 65536 / lba ? 65536 / lba : 1, 131072 / lba ? 131072 / lba : 1 };
	if (nsze < 4ull * nlb[2] + 16) {
		EM_ERR(SUB, "%s: namespace of %llu blocks is too small for this probe", ng_path,
		       (unsigned long long)nsze);
		goto out;
	}
	uint64_t slba[3] = { 1, nsze / 2 + 3, nsze - nlb[2] };
	for (int i = 0; i < 3; i++) {
		ex[i].slba = slba[i];
		ex[i].nlb = nlb[i];
		ex[i].len = (size_t)nlb[i] * lba;
		ex[i].seed = 0x70a5500000000000ull + (uint64_t)i;
		ex[i].buf = alloc_buf(ex[i].len);
		ex[i].back = alloc_buf(ex[i].len);
		if (!ex[i].buf || !ex[i].back) {
			EM_ERR(SUB, "out of memory");
			goto out;
		}
		fill_pattern(ex[i].buf, ex[i].len, ex[i].seed);
	}

	ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128 | IORING_SETUP_CQE32);
	if (ret < 0) {
		EM_ERR(SUB, "io_uring_queue_init(SQE128|CQE32): %s (%s)%s", em_errname(ret),
		       em_strerror(ret),
		       ret == -EINVAL ? ": the kernel has no big SQEs/CQEs (needs >= 5.19)" : "");
		goto out;
	}
	ring_ok = true;

	/* 1. passthrough Write, then passthrough Read, all extents in flight at once */
	for (int i = 0; i < 3; i++)
		if (queue_io(&ring, fd, nsid, NVME_CMD_WRITE, &ex[i], ex[i].buf, (uint64_t)i) != 0)
			goto out;
	if (submit_wait(&ring, "passthrough Write", ex, 3) != 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (queue_io(&ring, fd, nsid, NVME_CMD_READ, &ex[i], ex[i].back, (uint64_t)i) != 0)
			goto out;
	if (submit_wait(&ring, "passthrough Read", ex, 3) != 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (compare("passthrough Write+Read", &ex[i], ex[i].buf, ex[i].back) != 0)
			goto out;

	/* 2. the block device sees the same bytes */
	bfd = open(blk_path, O_RDWR | O_DIRECT);
	if (bfd < 0) {
		report_errno("open(O_DIRECT)", blk_path, errno);
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		memset(ex[i].back, 0, ex[i].len);
		ssize_t n = pread(bfd, ex[i].back, ex[i].len, (off_t)(ex[i].slba * lba));
		if (n < 0) {
			report_errno("pread(O_DIRECT)", blk_path, errno);
			goto out;
		}
		if ((size_t)n != ex[i].len) {
			EM_ERR(SUB, "pread %s: %zd of %zu bytes", blk_path, n, ex[i].len);
			goto out;
		}
		if (compare("cross-check: block device O_DIRECT read of the passthrough Write", &ex[i],
			    ex[i].buf, ex[i].back) != 0)
			goto out;
	}

	/* 3. and the other way round: block device write, passthrough Read */
	for (int i = 0; i < 3; i++) {
		ex[i].seed += 0x100;
		fill_pattern(ex[i].buf, ex[i].len, ex[i].seed);
		ssize_t n = pwrite(bfd, ex[i].buf, ex[i].len, (off_t)(ex[i].slba * lba));
		if (n < 0) {
			report_errno("pwrite(O_DIRECT)", blk_path, errno);
			goto out;
		}
		if ((size_t)n != ex[i].len) {
			EM_ERR(SUB, "pwrite %s: %zd of %zu bytes", blk_path, n, ex[i].len);
			goto out;
		}
		memset(ex[i].back, 0, ex[i].len);
		if (queue_io(&ring, fd, nsid, NVME_CMD_READ, &ex[i], ex[i].back, (uint64_t)i) != 0)
			goto out;
	}
	if (submit_wait(&ring, "passthrough Read", ex, 3) != 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (compare("cross-check: passthrough Read of a block device O_DIRECT write", &ex[i],
			    ex[i].buf, ex[i].back) != 0)
			goto out;

	printf("passthru probe: PASS: io_uring NVMe passthrough Write/Read on %s verified and "
	       "cross-checked through %s\n",
	       ng_path, blk_path);
	rc = 0;
out:
	if (rc)
		printf("passthru probe: FAIL (see the error above)\n");
	if (ring_ok)
		io_uring_queue_exit(&ring);
	if (bfd >= 0)
		close(bfd);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 3; i++) {
		free(ex[i].buf);
		free(ex[i].back);
	}
	return rc;
}
