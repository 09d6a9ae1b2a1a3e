/* The RPC integration suite, one program for both transports:
 *   test_rpc                      TCP on 127.0.0.1 (integration tier)
 *   test_rpc rdma 192.0.2.1       verbs on rxe0 (vm tier)
 * Echo, 1,000 concurrent requests from four client threads, bulk transfers of
 * 4 KiB..16 MiB both ways checked byte by byte, a batch of writes of mixed
 * sizes (em_conn_writev) and batches with a bad item, deadlines, unknown
 * methods, a corrupt frame sent from on_up (that connection closes, others
 * carry on), a wrong secret, a buffer outside the grant, a server killed
 * mid-transfer, graceful drain. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/rpc.h"
#include "net/serde.h"
#include "tap.h"

#define SVC 7
enum { M_ECHO = 1, M_PUT, M_GET, M_SLOW, M_DIE, M_GETV };

#define GETV_MAX 8

static const char secret[] = "correct horse battery staple";
static const char *scheme = "tcp", *ip = "127.0.0.1";

/* ---- server ------------------------------------------------------------------ */

struct server {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	int port;
	char url[96];
	pthread_t th;
	bool die_mid_transfer;
};

struct bulk {
	struct em_rpc_req *req;
	struct em_mr *mr;
	uint8_t *buf;
	size_t len;
	bool die;
};

static void pattern(uint8_t *p, size_t len, uint32_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void bulk_done(void *arg, int status)
{
	struct bulk *b = arg;
	uint8_t out[4];
	em_put_le32(out, em_crc32c(0, b->buf, b->len));
	em_rpc_reply(b->req, status, status ? NULL : out, status ? 0 : 4);
	em_mr_dereg(b->mr);
	free(b->buf);
	free(b);
}

static void die_now(void *arg)
{
	kill(getpid(), SIGKILL);
}

/* PUT: pull the caller's buffer (RDMA READ); GET: push a pattern into it
 * (RDMA WRITE). Both answer with the CRC32C of the bytes moved. */
static void h_bulk(struct em_rpc_req *req, void *arg)
{
	struct server *s = arg;
	size_t n;
	struct em_dec d;
	const void *p = em_rpc_req_payload(req, &n);
	em_dec_init(&d, p, n);
	struct em_buf_desc desc;
	em_dec_desc(&d, &desc);
	uint32_t seed = em_dec_u32(&d);
	if (em_dec_error(&d) || desc.len == 0 || desc.len > (64u << 20)) {
		em_rpc_reply(req, -EINVAL, NULL, 0);
		return;
	}
	struct bulk *b = calloc(1, sizeof(*b));
	b->req = req;
	b->len = desc.len;
	b->buf = malloc(desc.len);
	int rc = em_mr_reg(b->buf, b->len, 0, &b->mr);
	if (!rc) {
		if (em_rpc_req_method(req) == M_GET) {
			pattern(b->buf, b->len, seed);
			rc = em_conn_write(em_rpc_req_conn(req), &desc, b->mr, b->buf, bulk_done, b);
		} else {
			rc = em_conn_read(em_rpc_req_conn(req), &desc, b->mr, b->buf, bulk_done, b);
		}
	}
	if (rc) {
		bulk_done(b, rc);
		return;
	}
	if (em_rpc_req_method(req) == M_DIE && s->die_mid_transfer)
		em_reactor_timer(s->r, 1, die_now, NULL, NULL);
}

/* GETV: push a pattern into each of n buffers with one em_conn_writev.
 * Payload: u32 n, u32 bad_local, n x {desc, seed}; bad_local makes the last
 * item's source lie outside the server's registered buffer. */
static void h_getv(struct em_rpc_req *req, void *arg)
{
	size_t plen;
	struct em_dec d;
	const void *p = em_rpc_req_payload(req, &plen);
	em_dec_init(&d, p, plen);
	uint32_t n = em_dec_u32(&d), bad_local = em_dec_u32(&d);
	struct em_buf_desc desc[GETV_MAX];
	uint32_t seed[GETV_MAX];
	size_t total = 0;
	for (uint32_t i = 0; i < n && i < GETV_MAX; i++) {
		em_dec_desc(&d, &desc[i]);
		seed[i] = em_dec_u32(&d);
		total += desc[i].len;
	}
	if (em_dec_error(&d) || n == 0 || n > GETV_MAX || total > (64u << 20)) {
		em_rpc_reply(req, -EINVAL, NULL, 0);
		return;
	}
	struct bulk *b = calloc(1, sizeof(*b));
	b->req = req;
	b->len = total;
	b->buf = malloc(total);
	struct em_bulk_item items[GETV_MAX];
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		pattern(b->buf + off, desc[i].len, seed[i]);
		items[i] = (struct em_bulk_item){ .remote = desc[i], .local = b->buf + off };
		off += desc[i].len;
	}
	if (bad_local)
		items[n - 1].local = b->buf + total;
	int rc = em_mr_reg(b->buf, b->len, 0, &b->mr);
	for (uint32_t i = 0; i < n; i++)
		items[i].mr = b->mr;
	if (!rc)
		rc = em_conn_writev(em_rpc_req_conn(req), items, (int)n, bulk_done, b);
	if (rc)
		bulk_done(b, rc);
}

