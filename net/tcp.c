/* The TCP transport: non-blocking sockets on the reactor.
 *
 * Every transfer is a frame: a 32-byte little-endian header, then len bytes.
 *   MSG        a message of len bytes
 *   READ_REQ   "send me {addr,len,rkey}" (no body)
 *   READ_DATA  the answer: status, then len bytes (0 on error)
 *   WRITE_DATA "store these len bytes at {addr,rkey}"
 *   WRITE_ACK  status of a WRITE_DATA
 * The side that owns the memory checks every READ_REQ and WRITE_DATA against
 * the grants of the connection, so TCP enforces what the NIC enforces on RDMA
 * and more: only memory granted to this peer, for the live request.
 *
 * Bulk bodies are received straight into their destination, and sends go
 * straight from the caller's memory when the socket takes them at once; only
 * what has to wait is copied into the send queue, so no caller buffer is
 * referenced after a call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/core/log.h"
#include "net/serde.h"
#include "net/transport.h"

enum { F_MSG = 1, F_READ_REQ, F_READ_DATA, F_WRITE_DATA, F_WRITE_ACK };

#define HDR 32
#define TCP_VERSION 1
/* The receive buffer: small until the peer is authenticated (it may send
 * only small messages then), RX_MIN after, grown for one large message and
 * given back once that message is consumed. */
#define RX_GUARDED (EM_CONN_GUARD_MSG + 4096u)
#define RX_MIN (256u << 10)
#define BULK_MAX (1ull << 31) /* one bulk frame; larger transfers are refused */
#define TX_MAX_QUEUED (1ull << 30)
#define READ_BUDGET 32        /* reads per readiness event, for fairness */

struct frame {
	uint8_t type;
	uint32_t len;
	uint64_t id, addr;
	uint32_t rkey;
	int32_t status;
};

struct txitem {
	struct txitem *next;
	size_t len, off;
	uint8_t data[];
};

struct batch;

/* One bulk frame in flight, matched to its answer by id. */
struct op {
	struct op *next, *prev;
	uint64_t id;
	bool write;
	uint8_t *local;
	uint32_t len;
	struct batch *b;
};

/* The caller's call: its frames complete it together, once. */
struct batch {
	int pending, status;
	uint64_t deadline;
	em_bulk_fn cb;
	void *arg;
	struct op ops[];
};

/* A frame whose call ended at its deadline: its answer, if it ever comes,
 * is read and dropped instead of being taken for a protocol error. */
struct ghost {
	struct ghost *next;
	uint64_t id;
	bool write;
};

/* Ghosts a connection may keep: a peer that never answers that many is
 * not coming back, and the connection closes. */
#define GHOSTS_MAX 1024

/* Where the body of the current frame goes. */
struct sink {
	uint8_t *dst;        /* NULL: discard */
	uint64_t left;
	uint8_t type;
	uint64_t id;
	int32_t status;      /* WRITE_DATA: the ack to send when done */
	struct op *op;       /* READ_DATA: the operation it completes */
};

struct tcp_conn {
	struct em_conn base;
	int fd;
	bool connecting, want_out;
	struct txitem *tx_head, *tx_tail;
	size_t tx_queued;
	uint8_t *rx;
	size_t rx_cap, rx_start, rx_end;
	struct sink sink;
	struct op ops; /* sentinel of a circular list */
	struct ghost *ghosts;
	unsigned n_ghosts;
	uint64_t next_id;
	uint64_t rx_at, tx_at; /* em_now_ms() of the last progress each way */
};

struct tcp_listener {
	struct em_listener base;
	int fd;
	/* Out of descriptors (or memory): the listener is not watched until
	 * the timer, so a full backlog cannot spin the reactor. */
	struct em_timer *backoff;
	uint32_t backoff_ms;
	bool exhausted;       /* since the last accepted connection */
	uint64_t refused;     /* accepts that failed that way, in all */
};

/* First pause and longest pause while accept cannot get a descriptor. */
#define ACCEPT_BACKOFF_MIN_MS 50u
#define ACCEPT_BACKOFF_MAX_MS 1000u

static const struct em_conn_vt tcp_vt;

