/* nvmf_kato_probe: a minimal NVMe-oF/RDMA host that checks keep-alive
 * enforcement, which the kernel host cannot be made to violate.
 *
 * Two associations with the admin queue of SUBNQN at ADDR:PORT, both
 * connected with KATO = KATO_MS:
 *   control: Connect, CC.EN, then a Keep Alive every KATO/2 for 2 x KATO +
 *            the margin; each must succeed and the target must not drop us.
 *   silent:  Connect, CC.EN, one Keep Alive, then nothing; the target must
 *            disconnect (RDMA_CM_EVENT_DISCONNECTED here) no earlier than
 *            KATO and no later than KATO + the margin after that Keep Alive.
 * The capsule formats are written out here from the NVMe-oF specification,
 * independently of the target's own headers. Every wait is bounded.
 *
 * usage: nvmf_kato_probe ADDR PORT SUBNQN HOSTNQN [KATO_MS [MARGIN_MS]]
 * Exit status 0 when both checks pass.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CM_TIMEOUT_MS 5000
#define CMD_TIMEOUT_MS 5000
#define AQ_DEPTH 32

/* Command capsule (64-byte SQE) fields used here. */
#define OPC_FABRICS 0x7f
#define OPC_KEEP_ALIVE 0x18
#define FCTYPE_PROP_SET 0x00
#define FCTYPE_CONNECT 0x01
#define PSDT_SGL 0x40          /* flags: data pointer is an SGL */
#define SGL_KEYED_ADDR 0x40    /* Keyed Data Block, subtype Address */
#define PROP_CC 0x14
#define CONNECT_DATA_LEN 1024

struct conn {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	struct {
		uint8_t sqe[64];
		uint8_t cqe[AQ_DEPTH][16];
		uint8_t data[CONNECT_DATA_LEN];
	} *mem;
	uint16_t cid;
	bool disconnected;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* The next CM event of type want within ms; false on timeout or another
 * event (which is reported; DISCONNECTED is remembered). */
static bool cm_wait(struct conn *c, enum rdma_cm_event_type want, int ms)
{
	struct pollfd p = { .fd = c->ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type got;

	if (poll(&p, 1, ms) <= 0 || rdma_get_cm_event(c->ch, &ev) < 0)
		return false;
	got = ev->event;
	if (got == RDMA_CM_EVENT_REJECTED)
		fprintf(stderr, "kato probe: connect rejected (status %d)\n", ev->status);
	rdma_ack_cm_event(ev);
	if (got == RDMA_CM_EVENT_DISCONNECTED)
		c->disconnected = true;
	if (got != want)
		fprintf(stderr, "kato probe: got %s, waited for %s\n", rdma_event_str(got),
			rdma_event_str(want));
	return got == want;
}

static int post_recv(struct conn *c, unsigned slot)
{
	struct ibv_sge sge = { .addr = (uintptr_t)c->mem->cqe[slot], .length = 16,
			       .lkey = c->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 }, *bad;
	return ibv_post_recv(c->id->qp, &wr, &bad);
}

static int conn_open(struct conn *c, const char *addr, const char *port)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai = NULL;
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC, .sq_sig_all = 1,
				       .cap = { .max_send_wr = 8, .max_recv_wr = AQ_DEPTH,
						.max_send_sge = 1, .max_recv_sge = 1 } };
	/* NVMe-oF RDMA CM request private data: recfmt, qid, hrqsize, hsqsize. */
	uint16_t priv[16] = { htole16(0), htole16(0), htole16(AQ_DEPTH), htole16(AQ_DEPTH - 1) };
	struct rdma_conn_param cp = { .private_data = priv, .private_data_len = sizeof priv,
				      .responder_resources = 16, .initiator_depth = 16,
				      .retry_count = 7, .rnr_retry_count = 7, .flow_control = 1 };

