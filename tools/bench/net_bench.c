/* net_bench: Ember's half of tools/bench/net (the driver runs perftest or the
 * plain socket reference beside it and prints the RESULT lines).
 *
 * Ember transport (URL is tcp://IP or rdma://IP for serve, tcp://IP:PORT or
 * rdma://IP:PORT for the clients):
 *   net_bench serve URL                       bulk listener + RPC echo service;
 *                                             prints "READY bulk=PORT rpc=PORT", runs until killed
 *   net_bench write URL SIZE DEPTH SECONDS    em_conn_write of SIZE-byte buffers, DEPTH in flight
 *   net_bench read  URL SIZE DEPTH SECONDS    em_conn_read, the same way
 *   net_bench lat   URL SIZE ITERS            RPC echo of SIZE bytes, one call at a time
 *   net_bench rate  URL SIZE DEPTH SECONDS    RPC echo, DEPTH calls in flight
 * Plain socket reference (host tier):
 *   net_bench sock-serve IP                   prints "READY sock=PORT", runs until killed
 *   net_bench sock-write IP:PORT SIZE SECONDS client streams SIZE-byte write()s to the server
 *   net_bench sock-read  IP:PORT SIZE SECONDS server streams SIZE-byte write()s to the client
 *   net_bench sock-lat   IP:PORT SIZE ITERS   ping-pong of SIZE bytes, TCP_NODELAY
 *
 * Output, one line per measurement:
 *   BENCH <write|read> size=N depth=D bytes=B seconds=S MiBps=X MBps=Y
 *   BENCH lat size=N iters=I median_us=M avg_us=A p99_us=P
 *   BENCH rate size=N depth=D calls=C seconds=S per_s=R
 * Bulk bandwidth is bytes completed over the time from the end of a 0.5 s
 * warm-up to the completion of the last operation (issuing stops at the
 * deadline; what is in flight drains and counts). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/rpc.h"
#include "net/serde.h"

#define SVC 1
#define M_ECHO 1
#define REGION (64u << 20) /* the server's bulk region */
#define WARM_NS 500000000ll

static const char secret[] = "ember net_bench secret (benchmark only)";

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "net_bench: %s: %s\n", what, err ? em_strerror(err) : "failed");
	exit(2);
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
	if (!p)
		die("out of memory", -ENOMEM);
	memset(p, 0x5a, n);
	return p;
}

static struct em_reactor *new_reactor(const char *name, struct em_net **net)
{
	struct em_reactor *r;
	int rc = em_reactor_create(name, &r);
	if (rc)
		die("reactor", rc);
	rc = em_net_create(r, NULL, net);
	if (rc)
		die("net", rc);
	return r;
}

/* ---- Ember server ---------------------------------------------------------------- */

static struct em_buf_desc srv_desc;

static void srv_msg(struct em_conn *c, void *arg, const void *m, size_t len) {}
static void srv_close(struct em_conn *c, void *arg, int err) {}
static const struct em_conn_cbs srv_cbs = { .on_msg = srv_msg, .on_close = srv_close };

/* A bulk client: grant it the whole region and tell it where it is. */
static void srv_accept(void *arg, struct em_conn *c)
{
	uint8_t m[16];
	struct em_enc e;
	em_conn_set_cbs(c, &srv_cbs, NULL);
	em_conn_guard(c, false); /* the raw benchmark has no handshake */
	int rc = em_conn_grant(c, &srv_desc, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE);
	em_enc_init(&e, m, sizeof(m));
	em_enc_desc(&e, &srv_desc);
	if (!rc)
		rc = em_conn_send(c, m, e.len);
	if (rc)
		em_conn_close(c, rc);
}

static void h_echo(struct em_rpc_req *req, void *arg)
{
	size_t n;
	const void *p = em_rpc_req_payload(req, &n);
	em_rpc_reply(req, 0, p, n);
}