static void encode_frame(uint8_t *p, const struct frame *f)
{
	memset(p, 0, HDR);
	p[0] = f->type;
	p[1] = TCP_VERSION;
	em_put_le32(p + 4, f->len);
	em_put_le64(p + 8, f->id);
	em_put_le64(p + 16, f->addr);
	em_put_le32(p + 24, f->rkey);
	em_put_le32(p + 28, (uint32_t)f->status);
}

static void decode_frame(const uint8_t *p, struct frame *f)
{
	f->type = p[0];
	f->len = em_get_le32(p + 4);
	f->id = em_get_le64(p + 8);
	f->addr = em_get_le64(p + 16);
	f->rkey = em_get_le32(p + 24);
	f->status = (int32_t)em_get_le32(p + 28);
}

/* ---- sending ------------------------------------------------------------- */

static void want_out(struct tcp_conn *tc, bool on)
{
	if (tc->want_out == on || tc->base.closing)
		return;
	tc->want_out = on;
	int rc = em_reactor_mod_fd(tc->base.net->r, tc->fd, EPOLLIN | (on ? EPOLLOUT : 0));
	if (rc)
		em_conn_close(&tc->base, rc);
}

/* Writes what the socket takes; returns bytes written or a negative errno
 * (-EAGAIN is not an error). */
static ssize_t write_some(struct tcp_conn *tc, const struct iovec *iov, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	ssize_t w = sendmsg(tc->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	return w;
}

static int flush_tx(struct tcp_conn *tc)
{
	while (tc->tx_head) {
		struct txitem *t = tc->tx_head;
		struct iovec iov = { t->data + t->off, t->len - t->off };
		ssize_t w = write_some(tc, &iov, 1);
		if (w < 0)
			return (int)w;
		if (w == 0)
			break;
		t->off += (size_t)w;
		tc->tx_queued -= (size_t)w;
		tc->tx_at = em_now_ms();
		if (t->off < t->len)
			break;
		tc->tx_head = t->next;
		if (!tc->tx_head)
			tc->tx_tail = NULL;
		free(t);
	}
	want_out(tc, tc->tx_head != NULL);
	return 0;
}

/* Sends header + iov: directly when nothing is queued ahead, and copies
 * whatever the socket did not take. */
static int send_frame(struct tcp_conn *tc, const struct frame *f, const struct iovec *body, int n)
{
	uint8_t hdr[HDR];
	encode_frame(hdr, f);
	struct iovec iov[9];
	if (n > 8)
		return -EINVAL;
	iov[0] = (struct iovec){ hdr, HDR };
	size_t total = HDR;
	for (int i = 0; i < n; i++) {
		iov[i + 1] = body[i];
		total += body[i].iov_len;
	}

	size_t done = 0;
	if (!tc->tx_head && !tc->connecting) {
		ssize_t w = write_some(tc, iov, n + 1);
		if (w < 0) {
			em_conn_close(&tc->base, (int)w);
			return (int)w;
		}
		done = (size_t)w;
		if (done == total)
			return 0;
	}
	if (tc->tx_queued + (total - done) > TX_MAX_QUEUED)
		return -ENOBUFS;
	struct txitem *t = malloc(sizeof(*t) + total - done);
	if (!t)
		return -ENOMEM;
	t->next = NULL;
	t->len = total - done;
	t->off = 0;
	size_t skip = done, at = 0;
	for (int i = 0; i <= n; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(t->data + at, (uint8_t *)iov[i].iov_base + skip, l - skip);
		at += l - skip;
		skip = 0;
	}
	if (tc->tx_tail) {
		tc->tx_tail->next = t;
	} else {
		tc->tx_head = t;
		tc->tx_at = em_now_ms(); /* the stall clock starts with the queue */
	}
	tc->tx_tail = t;
	tc->tx_queued += t->len;
	if (!tc->connecting)
		want_out(tc, true);
	return 0;
}

static int tcp_sendv(struct em_conn *c, const struct iovec *iov, int n, size_t total)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	struct frame f = { .type = F_MSG, .len = (uint32_t)total };
	return send_frame(tc, &f, iov, n);
}

/* ---- bulk operations ------------------------------------------------------- */

