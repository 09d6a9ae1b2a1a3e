/* engine_bench: the chunk engine's own half of tools/bench/engine.
 *
 * Formats a target on PATH, opens it on a reactor and runs, one after the
 * other: sequential 1 MiB chunk writes (each a whole chunk, committed in the
 * same record, so durable when acknowledged) at queue depth --qd, sequential
 * whole-chunk reads of the same chunks at --qd, and 4 KiB random reads inside
 * those chunks at --rand-qd for --runtime seconds. Prints one line per phase:
 *
 *   BENCH <name> <value> <unit> <details>
 *
 * which the driver script turns into RESULT lines against fio. The target's
 * previous contents are destroyed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/engine.h"
#include "include/ember/errors.h"
#include "net/core/reactor.h"
#include "tools/bench/bench.h"

#define MIB (UINT64_C(1) << 20)

struct bench {
	struct em_reactor *r;
	struct em_engine *e;
	uint32_t chunk;        /* bytes per chunk */
	uint64_t nchunks;      /* chunks written and read */
	uint32_t passes;       /* times the read phase reads them */
	uint32_t qd, rand_qd, rand_bs;
	double runtime;        /* random read seconds */
	uint8_t *src;          /* write payload */
	uint8_t **bufs;        /* one read buffer per slot */

	/* the running phase */
	uint64_t next, done, inflight;
	int error;
	bool stop;
	double deadline;
	uint64_t rng;
};

struct slot {
	struct bench *b;
	uint32_t idx;
};

static uint64_t rnd(struct bench *b)
{
	uint64_t x = b->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x;
}

static void fail(struct bench *b, int status, const char *what)
{
	if (!b->error) {
		fprintf(stderr, "engine_bench: %s: %s\n", what, em_strerror(status));
		b->error = status;
	}
	b->stop = true;
}

/* Runs the reactor until every issued operation completed. */
static void wait_idle(struct bench *b)
{
	while (b->inflight)
		em_reactor_run_once(b->r, 100);
}

/* ---- sequential writes ------------------------------------------------- */

static void write_next(struct slot *s);

static void write_done(void *arg, int status, const struct em_chunk_meta *m)
{
	struct slot *s = arg;
	struct bench *b = s->b;
	b->inflight--;
	if (status < 0) {
		fail(b, status, "chunk write");
		return;
	}
	b->done++;
	write_next(s);
}

static void write_next(struct slot *s)
{
	struct bench *b = s->b;
	if (b->stop || b->next >= b->nchunks)
		return;
	struct em_chunk_update u = { .id = em_bench_chunk_id(b->next), .offset = 0,
				     .len = b->chunk, .data = b->src, .update_ver = 1,
				     .chain_ver = 1, .flags = EM_CHUNK_COMMIT };
	b->next++;
	int rc = em_chunk_update(b->e, &u, write_done, s);
	if (rc < 0) {
		fail(b, rc, "chunk write submit");
		return;
	}
	b->inflight++;
}

/* ---- sequential reads -------------------------------------------------- */

static void read_next(struct slot *s);

static void read_done(void *arg, int status)
{
	struct slot *s = arg;
	struct bench *b = s->b;
	b->inflight--;
	if (status < 0) {
		fail(b, status, "chunk read");
		return;
	}
	if ((uint32_t)status != b->chunk) {
		fail(b, -EIO, "chunk read came back short");
		return;
	}
	b->done++;
	read_next(s);
}

static void read_next(struct slot *s)
{
	struct bench *b = s->b;
	if (b->stop || b->next >= b->nchunks * b->passes)
		return;
	struct em_chunk_id id = em_bench_chunk_id(b->next % b->nchunks);
	b->next++;
	int rc = em_chunk_read(b->e, &id, 0, b->chunk, b->bufs[s->idx], 0, read_done, s);
	if (rc < 0) {
		fail(b, rc, "chunk read submit");
		return;
	}
	b->inflight++;
}

/* ---- random reads ------------------------------------------------------ */

static void rand_next(struct slot *s);

static void rand_done(void *arg, int status)
{
	struct slot *s = arg;
	struct bench *b = s->b;
	b->inflight--;
	if (status < 0) {
		fail(b, status, "random read");
		return;
	}
	b->done++;
	/* One clock read per completion: cheap (vDSO) next to an I/O. */
	if (em_bench_now_s() >= b->deadline)
		b->stop = true;
	rand_next(s);
}