	memset(c, 0, sizeof *c);
	c->mem = calloc(1, sizeof *c->mem);
	c->ch = rdma_create_event_channel();
	if (!c->mem || !c->ch || rdma_create_id(c->ch, &c->id, NULL, RDMA_PS_TCP) < 0)
		return -1;
	fcntl(c->ch->fd, F_SETFL, fcntl(c->ch->fd, F_GETFL) | O_NONBLOCK);
	if (rdma_getaddrinfo(addr, port, &hints, &ai) < 0)
		return -1;
	if (rdma_resolve_addr(c->id, NULL, ai->ai_dst_addr, CM_TIMEOUT_MS) < 0 ||
	    !cm_wait(c, RDMA_CM_EVENT_ADDR_RESOLVED, CM_TIMEOUT_MS) ||
	    rdma_resolve_route(c->id, CM_TIMEOUT_MS) < 0 ||
	    !cm_wait(c, RDMA_CM_EVENT_ROUTE_RESOLVED, CM_TIMEOUT_MS)) {
		rdma_freeaddrinfo(ai);
		return -1;
	}
	rdma_freeaddrinfo(ai);
	c->pd = ibv_alloc_pd(c->id->verbs);
	c->cq = c->pd ? ibv_create_cq(c->id->verbs, 2 * AQ_DEPTH, NULL, NULL, 0) : NULL;
	if (!c->cq)
		return -1;
	qa.send_cq = qa.recv_cq = c->cq;
	if (rdma_create_qp(c->id, c->pd, &qa) < 0)
		return -1;
	c->mr = ibv_reg_mr(c->pd, c->mem, sizeof *c->mem,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!c->mr)
		return -1;
	for (unsigned i = 0; i < AQ_DEPTH; i++)
		if (post_recv(c, i))
			return -1;
	if (rdma_connect(c->id, &cp) < 0 || !cm_wait(c, RDMA_CM_EVENT_ESTABLISHED, CM_TIMEOUT_MS))
		return -1;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->id && c->id->qp && !c->disconnected && rdma_disconnect(c->id) == 0)
		cm_wait(c, RDMA_CM_EVENT_DISCONNECTED, CM_TIMEOUT_MS);
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ch)
		rdma_destroy_event_channel(c->ch);
	free(c->mem);
}

/* Sends the SQE in c->mem->sqe and waits for its response. Returns the
 * NVMe status (0 = success), or -1 on a transport failure or timeout. */
static int exec(struct conn *c, const char *what)
{
	struct ibv_sge sge = { .addr = (uintptr_t)c->mem->sqe, .length = 64, .lkey = c->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = UINT64_MAX, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND }, *bad;
	uint16_t cid = ++c->cid;
	bool sent = false;

	memcpy(c->mem->sqe + 2, &(uint16_t){ htole16(cid) }, 2);
	if (ibv_post_send(c->id->qp, &wr, &bad))
		return -1;
	for (uint64_t end = now_ms() + CMD_TIMEOUT_MS; now_ms() < end;) {
		struct ibv_wc wc;
		int n = ibv_poll_cq(c->cq, 1, &wc);

		if (n < 0)
			return -1;
		if (n == 0) {
			sleep_ms(1);
			continue;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "kato probe: %s: completion %s\n", what,
				ibv_wc_status_str(wc.status));
			return -1;
		}
		if (wc.wr_id == UINT64_MAX) {
			sent = true;
			continue;
		}
		const uint8_t *cqe = c->mem->cqe[wc.wr_id];
		uint16_t got_cid = le16toh(*(const uint16_t *)(cqe + 12));
		uint16_t status = le16toh(*(const uint16_t *)(cqe + 14)) >> 1;
		if (post_recv(c, (unsigned)wc.wr_id))
			return -1;
		if (got_cid != cid) {
			fprintf(stderr, "kato probe: %s: response for cid %u, sent %u\n", what,
				got_cid, cid);
			return -1;
		}
		/* The response may overtake our SEND's completion; drain it
		 * so the next command starts clean. */
		for (uint64_t t = now_ms() + 1000; !sent && now_ms() < t;) {
			if (ibv_poll_cq(c->cq, 1, &wc) > 0)
				sent = wc.wr_id == UINT64_MAX;
			else
				sleep_ms(1);
		}
		return status;
	}
	fprintf(stderr, "kato probe: %s: no response within %d ms\n", what, CMD_TIMEOUT_MS);
	return -1;
}

/* An SQE whose data pointer is a keyed SGL for len bytes of our buffer. */
static void sqe_init(struct conn *c, uint8_t opc, uint32_t len)
{
	uint8_t *s = c->mem->sqe;
	uint64_t addr = htole64((uintptr_t)c->mem->data);
	uint32_t key = htole32(len ? c->mr->rkey : 0);

	memset(s, 0, 64);
	s[0] = opc;
	s[1] = PSDT_SGL;
	memcpy(s + 24, &addr, 8);
	s[32] = (uint8_t)len;
	s[33] = (uint8_t)(len >> 8);
	s[34] = (uint8_t)(len >> 16);
	memcpy(s + 35, &key, 4);
	s[39] = SGL_KEYED_ADDR;
}