static int serve(const char *base)
{
	struct em_net *net;
	struct em_reactor *r = new_reactor("bench-srv", &net);
	struct em_rpc *rpc;
	struct em_listener *l;
	struct em_mr *mr;
	char url[128];
	int rpc_port = 0;

	void *buf = xalloc(REGION);
	int rc = em_mr_reg(buf, REGION, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr);
	if (rc || (rc = em_mr_desc(mr, buf, REGION, &srv_desc)))
		die("register the server region", rc);
	snprintf(url, sizeof(url), "%s:0", base);
	if ((rc = em_listen(net, url, srv_accept, NULL, &l)))
		die(url, rc);
	struct em_rpc_opts o = { .secret = secret, .secret_len = strlen(secret) };
	if ((rc = em_rpc_create(net, &o, &rpc)) || (rc = em_rpc_register(rpc, SVC, M_ECHO, h_echo, NULL)) ||
	    (rc = em_rpc_listen(rpc, url, &rpc_port)))
		die("rpc listen", rc);
	printf("READY bulk=%d rpc=%d\n", em_listener_port(l), rpc_port);
	fflush(stdout);
	return em_reactor_run(r); /* until killed */
}

/* ---- Ember bulk client ------------------------------------------------------------ */

struct bulk_client {
	struct em_reactor *r;
	struct em_conn *c;
	struct em_mr *mr;
	uint8_t *local;
	struct em_buf_desc remote;
	bool have_remote, closed, write;
	int err;
	size_t size;
	int depth, inflight;
	long long t_warm, t_stop, t_last;
	unsigned long long bytes; /* completed after the warm-up */
};

struct bulk_slot {
	struct bulk_client *bc;
	int idx;
};

static void cl_msg(struct em_conn *c, void *arg, const void *m, size_t len)
{
	struct bulk_client *bc = arg;
	struct em_dec d;
	em_dec_init(&d, m, len);
	em_dec_desc(&d, &bc->remote);
	if (!em_dec_error(&d))
		bc->have_remote = true;
}

static void cl_close(struct em_conn *c, void *arg, int err)
{
	struct bulk_client *bc = arg;
	bc->closed = true;
	bc->err = err;
}

static int bulk_issue(struct bulk_slot *s);

static void bulk_done(void *arg, int status)
{
	struct bulk_slot *s = arg;
	struct bulk_client *bc = s->bc;
	long long t = now_ns();
	bc->inflight--;
	if (status) {
		if (!bc->err)
			bc->err = status;
		return;
	}
	if (t >= bc->t_warm)
		bc->bytes += bc->size;
	bc->t_last = t;
	if (t < bc->t_stop && !bc->err) {
		int rc = bulk_issue(s);
		if (rc && !bc->err)
			bc->err = rc;
	}
}

static int bulk_issue(struct bulk_slot *s)
{
	struct bulk_client *bc = s->bc;
	size_t slots = bc->remote.len / bc->size;
	struct em_buf_desc d = {
		.addr = bc->remote.addr + (uint64_t)(s->idx % slots) * bc->size,
		.len = (uint32_t)bc->size,
		.rkey = bc->remote.rkey,
	};
	uint8_t *local = bc->local + (size_t)s->idx * bc->size;
	int rc = bc->write ? em_conn_write(bc->c, &d, bc->mr, local, bulk_done, s)
			   : em_conn_read(bc->c, &d, bc->mr, local, bulk_done, s);
	if (!rc)
		bc->inflight++;
	return rc;
}