static void rand_next(struct slot *s)
{
	struct bench *b = s->b;
	if (b->stop)
		return;
	uint64_t n = rnd(b) % b->nchunks;
	uint32_t off = (uint32_t)(rnd(b) % (b->chunk / b->rand_bs)) * b->rand_bs;
	struct em_chunk_id id = em_bench_chunk_id(n);
	int rc = em_chunk_read(b->e, &id, off, b->rand_bs, b->bufs[s->idx], 0, rand_done, s);
	if (rc < 0) {
		fail(b, rc, "random read submit");
		return;
	}
	b->inflight++;
}

/* ---- phases ------------------------------------------------------------ */

typedef void (*start_fn)(struct slot *s);

static double run_phase(struct bench *b, start_fn start, uint32_t qd)
{
	struct slot *slots = calloc(qd, sizeof(*slots));
	if (!slots) {
		fail(b, -ENOMEM, "slots");
		return 0;
	}
	b->next = b->done = b->inflight = 0;
	b->stop = false;
	double t0 = em_bench_now_s();
	b->deadline = t0 + b->runtime;
	for (uint32_t i = 0; i < qd; i++) {
		slots[i] = (struct slot){ .b = b, .idx = i };
		start(&slots[i]);
	}
	wait_idle(b);
	double t = em_bench_now_s() - t0;
	free(slots);
	return t;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t m = 1;
	switch (*end) {
	case 'k': case 'K': m = 1ull << 10; break;
	case 'm': case 'M': m = 1ull << 20; break;
	case 'g': case 'G': m = 1ull << 30; break;
	case 't': case 'T': m = 1ull << 40; break;
	case '\0': break;
	default: return 0;
	}
	return (uint64_t)(v * (double)m);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: engine_bench PATH [options]\n"
		"Formats PATH as a chunk target (destroying it) and measures the engine.\n"
		"  --backend B      auto|nvme|uring|aio (default auto: /dev/ng* -> nvme)\n"
		"  --bytes N        bytes written then read sequentially (default 1G)\n"
		"  --chunk N        chunk size of the sequential phases (default 1M)\n"
		"  --qd N           chunks in flight in the sequential phases (default 8)\n"
		"  --rand-qd N      random reads in flight (default 32)\n"
		"  --rand-bs N      random read size (default 4K)\n"
		"  --runtime S      seconds of random reads (default 10)\n"
		"  --passes N       the sequential read phase reads the chunks N times (default 1)\n"
		"  --phases LIST    any of write,read,randread (default all; read phases\n"
		"                   need write)\n"
		"  --no-format      open PATH as it is (with chunks from a previous write)\n"
		"  --no-verify      reads skip the per-block CRC32C check (to measure its cost)\n");
}

