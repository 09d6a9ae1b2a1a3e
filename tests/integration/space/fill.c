/* Fills a file on a mount with 1 MiB writes, each followed by fsync, until
 * one fails or MAX MiB are written:
 *   fill FILE MAX_MIB
 * Prints "written N failed ERRNAME in MS ms" (the failing write or fsync and
 * how long that one call took) or "written N failed none", exits 0 either
 * way; 2 on a usage or open error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *errname(int e)
{
	switch (e) {
	case ENOSPC: return "ENOSPC";
	case EIO: return "EIO";
	case EDQUOT: return "EDQUOT";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fill FILE MAX_MIB\n");
		return 2;
	}
	long max = atol(argv[2]);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	static char buf[1 << 20];
	memset(buf, 0x5a, sizeof(buf));
	long n = 0;
	for (; n < max; n++) {
		double t0 = now_ms();
		ssize_t w = write(fd, buf, sizeof(buf));
		int e = w < 0 ? errno : w != (ssize_t)sizeof(buf) ? ENOSPC : 0;
		if (!e && fsync(fd) < 0)
			e = errno;
		if (e) {
			printf("written %ld failed %s in %.0f ms\n", n, errname(e), now_ms() - t0);
			close(fd);
			return 0;
		}
	}
	printf("written %ld failed none\n", n);
	close(fd);
	return 0;
}
