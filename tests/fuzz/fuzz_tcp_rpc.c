/* libFuzzer: the TCP transport's parser and state machine (net/tcp.c) and
 * the RPC layer over it (net/rpc.c: the handshake, frames, requests, bulk
 * transfers and their deadlines), driven through a real socket into a real
 * em_rpc server on 127.0.0.1.
 *
 * Each input goes to a fresh connection. Its first byte picks how: bit 0
 * set, the harness first runs an honest handshake, so the rest is parsed as
 * an authenticated peer's (bulk frames, requests); clear, as a stranger's.
 * The server's methods: 1 echoes; 2 pulls and 3 pushes {addr u64, len u32,
 * rkey u32} (up to 64 KiB) from or to the peer with the request's deadline,
 * then answers. Whatever the bytes, the server must neither crash nor leak,
 * and after the connection closes every request must have been answered. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/auth.h"
#include "net/conn.h"
#include "net/frame.h"
#include "net/rpc.h"
#include "net/serde.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SVC 7
#define BUF_MAX 65536

static const char secret[] = "fuzz-secret-0123456789";
static struct em_reactor *r;
static struct em_net *net;
static struct em_rpc *rpc;
static struct em_mr *mr;
static uint8_t *buf;
static int port;

struct bulk_req {
	struct em_rpc_req *req;
};

static void h_echo(struct em_rpc_req *req, void *arg)
{
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	em_rpc_reply(req, 0, p, len);
}

static void bulk_done(void *arg, int status)
{
	struct bulk_req *b = arg;
	em_rpc_reply(b->req, status, NULL, 0);
	free(b);
}

static void h_bulk(struct em_rpc_req *req, void *arg)
{
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	struct em_dec d;
	em_dec_init(&d, p, len);
	struct em_buf_desc remote = { .addr = em_dec_u64(&d), .len = em_dec_u32(&d),
				      .rkey = em_dec_u32(&d) };
	struct bulk_req *b = malloc(sizeof(*b));
	if (em_dec_error(&d) || remote.len > BUF_MAX || !b) {
		free(b);
		em_rpc_reply(req, -EINVAL, NULL, 0);
		return;
	}
	b->req = req;
	struct em_bulk_item it = { .remote = remote, .mr = mr, .local = buf };
	int rc = em_rpc_req_bulk(req, em_rpc_req_method(req) == 3, &it, 1, bulk_done, b);
	if (rc) {
		free(b);
		em_rpc_reply(req, rc, NULL, 0);
	}
}

static void setup(void)
{
	/* No blocking of failed handshakes: all inputs come from 127.0.0.1. */
	struct em_rpc_opts o = { .secret = secret, .secret_len = strlen(secret),
				 .handshake_timeout_ms = 200, .auth_fail_max = UINT32_MAX };
	buf = calloc(1, BUF_MAX);
	if (!buf || em_reactor_create("fuzz", &r) || em_net_create(r, NULL, &net) ||
	    em_rpc_create(net, &o, &rpc) || em_rpc_register(rpc, SVC, 1, h_echo, NULL) ||
	    em_rpc_register(rpc, SVC, 2, h_bulk, NULL) || em_rpc_register(rpc, SVC, 3, h_bulk, NULL) ||
	    em_rpc_listen(rpc, "tcp://127.0.0.1:0", &port) ||
	    em_mr_reg(buf, BUF_MAX, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr))
		abort();
}

static void pump(int n)
{
	for (int i = 0; i < n; i++)
		em_reactor_run_once(r, 0);
}

/* Reads what the server sent into in (up to cap), pumping the reactor. */
static size_t recv_some(int fd, uint8_t *in, size_t cap, size_t want)
{
	size_t got = 0;
	for (int tries = 0; got < want && tries < 200; tries++) {
		pump(1);
		ssize_t n = recv(fd, in + got, cap - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
	}
	return got;
}

static void tcp_msg(uint8_t *p, uint32_t len)
{
	memset(p, 0, 32);
	p[0] = 1;
	p[1] = 1;
	em_put_le32(p + 4, len);
}

/* The client's half of the handshake, as net/rpc.c's client does it. */
static bool authenticate(int fd)
{
	uint8_t in[512];
	const size_t msg = 32 + EM_FRAME_HDR + EM_AUTH_NONCE;
	if (recv_some(fd, in, sizeof(in), msg) < msg)
		return false;
	uint8_t out[32 + EM_FRAME_HDR + EM_AUTH_NONCE + EM_AUTH_PROOF];
	uint8_t *body = out + 32 + EM_FRAME_HDR;
	memset(body, 0x5a, EM_AUTH_NONCE);
	em_auth_proof(secret, strlen(secret), EM_AUTH_CLIENT, in + 32 + EM_FRAME_HDR, body,
		      body + EM_AUTH_NONCE);
	struct em_frame_hdr h = { .service = 0, .method = 2, .len = EM_AUTH_NONCE + EM_AUTH_PROOF };
	tcp_msg(out, EM_FRAME_HDR + h.len);
	em_frame_encode(&h, body, out + 32);
	if (send(fd, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out))
		return false;
	return recv_some(fd, in, sizeof(in), 32 + EM_FRAME_HDR + EM_AUTH_PROOF) > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!r)
		setup();
	if (size < 1)
		return 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();
	pump(2);
	bool authed = (data[0] & 1) && authenticate(fd);
	(void)authed;
	/* The rest, as fast as the server takes it; its answers are drained so
	 * that it never stalls on a full socket. */
	uint8_t sink[65536];
	size_t off = 1;
	for (int tries = 0; off < size && tries < 1000; tries++) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;
		pump(1);
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	for (int i = 0; i < 20; i++) {
		pump(1);
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	close(fd);
	/* The server sees the close, fails what was pending and answers. */
	for (int i = 0; i < 50 && em_rpc_inflight(rpc); i++)
		pump(1);
	pump(4);
	if (em_rpc_inflight(rpc))
		abort();
	return 0;
}
