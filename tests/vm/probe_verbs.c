/* probe_verbs: proves that the vm testbed has working RDMA through rdma_cm.
 *
 * One process, two threads: a server listens on ADDRESS:PORT through
 * rdma_cm (default 192.0.2.1:18600, rxe0 in the guest), a client connects to
 * it, and the two exchange, over one RC queue pair:
 *   1. a SEND of 4096 bytes that the server receives and verifies,
 *   2. an RDMA READ by the client of a 1 MiB server buffer (address and rkey
 *      come in the private data of the server's accept),
 *   3. an RDMA WRITE by the client into another 1 MiB server buffer, followed
 *      by a SEND telling the server to verify it; the server answers with a
 *      SEND carrying its verdict.
 * Every byte is checked against a seeded pattern and its CRC32C. Every wait is
 * bounded (completion channel and event channel polled with a deadline).
 * Exit status 0 only if all three transfers were verified.
 *
 * usage: probe_verbs [ADDRESS [PORT]]   (EMBER_LOG=debug for more detail)
 */
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "probe_verbs"
#define MSG_SIZE 4096u
#define BULK_SIZE (1u << 20)
#define WAIT_MS 20000 /* TCG guests are slow; still bounded */
#define PROBE_MAGIC 0x454d5650u /* "EMVP" */

#define SEED_SEND 0x5e4d5e4d00000001ull
#define SEED_WRITE 0x5e4d5e4d00000002ull
#define SEED_READ 0x5e4d5e4d00000003ull

/* Sent by the server in the private data of its accept. */
struct probe_priv {
	uint32_t magic;
	uint32_t bulk_len;
	uint64_t write_addr; /* client RDMA WRITEs here */
	uint64_t read_addr;  /* client RDMA READs from here */
	uint32_t write_rkey;
	uint32_t read_rkey;
	uint32_t read_crc; /* CRC32C of the read buffer's content */
	uint32_t pad;
};

enum { CTL_WRITE_DONE = 1, CTL_VERDICT = 2 };

/* Small control messages after the data SEND. */
struct probe_ctl {
	uint32_t magic;
	uint32_t type;
	uint32_t crc;    /* CTL_WRITE_DONE: CRC32C the client wrote */
	uint32_t status; /* CTL_VERDICT: 0 = server verified everything */
};

enum {
	WR_SEND_DATA = 1,
	WR_SEND_CTL,
	WR_RECV_DATA,
	WR_RECV_CTL,
	WR_READ,
	WR_WRITE,
};

struct side {
	const char *name;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	bool qp_created;
	unsigned cq_events;
	/* buffers and their registrations */
	unsigned char *msg;  /* client: data SEND source; server: data RECV target */
	unsigned char *bulk_a; /* client: WRITE source; server: WRITE target */
	unsigned char *bulk_b; /* client: READ target; server: READ source */
	struct probe_ctl *ctl_tx;
	struct probe_ctl *ctl_rx;
	struct ibv_mr *msg_mr, *a_mr, *b_mr, *tx_mr, *rx_mr;
};

static struct sockaddr_in g_addr;
static int g_wait_ms = WAIT_MS;

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail_errno(const struct side *s, const char *what, int err)
{
	if (err <= 0)
		err = EIO;
	EM_ERR(SUB, "%s: %s failed: %s (%s)", s->name, what, em_errname(-err), em_strerror(-err));
	return -err;
}

static void fill_pattern(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed ^ 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static uint32_t pattern_crc(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len);
	uint32_t crc;

	if (!p)
		return 0; /* verify() then reports the mismatch */
	fill_pattern(p, len, seed);
	crc = em_crc32c(0, p, len);
	free(p);
	return crc;
}

/* Checks every byte of got against the pattern of seed, and the CRC32C of got
 * against want_crc (the sender's claim). */