static struct op *find_op(struct tcp_conn *tc, uint64_t id)
{
	for (struct op *o = tc->ops.next; o != &tc->ops; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

static void finish_op(struct op *o, int status)
{
	struct batch *b = o->b;
	o->prev->next = o->next;
	o->next->prev = o->prev;
	if (status && !b->status)
		b->status = status;
	if (--b->pending > 0)
		return;
	b->cb(b->arg, b->status);
	free(b);
}

/* Sends one frame per item, back to back; the owner of the memory acks or
 * answers each, and the last answer completes the call. */
static int tcp_bulk(struct em_conn *c, bool write, const struct em_bulk_item *items, int n,
		    uint64_t deadline, em_bulk_fn cb, void *arg)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	for (int i = 0; i < n; i++)
		if (items[i].remote.len > BULK_MAX)
			return -EMSGSIZE;
	struct batch *b = calloc(1, sizeof(*b) + (size_t)n * sizeof(b->ops[0]));
	if (!b)
		return -ENOMEM;
	b->cb = cb;
	b->arg = arg;
	b->deadline = deadline;
	for (int i = 0; i < n; i++) {
		const struct em_bulk_item *it = &items[i];
		struct op *o = &b->ops[i];
		*o = (struct op){ .id = ++tc->next_id, .write = write, .local = (uint8_t *)it->local,
				  .len = it->remote.len, .b = b };
		struct frame f = { .type = write ? F_WRITE_DATA : F_READ_REQ, .id = o->id,
				   .addr = it->remote.addr, .rkey = it->remote.rkey, .len = it->remote.len };
		struct iovec body = { o->local, it->remote.len };
		int rc = send_frame(tc, &f, &body, write ? 1 : 0);
		if (rc) {
			if (i == 0) {
				free(b);
				return rc;
			}
			/* Frames already out will be answered (or failed when the
			 * connection dies): they complete the batch with this error. */
			b->status = rc;
			break;
		}
		o->prev = tc->ops.prev;
		o->next = &tc->ops;
		tc->ops.prev->next = o;
		tc->ops.prev = o;
		b->pending++;
	}
	return 0;
}

static void tcp_fail_ops(struct em_conn *c, int err)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	while (tc->ops.next != &tc->ops)
		finish_op(tc->ops.next, err);
}

/* True (and the ghost gone) when id is a frame cancelled at its deadline. */
static bool take_ghost(struct tcp_conn *tc, uint64_t id, bool write)
{
	for (struct ghost **pp = &tc->ghosts; *pp; pp = &(*pp)->next) {
		struct ghost *g = *pp;
		if (g->id == id && g->write == write) {
			*pp = g->next;
			free(g);
			tc->n_ghosts--;
			return true;
		}
	}
	return false;
}

/* Ends an operation at its deadline; its answer will find a ghost. */
static int cancel_op(struct tcp_conn *tc, struct op *o)
{
	if (tc->sink.op == o) {
		/* Its body is arriving: the rest goes nowhere. */
		tc->sink.dst = NULL;
		tc->sink.op = NULL;
	} else {
		struct ghost *g = tc->n_ghosts < GHOSTS_MAX ? malloc(sizeof(*g)) : NULL;
		if (!g)
			return -ETIMEDOUT;
		*g = (struct ghost){ .next = tc->ghosts, .id = o->id, .write = o->write };
		tc->ghosts = g;
		tc->n_ghosts++;
	}
	finish_op(o, -ETIMEDOUT);
	return 0;
}

static void tcp_sweep(struct em_conn *c, uint64_t now)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	if (tc->connecting) {
		/* rx_at is still the creation time: nothing was read yet. */
		if (now >= tc->rx_at + (uint64_t)c->net->cfg.connect_timeout_ms) {
			EM_DEBUG("tcp", "%s: connect timed out", c->peer);
			em_conn_close(c, -ETIMEDOUT);
		}
		return;
	}
	/* Compared as now >= at + limit: an earlier connection's sweep may have
	 * moved at past the now this sweep began with. */
	uint64_t limit = (uint64_t)c->net->cfg.frame_timeout_ms;
	bool rx_stalled = (tc->sink.type || tc->rx_end > tc->rx_start) && now >= tc->rx_at + limit;
	bool tx_stalled = tc->tx_head && now >= tc->tx_at + limit;
	if (rx_stalled || tx_stalled) {
		EM_WARN_LIMITED("tcp", "%s: no progress on a %s frame for %llu ms; closing", c->peer,
				rx_stalled ? "received" : "sent", (unsigned long long)limit);
		em_conn_close(c, -ETIMEDOUT);
		return;
	}
	for (struct op *o = tc->ops.next, *next; o != &tc->ops; o = next) {
		next = o->next;
		/* Cancelling may complete a batch whose later ops come next. */
		while (next != &tc->ops && next->b == o->b)
			next = next->next;
		struct batch *b = o->b;
		if (!b->deadline || now < b->deadline)
			continue;
		for (struct op *q = o, *qn; q != next; q = qn) {
			qn = q->next;
			if (cancel_op(tc, q) < 0) {
				EM_WARN_LIMITED("tcp", "%s: %u transfers past their deadline never "
						"answered; closing", c->peer, tc->n_ghosts);
				em_conn_close(c, -ETIMEDOUT);
				return;
			}
		}
	}
}