static void h_echo(struct em_rpc_req *req, void *arg)
{
	size_t n;
	const void *p = em_rpc_req_payload(req, &n);
	em_rpc_reply(req, 0, p, n);
}

static void slow_reply(void *arg)
{
	em_rpc_reply(arg, 0, "late", 4);
}

static void h_slow(struct em_rpc_req *req, void *arg)
{
	struct server *s = arg;
	/* The caller's deadline travels with the request. */
	int status = em_rpc_req_deadline(req) > em_now_ms() ? 0 : -EINVAL;
	if (status)
		em_rpc_reply(req, status, NULL, 0);
	else
		em_reactor_timer(s->r, 400, slow_reply, req, NULL);
}

static void server_start(struct server *s, bool die_mid_transfer)
{
	struct em_rpc_opts o = { .secret = secret, .secret_len = strlen(secret) };
	char url[96];
	s->die_mid_transfer = die_mid_transfer;
	if (em_reactor_create("server", &s->r) || em_net_create(s->r, NULL, &s->net) ||
	    em_rpc_create(s->net, &o, &s->rpc)) {
		fprintf(stderr, "server setup failed\n");
		exit(2);
	}
	em_rpc_register(s->rpc, SVC, M_ECHO, h_echo, s);
	em_rpc_register(s->rpc, SVC, M_PUT, h_bulk, s);
	em_rpc_register(s->rpc, SVC, M_GET, h_bulk, s);
	em_rpc_register(s->rpc, SVC, M_DIE, h_bulk, s);
	em_rpc_register(s->rpc, SVC, M_SLOW, h_slow, s);
	em_rpc_register(s->rpc, SVC, M_GETV, h_getv, s);
	snprintf(url, sizeof(url), "%s://%s:0", scheme, ip);
	int rc = em_rpc_listen(s->rpc, url, &s->port);
	if (rc) {
		fprintf(stderr, "listen on %s: %s\n", url, em_strerror(rc));
		exit(2);
	}
	snprintf(s->url, sizeof(s->url), "%s://%s:%d", scheme, ip, s->port);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	em_reactor_run(s->r);
	return NULL;
}

static void server_stop_drained(void *arg)
{
	struct server *s = arg;
	em_reactor_stop(s->r);
}

static void server_drain(void *arg)
{
	struct server *s = arg;
	em_rpc_drain(s->rpc, server_stop_drained, s);
}

/* ---- clients -------------------------------------------------------------------- */

struct client {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
};

struct result {
	bool done;
	int status;
	uint8_t data[64];
	size_t len;
};

