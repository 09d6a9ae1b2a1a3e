/* A writer whose every byte can be checked later: byte o of the file is a
 * function of o. Writes MIB MiB in 256 KiB writes, fsyncs, and fails on
 * any error; "verify" reads it back, and fails unless the file is exactly
 * MIB MiB long.
 *
 *   test_fuse_writer write FILE MIB [PROGRESS]
 *   test_fuse_writer verify FILE MIB
 *
 * With PROGRESS, the writer replaces that file (write, then rename: a
 * reader sees one whole number) with the bytes acknowledged so far after
 * every write, so a test can tell that it is in the middle of the file.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (256u << 10)

static uint8_t pattern(uint64_t o)
{
	return (uint8_t)((o * 2654435761u) >> 13 ^ o >> 20);
}

/* PROGRESS holds n, replaced whole; 0 or -1 (reported). */
static int progress(const char *path, uint64_t n)
{
	char tmp[4096], text[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)n);
	int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, text, (size_t)len) != len || close(fd) || rename(tmp, path)) {
		perror(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int write_mode = argc > 1 && strcmp(argv[1], "write") == 0;
	if (argc != 4 && !(write_mode && argc == 5)) {
		fprintf(stderr, "usage: test_fuse_writer write FILE MIB [PROGRESS]\n"
				"       test_fuse_writer verify FILE MIB\n");
		return 2;
	}
	const char *prog = argc == 5 ? argv[4] : NULL;
	uint64_t total = strtoull(argv[3], NULL, 0) << 20;
	int fd = open(argv[2], write_mode ? O_CREAT | O_TRUNC | O_WRONLY : O_RDONLY, 0644);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	static uint8_t buf[BLOCK], got[BLOCK];
	if (prog && progress(prog, 0))
		return 1;
	if (!write_mode) {
		struct stat st = { 0 };
		if (fstat(fd, &st) || (uint64_t)st.st_size != total) {
			fprintf(stderr, "%s: %lld bytes, want %llu\n", argv[2], (long long)st.st_size,
				(unsigned long long)total);
			return 1;
		}
	}
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
		if (prog && progress(prog, off + BLOCK))
			return 1;
	}
	if (write_mode && fsync(fd)) {
		perror("fsync");
		return 1;
	}
	return close(fd) ? 1 : 0;
}