/* ---- receiving ------------------------------------------------------------- */

static void protocol_error(struct tcp_conn *tc, const char *why)
{
	EM_WARN_LIMITED("tcp", "%s: protocol error: %s; closing", tc->base.peer, why);
	em_conn_close(&tc->base, -EPROTO);
}

static void sink_done(struct tcp_conn *tc)
{
	struct sink s = tc->sink;
	memset(&tc->sink, 0, sizeof(tc->sink));
	if (s.type == F_READ_DATA) {
		if (s.op) /* NULL: cancelled, or a ghost's */
			finish_op(s.op, 0);
	} else if (s.type == F_WRITE_DATA) {
		struct frame ack = { .type = F_WRITE_ACK, .id = s.id, .status = s.status };
		int rc = send_frame(tc, &ack, NULL, 0);
		if (rc)
			em_conn_close(&tc->base, rc);
	}
}

static void on_read_req(struct tcp_conn *tc, const struct frame *f)
{
	struct em_buf_desc d = { f->addr, f->len, f->rkey };
	struct frame r = { .type = F_READ_DATA, .id = f->id };
	struct iovec body = { (void *)(uintptr_t)f->addr, f->len };
	int rc = em_conn_check_grant(&tc->base, &d, EM_ACCESS_REMOTE_READ);
	if (rc) {
		EM_WARN_LIMITED("tcp", "%s: refused read of %u bytes at 0x%llx: not granted", tc->base.peer,
			f->len, (unsigned long long)f->addr);
		r.status = rc;
	} else {
		r.len = f->len;
	}
	rc = send_frame(tc, &r, &body, r.len ? 1 : 0);
	if (rc)
		em_conn_close(&tc->base, rc);
}

/* A frame header has arrived (and, for MSG, its whole body): act on it. */
static void on_frame(struct tcp_conn *tc, const struct frame *f, const uint8_t *body)
{
	switch (f->type) {
	case F_MSG:
		em_conn_deliver(&tc->base, body, f->len);
		break;
	case F_READ_REQ:
		on_read_req(tc, f);
		break;
	case F_READ_DATA: {
		struct op *o = find_op(tc, f->id);
		if (!o && take_ghost(tc, f->id, false)) {
			tc->sink = (struct sink){ .left = f->len, .type = F_READ_DATA };
			break;
		}
		if (!o || o->write || (f->status == 0 && f->len != o->len) || (f->status && f->len)) {
			protocol_error(tc, "READ_DATA does not match a read");
			return;
		}
		if (f->status) {
			finish_op(o, f->status < 0 ? f->status : -EPROTO);
			return;
		}
		tc->sink = (struct sink){ .dst = o->local, .left = f->len, .type = F_READ_DATA, .op = o };
		break;
	}
	case F_WRITE_DATA: {
		struct em_buf_desc d = { f->addr, f->len, f->rkey };
		int rc = em_conn_check_grant(&tc->base, &d, EM_ACCESS_REMOTE_WRITE);
		if (rc)
			EM_WARN_LIMITED("tcp", "%s: refused write of %u bytes at 0x%llx: not granted",
				tc->base.peer, f->len, (unsigned long long)f->addr);
		tc->sink = (struct sink){ .dst = rc ? NULL : (uint8_t *)(uintptr_t)f->addr,
					  .left = f->len, .type = F_WRITE_DATA, .id = f->id,
					  .status = rc };
		break;
	}
	case F_WRITE_ACK: {
		struct op *o = find_op(tc, f->id);
		if (!o && !f->len && take_ghost(tc, f->id, true))
			break;
		if (!o || !o->write || f->len) {
			protocol_error(tc, "WRITE_ACK does not match a write");
			return;
		}
		finish_op(o, f->status <= 0 ? f->status : -EPROTO);
		break;
	}
	}
	if (tc->sink.type && tc->sink.left == 0)
		sink_done(tc);
}

