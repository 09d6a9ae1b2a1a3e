/* probe MODE ...: a misbehaving peer of an Ember TCP listener, speaking the
 * wire format of docs/protocol.md by hand (the TCP transport's 32-byte frame
 * header, the RPC frame, the handshake), so it can stop wherever an honest
 * client would not.
 *
 *   probe big HOST PORT N MIB HOLD_S
 *       N connections, each announcing a 64 MiB message before any handshake
 *       and sending MIB MiB of it; prints "holding", then holds HOLD_S s and
 *       prints how many the daemon closed.
 *   probe idle HOST PORT N HOLD_S
 *       N connections that send nothing, held HOLD_S s ("holding" once open).
 *   probe half HOST PORT SECRET_FILE
 *       authenticates, sends 20 bytes of a frame header and prints how long
 *       the daemon took to close the connection.
 *   probe wrong HOST PORT N
 *       N handshakes in a row with a wrong secret; prints how many got as far
 *       as the daemon's challenge and how many were refused at once.
 *   probe stall HOST PORT SECRET_FILE TARGET TIMEOUT_MS
 *       authenticates and sends a chunk WRITE of 64 KiB to TARGET granting a
 *       buffer, then never serves the pull; prints "pull pending" when the
 *       daemon asks for the data and then how the request ended.
 * Exit status 0 when the run went as described, 1 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "block/service/proto.h"
#include "net/auth.h"
#include "net/frame.h"
#include "net/serde.h"

enum { F_MSG = 1, F_READ_REQ, F_READ_DATA, F_WRITE_DATA, F_WRITE_ACK };
#define THDR 32

static const char *host;
static int port;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("probe: connect");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void thdr(uint8_t *p, uint8_t type, uint32_t len, uint64_t id)
{
	memset(p, 0, THDR);
	p[0] = type;
	p[1] = 1;
	em_put_le32(p + 4, len);
	em_put_le64(p + 8, id);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes within timeout_ms; 0, or -1 on close or timeout. */
static int read_all(int fd, void *p, size_t n, int timeout_ms)
{
	uint8_t *b = p;
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	while (n) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)(until - now_ms());
		if (left <= 0 || poll(&pf, 1, left) <= 0)
			return -1;
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One RPC frame as one TCP message. */
static int send_rpc(int fd, const struct em_frame_hdr *h, const void *payload)
{
	uint8_t buf[THDR + EM_FRAME_HDR + 4096];
	if (h->len > 4096)
		return -1;
	thdr(buf, F_MSG, EM_FRAME_HDR + h->len, 0);
	em_frame_encode(h, payload, buf + THDR);
	memcpy(buf + THDR + EM_FRAME_HDR, payload, h->len);
	return write_all(fd, buf, THDR + EM_FRAME_HDR + h->len);
}

/* Reads transport frames until an RPC message; READ_REQs are counted and
 * left unanswered. Returns the message length in buf, or -1. */
static int recv_rpc(int fd, uint8_t *buf, size_t cap, int timeout_ms, int *read_reqs)
{
	for (;;) {
		uint8_t h[THDR];
		if (read_all(fd, h, THDR, timeout_ms))
			return -1;
		uint32_t len = em_get_le32(h + 4);
		if (h[0] == F_READ_REQ) {
			if (read_reqs)
				(*read_reqs)++;
			printf("pull pending\n");
			fflush(stdout);
			continue;
		}
		if (h[0] != F_MSG || len > cap)
			return -1;
		if (read_all(fd, buf, len, timeout_ms))
			return -1;
		return (int)len;
	}
}

/* Returns 0 when authenticated, -1 on any failure, -2 when the daemon closed
 * before its challenge. secret_file NULL: a random (wrong) secret. */