static int bulk_main(const char *url, bool write, size_t size, int depth, double seconds)
{
	struct em_net *net;
	struct bulk_client bc = { .write = write, .size = size, .depth = depth };
	bc.r = new_reactor("bench-bulk", &net);
	if (size == 0 || size > REGION || depth < 1)
		die("bad SIZE or DEPTH", -EINVAL);
	bc.local = xalloc(size * (size_t)depth);
	int rc = em_mr_reg(bc.local, size * (size_t)depth, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE,
			   &bc.mr);
	if (rc)
		die("register", rc);
	struct em_conn_cbs cbs = { .on_msg = cl_msg, .on_close = cl_close };
	if ((rc = em_connect(net, url, &cbs, &bc, &bc.c)))
		die(url, rc);
	long long until = now_ns() + 30000000000ll;
	while (!bc.have_remote && !bc.closed && now_ns() < until)
		em_reactor_run_once(bc.r, 100);
	if (!bc.have_remote)
		die("no region from the server", bc.err ? bc.err : -ETIMEDOUT);
	if (bc.remote.len < size)
		die("server region too small", -EINVAL);

	struct bulk_slot *slots = calloc((size_t)depth, sizeof(*slots));
	long long t0 = now_ns();
	bc.t_warm = t0 + WARM_NS;
	bc.t_stop = bc.t_warm + (long long)(seconds * 1e9);
	for (int i = 0; i < depth; i++) {
		slots[i] = (struct bulk_slot){ &bc, i };
		if ((rc = bulk_issue(&slots[i])))
			die("issue", rc);
	}
	while (bc.inflight > 0 && !bc.closed)
		em_reactor_run_once(bc.r, 100);
	if (bc.err)
		die(write ? "em_conn_write" : "em_conn_read", bc.err);
	/* Closed under operations in flight, or nothing done after the
	 * warm-up: no figure to give. */
	if (bc.inflight > 0)
		die("connection closed with operations in flight", -ECONNRESET);
	double secs = (double)(bc.t_last - bc.t_warm) / 1e9;
	if (bc.bytes == 0 || secs <= 0)
		die("no operation completed after the warm-up", -ETIMEDOUT);
	printf("BENCH %s size=%zu depth=%d bytes=%llu seconds=%.3f MiBps=%.1f MBps=%.1f\n",
	       write ? "write" : "read", size, depth, bc.bytes, secs, bc.bytes / secs / 1048576.0,
	       bc.bytes / secs / 1e6);
	em_conn_close(bc.c, -ECONNRESET);
	em_net_destroy(net);
	em_reactor_destroy(bc.r);
	em_mr_dereg(bc.mr);
	free(slots);
	free(bc.local);
	return 0;
}

/* ---- Ember RPC client ----------------------------------------------------------- */

struct call_state {
	struct em_rpc *rpc;
	const char *url;
	const uint8_t *payload;
	size_t size;
	bool done;
	int status, inflight;
	long long t_stop;
	unsigned long long calls;
};