/* Sets the receive buffer to cap bytes, keeping what it holds (which fits). */
static int rx_resize(struct tcp_conn *tc, size_t cap)
{
	if (tc->rx_start > 0) {
		memmove(tc->rx, tc->rx + tc->rx_start, tc->rx_end - tc->rx_start);
		tc->rx_end -= tc->rx_start;
		tc->rx_start = 0;
	}
	uint8_t *n = realloc(tc->rx, cap);
	if (!n)
		return -ENOMEM;
	tc->rx = n;
	tc->rx_cap = cap;
	return 0;
}

/* Consumes whole frames from rx[start, end). */
static void parse_rx(struct tcp_conn *tc)
{
	while (!tc->base.closing) {
		size_t max = em_conn_rx_limit(&tc->base);
		size_t avail = tc->rx_end - tc->rx_start;
		uint8_t *p = tc->rx + tc->rx_start;
		if (tc->sink.type) {
			size_t n = avail < tc->sink.left ? avail : (size_t)tc->sink.left;
			if (n == 0)
				return;
			if (tc->sink.dst) {
				memcpy(tc->sink.dst, p, n);
				tc->sink.dst += n;
			}
			tc->sink.left -= n;
			tc->rx_start += n;
			if (tc->sink.left == 0)
				sink_done(tc);
			continue;
		}
		if (avail < HDR)
			return;
		struct frame f;
		decode_frame(p, &f);
		if (p[1] != TCP_VERSION || f.type < F_MSG || f.type > F_WRITE_ACK) {
			protocol_error(tc, "bad frame header");
			return;
		}
		if (f.type == F_MSG) {
			if (f.len == 0 || f.len > max) {
				protocol_error(tc, tc->base.guarded ? "message too large before authentication"
								   : "message size out of bounds");
				return;
			}
			if (avail < HDR + (size_t)f.len) {
				if (HDR + (size_t)f.len > tc->rx_cap &&
				    rx_resize(tc, HDR + (size_t)f.len) < 0)
					em_conn_close(&tc->base, -ENOMEM);
				return;
			}
			tc->rx_start += HDR + f.len;
			on_frame(tc, &f, p + HDR);
			continue;
		}
		if (tc->base.guarded) {
			protocol_error(tc, "bulk frame before authentication");
			return;
		}
		if ((f.type == F_READ_REQ || f.type == F_WRITE_DATA) && (f.len == 0 || f.len > BULK_MAX)) {
			protocol_error(tc, "bulk size out of bounds");
			return;
		}
		tc->rx_start += HDR;
		on_frame(tc, &f, NULL);
	}
}

static void on_readable(struct tcp_conn *tc)
{
	for (int i = 0; i < READ_BUDGET && !tc->base.closing; i++) {
		if (tc->rx_start == tc->rx_end) {
			tc->rx_start = tc->rx_end = 0;
			/* Between messages: back to the size the peer's state calls for. */
			size_t want = tc->base.guarded ? RX_GUARDED : RX_MIN;
			if (tc->rx_cap != want && (tc->rx_cap > RX_MIN || !tc->base.guarded) &&
			    rx_resize(tc, want) < 0) {
				em_conn_close(&tc->base, -ENOMEM);
				return;
			}
		}
		ssize_t n;
		/* A large body goes straight to its destination. */
		if (tc->sink.type && tc->rx_start == tc->rx_end && tc->sink.dst &&
		    tc->sink.left >= 16384) {
			n = read(tc->fd, tc->sink.dst, tc->sink.left);
			if (n > 0) {
				tc->rx_at = em_now_ms();
				tc->sink.dst += n;
				tc->sink.left -= (size_t)n;
				if (tc->sink.left == 0) {
					sink_done(tc);
					parse_rx(tc);
				}
				continue;
			}
		} else {
			if (tc->rx_start > 0 && tc->rx_cap - tc->rx_end < HDR + 4096) {
				memmove(tc->rx, tc->rx + tc->rx_start, tc->rx_end - tc->rx_start);
				tc->rx_end -= tc->rx_start;
				tc->rx_start = 0;
			}
			n = read(tc->fd, tc->rx + tc->rx_end, tc->rx_cap - tc->rx_end);
			if (n > 0) {
				tc->rx_at = em_now_ms();
				tc->rx_end += (size_t)n;
				parse_rx(tc);
				continue;
			}
		}
		if (n == 0) {
			em_conn_close(&tc->base, -ECONNRESET);
		} else if (errno != EAGAIN && errno != EINTR) {
			em_conn_close(&tc->base, -errno);
		}
		return;
	}
}

