/* A writer whose every byte can be checked later: byte o of the file is a
 * function of o. Writes MIB MiB in 256 KiB writes, fsyncs, and fails on
 * any error; "verify" reads it back.
 *
 *   test_fuse_writer write|verify FILE MIB
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (256u << 10)

static uint8_t pattern(uint64_t o)
{
	return (uint8_t)((o * 2654435761u) >> 13 ^ o >> 20);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_fuse_writer write|verify FILE MIB\n");
		return 2;
	}
	int write_mode = strcmp(argv[1], "write") == 0;
	uint64_t total = strtoull(argv[3], NULL, 0) << 20;
	int fd = open(argv[2], write_mode ? O_CREAT | O_TRUNC | O_WRONLY : O_RDONLY, 0644);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	static uint8_t buf[BLOCK], got[BLOCK];
	for (uint64_t off = 0; off < total; off += BLOCK) {
		for (uint32_t i = 0; i < BLOCK; i++)
			buf[i] = pattern(off + i);
		ssize_t n = write_mode ? pwrite(fd, buf, BLOCK, (off_t)off)
				       : pread(fd, got, BLOCK, (off_t)off);
		if (n != BLOCK) {
			perror(write_mode ? "pwrite" : "pread");
			fprintf(stderr, "at offset %llu: %zd\n", (unsigned long long)off, n);
			return 1;
		}
		if (!write_mode && memcmp(buf, got, BLOCK)) {
			fprintf(stderr, "mismatch in block at %llu\n", (unsigned long long)off);
			return 1;
		}
	}
	if (write_mode && fsync(fd)) {
		perror("fsync");
		return 1;
	}
	return close(fd) ? 1 : 0;
}