static void lat_done(void *arg, int status, const void *p, size_t len)
{
	struct call_state *cs = arg;
	cs->done = true;
	cs->status = status ? status : (len == cs->size ? 0 : -EPROTO);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static struct em_rpc *rpc_client(struct em_net *net)
{
	struct em_rpc *rpc;
	struct em_rpc_opts o = { .secret = secret, .secret_len = strlen(secret), .default_timeout_ms = 60000 };
	int rc = em_rpc_create(net, &o, &rpc);
	if (rc)
		die("rpc", rc);
	return rpc;
}

static int one_call(struct em_reactor *r, struct call_state *cs)
{
	cs->done = false;
	int rc = em_rpc_call(cs->rpc, cs->url, SVC, M_ECHO, cs->payload, cs->size, NULL, lat_done, cs);
	if (rc)
		return rc;
	while (!cs->done)
		em_reactor_run_once(r, 100);
	return cs->status;
}

static int lat_main(const char *url, size_t size, int iters)
{
	struct em_net *net;
	struct em_reactor *r = new_reactor("bench-lat", &net);
	struct call_state cs = { .rpc = rpc_client(net), .url = url, .size = size };
	cs.payload = xalloc(size ? size : 1);
	long long *t = calloc((size_t)iters, sizeof(*t));
	int rc;
	/* Connect, authenticate, warm up. */
	for (int i = 0; i < 100; i++)
		if ((rc = one_call(r, &cs)))
			die("echo", rc);
	long double sum = 0;
	for (int i = 0; i < iters; i++) {
		long long a = now_ns();
		if ((rc = one_call(r, &cs)))
			die("echo", rc);
		t[i] = now_ns() - a;
		sum += t[i];
	}
	qsort(t, (size_t)iters, sizeof(*t), cmp_ll);
	printf("BENCH lat size=%zu iters=%d median_us=%.2f avg_us=%.2f p99_us=%.2f\n", size, iters,
	       t[iters / 2] / 1e3, (double)(sum / iters) / 1e3, t[(int)(iters * 0.99)] / 1e3);
	em_rpc_destroy(cs.rpc);
	em_net_destroy(net);
	em_reactor_destroy(r);
	free(t);
	return 0;
}

static void rate_done(void *arg, int status, const void *p, size_t len)
{
	struct call_state *cs = arg;
	cs->inflight--;
	if (status || len != cs->size) {
		cs->status = status ? status : -EPROTO;
		return;
	}
	cs->calls++;
	if (now_ns() < cs->t_stop && !cs->status) {
		int rc = em_rpc_call(cs->rpc, cs->url, SVC, M_ECHO, cs->payload, cs->size, NULL, rate_done, cs);
		if (rc)
			cs->status = rc;
		else
			cs->inflight++;
	}
}

static int rate_main(const char *url, size_t size, int depth, double seconds)
{
	struct em_net *net;
	struct em_reactor *r = new_reactor("bench-rate", &net);
	struct call_state cs = { .rpc = rpc_client(net), .url = url, .size = size };
	cs.payload = xalloc(size ? size : 1);
	int rc;
	for (int i = 0; i < 100; i++)
		if ((rc = one_call(r, &cs)))
			die("echo", rc);
	long long t0 = now_ns();
	cs.t_stop = t0 + (long long)(seconds * 1e9);
	for (int i = 0; i < depth; i++) {
		if ((rc = em_rpc_call(cs.rpc, url, SVC, M_ECHO, cs.payload, size, NULL, rate_done, &cs)))
			die("echo", rc);
		cs.inflight++;
	}
	while (cs.inflight > 0)
		em_reactor_run_once(r, 100);
	if (cs.status)
		die("echo", cs.status);
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("BENCH rate size=%zu depth=%d calls=%llu seconds=%.3f per_s=%.0f\n", size, depth, cs.calls, secs,
	       cs.calls / secs);
	em_rpc_destroy(cs.rpc);
	em_net_destroy(net);
	em_reactor_destroy(r);
	return 0;
}

/* ---- plain socket reference ------------------------------------------------------ */

enum { SOCK_WRITE = 1, SOCK_READ = 2, SOCK_LAT = 3 };

static int full_io(int fd, void *p, size_t n, bool wr)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = wr ? write(fd, b, n) : read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void sock_session(int fd)
{
	uint8_t hdr[8];
	if (full_io(fd, hdr, sizeof(hdr), false))
		return;
	uint32_t op = em_get_le32(hdr), size = em_get_le32(hdr + 4);
	if (size == 0 || size > REGION)
		return;
	uint8_t *buf = xalloc(size);
	if (op == SOCK_WRITE) { /* count what arrives until EOF, then say how much */
		unsigned long long total = 0;
		ssize_t k;
		while ((k = read(fd, buf, size)) > 0 || (k < 0 && errno == EINTR))
			total += k > 0 ? (unsigned long long)k : 0;
		uint8_t out[8];
		em_put_le64(out, total);
		full_io(fd, out, 8, true);
	} else if (op == SOCK_READ) { /* stream until the client hangs up */
		while (!full_io(fd, buf, size, true))
			;
	} else if (op == SOCK_LAT) {
		while (!full_io(fd, buf, size, false) && !full_io(fd, buf, size, true))
			;
	}
	free(buf);
}

static int sock_serve(const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	signal(SIGPIPE, SIG_IGN);
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 || l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 8) || getsockname(l, (struct sockaddr *)&a, &al))
		die("sock-serve", -errno);
	printf("READY sock=%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) { /* one client at a time */
		int fd = accept(l, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sock_session(fd);
		close(fd);
	}
	return 0;
}

static int sock_connect(const char *hostport, uint32_t op, uint32_t size)
{
	char ip[64];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!colon || (size_t)(colon - hostport) >= sizeof(ip))
		die("IP:PORT expected", -EINVAL);
	memcpy(ip, hostport, (size_t)(colon - hostport));
	ip[colon - hostport] = 0;
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die(hostport, -errno);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint8_t hdr[8];
	em_put_le32(hdr, op);
	em_put_le32(hdr + 4, size);
	if (full_io(fd, hdr, 8, true))
		die("sock header", -errno);
	return fd;
}