static void client_init(struct client *c, const char *key)
{
	struct em_rpc_opts o = { .secret = key, .secret_len = strlen(key), .default_timeout_ms = 10000 };
	if (em_reactor_create("client", &c->r) || em_net_create(c->r, NULL, &c->net) ||
	    em_rpc_create(c->net, &o, &c->rpc)) {
		fprintf(stderr, "client setup failed\n");
		exit(2);
	}
}

static void client_fini(struct client *c)
{
	em_rpc_destroy(c->rpc);
	em_net_destroy(c->net);
	em_reactor_destroy(c->r);
}

static void on_done(void *arg, int status, const void *p, size_t len)
{
	struct result *res = arg;
	res->done = true;
	res->status = status;
	res->len = len < sizeof(res->data) ? len : sizeof(res->data);
	if (res->len)
		memcpy(res->data, p, res->len);
}

static int call(struct client *c, const char *url, uint16_t method, const void *p, size_t len,
		const struct em_rpc_call_opts *opts, struct result *res)
{
	memset(res, 0, sizeof(*res));
	int rc = em_rpc_call(c->rpc, url, SVC, method, p, len, opts, on_done, res);
	if (rc)
		return rc;
	while (!res->done)
		em_reactor_run_once(c->r, 100);
	return res->status;
}

/* A bulk call: the server moves len bytes of buf (registered in mr). */
static int bulk(struct client *c, const char *url, uint16_t method, struct em_mr *mr, uint8_t *buf,
		size_t len, uint32_t seed, const struct em_buf_desc *grant_override, uint32_t *crc)
{
	struct em_rpc_grant g = { .access = method == M_GET ? EM_ACCESS_REMOTE_WRITE : EM_ACCESS_REMOTE_READ };
	int rc = em_mr_desc(mr, buf, len, &g.desc);
	if (rc)
		return rc;
	struct em_buf_desc ask = g.desc;
	if (grant_override)
		g.desc = *grant_override;
	uint8_t req[32];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_enc_desc(&e, &ask);
	em_enc_u32(&e, seed);
	/* Generous: soft-RoCE in an emulated guest moves a few MB/s. */
	struct em_rpc_call_opts o = { .grants = &g, .n_grants = 1, .timeout_ms = 120000 };
	struct result res;
	rc = call(c, url, method, req, e.len, &o, &res);
	if (rc == 0 && res.len == 4)
		*crc = em_get_le32(res.data);
	return rc;
}

/* A GETV call: the server writes a piece per desc[i] with pattern seed + i;
 * grant[i] (desc[i] when grant is NULL) is what the call grants. */
static int getv(struct client *c, const char *url, const struct em_buf_desc *desc,
		const struct em_buf_desc *grant, int n, uint32_t seed, bool bad_local)
{
	struct em_rpc_grant g[GETV_MAX];
	uint8_t req[8 + GETV_MAX * 20];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_enc_u32(&e, (uint32_t)n);
	em_enc_u32(&e, bad_local);
	for (int i = 0; i < n; i++) {
		g[i] = (struct em_rpc_grant){ .desc = grant ? grant[i] : desc[i],
					      .access = EM_ACCESS_REMOTE_WRITE };
		em_enc_desc(&e, &desc[i]);
		em_enc_u32(&e, seed + (uint32_t)i);
	}
	struct em_rpc_call_opts o = { .grants = g, .n_grants = (unsigned)n, .timeout_ms = 120000 };
	struct result res;
	return call(c, url, M_GETV, req, e.len, &o, &res);
}

/* Batches of writes: mixed sizes land byte for byte; a bad item fails the
 * whole call and the connection carries on (TCP). */