static void on_connected(struct tcp_conn *tc)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		EM_DEBUG("tcp", "%s: connect failed: %s", tc->base.peer, em_strerror(-err));
		em_conn_close(&tc->base, -err);
		return;
	}
	tc->connecting = false;
	tc->want_out = true; /* the registration still asks for EPOLLOUT */
	em_conn_mark_up(&tc->base);
	if (!tc->base.closing) {
		int rc = flush_tx(tc);
		if (rc)
			em_conn_close(&tc->base, rc);
	}
}

static void on_fd(void *arg, uint32_t events)
{
	struct tcp_conn *tc = arg;
	if (tc->connecting) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected(tc);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(tc);
	if ((events & EPOLLOUT) && !tc->base.closing) {
		int rc = flush_tx(tc);
		if (rc)
			em_conn_close(&tc->base, rc);
	}
}

/* ---- lifecycle -------------------------------------------------------------- */

static void tcp_shutdown(struct em_conn *c)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	em_reactor_del_fd(c->net->r, tc->fd);
	close(tc->fd);
	tc->fd = -1;
	em_conn_dead(c);
}

static void tcp_free(struct em_conn *c)
{
	struct tcp_conn *tc = (struct tcp_conn *)c;
	while (tc->ghosts) {
		struct ghost *g = tc->ghosts;
		tc->ghosts = g->next;
		free(g);
	}
	while (tc->tx_head) {
		struct txitem *t = tc->tx_head;
		tc->tx_head = t->next;
		free(t);
	}
	free(tc->rx);
	free(tc);
}

static size_t tcp_max_msg(const struct em_conn *c)
{
	return c->net->cfg.max_msg;
}

static const struct em_conn_vt tcp_vt = {
	.sendv = tcp_sendv,
	.bulk = tcp_bulk,
	.shutdown = tcp_shutdown,
	.fail_ops = tcp_fail_ops,
	.sweep = tcp_sweep,
	.free = tcp_free,
	.max_msg = tcp_max_msg,
};

static int conn_new(struct em_net *net, int fd, bool connecting, struct tcp_conn **out)
{
	struct tcp_conn *tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	/* Outgoing connections are never guarded; incoming ones start so. */
	tc->rx_cap = connecting ? RX_MIN : RX_GUARDED;
	tc->rx = malloc(tc->rx_cap);
	if (!tc->rx) {
		free(tc);
		return -ENOMEM;
	}
	tc->fd = fd;
	tc->connecting = connecting;
	tc->want_out = connecting;
	tc->ops.next = tc->ops.prev = &tc->ops;
	tc->rx_at = tc->tx_at = em_now_ms();
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A peer that vanishes without a FIN (power loss, a cut link) is found
	 * by the kernel's probes, not by an idle timeout of ours. */
	int idle = net->cfg.keepalive_s, intvl = 10, cnt = 3;
	if (idle > 0 && (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
			 setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
			 setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
			 setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0))
		EM_WARN_LIMITED("tcp", "keepalive: %s", em_strerror(-errno));
	int rc = em_reactor_add_fd(net->r, fd, EPOLLIN | (connecting ? EPOLLOUT : 0), on_fd, tc);
	if (rc) {
		free(tc->rx);
		free(tc);
		return rc;
	}
	em_conn_init(&tc->base, &tcp_vt, net, EM_TRANSPORT_TCP);
	*out = tc;
	return 0;
}