static int verify(const char *what, const unsigned char *got, size_t len, uint64_t seed,
		  uint32_t want_crc)
{
	unsigned char *exp = malloc(len);
	uint32_t crc;
	int rc = 0;

	if (!exp) {
		EM_ERR(SUB, "%s: out of memory", what);
		return -ENOMEM;
	}
	fill_pattern(exp, len, seed);
	for (size_t i = 0; i < len; i++) {
		if (got[i] != exp[i]) {
			EM_ERR(SUB, "%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, i, len, got[i],
			       exp[i]);
			rc = -EM_ECHECKSUM;
			break;
		}
	}
	crc = em_crc32c(0, got, len);
	if (crc != want_crc || crc != em_crc32c(0, exp, len)) {
		EM_ERR(SUB, "%s: crc32c 0x%08x, sender said 0x%08x", what, crc, want_crc);
		rc = -EM_ECHECKSUM;
	}
	free(exp);
	if (rc == 0) {
		printf("verbs probe: %s %zu bytes verified (crc32c 0x%08x)\n", what, len, crc);
		fflush(stdout);
	}
	return rc;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Waits for the next rdma_cm event on s->ec, which must be of type want.
 * On success *out holds the event; the caller acks it. */
static int wait_cm(struct side *s, enum rdma_cm_event_type want, struct rdma_cm_event **out)
{
	int64_t deadline = now_ms() + g_wait_ms;
	struct rdma_cm_event *ev;

	for (;;) {
		if (rdma_get_cm_event(s->ec, &ev) == 0)
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return fail_errno(s, "rdma_get_cm_event", errno);
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			EM_ERR(SUB, "%s: no rdma_cm event within %d ms (waiting for %s)", s->name,
			       g_wait_ms, rdma_event_str(want));
			return -ETIMEDOUT;
		}
		struct pollfd pfd = { .fd = s->ec->fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return fail_errno(s, "poll(rdma_cm event channel)", errno);
	}
	if (ev->event != want || ev->status != 0) {
		EM_ERR(SUB, "%s: rdma_cm event %s (status %d), expected %s", s->name,
		       rdma_event_str(ev->event), ev->status, rdma_event_str(want));
		rdma_ack_cm_event(ev);
		return -ECONNABORTED;
	}
	EM_DEBUG(SUB, "%s: rdma_cm event %s", s->name, rdma_event_str(ev->event));
	*out = ev;
	return 0;
}

/* Waits for the next work completion, which must be wr_id and successful. */
static int wait_wc(struct side *s, uint64_t wr_id, struct ibv_wc *out)
{
	int64_t deadline = now_ms() + g_wait_ms;
	struct ibv_wc wc;
	int n;

	for (;;) {
		n = ibv_poll_cq(s->cq, 1, &wc);
		if (n < 0)
			return fail_errno(s, "ibv_poll_cq", -n);
		if (n == 1)
			break;
		/* Arm, then poll once more so a completion that raced the
		 * arming is not missed, then sleep on the channel. */
		int err = ibv_req_notify_cq(s->cq, 0);
		if (err)
			return fail_errno(s, "ibv_req_notify_cq", err);
		n = ibv_poll_cq(s->cq, 1, &wc);
		if (n < 0)
			return fail_errno(s, "ibv_poll_cq", -n);
		if (n == 1)
			break;
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			EM_ERR(SUB, "%s: no work completion within %d ms (waiting for wr_id %llu)",
			       s->name, g_wait_ms, (unsigned long long)wr_id);
			return -ETIMEDOUT;
		}
		struct pollfd pfd = { .fd = s->cc->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return fail_errno(s, "poll(completion channel)", errno);
		if (pr > 0) {
			struct ibv_cq *ev_cq;
			void *ev_ctx;
			if (ibv_get_cq_event(s->cc, &ev_cq, &ev_ctx) == 0) {
				s->cq_events++;
			} else if (errno != EAGAIN) {
				return fail_errno(s, "ibv_get_cq_event", errno);
			}
		}
	}
	if (wc.status != IBV_WC_SUCCESS) {
		EM_ERR(SUB, "%s: work completion wr_id %llu failed: %s (vendor error 0x%x)", s->name,
		       (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status), wc.vendor_err);
		return -EIO;
	}
	if (wc.wr_id != wr_id) {
		EM_ERR(SUB, "%s: completion for wr_id %llu, expected %llu", s->name,
		       (unsigned long long)wc.wr_id, (unsigned long long)wr_id);
		return -EPROTO;
	}
	if (out)
		*out = wc;
	return 0;
}

static struct ibv_mr *reg(struct side *s, void *buf, size_t len, int access, const char *what)
{
	struct ibv_mr *mr = ibv_reg_mr(s->pd, buf, len, access);

	if (!mr)
		fail_errno(s, what, errno);
	return mr;
}

static void *alloc_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

/* Protection domain, completion channel and CQ, QP, buffers and MRs on
 * s->id (connected or connecting). */
static int setup_resources(struct side *s, bool server)
{
	struct ibv_qp_init_attr qa;
	int err;

	s->pd = ibv_alloc_pd(s->id->verbs);
	if (!s->pd)
		return fail_errno(s, "ibv_alloc_pd", errno);
	s->cc = ibv_create_comp_channel(s->id->verbs);
	if (!s->cc)
		return fail_errno(s, "ibv_create_comp_channel", errno);
	err = set_nonblock(s->cc->fd);
	if (err)
		return fail_errno(s, "fcntl(completion channel, O_NONBLOCK)", -err);
	s->cq = ibv_create_cq(s->id->verbs, 16, NULL, s->cc, 0);
	if (!s->cq)
		return fail_errno(s, "ibv_create_cq", errno);

	memset(&qa, 0, sizeof(qa));
	qa.send_cq = s->cq;
	qa.recv_cq = s->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 8;
	qa.cap.max_recv_wr = 8;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qa.sq_sig_all = 0;
	if (rdma_create_qp(s->id, s->pd, &qa) != 0)
		return fail_errno(s, "rdma_create_qp", errno);
	s->qp_created = true;

	s->msg = alloc_buf(MSG_SIZE);
	s->bulk_a = alloc_buf(BULK_SIZE);
	s->bulk_b = alloc_buf(BULK_SIZE);
	s->ctl_tx = alloc_buf(sizeof(*s->ctl_tx));
	s->ctl_rx = alloc_buf(sizeof(*s->ctl_rx));
	if (!s->msg || !s->bulk_a || !s->bulk_b || !s->ctl_tx || !s->ctl_rx)
		return fail_errno(s, "buffer allocation", ENOMEM);

	int lw = IBV_ACCESS_LOCAL_WRITE;
	s->msg_mr = reg(s, s->msg, MSG_SIZE, lw, "ibv_reg_mr(message)");
	s->tx_mr = reg(s, s->ctl_tx, sizeof(*s->ctl_tx), lw, "ibv_reg_mr(control tx)");
	s->rx_mr = reg(s, s->ctl_rx, sizeof(*s->ctl_rx), lw, "ibv_reg_mr(control rx)");
	if (server) {
		s->a_mr = reg(s, s->bulk_a, BULK_SIZE, lw | IBV_ACCESS_REMOTE_WRITE,
			      "ibv_reg_mr(RDMA WRITE target)");
		s->b_mr = reg(s, s->bulk_b, BULK_SIZE, lw | IBV_ACCESS_REMOTE_READ,
			      "ibv_reg_mr(RDMA READ source)");
	} else {
		s->a_mr = reg(s, s->bulk_a, BULK_SIZE, lw, "ibv_reg_mr(RDMA WRITE source)");
		s->b_mr = reg(s, s->bulk_b, BULK_SIZE, lw, "ibv_reg_mr(RDMA READ target)");
	}
	if (!s->msg_mr || !s->tx_mr || !s->rx_mr || !s->a_mr || !s->b_mr)
		return -EIO;
	return 0;
}

static void teardown(struct side *s)
{
	if (s->qp_created)
		rdma_destroy_qp(s->id);
	struct ibv_mr *mrs[] = { s->msg_mr, s->a_mr, s->b_mr, s->tx_mr, s->rx_mr };
	for (size_t i = 0; i < sizeof(mrs) / sizeof(mrs[0]); i++)
		if (mrs[i] && ibv_dereg_mr(mrs[i]) != 0)
			fail_errno(s, "ibv_dereg_mr", errno);
	if (s->cq) {
		if (s->cq_events)
			ibv_ack_cq_events(s->cq, s->cq_events);
		if (ibv_destroy_cq(s->cq) != 0)
			fail_errno(s, "ibv_destroy_cq", errno);
	}
	if (s->cc && ibv_destroy_comp_channel(s->cc) != 0)
		fail_errno(s, "ibv_destroy_comp_channel", errno);
	if (s->pd && ibv_dealloc_pd(s->pd) != 0)
		fail_errno(s, "ibv_dealloc_pd", errno);
	if (s->id && rdma_destroy_id(s->id) != 0)
		fail_errno(s, "rdma_destroy_id", errno);
	free(s->msg);
	free(s->bulk_a);
	free(s->bulk_b);
	free(s->ctl_tx);
	free(s->ctl_rx);
}

static int post_recv(struct side *s, uint64_t wr_id, void *buf, uint32_t len, struct ibv_mr *mr)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 }, *bad;
	int err = ibv_post_recv(s->id->qp, &wr, &bad);

	return err ? fail_errno(s, "ibv_post_recv", err) : 0;
}

