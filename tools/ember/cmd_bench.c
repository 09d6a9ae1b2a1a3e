/* `ember bench`: sequential write then read of one file through an Ember
 * mount, with a progress bar, throughput and per-call latency percentiles.
 * It measures what an application sees: the FUSE mount, the client, the
 * chains and the targets together. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/core/config.h"
#include "tools/ember/cli.h"

int em_cmd_bench(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember bench [--dir DIR] [--path DIR] [--size SIZE] [--block SIZE]\n"
		"                   [--keep] [--json]\n\n"
		"Writes one file of SIZE through an Ember mount in BLOCK-sized write() calls,\n"
		"fsyncs it, drops it from the page cache, reads it back and checks every byte.\n"
		"Prints throughput (the fsync counts in the write time) and the latency of\n"
		"the write() and read() calls: p50, p90, p99, p99.9 and max.\n\n"
		"  --dir DIR     cluster started by `ember up --dir DIR`: bench its mount\n"
		"                (default $EMBER_DIR, else /var/lib/ember)\n"
		"  --path DIR    the directory to write in (default $EMBER_MOUNT, else DIR's)\n"
		"  --size SIZE   file size, K/M/G suffixes (default 256M)\n"
		"  --block SIZE  bytes per call (default 1M)\n"
		"  --keep        leave the file (ember-bench.PID) in place\n"
		"  --json        one JSON object\n");
}

struct phase {
	const char *name;
	double secs;
	uint64_t *lat_ns; /* one per call */
	size_t n;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(const struct phase *p, double q)
{
	size_t i = (size_t)(q * (double)(p->n - 1) + 0.5);
	return (double)p->lat_ns[i] / 1000.0;
}

/* The byte at offset off: varies with position so misplaced blocks show. */
static void fill(uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull;
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

static int run_phase(int fd, bool writing, uint64_t size, size_t block, uint8_t *buf,
		     uint8_t *want, struct phase *p)
{
	struct em_progress bar;
	em_progress_start(&bar, p->name, size);
	uint64_t t0 = now_ns();
	for (uint64_t off = 0; off < size; off += block) {
		size_t len = size - off < block ? (size_t)(size - off) : block;
		if (writing)
			fill(buf, len, off);
		uint64_t s = now_ns();
		ssize_t n = writing ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
		p->lat_ns[p->n++] = now_ns() - s;
		if (n != (ssize_t)len) {
			fprintf(stderr, "\nember bench: %s at %llu: %s\n", p->name,
				(unsigned long long)off, n < 0 ? strerror(errno) : "short transfer");
			return -EIO;
		}
		if (!writing) {
			fill(want, len, off);
			if (memcmp(buf, want, len) != 0) {
				fprintf(stderr, "\nember bench: read back wrong data at %llu\n",
					(unsigned long long)off);
				return -EIO;
			}
		}
		em_progress_update(&bar, off + len);
	}
	if (writing && fsync(fd) < 0) {
		fprintf(stderr, "\nember bench: fsync: %s\n", strerror(errno));
		return -errno;
	}
	p->secs = (double)(now_ns() - t0) / 1e9;
	em_progress_finish(&bar);
	qsort(p->lat_ns, p->n, sizeof(p->lat_ns[0]), cmp_u64);
	return 0;
}

static void report(const struct phase *ph, uint64_t size, size_t block, const char *file,
		   bool json)
{
	double mib = (double)size / (1 << 20);
	if (json)
		printf("{\"file\":\"%s\",\"size\":%llu,\"block\":%zu", file,
		       (unsigned long long)size, block);
	else
		printf("%-6s %10s %10s %10s %10s %10s %10s  (%s in %zu KiB calls)\n", "", "MiB/s",
		       "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", file, block >> 10);
	for (int i = 0; i < 2; i++) {
		const struct phase *p = &ph[i];
		double tput = p->secs > 0 ? mib / p->secs : 0;
		if (json)
			printf(",\"%s\":{\"mib_per_s\":%.1f,\"seconds\":%.3f,\"calls\":%zu,"
			       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
			       "\"max_us\":%.1f}",
			       p->name, tput, p->secs, p->n, pct_us(p, .5), pct_us(p, .9),
			       pct_us(p, .99), pct_us(p, .999), pct_us(p, 1));
		else
			printf("%-6s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", p->name, tput,
			       pct_us(p, .5), pct_us(p, .9), pct_us(p, .99), pct_us(p, .999),
			       pct_us(p, 1));
	}
	if (json)
		printf("}\n");
}

static int io_failed(const char *file)
{
	int rc = -errno;
	fprintf(stderr, "ember bench: %s: %s\n", file, strerror(-rc));
	return rc;
}

static int bench(const char *file, uint64_t size, size_t block, bool json)
{
	size_t calls = (size_t)((size + block - 1) / block);
	struct phase ph[2] = { { .name = "write" }, { .name = "read" } };
	uint8_t *buf = malloc(block), *want = malloc(block);
	ph[0].lat_ns = calloc(calls, sizeof(uint64_t));
	ph[1].lat_ns = calloc(calls, sizeof(uint64_t));
	int rc = buf && want && ph[0].lat_ns && ph[1].lat_ns ? 0 : -ENOMEM;
	int fd = -1;
	if (rc == 0 && (fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644)) < 0)
		rc = io_failed(file);
	if (rc == 0)
		rc = run_phase(fd, true, size, block, buf, want, &ph[0]);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = io_failed(file);
	fd = -1;
	if (rc == 0 && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		rc = io_failed(file);
	/* So the read goes to the cluster, not to this machine's page cache. */
	if (rc == 0)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (rc == 0)
		rc = run_phase(fd, false, size, block, buf, want, &ph[1]);
	if (fd >= 0)
		close(fd);
	if (!buf || !want || !ph[0].lat_ns || !ph[1].lat_ns)
		fprintf(stderr, "ember bench: out of memory\n");
	if (rc == 0)
		report(ph, size, block, file, json);
	free(buf);
	free(want);
	free(ph[0].lat_ns);
	free(ph[1].lat_ns);
	return rc;
}

int em_cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "path", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "block", required_argument, NULL, 'b' },
		{ "keep", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *path = NULL;
	uint64_t size = 256 << 20, block = 1 << 20;
	bool keep = false, json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': path = optarg; break;
		case 's':
		case 'b':
			if (em_parse_size(optarg, c == 's' ? &size : &block) < 0) {
				fprintf(stderr, "ember bench: bad size '%s'\n", optarg);
				return EM_EXIT_USAGE;
			}
			break;
		case 'k': keep = true; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	if (optind < argc || size == 0 || block == 0 || block > (1u << 30)) {
		fprintf(stderr, "ember bench: %s\n", optind < argc ? "unexpected argument"
				: "--size and --block must be positive, --block at most 1G");
		return EM_EXIT_USAGE;
	}
	char buf[1024], file[1200];
	if (!path)
		path = em_cli_setting(dir, "EMBER_MOUNT", buf, sizeof(buf));
	if (!path) {
		fprintf(stderr, "ember bench: where? Give --path DIR (in an Ember mount) or --dir "
				"DIR of a cluster started by `ember up`\n");
		return EM_EXIT_USAGE;
	}
	snprintf(file, sizeof(file), "%s/ember-bench.%d", path, (int)getpid());
	int rc = bench(file, size, (size_t)block, json);
	if (!keep)
		unlink(file);
	return rc < 0 ? EM_EXIT_FAIL : EM_EXIT_OK;
}