int em_tcp_connect(struct em_net *net, const struct em_addr *a, struct em_conn **out)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct tcp_conn *tc;
	int rc = conn_new(net, fd, true, &tc);
	if (rc) {
		close(fd);
		return rc;
	}
	*out = &tc->base;
	return 0;
}

static void on_accept(void *arg, uint32_t events);

static void accept_resume(void *arg)
{
	struct tcp_listener *l = arg;
	l->backoff = NULL;
	if (em_reactor_mod_fd(l->base.net->r, l->fd, EPOLLIN) == 0)
		on_accept(l, EPOLLIN);
}

/* No descriptor (or memory) for the next connection: stop watching the
 * listener for a while (doubling up to a second), logging once per episode;
 * the connections wait in the kernel's backlog meanwhile. */
static void accept_pause(struct tcp_listener *l, int err)
{
	struct em_reactor *r = l->base.net->r;
	l->refused++;
	if (!l->exhausted)
		EM_WARN("tcp", "accept: %s: pausing accepts (up to %u ms at a time) until a "
			"connection can be taken", em_strerror(err), ACCEPT_BACKOFF_MAX_MS);
	l->exhausted = true;
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : ACCEPT_BACKOFF_MIN_MS;
	if (l->backoff_ms > ACCEPT_BACKOFF_MAX_MS)
		l->backoff_ms = ACCEPT_BACKOFF_MAX_MS;
	if (em_reactor_mod_fd(r, l->fd, 0) == 0 &&
	    em_reactor_timer(r, l->backoff_ms, accept_resume, l, &l->backoff) < 0) {
		l->backoff = NULL;
		em_reactor_mod_fd(r, l->fd, EPOLLIN); /* no timer: keep trying */
	}
}

static void on_accept(void *arg, uint32_t events)
{
	struct tcp_listener *l = arg;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				accept_pause(l, -err);
				return;
			}
			/* A peer that gave up before we took it: its business. */
			if (err == ECONNABORTED || err == EPROTO)
				continue;
			if (err != EAGAIN && err != EINTR)
				EM_WARN("tcp", "accept: %s", em_strerror(-err));
			return;
		}
		if (l->exhausted) {
			EM_INFO("tcp", "accepting again (%llu accepts refused for lack of "
				"descriptors or memory so far)", (unsigned long long)l->refused);
			l->exhausted = false;
		}
		l->backoff_ms = 0;
		struct em_addr peer = { .kind = EM_TRANSPORT_TCP, .len = len };
		memcpy(&peer.ss, &ss, sizeof(ss));
		char name[sizeof(((struct em_conn *)0)->peer)];
		em_addr_format(&peer, name, sizeof(name));
		if (em_listener_admit(&l->base, name) < 0) {
			close(fd);
			continue;
		}
		struct tcp_conn *tc;
		int rc = conn_new(l->base.net, fd, false, &tc);
		if (rc) {
			EM_WARN_LIMITED("tcp", "cannot take a connection: %s", em_strerror(rc));
			close(fd);
			continue;
		}
		memcpy(tc->base.peer, name, sizeof(name));
		em_conn_accepted(&tc->base);
		tc->base.up = true;
		l->base.fn(l->base.arg, &tc->base);
	}
}

static void tcp_listener_close(struct em_listener *base)
{
	struct tcp_listener *l = (struct tcp_listener *)base;
	if (l->backoff)
		em_reactor_timer_cancel(base->net->r, l->backoff);
	em_reactor_del_fd(base->net->r, l->fd);
	close(l->fd);
	free(l);
}

static const struct em_listener_vt tcp_listener_vt = { .close = tcp_listener_close };

int em_tcp_listen(struct em_net *net, const struct em_addr *a, struct em_listener **out)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, rc;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct em_addr bound = *a;
	socklen_t blen = sizeof(bound.ss);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound.ss, &blen) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct tcp_listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	l->base.vt = &tcp_listener_vt;
	l->base.port = em_addr_port(&bound);
	/* The accept callback reads l->base.net, set by em_listen before any
	 * event can fire (events run on this thread, after we return). */
	rc = em_reactor_add_fd(net->r, fd, EPOLLIN, on_accept, l);
	if (rc) {
		close(fd);
		free(l);
		return rc;
	}
	*out = &l->base;
	return 0;
}