static int handshake(int fd, const char *secret_file)
{
	uint8_t secret[4096], msg[4096], out[EM_AUTH_NONCE + EM_AUTH_PROOF], sn[EM_AUTH_NONCE];
	int slen = 32;
	if (!secret_file)
		em_auth_nonce(secret);
	else if ((slen = em_auth_read_secret(secret_file, secret, sizeof(secret))) < 0) {
		fprintf(stderr, "probe: %s: error %d\n", secret_file, slen);
		return -1;
	}
	struct em_frame_hdr h;
	const void *p;
	int n = recv_rpc(fd, msg, sizeof(msg), 5000, NULL);
	if (n < 0)
		return -2;
	if (em_frame_decode(msg, (size_t)n, &h, &p) || h.len != EM_AUTH_NONCE)
		return -1;
	memcpy(sn, p, EM_AUTH_NONCE);
	if (em_auth_nonce(out))
		return -1;
	em_auth_proof(secret, (size_t)slen, EM_AUTH_CLIENT, sn, out, out + EM_AUTH_NONCE);
	struct em_frame_hdr o = { .service = 0, .method = 2, .len = sizeof(out) };
	if (send_rpc(fd, &o, out))
		return -1;
	n = recv_rpc(fd, msg, sizeof(msg), 5000, NULL);
	if (n < 0 || em_frame_decode(msg, (size_t)n, &h, &p) || h.status) {
		fprintf(stderr, "probe: handshake refused\n");
		return -1;
	}
	return 0;
}

static int open_many(int n, int *fds)
{
	for (int i = 0; i < n; i++)
		if ((fds[i] = dial()) < 0)
			return i;
	return n;
}

/* How many of fds the daemon has closed (EOF or reset), past whatever it
 * sent first (its handshake challenge). */
