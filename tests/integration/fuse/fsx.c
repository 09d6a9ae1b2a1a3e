/* Random-operation exerciser: the same random writes, truncates, punched
 * holes and reads on a file in the mount and on a local reference file,
 * with the whole file compared after every step.
 *
 *   test_fuse_fsx MOUNTED-FILE LOCAL-FILE [OPS] [SEED]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIZE (768u << 10) /* spans several 64 KiB chunks on both chains */

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng >> 33) % n;
}

static uint8_t a[MAX_SIZE * 2], b[MAX_SIZE * 2], data[MAX_SIZE];

static int compare(int fm, int fl, unsigned step, const char *op)
{
	struct stat sm, sl;
	fstat(fm, &sm);
	fstat(fl, &sl);
	if (sm.st_size != sl.st_size) {
		fprintf(stderr, "step %u (%s): size %lld, expected %lld\n", step, op,
			(long long)sm.st_size, (long long)sl.st_size);
		return -1;
	}
	ssize_t nm = pread(fm, a, sizeof(a), 0), nl = pread(fl, b, sizeof(b), 0);
	if (nm != nl) {
		fprintf(stderr, "step %u (%s): read %zd bytes, expected %zd\n", step, op, nm, nl);
		return -1;
	}
	for (ssize_t i = 0; i < nl; i++) {
		if (a[i] != b[i]) {
			fprintf(stderr, "step %u (%s): byte %zd is %02x, expected %02x\n", step, op,
				i, a[i], b[i]);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_fuse_fsx MOUNTED-FILE LOCAL-FILE [OPS] [SEED]\n");
		return 2;
	}
	unsigned ops = argc > 3 ? (unsigned)atoi(argv[3]) : 2000;
	rng = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	int fm = open(argv[1], O_CREAT | O_TRUNC | O_RDWR, 0644);
	int fl = open(argv[2], O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fm < 0 || fl < 0) {
		perror("open");
		return 1;
	}
	unsigned counts[4] = { 0 };
	for (unsigned step = 0; step < ops; step++) {
		uint32_t off = rnd(MAX_SIZE), len = 1 + rnd(rnd(2) ? 4096 : 200000);
		if (off + len > MAX_SIZE)
			len = MAX_SIZE - off;
		const char *name;
		int rm, rl;
		switch (rnd(10)) {
		case 0: case 1: case 2: case 3: case 4:
			name = "write";
			for (uint32_t i = 0; i < len; i++)
				data[i] = (uint8_t)rnd(256);
			rm = (int)pwrite(fm, data, len, off) == (int)len;
			rl = (int)pwrite(fl, data, len, off) == (int)len;
			counts[0]++;
			break;
		case 5: case 6:
			name = "truncate";
			rm = ftruncate(fm, off) == 0;
			rl = ftruncate(fl, off) == 0;
			counts[1]++;
			break;
		case 7:
			name = "punch";
			rm = fallocate(fm, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0;
			rl = fallocate(fl, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0;
			counts[2]++;
			break;
		default:
			name = "read";
			rm = rl = (int)pread(fm, a, len, off) == (int)pread(fl, b, len, off) &&
				  memcmp(a, b, len) == 0;
			counts[3]++;
			break;
		}
		if (!rm || !rl) {
			fprintf(stderr, "step %u: %s %u+%u failed (mount %d, local %d): %s\n", step,
				name, off, len, rm, rl, strerror(errno));
			return 1;
		}
		if (compare(fm, fl, step, name))
			return 1;
	}
	printf("fsx: %u ops (%u writes, %u truncates, %u punches, %u reads) matched\n", ops,
	       counts[0], counts[1], counts[2], counts[3]);
	return 0;
}
