/* chunk_flip TARGET_PATH CHUNK OFFSET: flips one bit of byte OFFSET of the
 * committed copy of CHUNK on a target file, behind its daemon's back, the way
 * a failing SSD would; heal.sh then checks that no reader ever sees it.
 * Exits 0 when flipped, 1 when the chunk or the byte does not exist. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "block/service/proto.h"
#include "ember/errors.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: chunk_flip TARGET_PATH CHUNK OFFSET\n");
		return 2;
	}
	struct em_chunk_id id;
	char *end;
	unsigned long at = strtoul(argv[3], &end, 10);
	if (em_cs_id_parse(argv[2], &id) < 0 || *end) {
		fprintf(stderr, "chunk_flip: bad chunk id or offset\n");
		return 2;
	}
	struct em_chunk_meta m;
	uint64_t off;
	int rc = em_engine_inspect_chunk(argv[1], EM_BDEV_AUTO, &id, &m, &off);
	if (rc == 0 && (!m.commit_ver || at >= m.length))
		rc = -ERANGE;
	if (rc < 0) {
		fprintf(stderr, "chunk_flip: %s: chunk %s byte %lu: %s\n", argv[1], argv[2], at,
			em_strerror(rc));
		return 1;
	}
	off += at;
	int fd = open(argv[1], O_RDWR);
	unsigned char c;
	if (fd < 0 || pread(fd, &c, 1, (off_t)off) != 1) {
		perror("chunk_flip");
		return 1;
	}
	c ^= 0x10;
	if (pwrite(fd, &c, 1, (off_t)off) != 1 || fsync(fd) < 0) {
		perror("chunk_flip");
		return 1;
	}
	close(fd);
	printf("flipped a bit of device byte %llu (chunk %s version %u, byte %lu of %u)\n",
	       (unsigned long long)off, argv[2], m.commit_ver, at, m.length);
	return 0;
}