static void test_writev(struct client *c, const char *url)
{
	static const size_t sizes[] = { 1, 4096, (64u << 10) + 3, 1u << 20, (3u << 20) + 17 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	size_t len = 8u << 20;
	uint8_t *buf = aligned_alloc(4096, len), *want = malloc(len);
	struct em_mr *mr;
	is_int(em_mr_reg(buf, len, EM_ACCESS_REMOTE_WRITE, &mr), 0, "writev: reg");
	struct em_buf_desc d[N];
	size_t off = 0;
	memset(buf, 0xee, len);
	memset(want, 0xee, len);
	for (int i = 0; i < N; i++) {
		/* Odd gaps between the pieces: nothing may land outside them. */
		off += 4096 + (size_t)i * 7;
		em_mr_desc(mr, buf + off, sizes[i], &d[i]);
		pattern(want + off, sizes[i], 500 + (uint32_t)i);
		off += sizes[i];
	}
	is_int(getv(c, url, d, NULL, N, 500, false), 0, "writev: a batch of 5 mixed sizes");
	ok(memcmp(buf, want, len) == 0, "writev: every byte where it belongs, gaps untouched");

	memset(buf, 0xee, len);
	is_int(getv(c, url, d, NULL, N, 600, true), -ERANGE,
	       "writev: an item outside the local region fails the call at once");
	memset(want, 0xee, len);
	ok(memcmp(buf, want, len) == 0, "writev: ... and nothing was written");

	/* The last item reaches past its grant and the registered region: TCP
	 * refuses it against the grant, the NIC against the registration. */
	struct em_buf_desc ask[2] = { d[1], { (uintptr_t)buf + len - 4096, 8192, em_mr_rkey(mr) } };
	struct em_buf_desc granted[2] = { d[1], { (uintptr_t)buf + len - 4096, 4096, em_mr_rkey(mr) } };
	int rc = getv(c, url, ask, granted, 2, 700, false);
	if (strcmp(scheme, "tcp") == 0)
		is_int(rc, -EACCES, "writev: an item past its grant fails the whole batch");
	else
		ok(rc < 0, "writev: an item past the region fails the whole batch");
	struct result res;
	is_int(call(c, url, M_ECHO, "after", 5, NULL, &res), 0, "writev: calls work after a failed batch");
	em_mr_dereg(mr);
	free(buf);
	free(want);
}

struct worker {
	pthread_t th;
	const char *url;
	int idx;
	atomic_int *failures;
};

#define CONCURRENT 250

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct client c;
	client_init(&c, secret);
	int fails = 0;

	/* 250 requests in flight at once from this thread. */
	static _Thread_local struct result res[CONCURRENT];
	uint64_t vals[CONCURRENT];
	for (int i = 0; i < CONCURRENT; i++) {
		vals[i] = (uint64_t)w->idx << 32 | (uint64_t)i;
		memset(&res[i], 0, sizeof(res[i]));
		if (em_rpc_call(c.rpc, w->url, SVC, M_ECHO, &vals[i], 8, NULL, on_done, &res[i]))
			fails++;
	}
	for (int i = 0; i < CONCURRENT; i++) {
		while (!res[i].done)
			em_reactor_run_once(c.r, 100);
		if (res[i].status || res[i].len != 8 || memcmp(res[i].data, &vals[i], 8))
			fails++;
	}

	/* Bulk transfers both ways, verified byte by byte. */
	size_t max = 16u << 20;
	uint8_t *buf = aligned_alloc(4096, max), *want = malloc(max);
	struct em_mr *mr;
	if (em_mr_reg(buf, max, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr))
		fails++;
	for (size_t len = 4096; len <= max; len *= 4) {
		uint32_t seed = (uint32_t)(w->idx * 1000 + len), crc = 0;
		pattern(buf, len, seed);
		int rc = bulk(&c, w->url, M_PUT, mr, buf, len, 0, NULL, &crc);
		if (rc || crc != em_crc32c(0, buf, len)) {
			fprintf(stderr, "# put %zu failed: %s\n", len, em_strerror(rc));
			fails++;
		}
		memset(buf, 0, len);
		pattern(want, len, seed + 1);
		rc = bulk(&c, w->url, M_GET, mr, buf, len, seed + 1, NULL, &crc);
		if (rc || crc != em_crc32c(0, want, len) || memcmp(buf, want, len)) {
			fprintf(stderr, "# get %zu failed: %s\n", len, em_strerror(rc));
			fails++;
		}
	}
	em_mr_dereg(mr);
	free(buf);
	free(want);
	client_fini(&c);
	atomic_fetch_add(w->failures, fails);
	return NULL;
}

