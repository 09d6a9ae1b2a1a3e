/* target_bench: the client half of tools/bench/target.
 *
 *   target_bench URL TARGET SECRET_FILE [--bytes N] [--chunk N] [--batch N]
 *
 * Against a running ember-target: writes --bytes as whole chunks of --chunk
 * bytes (committed in the same record, so durable when acknowledged), --batch
 * chunks per WRITE request, then reads them back the same way, checking the
 * bytes. Buffers are registered once, as a real client would. Prints
 *
 *   BENCH seqwrite <MiB/s> MiB/s ...
 *   BENCH seqread <MiB/s> MiB/s ...
 *
 * which the driver script turns into RESULT lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "block/service/client.h"
#include "ember/errors.h"
#include "net/core/config.h"
#include "tools/bench/bench.h"

/* Runs one phase over every chunk; returns MiB/s or a negative error. */
static double phase(struct em_cs_client *c, uint16_t method, uint32_t target, uint64_t nchunks,
		    uint32_t chunk, uint32_t batch, uint8_t *buf, struct em_mr *mr, const uint8_t *want)
{
	struct em_cs_io *ios = calloc(batch, sizeof(*ios));
	struct em_cs_result *res = calloc(batch, sizeof(*res));
	if (!ios || !res)
		return -ENOMEM;
	double t0 = em_bench_now_s();
	int rc = 0;
	for (uint64_t next = 0; rc == 0 && next < nchunks;) {
		uint32_t n = 0;
		for (; n < batch && next < nchunks; n++, next++)
			ios[n] = (struct em_cs_io){
				.item = { .target = target, .id = em_bench_chunk_id(next),
					  .len = chunk, .ver = 1, .chain_ver = 1,
					  .flags = EM_CHUNK_COMMIT },
				.data = buf + (size_t)n * chunk, .mr = mr };
		rc = em_cs_client_batch(c, method, ios, n, res);
		for (uint32_t i = 0; rc == 0 && i < n; i++) {
			rc = res[i].status;
			if (rc == 0 && method == EM_CS_READ &&
			    (res[i].len != chunk || memcmp(buf + (size_t)i * chunk, want, chunk)))
				rc = -EM_ECHECKSUM;
		}
	}
	double secs = em_bench_now_s() - t0;
	free(ios);
	free(res);
	if (rc)
		return rc;
	return (double)nchunks * chunk / (1 << 20) / secs;
}

int main(int argc, char **argv)
{
	uint64_t bytes = 256u << 20, chunk = 1u << 20, batch = 8;
	if (argc < 4) {
		fprintf(stderr, "usage: target_bench URL TARGET SECRET_FILE [--bytes N] [--chunk N] [--batch N]\n");
		return 2;
	}
	for (int i = 4; i + 1 < argc; i += 2) {
		uint64_t *v = !strcmp(argv[i], "--bytes") ? &bytes : !strcmp(argv[i], "--chunk") ? &chunk
			    : !strcmp(argv[i], "--batch") ? &batch : NULL;
		if (!v || em_parse_size(argv[i + 1], v)) {
			fprintf(stderr, "target_bench: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (chunk == 0 || chunk > EM_CHUNK_MAX_SIZE || batch == 0 || batch > 64 || bytes < chunk) {
		fprintf(stderr, "target_bench: --chunk 1..64M, --batch 1..64, --bytes >= --chunk\n");
		return 2;
	}
	char secret[4096];
	int sl = em_auth_read_secret(argv[3], secret, sizeof(secret));
	if (sl < 0) {
		fprintf(stderr, "target_bench: secret file %s: %s\n", argv[3], em_strerror(sl));
		return 1;
	}
	struct em_cs_client_opts o = { .url = argv[1], .secret = secret, .secret_len = (size_t)sl,
				       .timeout_ms = 60000 };
	struct em_cs_client *c;
	int rc = em_cs_client_create(&o, &c);
	size_t len = (size_t)chunk * batch;
	uint8_t *buf = aligned_alloc(4096, len), *want = malloc(chunk);
	struct em_mr *mr = NULL;
	if (rc == 0)
		rc = buf && want ? em_mr_reg(buf, len, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr)
				 : -ENOMEM;
	if (rc) {
		fprintf(stderr, "target_bench: setup: %s\n", em_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < chunk; i++)
		want[i] = (uint8_t)(i * 131 + 7);
	for (uint64_t i = 0; i < batch; i++)
		memcpy(buf + i * chunk, want, chunk);
	uint64_t nchunks = bytes / chunk;
	uint32_t target = (uint32_t)strtoul(argv[2], NULL, 10);
	double w = phase(c, EM_CS_WRITE, target, nchunks, (uint32_t)chunk, (uint32_t)batch, buf, mr, want);
	double r = w > 0 ? phase(c, EM_CS_READ, target, nchunks, (uint32_t)chunk, (uint32_t)batch, buf,
				 mr, want)
			 : w;
	if (w < 0 || r < 0) {
		fprintf(stderr, "target_bench: %s\n", em_strerror((int)(w < 0 ? w : r)));
		rc = 1;
	} else {
		printf("BENCH seqwrite %.1f MiB/s chunks=%llu chunk=%llu batch=%llu\n", w,
		       (unsigned long long)nchunks, (unsigned long long)chunk, (unsigned long long)batch);
		printf("BENCH seqread %.1f MiB/s chunks=%llu chunk=%llu batch=%llu\n", r,
		       (unsigned long long)nchunks, (unsigned long long)chunk, (unsigned long long)batch);
	}
	em_mr_dereg(mr);
	free(buf);
	free(want);
	em_cs_client_destroy(c);
	return rc;
}