static int connect_admin(struct conn *c, const char *subnqn, const char *hostnqn,
			 uint32_t kato_ms)
{
	uint8_t *s = c->mem->sqe, *d = c->mem->data;
	uint32_t kato = htole32(kato_ms);
	uint16_t sqsize = htole16(AQ_DEPTH - 1), cntlid = htole16(0xffff);
	int st;

	memset(d, 0, CONNECT_DATA_LEN);
	for (int i = 0; i < 16; i++)
		d[i] = (uint8_t)(0xa0 + i); /* host identifier */
	memcpy(d + 16, &cntlid, 2);      /* dynamic controller */
	snprintf((char *)d + 256, 256, "%s", subnqn);
	snprintf((char *)d + 512, 256, "%s", hostnqn);
	sqe_init(c, OPC_FABRICS, CONNECT_DATA_LEN);
	s[4] = FCTYPE_CONNECT;
	memcpy(s + 44, &sqsize, 2);      /* recfmt 0 and qid 0 at 40..43 */
	memcpy(s + 48, &kato, 4);
	st = exec(c, "connect");
	if (st != 0) {
		fprintf(stderr, "kato probe: connect status %#x\n", st);
		return -1;
	}
	/* CC.EN with the host's queue entry sizes: the controller only takes
	 * admin commands once enabled. */
	sqe_init(c, OPC_FABRICS, 0);
	s[4] = FCTYPE_PROP_SET;
	uint32_t off = htole32(PROP_CC);
	uint64_t cc = htole64(1 | 6u << 16 | 4u << 20);
	memcpy(s + 44, &off, 4);
	memcpy(s + 48, &cc, 8);
	st = exec(c, "property set CC");
	if (st != 0) {
		fprintf(stderr, "kato probe: property set CC status %#x\n", st);
		return -1;
	}
	return 0;
}

static int keep_alive(struct conn *c)
{
	sqe_init(c, OPC_KEEP_ALIVE, 0);
	return exec(c, "keep alive");
}

/* Disconnected from the target's side, without blocking. */
static bool dropped(struct conn *c)
{
	while (!c->disconnected && cm_wait(c, RDMA_CM_EVENT_DISCONNECTED, 0))
		;
	return c->disconnected;
}

static int control(const char *addr, const char *port, const char *sub, const char *host,
		   uint32_t kato, uint32_t margin)
{
	struct conn c;
	int failed = 1;
	unsigned n = 0;

	if (conn_open(&c, addr, port) < 0 || connect_admin(&c, sub, host, kato) < 0) {
		fprintf(stderr, "kato probe: control: could not connect\n");
		goto out;
	}
	for (uint64_t end = now_ms() + 2 * kato + margin; now_ms() < end; n++) {
		if (keep_alive(&c) != 0) {
			fprintf(stderr, "kato probe: control: keep alive %u failed\n", n);
			goto out;
		}
		sleep_ms(kato / 2);
		if (dropped(&c)) {
			fprintf(stderr, "kato probe: control: dropped despite keep-alives\n");
			goto out;
		}
	}
	printf("kato probe: control: %u keep-alives every %u ms over %u ms, still connected\n", n,
	       kato / 2, 2 * kato + margin);
	failed = 0;
out:
	conn_close(&c);
	return failed;
}

static int silent(const char *addr, const char *port, const char *sub, const char *host,
		  uint32_t kato, uint32_t margin)
{
	struct conn c;
	int failed = 1;
	uint64_t last, waited;

	if (conn_open(&c, addr, port) < 0 || connect_admin(&c, sub, host, kato) < 0) {
		fprintf(stderr, "kato probe: silent: could not connect\n");
		goto out;
	}
	if (keep_alive(&c) != 0) {
		fprintf(stderr, "kato probe: silent: keep alive failed\n");
		goto out;
	}
	last = now_ms();
	printf("kato probe: connected with KATO %u ms, one keep alive ok; going silent\n", kato);
	while (!c.disconnected && now_ms() < last + kato + margin)
		cm_wait(&c, RDMA_CM_EVENT_DISCONNECTED, 50);
	waited = now_ms() - last;
	if (!c.disconnected) {
		fprintf(stderr, "kato probe: silent: still connected %llu ms after the last keep "
			"alive\n", (unsigned long long)waited);
		goto out;
	}
	if (waited < kato) {
		fprintf(stderr, "kato probe: silent: dropped after %llu ms, before KATO\n",
			(unsigned long long)waited);
		goto out;
	}
	printf("kato probe: silent: target disconnected %llu ms after the last keep alive "
	       "(KATO %u, limit %u)\n", (unsigned long long)waited, kato, kato + margin);
	failed = 0;
out:
	conn_close(&c);
	return failed;
}

int main(int argc, char **argv)
{
	uint32_t kato, margin;
	int failed;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: nvmf_kato_probe ADDR PORT SUBNQN HOSTNQN [KATO_MS [MARGIN_MS]]\n");
		return 2;
	}
	kato = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 0) : 2000;
	margin = argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 0) : 2000;
	if (kato < 100) {
		fprintf(stderr, "kato probe: KATO below 100 ms\n");
		return 2;
	}
	failed = control(argv[1], argv[2], argv[3], argv[4], kato, margin);
	failed += silent(argv[1], argv[2], argv[3], argv[4], kato, margin);
	printf("kato probe: %s\n", failed ? "FAILED" : "keep-alive enforcement verified");
	return failed ? 1 : 0;
}