/* A raw connection that sends a corrupt frame: the server must drop it. */
struct raw {
	bool up, closed;
	int err;
};

static void raw_up(struct em_conn *c, void *arg)
{
	static const char junk[64] = "this is not an ember frame";
	struct raw *r = arg;
	r->up = true;
	em_conn_send(c, junk, sizeof(junk));
}

static void raw_close(struct em_conn *c, void *arg, int err)
{
	struct raw *r = arg;
	r->closed = true;
	r->err = err;
}

static void raw_msg(struct em_conn *c, void *arg, const void *m, size_t len)
{
}

static void test_bad_frame(const char *url)
{
	struct client c;
	client_init(&c, secret);
	struct raw r = { 0 };
	struct em_conn_cbs cbs = { .on_up = raw_up, .on_msg = raw_msg, .on_close = raw_close };
	struct em_conn *conn;
	is_int(em_connect(c.net, url, &cbs, &r, &conn), 0, "raw connect");
	uint64_t until = em_now_ms() + 5000;
	while (!r.closed && em_now_ms() < until)
		em_reactor_run_once(c.r, 100);
	/* Without on_up the junk is never sent and only the auth timeout would
	 * close the connection, so check it ran. */
	ok(r.up, "on_up runs for an outgoing connection");
	ok(r.closed && r.err < 0, "server closes a connection that sent a corrupt frame");
	client_fini(&c);
}

static void run_client_tests(const char *url, struct server *srv)
{
	struct client c;
	client_init(&c, secret);
	struct result res;

	is_int(call(&c, url, M_ECHO, "ping", 4, NULL, &res), 0, "echo");
	ok(res.len == 4 && memcmp(res.data, "ping", 4) == 0, "echo payload");
	is_int(call(&c, url, 99, "x", 1, NULL, &res), -ENOSYS, "unknown method: ENOSYS");

	struct em_rpc_call_opts fast = { .timeout_ms = 150 };
	uint64_t t0 = em_now_ms();
	is_int(call(&c, url, M_SLOW, "s", 1, &fast, &res), -ETIMEDOUT, "deadline expires");
	ok(em_now_ms() - t0 < 1000, "timeout fires on time");
	/* The late answer is dropped; the connection stays usable. */
	struct em_rpc_call_opts slow = { .timeout_ms = 3000 };
	is_int(call(&c, url, M_SLOW, "s", 1, &slow, &res), 0, "slow call within deadline");
	is_int(call(&c, url, M_ECHO, "again", 5, NULL, &res), 0, "connection fine after a late reply");

	/* Multi-threaded load. */
	atomic_int failures = 0;
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .url = url, .idx = i, .failures = &failures };
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(w[i].th, NULL);
	is_int(atomic_load(&failures), 0,
	       "4 threads x 250 concurrent echoes, bulk 4 KiB..16 MiB both ways verified");

	test_writev(&c, url);

	/* Corrupt frame: that connection dies, this one carries on. */
	test_bad_frame(url);
	is_int(call(&c, url, M_ECHO, "still", 5, NULL, &res), 0, "other clients unaffected");

	/* Memory outside the grant. */
	size_t len = 1 << 20;
	uint8_t *buf = aligned_alloc(4096, len);
	struct em_mr *mr;
	uint32_t crc;
	is_int(em_mr_reg(buf, len, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr), 0, "reg");
	struct em_buf_desc beyond = { (uintptr_t)buf + len, 4096, em_mr_rkey(mr) };
	struct em_rpc_grant g = { .access = EM_ACCESS_REMOTE_READ };
	em_mr_desc(mr, buf, 4096, &g.desc);
	uint8_t req[32];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_enc_desc(&e, &beyond);
	em_enc_u32(&e, 0);
	struct em_rpc_call_opts o = { .grants = &g, .n_grants = 1 };
	ok(call(&c, url, M_PUT, req, e.len, &o, &res) < 0, "read beyond the registered region refused");
	if (strcmp(scheme, "tcp") == 0) {
		/* Software grants are per request: registered is not enough. */
		struct em_buf_desc half;
		em_mr_desc(mr, buf, len / 2, &half);
		is_int(bulk(&c, url, M_PUT, mr, buf, len, 0, &half, &crc), -EACCES,
		       "read past the granted half refused");
		is_int(bulk(&c, url, M_GET, mr, buf, len, 0, &half, &crc), -EACCES,
		       "write past the granted half refused");
	}
	is_int(call(&c, url, M_ECHO, "after", 5, NULL, &res), 0, "calls work after a refusal");

	/* A wrong secret is refused. */
	struct client bad;
	client_init(&bad, "not the secret");
	is_int(call(&bad, url, M_ECHO, "hi", 2, NULL, &res), -EM_EAUTH, "wrong secret refused");
	client_fini(&bad);

	/* Graceful shutdown: drain, then the server stops on its own. */
	em_reactor_send(srv->r, server_drain, srv);
	pthread_join(srv->th, NULL);
	ok(1, "server drained and stopped");
	em_mr_dereg(mr);
	free(buf);
	client_fini(&c);
}

