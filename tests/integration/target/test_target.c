/* ember-target end to end, against the real daemon process:
 *   test_target EMBER_TARGET                       TCP on 127.0.0.1, two file targets
 *   test_target EMBER_TARGET rdma IP DEVICE        verbs, one target on DEVICE (vm tier)
 * Start-up errors; every method; four client threads with mixed operations,
 * every byte checked against a model; bad requests (each followed by a check
 * that the daemon still serves); kill -9 under a writer and restart (every
 * acknowledged write survives); SIGTERM drains and exits 0; restart recovers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/service/client.h"
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/reactor.h"
#include "tap.h"

static const char secret[] = "target test secret";
static const char *daemon_path, *scheme = "tcp", *ip = "127.0.0.1", *device;
static char dir[64], config[128], url[96], logpath[128];
static int n_targets;
static pid_t daemon_pid;

#define TGT0 7
#define TGT1 9
#define CHUNK_MAX (256u << 10) /* bytes of a chunk the tests use */

/* ---- helpers ---------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static struct em_chunk_id cid(uint64_t n)
{
	struct em_chunk_id id = { { 0 } };
	for (int i = 0; i < 8; i++)
		id.b[8 + i] = (uint8_t)(n >> (56 - 8 * i));
	return id;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &l)) {
		perror("free_port");
		exit(2);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(2);
	}
}

static int make_target_file(const char *path, bool format)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1ll << 30) < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
	if (!format)
		return 0;
	struct em_engine_format_opts o = { 0 };
	return em_engine_format(path, &o);
}

static void write_config(const char *target0_path)
{
	char text[2048], tpath1[96];
	snprintf(tpath1, sizeof(tpath1), "%s/t1.img", dir);
	int n = snprintf(text, sizeof(text),
			 "[server]\nlisten = %s\nsecret_file = %s/secret\nreactors = 2\n"
			 "[target.a]\npath = %s\nid = %d\n",
			 url, dir, target0_path, TGT0);
	if (n_targets > 1)
		snprintf(text + n, sizeof(text) - (size_t)n, "[target.b]\npath = %s\nid = %d\n", tpath1,
			 TGT1);
	write_file(config, text);
}

static pid_t spawn(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* Both streams to the log: the daemon's ready line is not TAP. */
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(daemon_path, daemon_path, "-c", config, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static struct em_cs_client *client(void)
{
	struct em_cs_client_opts o = { .url = url, .secret = secret, .secret_len = strlen(secret),
				       .timeout_ms = 20000 };
	struct em_cs_client *c;
	if (em_cs_client_create(&o, &c)) {
		fprintf(stderr, "client setup failed\n");
		exit(2);
	}
	return c;
}

/* 0 when the daemon answers STATS with every target online. */
static int probe(void)
{
	struct em_cs_client *c = client();
	struct em_cs_target_stats st[4];
	uint32_t n = 0;
	int rc = em_cs_client_stats(c, st, 4, &n);
	em_cs_client_destroy(c);
	if (rc == 0 && (int)n != n_targets)
		rc = -EPROTO;
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		if (st[i].state != EM_CS_ONLINE)
			rc = -EM_ETARGETOFFLINE;
	return rc;
}

static bool start_daemon(void)
{
	daemon_pid = spawn();
	for (int i = 0; i < 300; i++) {
		int status;
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
			fprintf(stderr, "# daemon exited early (status %d); see %s\n", status, logpath);
			return false;
		}
		if (probe() == 0)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

static int serving(void)
{
	return probe() == 0;
}

/* ---- simple synchronous operations --------------------------------------------- */

static int put(struct em_cs_client *c, uint32_t tgt, uint64_t chunk, uint32_t off, const void *data,
	       uint32_t len, uint32_t ver, struct em_cs_result *res)
{
	struct em_cs_io io = { .item = { .target = tgt, .id = cid(chunk), .offset = off, .len = len,
					 .ver = ver, .chain_ver = 1, .flags = EM_CHUNK_COMMIT },
			       .data = (void *)data };
	int rc = em_cs_client_batch(c, EM_CS_WRITE, &io, 1, res);
	return rc ? rc : res->status;
}

static int get(struct em_cs_client *c, uint32_t tgt, uint64_t chunk, uint32_t off, void *data,
	       uint32_t len, uint32_t *got)
{
	struct em_cs_io io = { .item = { .target = tgt, .id = cid(chunk), .offset = off, .len = len },
			       .data = data };
	struct em_cs_result res;
	int rc = em_cs_client_batch(c, EM_CS_READ, &io, 1, &res);
	if (rc == 0)
		rc = res.status;
	*got = res.len;
	return rc;
}

static int one(struct em_cs_client *c, uint16_t method, uint32_t tgt, uint64_t chunk, uint32_t len,
	       uint32_t ver, uint32_t flags, struct em_cs_result *res)
{
	struct em_cs_io io = { .item = { .target = tgt, .id = cid(chunk), .len = len, .ver = ver,
					 .chain_ver = 1, .flags = flags } };
	int rc = em_cs_client_batch(c, method, &io, 1, res);
	return rc ? rc : res->status;
}

static void test_methods(void)
{
	struct em_cs_client *c = client();
	struct em_cs_result r;
	uint8_t *a = malloc(CHUNK_MAX), *b = malloc(CHUNK_MAX);
	uint32_t got;
	fill(a, CHUNK_MAX, 1);

	is_int(put(c, TGT0, 1, 0, a, 100000, 1, &r), 0, "write + commit a new chunk");
	is_int(r.meta.commit_ver, 1, "committed version 1");
	is_int(r.meta.length, 100000, "length 100000");
	is_int(r.meta.crc, em_crc32c(0, a, 100000), "server CRC matches");
	is_int(get(c, TGT0, 1, 0, b, 100000, &got), 0, "read it back");
	ok(got == 100000 && memcmp(a, b, 100000) == 0, "bytes match");
	is_int(get(c, TGT0, 1, 90000, b, 20000, &got), 0, "read past the end");
	ok(got == 10000 && memcmp(a + 90000, b, 10000) == 0, "short read of the tail");
	is_int(put(c, TGT0, 1, 0, a, 10, 1, &r), -EM_EVERSION, "stale version: EM_EVERSION");
	is_int(get(c, TGT0, 424242, 0, b, 10, &got), -ENOENT, "no such chunk: ENOENT");

	/* An uncommitted update, then its commit. */
	is_int(one(c, EM_CS_TRUNCATE, TGT0, 1, 5000, 2, 0, &r), 0, "truncate to a pending version");
	is_int(r.meta.pending_ver, 2, "pending version 2");
	is_int(one(c, EM_CS_QUERY, TGT0, 1, 0, 0, 0, &r), 0, "query");
	ok(r.has_meta && r.meta.commit_ver == 1 && r.meta.length == 100000, "committed still v1");
	is_int(one(c, EM_CS_COMMIT, TGT0, 1, 0, 2, 0, &r), 0, "commit v2");
	ok(r.meta.commit_ver == 2 && r.meta.length == 5000, "v2 committed, 5000 bytes");
	is_int(one(c, EM_CS_COMMIT, TGT0, 1, 0, 7, 0, &r), -EM_EVERSION, "commit unknown version");

	for (uint64_t i = 100; i < 110; i++)
		put(c, TGT0, i, 0, a, 4096, 1, &r);
	struct em_chunk_meta m[8];
	uint32_t n = 0;
	struct em_cs_list_req lr = { .target = TGT0, .max = 8 };
	is_int(em_cs_client_list(c, &lr, m, &n), 0, "list page 1");
	is_int(n, 8, "8 chunks");
	lr.has_after = true;
	lr.after = m[7].id;
	uint32_t n2 = 0;
	is_int(em_cs_client_list(c, &lr, m, &n2), 0, "list page 2");
	is_int(n2, 3, "3 more chunks (11 in all)");
	lr.target = 12345;
	is_int(em_cs_client_list(c, &lr, m, &n2), -EM_ENOTARGET, "list of an unknown target");

	is_int(one(c, EM_CS_REMOVE, TGT0, 105, 0, 0, 0, &r), 0, "remove");
	is_int(one(c, EM_CS_QUERY, TGT0, 105, 0, 0, 0, &r), -ENOENT, "removed chunk is gone");

	/* A batch mixing good and bad items: each gets its own status. */
	struct em_cs_io ios[4] = {
		{ .item = { .target = TGT0, .id = cid(100), .len = 4096 }, .data = b },
		{ .item = { .target = 999, .id = cid(100), .len = 4096 }, .data = b + 4096 },
		{ .item = { .target = TGT0, .id = cid(105), .len = 4096 }, .data = b + 8192 },
		{ .item = { .target = TGT0, .id = cid(101), .offset = 100, .len = 4096 }, .data = b + 12288 },
	};
	struct em_cs_result rs[4];
	is_int(em_cs_client_batch(c, EM_CS_READ, ios, 4, rs), 0, "mixed batch read");
	ok(rs[0].status == 0 && rs[0].len == 4096 && memcmp(b, a, 4096) == 0, "item 0 read");
	is_int(rs[1].status, -EM_ENOTARGET, "item 1: unknown target");
	is_int(rs[2].status, -ENOENT, "item 2: removed chunk");
	ok(rs[3].status == 0 && rs[3].len == 3996 && memcmp(b + 12288, a + 100, 3996) == 0,
	   "item 3: short read at offset 100");
	free(a);
	free(b);
	em_cs_client_destroy(c);
}

/* ---- concurrent clients ------------------------------------------------------------ */

#define WORKERS 4
#define CHUNKS_PER_WORKER 6
#define ROUNDS 150

struct model {
	uint32_t ver, len;
	uint8_t *data;
};

struct worker {
	pthread_t th;
	int idx;
	int fails;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct em_cs_client *c = client();
	struct model m[CHUNKS_PER_WORKER] = { { 0 } };
	uint8_t *buf = malloc(CHUNK_MAX), *rd = malloc(CHUNK_MAX * 4);
	uint64_t x = (uint64_t)w->idx * 7919 + 17;
	uint32_t tgts[2] = { TGT0, TGT1 };
	for (int i = 0; i < CHUNKS_PER_WORKER; i++)
		m[i].data = calloc(1, CHUNK_MAX);

	for (int round = 0; round < ROUNDS && w->fails < 5; round++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int ci = (int)((x >> 33) % CHUNKS_PER_WORKER);
		uint32_t tgt = tgts[ci % n_targets];
		uint64_t chunk = (uint64_t)(w->idx + 1) << 32 | (uint64_t)ci;
		struct model *mm = &m[ci];
		int op = (int)((x >> 20) % 10);
		struct em_cs_result r;
		if (op < 5) { /* write: overwrite or append, committed */
			uint32_t off = mm->len ? (uint32_t)((x >> 8) % (mm->len + 1)) : 0;
			uint32_t len = 1 + (uint32_t)((x >> 40) % 65536);
			if (off + len > CHUNK_MAX)
				len = CHUNK_MAX - off;
			fill(buf, len, x);
			int rc = put(c, tgt, chunk, off, buf, len, mm->ver + 1, &r);
			if (rc) {
				fprintf(stderr, "# worker %d write: %s\n", w->idx, em_strerror(rc));
				w->fails++;
				continue;
			}
			memcpy(mm->data + off, buf, len);
			mm->ver++;
			if (off + len > mm->len)
				mm->len = off + len;
			if (r.meta.length != mm->len || r.meta.crc != em_crc32c(0, mm->data, mm->len)) {
				fprintf(stderr, "# worker %d: length/crc after write differ\n", w->idx);
				w->fails++;
			}
		} else if (op < 8) { /* batched read of up to four chunks */
			struct em_cs_io ios[4];
			struct em_cs_result rs[4];
			int k = 0;
			for (int j = 0; j < CHUNKS_PER_WORKER && k < 4; j++) {
				if (!m[j].len)
					continue;
				uint32_t off = (uint32_t)((x >> (j * 5)) % m[j].len);
				ios[k] = (struct em_cs_io){
					.item = { .target = tgts[j % n_targets],
						  .id = cid((uint64_t)(w->idx + 1) << 32 | (uint64_t)j),
						  .offset = off, .len = m[j].len - off },
					.data = rd + (size_t)k * CHUNK_MAX };
				k++;
			}
			if (!k)
				continue;
			int rc = em_cs_client_batch(c, EM_CS_READ, ios, (uint32_t)k, rs);
			for (int j = 0, kk = 0; rc == 0 && j < CHUNKS_PER_WORKER && kk < k; j++) {
				if (!m[j].len)
					continue;
				uint32_t off = ios[kk].item.offset;
				if (rs[kk].status || rs[kk].len != m[j].len - off ||
				    memcmp(rd + (size_t)kk * CHUNK_MAX, m[j].data + off, rs[kk].len))
					rc = -EIO;
				kk++;
			}
			if (rc) {
				fprintf(stderr, "# worker %d batch read: %s\n", w->idx, em_strerror(rc));
				w->fails++;
			}
		} else if (op == 8 && mm->len) { /* truncate, committed */
			uint32_t len = (uint32_t)((x >> 12) % (mm->len + 1));
			int rc = one(c, EM_CS_TRUNCATE, tgt, chunk, len, mm->ver + 1, EM_CHUNK_COMMIT, &r);
			if (rc) {
				fprintf(stderr, "# worker %d truncate: %s\n", w->idx, em_strerror(rc));
				w->fails++;
				continue;
			}
			memset(mm->data + len, 0, mm->len - len);
			mm->len = len;
			mm->ver++;
		} else if (op == 9 && mm->ver) { /* remove */
			int rc = one(c, EM_CS_REMOVE, tgt, chunk, 0, 0, 0, &r);
			if (rc) {
				fprintf(stderr, "# worker %d remove: %s\n", w->idx, em_strerror(rc));
				w->fails++;
				continue;
			}
			memset(mm->data, 0, CHUNK_MAX);
			mm->len = mm->ver = 0;
		}
	}
	/* The final state of every chunk, whole. */
	for (int i = 0; i < CHUNKS_PER_WORKER; i++) {
		uint64_t chunk = (uint64_t)(w->idx + 1) << 32 | (uint64_t)i;
		uint32_t got = 0;
		struct em_cs_result r;
		int rc = one(c, EM_CS_QUERY, tgts[i % n_targets], chunk, 0, 0, 0, &r);
		if (!m[i].ver) {
			if (rc != -ENOENT)
				w->fails++;
			continue;
		}
		if (rc || r.meta.commit_ver != m[i].ver || r.meta.length != m[i].len) {
			w->fails++;
			continue;
		}
		if (m[i].len && (get(c, tgts[i % n_targets], chunk, 0, rd, m[i].len, &got) ||
				 got != m[i].len || memcmp(rd, m[i].data, got)))
			w->fails++;
	}
	for (int i = 0; i < CHUNKS_PER_WORKER; i++)
		free(m[i].data);
	free(buf);
	free(rd);
	em_cs_client_destroy(c);
	return NULL;
}

static void test_concurrent(void)
{
	struct worker w[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .idx = i };
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	int fails = 0;
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(w[i].th, NULL);
		fails += w[i].fails;
	}
	is_int(fails, 0, "four clients, mixed operations, every byte as written");
}

/* ---- bad requests ---------------------------------------------------------------- */

static int raw(struct em_cs_client *c, uint16_t method, const void *p, size_t len,
	       const struct em_rpc_grant *g, unsigned ng, struct em_cs_result *res, uint32_t cap)
{
	void *resp;
	size_t rlen;
	uint32_t n;
	int rc = em_cs_client_call(c, method, p, len, g, ng, &resp, &rlen);
	if (rc == 0 && res)
		rc = em_cs_dec_results(resp, rlen, method, res, cap, &n);
	free(resp);
	return rc;
}

static size_t enc(uint16_t method, const struct em_cs_item *items, uint32_t n, uint8_t *buf, size_t cap)
{
	struct em_enc e;
	em_enc_init(&e, buf, cap);
	em_cs_enc_items(&e, method, items, n);
	return em_enc_error(&e) ? 0 : e.len;
}

struct rawconn {
	bool closed;
};

static void junk_msg(struct em_conn *c, void *arg, const void *m, size_t len)
{
}

static void junk_close(struct em_conn *c, void *arg, int err)
{
	((struct rawconn *)arg)->closed = true;
}

static void test_garbage_frame(void)
{
	struct em_reactor *r;
	struct em_net *net;
	struct em_conn *conn;
	struct rawconn rc = { 0 };
	struct em_conn_cbs cbs = { .on_msg = junk_msg, .on_close = junk_close };
	uint8_t junk[200];
	fill(junk, sizeof(junk), 99);
	if (em_reactor_create("junk", &r) || em_net_create(r, NULL, &net)) {
		ok(0, "raw connection setup");
		return;
	}
	is_int(em_connect(net, url, &cbs, &rc, &conn), 0, "raw connect");
	/* Queued until the connection is up, on either transport. */
	is_int(em_conn_send(conn, junk, sizeof(junk)), 0, "garbage frame sent");
	uint64_t until = em_now_ms() + 10000;
	while (!rc.closed && em_now_ms() < until)
		em_reactor_run_once(r, 100);
	ok(rc.closed, "garbage frame: the daemon closes that connection");
	em_net_destroy(net);
	em_reactor_destroy(r);
	ok(serving(), "daemon serves after a garbage frame");
}

static void test_bad_requests(void)
{
	struct em_cs_client *c = client();
	struct em_cs_result res[4];
	uint8_t buf[8192], req[4096];
	struct em_cs_result r;
	fill(buf, sizeof(buf), 5);
	put(c, TGT0, 77, 0, buf, sizeof(buf), 1, &r);

	/* Out-of-range offsets and oversized lengths: the item fails alone. */
	struct em_cs_io io = { .item = { .target = TGT0, .id = cid(77), .offset = EM_CHUNK_MAX_SIZE - 10,
					 .len = 4096 }, .data = buf };
	is_int(em_cs_client_batch(c, EM_CS_READ, &io, 1, res), 0, "read beyond 64 MiB: answered");
	is_int(res[0].status, -ERANGE, "read beyond 64 MiB: ERANGE");
	is_int(put(c, TGT0, 77, EM_CHUNK_MAX_SIZE, buf, 1, 2, &r), -ERANGE, "write beyond 64 MiB: ERANGE");
	is_int(one(c, EM_CS_TRUNCATE, TGT0, 77, EM_CHUNK_MAX_SIZE + 1, 2, 1, &r), -ERANGE,
	       "truncate beyond 64 MiB: ERANGE");
	ok(serving(), "serving after range errors");

	/* Oversized: lengths over the chunk limit, and batches over the limits. */
	struct em_cs_item big[5];
	for (int i = 0; i < 5; i++)
		big[i] = (struct em_cs_item){ .target = TGT0, .id = cid(77), .len = EM_CHUNK_MAX_SIZE,
					      .buf = { .addr = 4096, .len = EM_CHUNK_MAX_SIZE, .rkey = 1 } };
	size_t n = enc(EM_CS_READ, big, 5, req, sizeof(req));
	is_int(raw(c, EM_CS_READ, req, n, NULL, 0, NULL, 0), -E2BIG, "320 MiB in one read: E2BIG");
	big[0].len = big[0].buf.len = EM_CHUNK_MAX_SIZE + 1;
	n = enc(EM_CS_READ, big, 1, req, sizeof(req));
	is_int(raw(c, EM_CS_READ, req, n, NULL, 0, res, 4), 0, "item over 64 MiB: answered");
	is_int(res[0].status, -ERANGE, "item over 64 MiB: ERANGE");
	big[0].len = big[0].buf.len = 0xffffffffu;
	n = enc(EM_CS_READ, big, 1, req, sizeof(req));
	is_int(raw(c, EM_CS_READ, req, n, NULL, 0, NULL, 0), -E2BIG, "4 GiB item: E2BIG");
	uint8_t many[8];
	em_put_le32(many, EM_CS_MAX_BATCH + 1);
	em_put_le32(many + 4, 0);
	is_int(raw(c, EM_CS_WRITE, many, 8, NULL, 0, NULL, 0), -E2BIG, "batch over the limit: E2BIG");
	ok(serving(), "serving after oversized requests");

	/* Unknown target. */
	struct em_cs_io ut = { .item = { .target = 31337, .id = cid(77), .len = 16 }, .data = buf };
	is_int(em_cs_client_batch(c, EM_CS_READ, &ut, 1, res), 0, "unknown target: answered");
	is_int(res[0].status, -EM_ENOTARGET, "unknown target: EM_ENOTARGET");

	/* Bogus buffer keys: a descriptor that was never granted. On TCP the
	 * transfer is refused and the item fails; on RDMA the NIC faults the
	 * queue pair and the connection closes. Either way, others carry on. */
	struct em_cs_item bogus = { .target = TGT0, .id = cid(77), .len = 4096,
				    .buf = { .addr = 0x10000, .len = 4096, .rkey = 0xdeadbeef } };
	n = enc(EM_CS_READ, &bogus, 1, req, sizeof(req));
	int rc = raw(c, EM_CS_READ, req, n, NULL, 0, res, 4);
	ok(rc < 0 || res[0].status < 0, "read into an ungranted buffer fails");
	bogus.ver = 2;
	bogus.flags = EM_CHUNK_COMMIT;
	n = enc(EM_CS_WRITE, &bogus, 1, req, sizeof(req));
	rc = raw(c, EM_CS_WRITE, req, n, NULL, 0, res, 4);
	ok(rc < 0 || res[0].status < 0, "write from an ungranted buffer fails");
	ok(serving(), "serving after bogus buffer keys");
	em_cs_client_destroy(c);
	c = client();

	/* A write whose CRC does not match what was pulled. */
	struct em_mr *mr;
	is_int(em_mr_reg(buf, sizeof(buf), EM_ACCESS_REMOTE_READ, &mr), 0, "register");
	struct em_cs_item w = { .target = TGT0, .id = cid(77), .len = 4096, .ver = 2,
				.flags = EM_CHUNK_COMMIT, .crc = 1 };
	em_mr_desc(mr, buf, 4096, &w.buf);
	struct em_rpc_grant g = { .desc = w.buf, .access = EM_ACCESS_REMOTE_READ };
	n = enc(EM_CS_WRITE, &w, 1, req, sizeof(req));
	is_int(raw(c, EM_CS_WRITE, req, n, &g, 1, res, 4), 0, "bad crc write: answered");
	is_int(res[0].status, -EM_ECHECKSUM, "bad crc write: EM_ECHECKSUM");
	/* Descriptor length differing from the item's. */
	w.crc = em_crc32c(0, buf, 4096);
	w.buf.len = 100;
	n = enc(EM_CS_WRITE, &w, 1, req, sizeof(req));
	is_int(raw(c, EM_CS_WRITE, req, n, &g, 1, res, 4), 0, "short descriptor: answered");
	is_int(res[0].status, -EINVAL, "short descriptor: EINVAL");
	em_mr_dereg(mr);

	/* Truncated messages: every prefix of a valid request is refused. */
	struct em_cs_item two[2] = {
		{ .target = TGT0, .id = cid(77), .len = 16, .buf = { 1, 16, 1 } },
		{ .target = TGT0, .id = cid(78), .len = 16, .buf = { 1, 16, 1 } },
	};
	n = enc(EM_CS_READ, two, 2, req, sizeof(req));
	int refused = 0;
	for (size_t cut = 0; cut < n; cut++)
		refused += raw(c, EM_CS_READ, req, cut, NULL, 0, res, 4) == -EBADMSG;
	is_int(refused, (int)n, "every truncation of a read request: EBADMSG");
	uint8_t lreq[25] = { 0 };
	is_int(raw(c, EM_CS_LIST, lreq, 10, NULL, 0, NULL, 0), -EBADMSG, "truncated list: EBADMSG");
	is_int(raw(c, EM_CS_LIST, lreq, sizeof(lreq), NULL, 0, NULL, 0), -E2BIG, "list of 0: E2BIG");
	is_int(raw(c, 99, lreq, 4, NULL, 0, NULL, 0), -ENOSYS, "unknown method: ENOSYS");
	ok(serving(), "serving after truncated messages");
	em_cs_client_destroy(c);

	test_garbage_frame();
}

/* ---- crash and restart ------------------------------------------------------------- */

#define CRASH_CHUNKS 8

struct crash_writer {
	pthread_t th;
	atomic_bool stop;
	/* Per chunk: the last acknowledged version, and the one possibly in flight. */
	atomic_uint acked[CRASH_CHUNKS];
	int fails;
};

static void *crash_writer_main(void *arg)
{
	struct crash_writer *cw = arg;
	struct em_cs_client *c = client();
	uint8_t *buf = malloc(65536);
	for (uint32_t v = 1; !atomic_load(&cw->stop); v++) {
		for (int i = 0; i < CRASH_CHUNKS && !atomic_load(&cw->stop); i++) {
			struct em_cs_result r;
			fill(buf, 65536, (uint64_t)i << 32 | v);
			uint32_t tgt = (i % n_targets) ? TGT1 : TGT0;
			if (put(c, tgt, 1000 + (uint64_t)i, 0, buf, 65536, v, &r) != 0)
				goto out; /* the daemon died under us: expected */
			atomic_store(&cw->acked[i], v);
		}
	}
out:
	free(buf);
	em_cs_client_destroy(c);
	return NULL;
}

static void test_crash(void)
{
	struct crash_writer cw = { 0 };
	pthread_create(&cw.th, NULL, crash_writer_main, &cw);
	usleep(1500 * 1000);
	kill(daemon_pid, SIGKILL);
	waitpid(daemon_pid, NULL, 0);
	atomic_store(&cw.stop, true);
	pthread_join(cw.th, NULL);
	ok(atomic_load(&cw.acked[CRASH_CHUNKS - 1]) > 0, "writes were acknowledged before kill -9");
	ok(start_daemon(), "daemon restarts after kill -9");

	struct em_cs_client *c = client();
	uint8_t *buf = malloc(65536), *want = malloc(65536);
	int bad = 0;
	for (int i = 0; i < CRASH_CHUNKS; i++) {
		uint32_t acked = atomic_load(&cw.acked[i]), got = 0;
		uint32_t tgt = (i % n_targets) ? TGT1 : TGT0;
		struct em_cs_result r;
		if (one(c, EM_CS_QUERY, tgt, 1000 + (uint64_t)i, 0, 0, 0, &r) ||
		    r.meta.commit_ver < acked || r.meta.commit_ver > acked + 1) {
			bad++;
			continue;
		}
		/* The write in flight at the kill may or may not have landed. */
		fill(want, 65536, (uint64_t)i << 32 | r.meta.commit_ver);
		if (get(c, tgt, 1000 + (uint64_t)i, 0, buf, 65536, &got) || got != 65536 ||
		    memcmp(buf, want, 65536))
			bad++;
	}
	is_int(bad, 0, "every acknowledged write survived kill -9");
	free(buf);
	free(want);
	em_cs_client_destroy(c);
}

static void test_shutdown(void)
{
	int status = -1;
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: drained, exit 0");
	ok(start_daemon(), "restart after a clean shutdown");
	struct em_cs_client *c = client();
	uint8_t buf[8192], want[8192];
	uint32_t got = 0;
	fill(want, sizeof(want), 5);
	is_int(get(c, TGT0, 77, 0, buf, sizeof(buf), &got), 0, "data read after restart");
	ok(got == sizeof(buf) && memcmp(buf, want, got) == 0, "bytes intact after restart");
	em_cs_client_destroy(c);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "final SIGTERM: exit 0");
}