static void sock_print(const char *what, size_t size, unsigned long long bytes, long long t_ns)
{
	double secs = (double)t_ns / 1e9;
	printf("BENCH %s size=%zu depth=1 bytes=%llu seconds=%.3f MiBps=%.1f MBps=%.1f\n", what, size, bytes, secs,
	       bytes / secs / 1048576.0, bytes / secs / 1e6);
}

static int sock_write(const char *hp, size_t size, double seconds)
{
	int fd = sock_connect(hp, SOCK_WRITE, (uint32_t)size);
	uint8_t *buf = xalloc(size);
	long long t0 = now_ns(), stop = t0 + (long long)(seconds * 1e9);
	unsigned long long sent = 0;
	do {
		if (full_io(fd, buf, size, true))
			die("sock write", -errno);
		sent += size;
	} while (now_ns() < stop);
	shutdown(fd, SHUT_WR);
	uint8_t in[8];
	if (full_io(fd, in, 8, false) || em_get_le64(in) != sent)
		die("sock write: server count differs", -EPROTO);
	sock_print("sock-write", size, sent, now_ns() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int sock_read(const char *hp, size_t size, double seconds)
{
	int fd = sock_connect(hp, SOCK_READ, (uint32_t)size);
	uint8_t *buf = xalloc(size);
	long long t0 = now_ns(), stop = t0 + (long long)(seconds * 1e9);
	unsigned long long got = 0;
	do {
		ssize_t k = read(fd, buf, size);
		if (k <= 0)
			die("sock read", k < 0 ? -errno : -ECONNRESET);
		got += (unsigned long long)k;
	} while (now_ns() < stop);
	sock_print("sock-read", size, got, now_ns() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int sock_lat(const char *hp, size_t size, int iters)
{
	int fd = sock_connect(hp, SOCK_LAT, (uint32_t)size);
	uint8_t *buf = xalloc(size);
	long long *t = calloc((size_t)iters, sizeof(*t));
	long double sum = 0;
	for (int i = -100; i < iters; i++) {
		long long a = now_ns();
		if (full_io(fd, buf, size, true) || full_io(fd, buf, size, false))
			die("sock ping-pong", -errno);
		if (i >= 0) {
			t[i] = now_ns() - a;
			sum += t[i];
		}
	}
	qsort(t, (size_t)iters, sizeof(*t), cmp_ll);
	printf("BENCH sock-lat size=%zu iters=%d median_us=%.2f avg_us=%.2f p99_us=%.2f\n", size, iters,
	       t[iters / 2] / 1e3, (double)(sum / iters) / 1e3, t[(int)(iters * 0.99)] / 1e3);
	close(fd);
	free(buf);
	free(t);
	return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	return (size_t)v;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "serve") && argc == 3)
		return serve(argv[2]);
	if ((!strcmp(cmd, "write") || !strcmp(cmd, "read")) && argc == 6)
		return bulk_main(argv[2], cmd[0] == 'w', parse_size(argv[3]), atoi(argv[4]), atof(argv[5]));
	if (!strcmp(cmd, "lat") && argc == 5)
		return lat_main(argv[2], parse_size(argv[3]), atoi(argv[4]));
	if (!strcmp(cmd, "rate") && argc == 6)
		return rate_main(argv[2], parse_size(argv[3]), atoi(argv[4]), atof(argv[5]));
	if (!strcmp(cmd, "sock-serve") && argc == 3)
		return sock_serve(argv[2]);
	if (!strcmp(cmd, "sock-write") && argc == 5)
		return sock_write(argv[2], parse_size(argv[3]), atof(argv[4]));
	if (!strcmp(cmd, "sock-read") && argc == 5)
		return sock_read(argv[2], parse_size(argv[3]), atof(argv[4]));
	if (!strcmp(cmd, "sock-lat") && argc == 5)
		return sock_lat(argv[2], parse_size(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of tools/bench/net_bench.c\n");
	return 2;
}