int main(int argc, char **argv)
{
	struct bench b = { .chunk = 1u << 20, .qd = 8, .rand_qd = 32, .rand_bs = 4096, .passes = 1,
			   .runtime = 10, .rng = 0x9e3779b97f4a7c15ull };
	uint64_t bytes = 1ull << 30;
	enum em_bdev_kind kind = EM_BDEV_AUTO;
	const char *phases = "write,read,randread";
	bool format = true, verify = true;
	static const struct option lopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "qd", required_argument, NULL, 'q' },
		{ "rand-qd", required_argument, NULL, 'Q' },
		{ "rand-bs", required_argument, NULL, 'B' },
		{ "runtime", required_argument, NULL, 't' },
		{ "phases", required_argument, NULL, 'p' },
		{ "no-format", no_argument, NULL, 'F' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "passes", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (em_bdev_kind_parse(optarg, &kind) < 0) {
				fprintf(stderr, "engine_bench: unknown backend %s\n", optarg);
				return 2;
			}
			break;
		case 'n': bytes = parse_size(optarg); break;
		case 'c': b.chunk = (uint32_t)parse_size(optarg); break;
		case 'q': b.qd = (uint32_t)atoi(optarg); break;
		case 'Q': b.rand_qd = (uint32_t)atoi(optarg); break;
		case 'B': b.rand_bs = (uint32_t)parse_size(optarg); break;
		case 't': b.runtime = atof(optarg); break;
		case 'p': phases = optarg; break;
		case 'F': format = false; break;
		case 'V': verify = false; break;
		case 'P': b.passes = (uint32_t)atoi(optarg); break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (optind + 1 != argc || !bytes || !b.qd || !b.rand_qd || b.runtime <= 0 || !b.passes ||
	    !b.chunk || b.chunk > EM_CHUNK_MAX_SIZE || !b.rand_bs || b.rand_bs % 4096 ||
	    b.chunk % b.rand_bs) {
		usage();
		return 2;
	}
	const char *path = argv[optind];
	bool do_write = strstr(phases, "write") != NULL;
	/* "read" as its own word (randread also ends in "read"). */
	bool do_read = false;
	{
		char *dup = strdup(phases), *save = NULL;
		for (char *w = strtok_r(dup, ",", &save); w; w = strtok_r(NULL, ",", &save))
			if (strcmp(w, "read") == 0)
				do_read = true;
		free(dup);
	}
	bool do_rand = strstr(phases, "randread") != NULL;
	b.nchunks = bytes / b.chunk;
	if (!b.nchunks) {
		fprintf(stderr, "engine_bench: --bytes is less than one chunk\n");
		return 2;
	}

	if (format) {
		struct em_engine_format_opts fo = { .kind = kind };
		int rc = em_engine_format(path, &fo);
		if (rc < 0) {
			fprintf(stderr, "engine_bench: format %s: %s\n", path, em_strerror(rc));
			return 1;
		}
	}
	int rc = em_reactor_create("engine-bench", &b.r);
	if (rc < 0) {
		fprintf(stderr, "engine_bench: reactor: %s\n", em_strerror(rc));
		return 1;
	}
	struct em_engine_opts eo = { .kind = kind, .no_verify = !verify };
	rc = em_engine_open(path, &eo, b.r, &b.e);
	if (rc < 0) {
		fprintf(stderr, "engine_bench: open %s: %s\n", path, em_strerror(rc));
		em_reactor_destroy(b.r);
		return 1;
	}
	struct em_engine_stats st;
	em_engine_get_stats(b.e, &st);
	uint64_t room = (uint64_t)st.data_segments * 64 * MIB;
	if ((uint64_t)b.nchunks * b.chunk > room) {
		fprintf(stderr, "engine_bench: %" PRIu64 " bytes do not fit the data area (%" PRIu64
			" bytes)\n", b.nchunks * b.chunk, room);
		em_engine_close(b.e);
		em_reactor_destroy(b.r);
		return 2;
	}
	printf("engine_bench: %s backend %s, data area %" PRIu64 " MiB at %" PRIu64
	       " MiB, %" PRIu64 " chunks of %u KiB, qd %u, random %u KiB qd %u for %.0f s, "
	       "reads %s\n",
	       path, em_bdev_kind_name(kind == EM_BDEV_AUTO ? em_bdev_kind_for_path(path) : kind),
	       room / MIB, st.data_off / MIB, b.nchunks, b.chunk / 1024, b.qd, b.rand_bs / 1024,
	       b.rand_qd, b.runtime, verify ? "verified" : "not verified");
	fflush(stdout);

	uint32_t nbufs = b.qd > b.rand_qd ? b.qd : b.rand_qd;
	b.src = malloc(b.chunk);
	b.bufs = calloc(nbufs, sizeof(*b.bufs));
	if (!b.src || !b.bufs) {
		fprintf(stderr, "engine_bench: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < b.chunk; i++)
		b.src[i] = (uint8_t)rnd(&b);
	for (uint32_t i = 0; i < nbufs; i++) {
		b.bufs[i] = malloc(b.chunk);
		if (!b.bufs[i]) {
			fprintf(stderr, "engine_bench: out of memory\n");
			return 1;
		}
		memset(b.bufs[i], 0, b.chunk); /* fault the pages in before timing */
	}

	double t;
	if (do_write && !b.error) {
		t = run_phase(&b, write_next, b.qd);
		if (!b.error)
			printf("BENCH seqwrite %.1f MiB/s chunks=%" PRIu64 " bytes=%" PRIu64
			       " seconds=%.3f qd=%u\n",
			       (double)b.done * b.chunk / MIB / t, b.done, b.done * b.chunk, t, b.qd);
	}
	if (do_read && !b.error) {
		t = run_phase(&b, read_next, b.qd);
		if (!b.error)
			printf("BENCH seqread %.1f MiB/s chunks=%" PRIu64 " bytes=%" PRIu64
			       " seconds=%.3f qd=%u\n",
			       (double)b.done * b.chunk / MIB / t, b.done, b.done * b.chunk, t, b.qd);
	}
	if (do_rand && !b.error) {
		t = run_phase(&b, rand_next, b.rand_qd);
		if (!b.error)
			printf("BENCH randread %.0f IOPS ios=%" PRIu64 " seconds=%.3f bs=%u qd=%u\n",
			       (double)b.done / t, b.done, t, b.rand_bs, b.rand_qd);
	}
	fflush(stdout);
	em_engine_close(b.e);
	em_reactor_destroy(b.r);
	for (uint32_t i = 0; i < nbufs; i++)
		free(b.bufs[i]);
	free(b.bufs);
	free(b.src);
	return b.error ? 1 : 0;
}
