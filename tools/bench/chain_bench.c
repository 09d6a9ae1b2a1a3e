/* The client half of tools/bench/chain: THREADS threads, each with its own
 * chain client, move 1 MiB blocks to or from their own chunks of one chain
 * for SECONDS and the total is printed as MiB/s.
 *
 *   chain_bench MGMTD_URL SECRET_FILE CHAIN write|read|read-head THREADS SECONDS
 *
 * read spreads reads over the chain's serving replicas (the client's
 * default), read-head sends every read to the head; both first write the
 * chunks they read (untimed). Prints "chain_bench: MODE MIB_PER_S"; any
 * failed or short call prints nothing but the error and exits 1. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/chain/client.h"
#include "fs/mgmt/client.h"

#define BLOCK (1u << 20)
#define CHUNK (4u << 20)
#define CHUNKS 4 /* per thread */

static const char *mgmtd;
static uint8_t secret[4096];
static size_t secret_len;
static uint32_t chain;
static int mode; /* 0 write, 1 read, 2 read-head */
static uint64_t end_ms;
/* Everyone ready, then the clock starts: read modes write their chunks
 * first, untimed. */
static pthread_barrier_t ready;

struct worker {
	pthread_t th;
	unsigned idx;
	uint64_t bytes;
	int rc;
};

static struct em_chunk_id bench_id(unsigned thread, unsigned k)
{
	struct em_chunk_id id = { { 0 } };
	id.b[0] = 0xbe;
	id.b[1] = (uint8_t)thread;
	id.b[15] = (uint8_t)k;
	return id;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	const char *urls[1] = { mgmtd };
	struct em_chain_client_opts o = { .mgmtd = urls, .n_mgmtd = 1, .secret = secret,
					  .secret_len = secret_len,
					  .client_id = ((uint64_t)getpid() << 16) + w->idx + 1,
					  .read_head = mode == 2 };
	struct em_chain_client *c;
	uint8_t *buf = malloc(BLOCK);
	w->rc = buf ? em_chain_client_create(&o, &c) : -ENOMEM;
	if (w->rc) {
		free(buf);
		pthread_barrier_wait(&ready);
		pthread_barrier_wait(&ready);
		return NULL;
	}
	memset(buf, (int)w->idx + 1, BLOCK);
	for (unsigned k = 0; mode && k < CHUNKS && !w->rc; k++) {
		struct em_chunk_id id = bench_id(w->idx, k);
		for (uint32_t off = 0; off < CHUNK && !w->rc; off += BLOCK)
			w->rc = em_chain_write(c, chain, &id, off, buf, BLOCK, NULL);
	}
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&ready);
	for (uint64_t i = 0; !w->rc && em_now_ms() < end_ms; i++) {
		struct em_chunk_id id = bench_id(w->idx, (unsigned)(i / (CHUNK / BLOCK) % CHUNKS));
		uint32_t off = (uint32_t)(i % (CHUNK / BLOCK)) * BLOCK;
		int rc = mode ? em_chain_read(c, chain, &id, off, buf, BLOCK)
			      : em_chain_write(c, chain, &id, off, buf, BLOCK, NULL);
		if (rc < 0)
			w->rc = rc;
		else if (mode && rc != (int)BLOCK)
			w->rc = -EIO; /* a short read of a block written whole */
		else
			w->bytes += BLOCK;
	}
	em_chain_client_destroy(c);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: chain_bench MGMTD_URL SECRET_FILE CHAIN "
				"write|read|read-head THREADS SECONDS\n");
		return 2;
	}
	mgmtd = argv[1];
	int n = em_auth_read_secret(argv[2], secret, sizeof(secret));
	chain = (uint32_t)strtoul(argv[3], NULL, 10);
	mode = !strcmp(argv[4], "write") ? 0 : !strcmp(argv[4], "read") ? 1 :
	       !strcmp(argv[4], "read-head") ? 2 : -1;
	unsigned threads = (unsigned)atoi(argv[5]);
	unsigned secs = (unsigned)atoi(argv[6]);
	if (n < 0 || mode < 0 || !threads || threads > 64 || !secs) {
		fprintf(stderr, "chain_bench: bad arguments (%s)\n", n < 0 ? em_strerror(n) : "");
		return 2;
	}
	secret_len = (size_t)n;
	struct worker w[64];
	pthread_barrier_init(&ready, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct worker){ .idx = i };
		if (pthread_create(&w[i].th, NULL, run, &w[i]) != 0) {
			/* The barrier would wait for it forever. */
			fprintf(stderr, "chain_bench: cannot start thread %u\n", i);
			return 1;
		}
	}
	pthread_barrier_wait(&ready);
	uint64_t start = em_now_ms();
	end_ms = start + secs * 1000ull;
	pthread_barrier_wait(&ready);
	uint64_t bytes = 0;
	int rc = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(w[i].th, NULL);
		bytes += w[i].bytes;
		if (w[i].rc)
			rc = w[i].rc;
	}
	if (rc) {
		fprintf(stderr, "chain_bench: %s\n", em_strerror(rc));
		return 1;
	}
	uint64_t ms = em_now_ms() - start;
	printf("chain_bench: %s %.1f\n", argv[4], (double)bytes / (1 << 20) * 1000.0 / (double)ms);
	return 0;
}