/* A server process killed with SIGKILL while pulling 16 MiB. */
static void test_killed_peer(pid_t pid, const char *url)
{
	struct client c;
	client_init(&c, secret);
	size_t len = 16u << 20;
	uint8_t *buf = aligned_alloc(4096, len);
	memset(buf, 0x5a, len);
	struct em_mr *mr;
	uint32_t crc;
	em_mr_reg(buf, len, EM_ACCESS_REMOTE_READ, &mr);
	uint64_t t0 = em_now_ms();
	int rc = bulk(&c, url, M_DIE, mr, buf, len, 0, NULL, &crc);
	ok(rc < 0 && rc != -ETIMEDOUT, "peer killed mid-transfer: an error, not a hang");
	if (rc >= 0 || rc == -ETIMEDOUT)
		printf("# got %s\n", em_strerror(rc));
	ok(em_now_ms() - t0 < 9000, "error arrives promptly");
	int st;
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the server was killed");
	em_mr_dereg(mr);
	free(buf);
	client_fini(&c);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		scheme = argv[1];
	if (argc > 2)
		ip = argv[2];
	signal(SIGPIPE, SIG_IGN);

	/* Fork the doomed server before any thread or device exists. */
	int pfd[2];
	if (pipe(pfd))
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		/* Never outlive a test that failed before killing us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct server s;
		server_start(&s, true);
		if (write(pfd[1], &s.port, sizeof(s.port)) != sizeof(s.port))
			_exit(2);
		em_reactor_run(s.r);
		_exit(0);
	}
	int dport = 0;
	if (read(pfd[0], &dport, sizeof(dport)) != sizeof(dport)) {
		printf("Bail out! doomed server did not start\n");
		return 1;
	}
	char durl[96];
	snprintf(durl, sizeof(durl), "%s://%s:%d", scheme, ip, dport);

	struct server srv;
	server_start(&srv, false);
	pthread_create(&srv.th, NULL, server_main, &srv);
	run_client_tests(srv.url, &srv);
	em_rpc_destroy(srv.rpc);
	em_net_destroy(srv.net);
	em_reactor_destroy(srv.r);

	test_killed_peer(pid, durl);
	return tap_done();
}