static int count_closed(const int *fds, int n)
{
	int closed = 0;
	for (int i = 0; i < n; i++) {
		char b[4096];
		ssize_t r;
		while ((r = recv(fds[i], b, sizeof(b), MSG_DONTWAIT)) > 0)
			;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			closed++;
	}
	return closed;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

static int mode_big(int n, int mib, int hold)
{
	int *fds = calloc((size_t)n, sizeof(*fds));
	size_t *sent = calloc((size_t)n, sizeof(*sent));
	static uint8_t zero[1 << 16];
	if (!fds || !sent)
		return 1;
	int open = open_many(n, fds);
	size_t body = (size_t)mib << 20;
	for (int i = 0; i < open; i++) {
		uint8_t h[THDR];
		thdr(h, F_MSG, 64u << 20, 0);
		if (write_all(fds[i], h, THDR))
			sent[i] = body; /* closed already */
	}
	/* Bodies, round robin, until sent or refused. */
	for (int busy = 1; busy;) {
		busy = 0;
		for (int i = 0; i < open; i++) {
			if (sent[i] >= body)
				continue;
			struct pollfd pf = { fds[i], POLLOUT, 0 };
			if (poll(&pf, 1, 100) <= 0 || (pf.revents & (POLLERR | POLLHUP))) {
				sent[i] = body;
				continue;
			}
			size_t want = body - sent[i] < sizeof(zero) ? body - sent[i] : sizeof(zero);
			ssize_t w = send(fds[i], zero, want, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent[i] += (size_t)w;
			else if (errno != EAGAIN)
				sent[i] = body;
			busy = 1;
		}
	}
	printf("holding %d connections\n", open);
	fflush(stdout);
	sleep((unsigned)hold);
	printf("%d of %d connections closed by the daemon\n", count_closed(fds, open), open);
	close_all(fds, open);
	free(sent);
	return open == n ? 0 : 1;
}

static int mode_idle(int n, int hold)
{
	int *fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		return 1;
	int open = open_many(n, fds);
	printf("holding %d connections\n", open);
	fflush(stdout);
	sleep((unsigned)hold);
	printf("%d of %d connections closed by the daemon\n", count_closed(fds, open), open);
	close_all(fds, open);
	return open == n ? 0 : 1;
}

static int mode_half(const char *secret_file)
{
	int fd = dial();
	if (fd < 0 || handshake(fd, secret_file))
		return 1;
	uint8_t h[THDR];
	thdr(h, F_MSG, 100, 0);
	uint64_t t0 = now_ms();
	if (write_all(fd, h, 20))
		return 1;
	char c;
	struct pollfd pf = { fd, POLLIN, 0 };
	int r = poll(&pf, 1, 120000);
	if (r <= 0 || read(fd, &c, 1) > 0) {
		printf("not closed\n");
		return 1;
	}
	printf("closed after %llu ms\n", (unsigned long long)(now_ms() - t0));
	return 0;
}

static int mode_wrong(int n)
{
	int challenged = 0, refused = 0;
	for (int i = 0; i < n; i++) {
		int fd = dial();
		if (fd < 0)
			return 1;
		int r = handshake(fd, NULL);
		if (r == 0) {
			printf("a wrong secret was accepted\n");
			return 1;
		}
		if (r == -2)
			refused++;
		else
			challenged++;
		close(fd);
	}
	printf("%d attempts: %d got a challenge, %d refused at once\n", n, challenged, refused);
	return 0;
}

static int mode_stall(const char *secret_file, uint32_t target, uint32_t timeout_ms)
{
	int fd = dial();
	if (fd < 0 || handshake(fd, secret_file))
		return 1;
	struct em_cs_item it = { .target = target, .len = 65536, .ver = 1,
				 .buf = { .addr = 0x100000, .len = 65536, .rkey = 1 } };
	uint64_t t = now_ms();
	memcpy(it.id.b, "probe-stall", 11);
	memcpy(it.id.b + 8, &t, sizeof(t));
	uint8_t p[1024];
	struct em_enc e;
	em_enc_init(&e, p, sizeof(p));
	em_cs_enc_items(&e, EM_CS_WRITE, &it, 1);
	struct em_frame_hdr h = { .service = EM_CS_SERVICE, .method = EM_CS_WRITE,
				  .timeout_ms = timeout_ms, .id = 1, .len = (uint32_t)e.len };
	uint64_t t0 = now_ms();
	if (em_enc_error(&e) || send_rpc(fd, &h, p))
		return 1;
	uint8_t msg[4096];
	int pulls = 0;
	int n = recv_rpc(fd, msg, sizeof(msg), (int)timeout_ms + 60000, &pulls);
	uint64_t dt = now_ms() - t0;
	const void *pl;
	struct em_frame_hdr rh;
	if (n < 0) {
		printf("connection closed after %llu ms, %d pulls asked\n", (unsigned long long)dt,
		       pulls);
		return pulls ? 0 : 1;
	}
	if (em_frame_decode(msg, (size_t)n, &rh, &pl))
		return 1;
	struct em_cs_result res;
	uint32_t nres = 0;
	int st = rh.status;
	if (st == 0 && em_cs_dec_results(pl, rh.len, EM_CS_WRITE, &res, 1, &nres) == 0 && nres)
		st = res.status;
	printf("answered after %llu ms, status %d, %d pulls asked\n", (unsigned long long)dt, st,
	       pulls);
	return pulls ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: probe big|idle|half|stall HOST PORT ... (see the source)\n");
		return 2;
	}
	host = argv[2];
	port = atoi(argv[3]);
	if (!strcmp(argv[1], "big") && argc == 7)
		return mode_big(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
	if (!strcmp(argv[1], "idle") && argc == 6)
		return mode_idle(atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(argv[1], "half") && argc == 5)
		return mode_half(argv[4]);
	if (!strcmp(argv[1], "wrong") && argc == 5)
		return mode_wrong(atoi(argv[4]));
	if (!strcmp(argv[1], "stall") && argc == 7)
		return mode_stall(argv[4], (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]));
	fprintf(stderr, "probe: bad arguments\n");
	return 2;
}
