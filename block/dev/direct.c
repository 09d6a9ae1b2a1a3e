/* Opening regular files and block devices for O_DIRECT I/O (the uring and aio
 * engines), and learning their geometry from the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "block/dev/backend.h"
#include "include/ember/errors.h"
#include "net/core/log.h"

/* Regular files: one command per 1 MiB keeps latency fair between readers
 * and writers of one ring while staying far past the bandwidth knee. */
#define FILE_MAX_TRANSFER (1u << 20)
#define FILE_BLOCK_SIZE 4096u

static long sysfs_queue_value(dev_t rdev, const char *attr)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s", major(rdev),
		 minor(rdev), attr);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int blockdev_info(int fd, const struct stat *st, struct em_bdev_info *info)
{
	uint64_t size;
	int lbs;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKSSZGET, &lbs) < 0)
		return -errno;
	info->size = size;
	info->block_size = (uint32_t)lbs;
	long kb = sysfs_queue_value(st->st_rdev, "max_sectors_kb");
	info->max_transfer = kb > 0 ? (uint32_t)kb * 1024 : 128 * 1024;
	if (info->max_transfer > FILE_MAX_TRANSFER)
		info->max_transfer = FILE_MAX_TRANSFER;
	long rot = sysfs_queue_value(st->st_rdev, "rotational");
	info->rotational = rot == 1;
	return 0;
}

int em_bdev_open_direct(const char *path, struct em_bdev_info *info, int *fd_out)
{
	int fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		if (e == -EINVAL)
			EM_ERR("bdev", "%s: the file system does not support O_DIRECT", path);
		return e == -EINVAL ? -EOPNOTSUPP : e;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (S_ISBLK(st.st_mode)) {
		rc = blockdev_info(fd, &st, info);
	} else if (S_ISREG(st.st_mode)) {
		info->size = (uint64_t)st.st_size / FILE_BLOCK_SIZE * FILE_BLOCK_SIZE;
		info->block_size = FILE_BLOCK_SIZE;
		info->max_transfer = FILE_MAX_TRANSFER;
	} else {
		EM_ERR("bdev", "%s: not a regular file or block device", path);
		rc = -EINVAL;
	}
	if (rc == 0 && info->size == 0) {
		EM_ERR("bdev", "%s: size is 0", path);
		rc = -EINVAL;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	/* fallocate zero-range and punch-hole serve both regular files and
	 * block devices (which turn them into WRITE ZEROES and DISCARD). */
	info->write_zeroes = true;
	info->discard = true;
	info->max_zeroes = info->size;
	*fd_out = fd;
	return 0;
}