static int post_send(struct side *s, uint64_t wr_id, enum ibv_wr_opcode op, void *buf,
		     uint32_t len, struct ibv_mr *mr, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey };
	struct ibv_send_wr wr, *bad;
	int err;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	err = ibv_post_send(s->id->qp, &wr, &bad);
	return err ? fail_errno(s, "ibv_post_send", err) : 0;
}

/* Waits (bounded) for RDMA_CM_EVENT_DISCONNECTED. */
static int wait_disconnect(struct side *s)
{
	struct rdma_cm_event *ev;
	int rc = wait_cm(s, RDMA_CM_EVENT_DISCONNECTED, &ev);

	if (rc == 0)
		rdma_ack_cm_event(ev);
	return rc;
}

/* ---- server ------------------------------------------------------------- */

struct server_arg {
	struct side s;
	struct rdma_cm_id *listen_id;
	int rc;
};

static int server_run(struct server_arg *a)
{
	struct side *s = &a->s;
	struct rdma_cm_event *ev;
	struct rdma_conn_param cp;
	struct probe_priv priv;
	struct ibv_wc wc;
	int rc, verdict = 0;

	rc = wait_cm(s, RDMA_CM_EVENT_CONNECT_REQUEST, &ev);
	if (rc)
		return rc;
	s->id = ev->id;
	rdma_ack_cm_event(ev);
	EM_INFO(SUB, "server: connect request on %s", ibv_get_device_name(s->id->verbs->device));

	rc = setup_resources(s, true);
	if (rc) {
		rdma_reject(s->id, NULL, 0);
		return rc;
	}
	fill_pattern(s->bulk_b, BULK_SIZE, SEED_READ);
	rc = post_recv(s, WR_RECV_DATA, s->msg, MSG_SIZE, s->msg_mr);
	if (!rc)
		rc = post_recv(s, WR_RECV_CTL, s->ctl_rx, sizeof(*s->ctl_rx), s->rx_mr);
	if (rc)
		return rc;

	memset(&priv, 0, sizeof(priv));
	priv.magic = PROBE_MAGIC;
	priv.bulk_len = BULK_SIZE;
	priv.write_addr = (uintptr_t)s->bulk_a;
	priv.write_rkey = s->a_mr->rkey;
	priv.read_addr = (uintptr_t)s->bulk_b;
	priv.read_rkey = s->b_mr->rkey;
	priv.read_crc = em_crc32c(0, s->bulk_b, BULK_SIZE);

	memset(&cp, 0, sizeof(cp));
	cp.private_data = &priv;
	cp.private_data_len = sizeof(priv);
	cp.responder_resources = 1;
	cp.initiator_depth = 1;
	cp.rnr_retry_count = 7;
	if (rdma_accept(s->id, &cp) != 0)
		return fail_errno(s, "rdma_accept", errno);
	rc = wait_cm(s, RDMA_CM_EVENT_ESTABLISHED, &ev);
	if (rc)
		return rc;
	rdma_ack_cm_event(ev);
	EM_INFO(SUB, "server: connection established");

	/* 1. SEND/RECV */
	rc = wait_wc(s, WR_RECV_DATA, &wc);
	if (rc)
		return rc;
	if (wc.byte_len != MSG_SIZE) {
		EM_ERR(SUB, "server: received %u bytes, expected %u", wc.byte_len, MSG_SIZE);
		verdict = -EPROTO;
	} else if (verify("SEND/RECV", s->msg, MSG_SIZE, SEED_SEND, pattern_crc(MSG_SIZE, SEED_SEND)) != 0) {
		verdict = -EM_ECHECKSUM;
	}

	/* 3. RDMA WRITE, announced by a control SEND that follows it on the QP */
	rc = wait_wc(s, WR_RECV_CTL, &wc);
	if (rc)
		return rc;
	if (wc.byte_len != sizeof(struct probe_ctl) || s->ctl_rx->magic != PROBE_MAGIC ||
	    s->ctl_rx->type != CTL_WRITE_DONE) {
		EM_ERR(SUB, "server: bad control message (%u bytes, type %u)", wc.byte_len,
		       s->ctl_rx->type);
		verdict = -EPROTO;
	} else if (verify("RDMA WRITE", s->bulk_a, BULK_SIZE, SEED_WRITE, s->ctl_rx->crc) != 0) {
		verdict = -EM_ECHECKSUM;
	}

	s->ctl_tx->magic = PROBE_MAGIC;
	s->ctl_tx->type = CTL_VERDICT;
	s->ctl_tx->status = verdict == 0 ? 0 : 1;
	rc = post_send(s, WR_SEND_CTL, IBV_WR_SEND, s->ctl_tx, sizeof(*s->ctl_tx), s->tx_mr, 0, 0);
	if (!rc)
		rc = wait_wc(s, WR_SEND_CTL, NULL);
	if (rc)
		return rc;
	/* The client disconnects once it has the verdict; answer in kind so
	 * its own DISCONNECTED event comes at once. */
	rc = wait_disconnect(s);
	if (rc)
		return rc;
	if (rdma_disconnect(s->id) != 0)
		return fail_errno(s, "rdma_disconnect", errno);
	return verdict;
}