/* ---- start-up errors ------------------------------------------------------------------ */

static bool log_has(const char *needle)
{
	char text[16384] = { 0 };
	FILE *f = fopen(logpath, "r");
	if (!f)
		return false;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return strstr(text, needle) != NULL;
}

static int run_to_exit(void)
{
	int status;
	unlink(logpath);
	pid_t pid = spawn();
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_startup_errors(const char *target0)
{
	char path[128];
	/* The vm tier's /tmp is tmpfs, where no file target can open (no
	 * O_DIRECT), so this check needs the host. */
	if (!device) {
		snprintf(path, sizeof(path), "%s/blank.img", dir);
		make_target_file(path, false);
		write_config(path);
		is_int(run_to_exit(), 1, "unformatted target: exit 1");
		ok(log_has("ember target format"), "unformatted target: says `ember target format PATH`");
	}
	snprintf(path, sizeof(path), "%s/missing.img", dir);
	write_config(path);
	is_int(run_to_exit(), 1, "missing target file: exit 1");
	ok(log_has("missing.img"), "missing target file: names it");
	write_file(config, "[server]\nlisten = tcp://127.0.0.1:1\nbogus = 1\n");
	is_int(run_to_exit(), 1, "bad config: exit 1");
	ok(log_has("bogus"), "bad config: names the key");
	write_config(target0);
	unlink(logpath);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 5) {
		fprintf(stderr, "usage: test_target EMBER_TARGET [rdma IP DEVICE]\n");
		return 2;
	}
	daemon_path = argv[1];
	if (argc == 5) {
		scheme = argv[2];
		ip = argv[3];
		device = argv[4];
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ember-target-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(config, sizeof(config), "%s/target.ini", dir);
	snprintf(logpath, sizeof(logpath), "%s/daemon.log", dir);
	snprintf(url, sizeof(url), "%s://%s:%d", scheme, ip, free_port());
	char secret_path[96], t0[128], t1[128];
	snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
	write_file(secret_path, secret);
	chmod(secret_path, 0600); /* daemons refuse a secret others can read */

	/* One target on the device in the vm tier (its /tmp is tmpfs, which
	 * has no O_DIRECT); two file targets on the host. */
	struct em_engine_format_opts fo = { 0 };
	snprintf(t0, sizeof(t0), "%s/t0.img", dir);
	snprintf(t1, sizeof(t1), "%s/t1.img", dir);
	if (device) {
		n_targets = 1;
		snprintf(t0, sizeof(t0), "%s", device);
		is_int(em_engine_format(t0, &fo), 0, "format the device target");
	} else {
		n_targets = 2;
		is_int(make_target_file(t0, true), 0, "format file target a");
		is_int(make_target_file(t1, true), 0, "format file target b");
	}
	test_startup_errors(t0);
	if (!ok(start_daemon(), "daemon starts and serves every target")) {
		printf("# log: %s\n", logpath);
		return tap_done();
	}
	test_methods();
	test_concurrent();
	test_bad_requests();
	test_crash();
	test_shutdown();
	int rc = tap_done();
	if (rc == 0) {
		unlink(config), unlink(secret_path), unlink(logpath), unlink(t0), unlink(t1);
		char blank[128];
		snprintf(blank, sizeof(blank), "%s/blank.img", dir);
		unlink(blank);
		rmdir(dir);
	} else {
		printf("# daemon log kept in %s\n", logpath);
	}
	return rc;
}