static void *server_main(void *p)
{
	struct server_arg *a = p;

	a->rc = server_run(a);
	if (a->rc)
		EM_ERR(SUB, "server: failed: %s", em_errname(a->rc));
	return NULL;
}

/* ---- client ------------------------------------------------------------- */

static int client_run(struct side *s)
{
	struct rdma_cm_event *ev;
	struct rdma_conn_param cp;
	struct probe_priv priv;
	struct ibv_wc wc;
	int rc;

	if (rdma_create_id(s->ec, &s->id, NULL, RDMA_PS_TCP) != 0)
		return fail_errno(s, "rdma_create_id", errno);
	if (rdma_resolve_addr(s->id, NULL, (struct sockaddr *)&g_addr, 5000) != 0)
		return fail_errno(s, "rdma_resolve_addr", errno);
	rc = wait_cm(s, RDMA_CM_EVENT_ADDR_RESOLVED, &ev);
	if (rc)
		return rc;
	rdma_ack_cm_event(ev);
	if (rdma_resolve_route(s->id, 5000) != 0)
		return fail_errno(s, "rdma_resolve_route", errno);
	rc = wait_cm(s, RDMA_CM_EVENT_ROUTE_RESOLVED, &ev);
	if (rc)
		return rc;
	rdma_ack_cm_event(ev);
	EM_INFO(SUB, "client: route resolved on %s port %u",
		ibv_get_device_name(s->id->verbs->device), s->id->port_num);

	rc = setup_resources(s, false);
	if (rc)
		return rc;
	fill_pattern(s->msg, MSG_SIZE, SEED_SEND);
	fill_pattern(s->bulk_a, BULK_SIZE, SEED_WRITE);
	rc = post_recv(s, WR_RECV_CTL, s->ctl_rx, sizeof(*s->ctl_rx), s->rx_mr);
	if (rc)
		return rc;

	memset(&cp, 0, sizeof(cp));
	cp.responder_resources = 1;
	cp.initiator_depth = 1;
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	if (rdma_connect(s->id, &cp) != 0)
		return fail_errno(s, "rdma_connect", errno);
	rc = wait_cm(s, RDMA_CM_EVENT_ESTABLISHED, &ev);
	if (rc)
		return rc;
	if (ev->param.conn.private_data_len < sizeof(priv) || !ev->param.conn.private_data) {
		EM_ERR(SUB, "client: accept carried %u bytes of private data, expected %zu",
		       ev->param.conn.private_data_len, sizeof(priv));
		rdma_ack_cm_event(ev);
		return -EPROTO;
	}
	memcpy(&priv, ev->param.conn.private_data, sizeof(priv));
	rdma_ack_cm_event(ev);
	if (priv.magic != PROBE_MAGIC || priv.bulk_len != BULK_SIZE) {
		EM_ERR(SUB, "client: bad private data (magic 0x%08x, length %u)", priv.magic,
		       priv.bulk_len);
		return -EPROTO;
	}
	EM_INFO(SUB, "client: connection established; server buffers write rkey 0x%x, read rkey 0x%x",
		priv.write_rkey, priv.read_rkey);

	/* 1. SEND */
	rc = post_send(s, WR_SEND_DATA, IBV_WR_SEND, s->msg, MSG_SIZE, s->msg_mr, 0, 0);
	if (!rc)
		rc = wait_wc(s, WR_SEND_DATA, NULL);
	if (rc)
		return rc;

	/* 2. RDMA READ */
	rc = post_send(s, WR_READ, IBV_WR_RDMA_READ, s->bulk_b, BULK_SIZE, s->b_mr, priv.read_addr,
		       priv.read_rkey);
	if (!rc)
		rc = wait_wc(s, WR_READ, NULL);
	if (rc)
		return rc;
	int verdict = verify("RDMA READ", s->bulk_b, BULK_SIZE, SEED_READ, priv.read_crc);

	/* 3. RDMA WRITE, then tell the server */
	rc = post_send(s, WR_WRITE, IBV_WR_RDMA_WRITE, s->bulk_a, BULK_SIZE, s->a_mr,
		       priv.write_addr, priv.write_rkey);
	if (!rc)
		rc = wait_wc(s, WR_WRITE, NULL);
	if (rc)
		return rc;
	s->ctl_tx->magic = PROBE_MAGIC;
	s->ctl_tx->type = CTL_WRITE_DONE;
	s->ctl_tx->crc = em_crc32c(0, s->bulk_a, BULK_SIZE);
	rc = post_send(s, WR_SEND_CTL, IBV_WR_SEND, s->ctl_tx, sizeof(*s->ctl_tx), s->tx_mr, 0, 0);
	if (!rc)
		rc = wait_wc(s, WR_SEND_CTL, NULL);
	if (rc)
		return rc;

	rc = wait_wc(s, WR_RECV_CTL, &wc);
	if (rc)
		return rc;
	if (wc.byte_len != sizeof(struct probe_ctl) || s->ctl_rx->magic != PROBE_MAGIC ||
	    s->ctl_rx->type != CTL_VERDICT) {
		EM_ERR(SUB, "client: bad verdict message (%u bytes)", wc.byte_len);
		return -EPROTO;
	}
	if (s->ctl_rx->status != 0) {
		EM_ERR(SUB, "client: server reports a verification failure");
		verdict = -EM_ECHECKSUM;
	}
	if (rdma_disconnect(s->id) != 0)
		return fail_errno(s, "rdma_disconnect", errno);
	rc = wait_disconnect(s);
	if (rc)
		return rc;
	EM_INFO(SUB, "client: disconnected");
	return verdict;
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "192.0.2.1";
	const char *port = argc > 2 ? argv[2] : "18600";
	struct server_arg srv;
	struct side cli;
	pthread_t tid;
	int rc, err;
	char *end;
	unsigned long p;

	if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [ADDRESS [PORT]]   (default 192.0.2.1 18600)\n", argv[0]);
		return 2;
	}
	memset(&g_addr, 0, sizeof(g_addr));
	g_addr.sin_family = AF_INET;
	p = strtoul(port, &end, 10);
	if (*end || p == 0 || p > 65535 || inet_pton(AF_INET, addr, &g_addr.sin_addr) != 1) {
		EM_ERR(SUB, "bad address or port: %s %s (IPv4 address, port 1-65535)", addr, port);
		return 2;
	}
	g_addr.sin_port = htons((uint16_t)p);
	printf("verbs probe: rdma_cm server and client on %s port %lu\n", addr, p);
	fflush(stdout);

	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	srv.s.name = "server";
	cli.name = "client";

	/* Listen before the client starts, so it never races the server. */
	srv.s.ec = rdma_create_event_channel();
	if (!srv.s.ec) {
		fail_errno(&srv.s, "rdma_create_event_channel (is rdma_ucm loaded?)", errno);
		return 1;
	}
	err = set_nonblock(srv.s.ec->fd);
	if (err) {
		fail_errno(&srv.s, "fcntl(event channel, O_NONBLOCK)", -err);
		return 1;
	}
	if (rdma_create_id(srv.s.ec, &srv.listen_id, NULL, RDMA_PS_TCP) != 0) {
		fail_errno(&srv.s, "rdma_create_id", errno);
		return 1;
	}
	if (rdma_bind_addr(srv.listen_id, (struct sockaddr *)&g_addr) != 0) {
		fail_errno(&srv.s, "rdma_bind_addr (no RDMA device on that address?)", errno);
		return 1;
	}
	if (rdma_listen(srv.listen_id, 1) != 0) {
		fail_errno(&srv.s, "rdma_listen", errno);
		return 1;
	}
	err = pthread_create(&tid, NULL, server_main, &srv);
	if (err) {
		fail_errno(&srv.s, "pthread_create", err);
		return 1;
	}

	cli.ec = rdma_create_event_channel();
	if (!cli.ec) {
		rc = fail_errno(&cli, "rdma_create_event_channel", errno);
	} else {
		err = set_nonblock(cli.ec->fd);
		rc = err ? fail_errno(&cli, "fcntl(event channel, O_NONBLOCK)", -err) : client_run(&cli);
	}
	if (rc)
		EM_ERR(SUB, "client: failed: %s", em_errname(rc));
	pthread_join(tid, NULL);

	teardown(&cli);
	teardown(&srv.s);
	if (rdma_destroy_id(srv.listen_id) != 0)
		fail_errno(&srv.s, "rdma_destroy_id(listen)", errno);
	if (cli.ec)
		rdma_destroy_event_channel(cli.ec);
	rdma_destroy_event_channel(srv.s.ec);

	if (rc == 0 && srv.rc == 0) {
		printf("verbs probe: PASS: SEND/RECV, RDMA WRITE and RDMA READ verified over rdma_cm\n");
		return 0;
	}
	printf("verbs probe: FAIL (client %s, server %s)\n", rc ? em_errname(rc) : "ok",
	       srv.rc ? em_errname(srv.rc) : "ok");
	return 1;
}
