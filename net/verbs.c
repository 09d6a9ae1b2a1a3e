/* The RDMA verbs transport.
 *
 * Setup: rdma_cm on one event channel per reactor. A connection is
 * qps_per_peer RC queue pairs ("paths") to the same peer, tied together by a
 * random token in the connect private data; it is up when every path is.
 * Messages go on path 0 as SENDs into pre-posted receive buffers under
 * credit-based flow control (net/credit.h). Bulk transfers are cut into
 * slices that are spread over the live paths, posted as chains with one
 * ibv_post_send and only the last work request signalled, with RDMA READs
 * bounded by the negotiated initiator depth; a slice that fails on a path is
 * retried on another. Completions of all QPs on a device land in one CQ per
 * reactor, reaped in batches; when the CQ is idle it is armed and the reactor
 * sleeps on its completion channel.
 *
 * Send queue bookkeeping: each path numbers its work requests; a completion
 * for request s also completes every earlier, unsignalled one (an RC send
 * queue completes in order, and errors always produce completions).
 */
#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ember/errors.h"
#include "net/core/log.h"
#include "net/credit.h"
#include "net/transport.h"
#include "net/verbs_pd.h"
#include "net/vdev.h"

#define MAX_PATHS EM_VPD_MAX_PATHS
#define SIG_EVERY 16

struct vconn;
struct vop;


/* A piece of one item of a bulk call: local <-> raddr, len bytes. */
struct vslice {
	struct vslice *next;
	struct vop *op;
	uint8_t *local;
	struct em_mr *mr;
	uint64_t raddr;
	uint32_t len, rkey;
	int tries;
};

/* A bulk call (one item or a batch): its slices complete independently and
 * the last one completes the call. */
struct vop {
	struct vop *next, *prev;
	bool write;
	uint64_t deadline;
	int pending, status;
	em_bulk_fn cb;
	void *arg;
};

enum swr_kind { SWR_MSG, SWR_SLICE };

struct swr {
	enum swr_kind kind;
	int slot;             /* send buffer slot, or -1 (inline / none) */
	struct vslice *slice;
};

struct vpath {
	struct vconn *vc;
	int idx;
	struct rdma_cm_id *id;
	struct em_vdev *dev;
	bool up, dead, qp_made;
	int init_depth;        /* RDMA READs we may have in flight */
	int rd_inflight;
	/* send ring */
	struct swr *ring;
	uint32_t ring_n, head, tail; /* seq numbers; ring index = seq % ring_n */
	uint32_t unsignalled;
	struct vslice *waiting, *waiting_tail; /* slices not yet posted */
	/* path 0: messages */
	uint8_t *rbuf, *sbuf;
	struct ibv_mr *rmr, *smr;
	int *free_slots, n_free;
	int recv_posted;
	struct em_credits cr;
	/* Messages received before the connection was handed to its owner,
	 * their buffers not yet reposted: {slot, length}, in arrival order. */
	struct vheld {
		int slot;
		uint32_t len;
	} *held;
	int n_held;
};

struct qmsg {
	struct qmsg *next;
	size_t len;
	uint8_t data[];
};

struct vconn {
	struct em_conn base;
	struct em_listener *listener; /* accepted: who to tell once up */
	uint64_t token;
	int npaths, n_up;
	struct vpath paths[MAX_PATHS];
	struct qmsg *q, *q_tail; /* messages waiting for credits or setup */
	struct vop ops;          /* sentinel */
	struct vconn *next_pending; /* listener: incomplete connections */
	struct em_timer *setup_timer;
	int rr;
	bool shut, released;
};

struct vlistener {
	struct em_listener base;
	struct rdma_cm_id *id;
	struct vconn *pending;
};

struct vcq {
	struct ibv_cq *cq;
	struct ibv_comp_channel *ch;
	bool armed;
};

struct em_verbs {
	struct em_net *net;
	struct rdma_event_channel *ech;
	struct vcq cqs[EM_VDEV_MAX];
};

static const struct em_conn_vt verbs_vt;
static void path_pump(struct vpath *p);
static void vconn_maybe_dead(struct vconn *vc);
static void path_failed(struct vpath *p, int err);

/* ---- per-reactor state ------------------------------------------------------- */

static void on_cm_events(void *arg, uint32_t events);
static void on_comp(void *arg, uint32_t events);

static int verbs_state(struct em_net *net, struct em_verbs **out)
{
	if (net->verbs) {
		*out = net->verbs;
		return 0;
	}
	if (em_vdev_count() == 0)
		return -ENODEV;
	struct em_verbs *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->net = net;
	v->ech = rdma_create_event_channel();
	if (!v->ech) {
		free(v);
		return -errno;
	}
	int fl = fcntl(v->ech->fd, F_GETFL);
	int rc = fcntl(v->ech->fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
	if (!rc)
		rc = em_reactor_add_fd(net->r, v->ech->fd, EPOLLIN, on_cm_events, v);
	if (rc) {
		rdma_destroy_event_channel(v->ech);
		free(v);
		return rc;
	}
	net->verbs = v;
	*out = v;
	return 0;
}

static int get_cq(struct em_verbs *v, struct em_vdev *dev, struct ibv_cq **out)
{
	struct vcq *q = &v->cqs[dev->index];
	if (!q->cq) {
		q->ch = ibv_create_comp_channel(dev->ctx);
		if (!q->ch)
			return -errno;
		int fl = fcntl(q->ch->fd, F_GETFL);
		int cqe = dev->attr.max_cqe < 16384 ? dev->attr.max_cqe : 16384;
		q->cq = ibv_create_cq(dev->ctx, cqe, q, q->ch, 0);
		int rc = !q->cq ? -errno : fcntl(q->ch->fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
		if (!rc)
			rc = em_reactor_add_fd(v->net->r, q->ch->fd, EPOLLIN, on_comp, q);
		if (rc) {
			if (q->cq)
				ibv_destroy_cq(q->cq);
			ibv_destroy_comp_channel(q->ch);
			q->cq = NULL;
			q->ch = NULL;
			return rc;
		}
	}
	*out = q->cq;
	return 0;
}

void em_verbs_destroy(struct em_net *net)
{
	struct em_verbs *v = net->verbs;
	for (int i = 0; i < EM_VDEV_MAX; i++) {
		struct vcq *q = &v->cqs[i];
		if (!q->cq)
			continue;
		em_reactor_del_fd(net->r, q->ch->fd);
		ibv_destroy_cq(q->cq);
		ibv_destroy_comp_channel(q->ch);
	}
	em_reactor_del_fd(net->r, v->ech->fd);
	rdma_destroy_event_channel(v->ech);
	free(v);
	net->verbs = NULL;
}

/* ---- bulk operations --------------------------------------------------------- */

static void op_slice_done(struct vop *op, int status)
{
	if (status && !op->status)
		op->status = status;
	if (--op->pending > 0)
		return;
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->cb(op->arg, op->status);
	free(op);
}

static struct vpath *pick_path(struct vconn *vc, const struct vpath *not)
{
	for (int i = 0; i < vc->npaths; i++) {
		struct vpath *p = &vc->paths[(vc->rr + i) % vc->npaths];
		if (p->up && !p->dead && p != not) {
			vc->rr = (vc->rr + i + 1) % vc->npaths;
			return p;
		}
	}
	return NULL;
}

static void slice_enqueue(struct vpath *p, struct vslice *s)
{
	s->next = NULL;
	if (p->waiting_tail)
		p->waiting_tail->next = s;
	else
		p->waiting = s;
	p->waiting_tail = s;
}

/* A slice failed on path `from`: try another path, or give up. */
static void slice_retry(struct vconn *vc, struct vslice *s, struct vpath *from, int err)
{
	struct vpath *p = vc->base.closing ? NULL : pick_path(vc, from);
	if (p && ++s->tries < vc->npaths && err != -EACCES) {
		EM_DEBUG("verbs", "%s: slice retried on path %d", vc->base.peer, p->idx);
		slice_enqueue(p, s);
		path_pump(p);
		return;
	}
	op_slice_done(s->op, err);
	free(s);
}

static void slices_free(struct vslice *s)
{
	while (s) {
		struct vslice *next = s->next;
		free(s);
		s = next;
	}
}

static int verbs_bulk(struct em_conn *c, bool write, const struct em_bulk_item *items, int n,
		      uint64_t deadline, em_bulk_fn cb, void *arg)
{
	struct vconn *vc = (struct vconn *)c;
	if (!c->up)
		return -ENOTCONN;
	struct vop *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	*op = (struct vop){ .write = write, .deadline = deadline, .cb = cb, .arg = arg };
	/* Every slice of every item exists before any is queued, so running
	 * out of memory half way leaves nothing posted. */
	uint64_t slice = c->net->cfg.slice;
	struct vslice *head = NULL, **tail = &head;
	for (int i = 0; i < n; i++) {
		const struct em_bulk_item *it = &items[i];
		for (uint64_t off = 0; off < it->remote.len; off += slice) {
			struct vslice *s = calloc(1, sizeof(*s));
			if (!s) {
				slices_free(head);
				free(op);
				return -ENOMEM;
			}
			uint64_t left = it->remote.len - off;
			*s = (struct vslice){ .op = op, .local = (uint8_t *)it->local + off, .mr = it->mr,
					      .raddr = it->remote.addr + off, .rkey = it->remote.rkey,
					      .len = (uint32_t)(left < slice ? left : slice) };
			*tail = s;
			tail = &s->next;
			op->pending++;
		}
	}
	op->prev = vc->ops.prev;
	op->next = &vc->ops;
	vc->ops.prev->next = op;
	vc->ops.prev = op;
	/* Spread the slices over the paths, then post each path's chain: all
	 * items of a batch go out together. */
	while (head) {
		struct vslice *s = head;
		head = s->next;
		slice_enqueue(pick_path(vc, NULL), s);
	}
	for (int i = 0; i < vc->npaths; i++)
		if (vc->paths[i].waiting)
			path_pump(&vc->paths[i]);
	return 0;
}

/* wr_id: the path's address (8-byte aligned, below 2^48) | ring index or
 * receive slot << 48 | bit 0 set for receives. */
static uint64_t wr_id(const struct vpath *p, uint32_t idx, bool recv)
{
	return (uint64_t)(uintptr_t)p | (uint64_t)idx << 48 | (recv ? 1 : 0);
}

/* ---- posting ------------------------------------------------------------------- */

static uint32_t ring_free(const struct vpath *p)
{
	return p->ring_n - (p->head - p->tail);
}

static int post_recv(struct vpath *p, int slot)
{
	size_t sz = p->vc->base.net->cfg.msg_buf;
	struct ibv_sge sge = { (uintptr_t)(p->rbuf + (size_t)slot * sz), (uint32_t)sz, p->rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id(p, (uint32_t)slot, true), .sg_list = &sge, .num_sge = 1 }, *bad;
	int rc = ibv_post_recv(p->id->qp, &wr, &bad);
	if (rc)
		return -rc;
	p->recv_posted++;
	return 0;
}

/* Posts waiting slices of p as one chain, within the send queue (one entry
 * kept for the drain marker) and the READ depth; only the chain's last
 * request is signalled. Returns false when nothing more can go now. */
static bool post_chain(struct vpath *p)
{
	struct ibv_send_wr wrs[64], *bad;
	struct ibv_sge sges[64];
	int n = 0;
	uint32_t first = p->head;
	while (p->waiting && n < 64 && ring_free(p) > 1) {
		struct vslice *s = p->waiting;
		struct vop *op = s->op;
		if (!op->write && p->rd_inflight >= p->init_depth)
			break;
		p->waiting = s->next;
		if (!p->waiting)
			p->waiting_tail = NULL;
		sges[n] = (struct ibv_sge){ (uintptr_t)s->local, s->len, em_mr_lkey(s->mr, p->dev->index) };
		uint32_t seq = p->head++;
		p->ring[seq % p->ring_n] = (struct swr){ .kind = SWR_SLICE, .slot = -1, .slice = s };
		wrs[n] = (struct ibv_send_wr){
			.wr_id = wr_id(p, seq % p->ring_n, false), .sg_list = &sges[n], .num_sge = 1,
			.opcode = op->write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
			.wr.rdma = { .remote_addr = s->raddr, .rkey = s->rkey },
		};
		if (n)
			wrs[n - 1].next = &wrs[n];
		if (!op->write)
			p->rd_inflight++;
		n++;
	}
	if (!n)
		return false;
	wrs[n - 1].send_flags = IBV_SEND_SIGNALED;
	p->unsignalled = 0;
	int rc = ibv_post_send(p->id->qp, wrs, &bad);
	if (rc) {
		/* Nothing from bad on was posted: those go to another path. What was
		 * posted is unsignalled, so fail the QP to get it all flushed back. */
		EM_WARN("verbs", "%s: post_send: %s", p->vc->base.peer, em_strerror(-rc));
		uint32_t posted = (uint32_t)(bad - wrs);
		p->head = first + posted;
		for (int i = (int)posted; i < n; i++) {
			struct vslice *s = p->ring[(first + (uint32_t)i) % p->ring_n].slice;
			if (!s->op->write)
				p->rd_inflight--;
			slice_retry(p->vc, s, p, -EIO);
		}
		struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };
		ibv_modify_qp(p->id->qp, &qa, IBV_QP_STATE);
		path_failed(p, -EIO);
		return false;
	}
	return true;
}

/* A batch longer than one chain goes out as several back to back, each
 * signalled at its end, so the queue refills as each chain completes rather
 * than after the whole batch. */
static void post_slices(struct vpath *p)
{
	while (p->waiting && !p->dead && post_chain(p))
		;
}

/* Sends one queued message on path 0 if credits allow. */
static int post_msg(struct vpath *p, const uint8_t *msg, size_t len, bool credit_only)
{
	const struct em_net_config *cfg = &p->vc->base.net->cfg;
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND_WITH_IMM }, *bad;
	int slot = -1;
	if (len) {
		if (len <= (size_t)cfg->max_inline) {
			sge = (struct ibv_sge){ (uintptr_t)msg, (uint32_t)len, 0 };
			wr.send_flags |= IBV_SEND_INLINE;
		} else {
			slot = p->free_slots[--p->n_free];
			uint8_t *dst = p->sbuf + (size_t)slot * cfg->msg_buf;
			memcpy(dst, msg, len);
			sge = (struct ibv_sge){ (uintptr_t)dst, (uint32_t)len, p->smr->lkey };
		}
		wr.sg_list = &sge;
		wr.num_sge = 1;
	}
	uint32_t seq = p->head++;
	p->ring[seq % p->ring_n] = (struct swr){ .kind = SWR_MSG, .slot = slot };
	wr.wr_id = wr_id(p, seq % p->ring_n, false);
	wr.imm_data = htobe32(em_credits_take(&p->cr));
	/* Signal now and then, and whenever buffers or queue run short, so slots
	 * and queue entries come back. */
	if (++p->unsignalled >= SIG_EVERY || p->n_free < 2 || ring_free(p) < 4 || credit_only) {
		wr.send_flags |= IBV_SEND_SIGNALED;
		p->unsignalled = 0;
	}
	int rc = ibv_post_send(p->id->qp, &wr, &bad);
	if (rc) {
		p->head--;
		if (slot >= 0)
			p->free_slots[p->n_free++] = slot;
		return -rc;
	}
	return 0;
}

/* Moves whatever can move on p: queued messages (path 0), credit updates,
 * waiting slices. */
static void path_pump(struct vpath *p)
{
	struct vconn *vc = p->vc;
	if (!p->up || p->dead || vc->shut)
		return;
	if (p->idx == 0) {
		while (vc->q && em_credits_can_send(&p->cr) && ring_free(p) > 2 &&
		       (vc->q->len <= (size_t)vc->base.net->cfg.max_inline || p->n_free > 0)) {
			struct qmsg *m = vc->q;
			int rc = post_msg(p, m->data, m->len, false);
			if (rc) {
				em_conn_close(&vc->base, rc);
				return;
			}
			vc->q = m->next;
			if (!vc->q)
				vc->q_tail = NULL;
			free(m);
		}
		if (em_credits_update_due(&p->cr, (uint32_t)vc->base.net->cfg.recv_depth) &&
		    ring_free(p) > 2) {
			int rc = post_msg(p, NULL, 0, true);
			if (rc) {
				em_conn_close(&vc->base, rc);
				return;
			}
		}
	}
	post_slices(p);
}

static int verbs_sendv(struct em_conn *c, const struct iovec *iov, int n, size_t total)
{
	struct vconn *vc = (struct vconn *)c;
	struct qmsg *m = malloc(sizeof(*m) + total);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = total;
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(m->data + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	if (vc->q_tail)
		vc->q_tail->next = m;
	else
		vc->q = m;
	vc->q_tail = m;
	path_pump(&vc->paths[0]);
	return 0;
}

/* ---- completions ------------------------------------------------------------- */

static int wc_errno(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_LOC_ACCESS_ERR:
		return -EACCES;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -ETIMEDOUT;
	case IBV_WC_WR_FLUSH_ERR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static void path_failed(struct vpath *p, int err)
{
	if (p->dead)
		return;
	p->dead = true;
	struct vconn *vc = p->vc;
	if (!vc->base.closing)
		EM_WARN("verbs", "%s: path %d failed: %s", vc->base.peer, p->idx, em_strerror(err));
	/* Slices not yet posted go elsewhere; posted ones come back flushed. */
	while (p->waiting) {
		struct vslice *s = p->waiting;
		p->waiting = s->next;
		slice_retry(vc, s, p, err);
	}
	p->waiting_tail = NULL;
	if (p->idx == 0 || !pick_path(vc, NULL))
		em_conn_close(&vc->base, err == -EACCES ? -EACCES : -ECONNRESET);
}

static void send_done(struct vpath *p, uint32_t seq, enum ibv_wc_status st)
{
	int err = st == IBV_WC_SUCCESS ? 0 : wc_errno(st);
	/* Everything up to seq is complete; only seq itself carries the status. */
	while ((int32_t)(seq - p->tail) >= 0) {
		struct swr *w = &p->ring[p->tail % p->ring_n];
		bool last = p->tail == seq;
		p->tail++;
		int e = last ? err : 0;
		if (w->slot >= 0)
			p->free_slots[p->n_free++] = w->slot;
		if (w->kind == SWR_SLICE) {
			struct vslice *s = w->slice;
			if (!s->op->write)
				p->rd_inflight--;
			if (e)
				slice_retry(p->vc, s, p, e);
			else {
				op_slice_done(s->op, 0);
				free(s);
			}
		}
	}
	if (err)
		path_failed(p, err);
}

/* Gives a consumed receive buffer back to the peer (as a credit). */
static void recv_repost(struct vpath *p, int slot)
{
	if (p->vc->shut)
		return;
	int rc = post_recv(p, slot);
	if (rc) {
		em_conn_close(&p->vc->base, rc);
		return;
	}
	em_credits_reposted(&p->cr);
}

static void recv_done(struct vpath *p, struct ibv_wc *wc, int slot)
{
	struct vconn *vc = p->vc;
	p->recv_posted--;
	if (wc->status != IBV_WC_SUCCESS) {
		path_failed(p, wc_errno(wc->status));
		return;
	}
	if ((wc->wc_flags & IBV_WC_WITH_IMM) &&
	    !em_credits_returned(&p->cr, be32toh(wc->imm_data))) {
		EM_WARN("verbs", "%s: peer returned credits it never had", vc->base.peer);
		em_conn_close(&vc->base, -EPROTO);
		return;
	}
	if (wc->byte_len && !vc->base.up) {
		/* The peer may send as soon as its side is up, before our last
		 * ESTABLISHED event: keep the message in its buffer until the
		 * owner's callbacks are in place (held_deliver). */
		p->held[p->n_held++] = (struct vheld){ slot, wc->byte_len };
		return;
	}
	if (wc->byte_len)
		em_conn_deliver(&vc->base, p->rbuf + (size_t)slot * vc->base.net->cfg.msg_buf,
				wc->byte_len);
	recv_repost(p, slot);
	path_pump(p);
}

/* Delivers what arrived before the connection was up, in order. */
static void held_deliver(struct vconn *vc)
{
	struct vpath *p = &vc->paths[0];
	for (int i = 0; i < p->n_held; i++) {
		em_conn_deliver(&vc->base, p->rbuf + (size_t)p->held[i].slot * vc->base.net->cfg.msg_buf,
				p->held[i].len);
		recv_repost(p, p->held[i].slot);
	}
	p->n_held = 0;
}

static void handle_wc(struct ibv_wc *wc)
{
	struct vpath *p = (struct vpath *)(uintptr_t)(wc->wr_id & 0x0000fffffffffff8ull);
	uint32_t idx = (uint32_t)(wc->wr_id >> 48);
	if (wc->wr_id & 1) {
		recv_done(p, wc, (int)idx);
	} else {
		uint32_t seq = p->tail + (idx + p->ring_n - p->tail % p->ring_n) % p->ring_n;
		send_done(p, seq, wc->status);
		/* Room in the queue, READ depth or send buffers: post what waited. */
		path_pump(p);
	}
	vconn_maybe_dead(p->vc);
}

int em_verbs_poll(struct em_net *net)
{
	struct em_verbs *v = net->verbs;
	int work = 0, batch = net->cfg.poll_batch < 64 ? net->cfg.poll_batch : 64;
	for (int i = 0; i < EM_VDEV_MAX; i++) {
		struct vcq *q = &v->cqs[i];
		if (!q->cq)
			continue;
		struct ibv_wc wcs[64];
		int n = ibv_poll_cq(q->cq, batch, wcs);
		if (n == 0 && !q->armed) {
			/* Idle: arm, then look once more for what raced the arming. */
			ibv_req_notify_cq(q->cq, 0);
			q->armed = true;
			n = ibv_poll_cq(q->cq, batch, wcs);
		}
		for (int k = 0; k < n; k++)
			handle_wc(&wcs[k]);
		if (n > 0)
			work += n;
	}
	return work;
}

static void on_comp(void *arg, uint32_t events)
{
	struct vcq *q = arg;
	struct ibv_cq *cq;
	void *ctx;
	while (ibv_get_cq_event(q->ch, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		q->armed = false;
	}
}

/* ---- path setup ------------------------------------------------------------------ */

static int path_alloc(struct vpath *p, struct rdma_cm_id *id)
{
	const struct em_net_config *cfg = &p->vc->base.net->cfg;
	struct em_verbs *v = p->vc->base.net->verbs;
	p->id = id;
	id->context = p;
	p->dev = em_vdev_by_ctx(id->verbs);
	if (!p->dev)
		return -ENODEV;
	if (cfg->rdma_device[0] && strcmp(cfg->rdma_device, ibv_get_device_name(id->verbs->device)))
		return -ENODEV;
	struct ibv_cq *cq = NULL;
	int rc = get_cq(v, p->dev, &cq);
	if (rc)
		return rc;
	int nrecv = p->idx == 0 ? cfg->recv_depth : 1;
	struct ibv_qp_init_attr qa = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC, .sq_sig_all = 0,
		.cap = { .max_send_wr = (uint32_t)cfg->send_depth, .max_recv_wr = (uint32_t)nrecv,
			 .max_send_sge = (uint32_t)cfg->max_sge, .max_recv_sge = 1,
			 .max_inline_data = (uint32_t)cfg->max_inline },
	};
	if (rdma_create_qp(id, p->dev->pd, &qa))
		return -errno;
	p->qp_made = true;
	p->ring_n = (uint32_t)cfg->send_depth;
	p->ring = calloc(p->ring_n, sizeof(*p->ring));
	if (!p->ring)
		return -ENOMEM;
	if (p->idx != 0)
		return 0;
	size_t sz = (size_t)cfg->recv_depth * cfg->msg_buf;
	p->rbuf = aligned_alloc(4096, sz);
	p->sbuf = aligned_alloc(4096, sz);
	p->free_slots = calloc((size_t)cfg->recv_depth, sizeof(int));
	p->held = calloc((size_t)cfg->recv_depth, sizeof(*p->held));
	if (!p->rbuf || !p->sbuf || !p->free_slots || !p->held)
		return -ENOMEM;
	p->rmr = ibv_reg_mr(p->dev->pd, p->rbuf, sz, IBV_ACCESS_LOCAL_WRITE);
	p->smr = ibv_reg_mr(p->dev->pd, p->sbuf, sz, IBV_ACCESS_LOCAL_WRITE);
	if (!p->rmr || !p->smr)
		return -errno;
	for (int i = 0; i < cfg->recv_depth; i++) {
		p->free_slots[p->n_free++] = i;
		/* Receives are posted before connect/accept: the first SEND may
		 * arrive the moment the peer sees the connection. */
		if ((rc = post_recv(p, i)))
			return rc;
	}
	return 0;
}

static void fill_pdata(struct vconn *vc, int path, struct em_vpd *pd)
{
	*pd = (struct em_vpd){ .magic = EM_VPD_MAGIC, .version = EM_VPD_VERSION, .path = (uint16_t)path,
			      .npaths = (uint16_t)vc->npaths,
			      .recv_depth = (uint32_t)vc->base.net->cfg.recv_depth,
			      .msg_buf = (uint32_t)vc->base.net->cfg.msg_buf, .token = vc->token };
}

static struct rdma_conn_param conn_param(const struct vpath *p, const struct em_vpd *pd)
{
	int rd = p->vc->base.net->cfg.rd_atomic;
	const struct ibv_device_attr *a = &p->dev->attr;
	return (struct rdma_conn_param){
		.private_data = pd, .private_data_len = sizeof(*pd),
		.responder_resources = (uint8_t)(rd < a->max_qp_rd_atom ? rd : a->max_qp_rd_atom),
		.initiator_depth = (uint8_t)(rd < a->max_qp_init_rd_atom ? rd : a->max_qp_init_rd_atom),
		.retry_count = 7, .rnr_retry_count = 7,
	};
}

/* The READ depth both ends agreed on: ours, capped by what the peer serves. */
static void set_depth(struct vpath *p, int peer_responder)
{
	int rd = p->vc->base.net->cfg.rd_atomic, dev = p->dev->attr.max_qp_init_rd_atom;
	p->init_depth = rd < dev ? rd : dev;
	if (peer_responder > 0 && peer_responder < p->init_depth)
		p->init_depth = peer_responder;
	if (p->init_depth < 1)
		p->init_depth = 1;
}

static void path_up(struct vpath *p)
{
	struct vconn *vc = p->vc;
	p->up = true;
	if (++vc->n_up < vc->npaths)
		return;
	if (vc->setup_timer) {
		em_reactor_timer_cancel(vc->base.net->r, vc->setup_timer);
		vc->setup_timer = NULL;
	}
	if (vc->listener) {
		struct vlistener *l = (struct vlistener *)vc->listener;
		for (struct vconn **pp = &l->pending; *pp; pp = &(*pp)->next_pending) {
			if (*pp == vc) {
				*pp = vc->next_pending;
				break;
			}
		}
		vc->listener = NULL;
		vc->base.up = true;
		l->base.fn(l->base.arg, &vc->base);
	} else {
		em_conn_mark_up(&vc->base);
	}
	if (!vc->base.closing)
		held_deliver(vc);
	if (!vc->base.closing)
		path_pump(&vc->paths[0]);
}

static void on_setup_timeout(void *arg)
{
	struct vconn *vc = arg;
	vc->setup_timer = NULL;
	em_conn_close(&vc->base, -ETIMEDOUT);
}

static int vconn_new(struct em_net *net, int npaths, uint64_t token, struct vconn **out)
{
	struct vconn *vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	vc->npaths = npaths;
	vc->token = token;
	vc->ops.next = vc->ops.prev = &vc->ops;
	for (int i = 0; i < npaths; i++) {
		vc->paths[i].vc = vc;
		vc->paths[i].idx = i;
	}
	int rc = em_reactor_timer(net->r, (uint64_t)net->cfg.connect_timeout_ms, on_setup_timeout, vc,
				  &vc->setup_timer);
	if (rc) {
		free(vc);
		return rc;
	}
	em_conn_init(&vc->base, &verbs_vt, net, EM_TRANSPORT_RDMA);
	*out = vc;
	return 0;
}

/* ---- connection manager events ------------------------------------------------------ */

static void on_connect_request(struct vlistener *l, struct rdma_cm_event *ev)
{
	struct em_net *net = l->base.net;
	struct em_vpd got, *pd = &got;
	struct vconn *vc = NULL;
	int rc = em_vpd_parse(ev->param.conn.private_data, ev->param.conn.private_data_len, true,
			      (uint32_t)net->cfg.msg_buf, &got);
	if (rc)
		goto reject;
	for (vc = l->pending; vc; vc = vc->next_pending)
		if (vc->token == pd->token)
			break;
	if (!vc) {
		struct em_addr a = { .kind = EM_TRANSPORT_RDMA };
		memcpy(&a.ss, rdma_get_peer_addr(ev->id), sizeof(struct sockaddr_in6));
		a.len = sizeof(a.ss);
		char name[sizeof(((struct em_conn *)0)->peer)];
		em_addr_format(&a, name, sizeof(name));
		if ((rc = em_listener_admit(&l->base, name)) ||
		    (rc = vconn_new(net, pd->npaths, pd->token, &vc)))
			goto reject;
		memcpy(vc->base.peer, name, sizeof(name));
		em_conn_accepted(&vc->base);
		vc->listener = &l->base;
		vc->next_pending = l->pending;
		l->pending = vc;
	}
	struct vpath *p = &vc->paths[pd->path];
	if (pd->npaths != vc->npaths || p->id) {
		vc = NULL;
		rc = -EPROTO;
		goto reject;
	}
	if ((rc = path_alloc(p, ev->id))) {
		em_conn_close(&vc->base, rc);
		return;
	}
	if (pd->path == 0)
		em_credits_init(&p->cr, pd->recv_depth);
	set_depth(p, ev->param.conn.responder_resources);
	struct em_vpd mine;
	fill_pdata(vc, pd->path, &mine);
	struct rdma_conn_param cp = conn_param(p, &mine);
	if (rdma_accept(ev->id, &cp)) {
		rc = -errno;
		em_conn_close(&vc->base, rc);
	}
	return;
reject:
	EM_WARN_LIMITED("verbs", "connection request refused: %s", em_strerror(rc));
	rdma_reject(ev->id, NULL, 0);
	rdma_destroy_id(ev->id);
}

static void on_path_event(struct vpath *p, struct rdma_cm_event *ev)
{
	struct vconn *vc = p->vc;
	int rc = 0;
	if (vc->shut)
		return;
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (rdma_resolve_route(p->id, vc->base.net->cfg.connect_timeout_ms))
			rc = -errno;
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED: {
		if ((rc = path_alloc(p, p->id)))
			break;
		struct em_vpd pd;
		fill_pdata(vc, p->idx, &pd);
		struct rdma_conn_param cp = conn_param(p, &pd);
		if (rdma_connect(p->id, &cp))
			rc = -errno;
		break;
	}
	case RDMA_CM_EVENT_ESTABLISHED:
		if (!vc->listener) {
			struct em_vpd pd;
			rc = em_vpd_parse(ev->param.conn.private_data,
					  ev->param.conn.private_data_len, false, 0, &pd);
			if (rc)
				break;
			if (p->idx == 0)
				em_credits_init(&p->cr, pd.recv_depth);
			set_depth(p, ev->param.conn.responder_resources);
		}
		path_up(p);
		break;
	case RDMA_CM_EVENT_REJECTED:
		rc = -ECONNREFUSED;
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		rc = -EHOSTUNREACH;
		break;
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		rc = -ECONNRESET;
		break;
	default:
		break;
	}
	if (rc)
		em_conn_close(&vc->base, rc);
}

static void on_cm_events(void *arg, uint32_t events)
{
	struct em_verbs *v = arg;
	struct rdma_cm_event *ev;
	while (rdma_get_cm_event(v->ech, &ev) == 0) {
		/* Copy what we need and ack first: rdma_destroy_id waits for acks. */
		struct rdma_cm_event copy = *ev;
		uint8_t pd[64];
		if (copy.param.conn.private_data && copy.param.conn.private_data_len) {
			size_t n = copy.param.conn.private_data_len < sizeof(pd) ?
					   copy.param.conn.private_data_len : sizeof(pd);
			memcpy(pd, copy.param.conn.private_data, n);
			copy.param.conn.private_data = pd;
			copy.param.conn.private_data_len = (uint8_t)n;
		}
		rdma_ack_cm_event(ev);
		if (copy.event == RDMA_CM_EVENT_CONNECT_REQUEST)
			on_connect_request(copy.listen_id->context, &copy);
		else if (copy.id->context)
			on_path_event(copy.id->context, &copy);
	}
}

/* ---- teardown ----------------------------------------------------------------------- */

static bool path_drained(const struct vpath *p)
{
	return p->head == p->tail && p->recv_posted == 0;
}

static void path_release(struct vpath *p)
{
	if (p->id) {
		if (p->qp_made)
			rdma_destroy_qp(p->id);
		p->id->context = NULL;
		rdma_destroy_id(p->id);
		p->id = NULL;
	}
	if (p->rmr)
		ibv_dereg_mr(p->rmr);
	if (p->smr)
		ibv_dereg_mr(p->smr);
	free(p->rbuf);
	free(p->sbuf);
	free(p->free_slots);
	free(p->held);
	free(p->ring);
}

/* Once every posted request has come back, the buffers can go. */
static void vconn_maybe_dead(struct vconn *vc)
{
	if (!vc->shut || vc->released)
		return;
	for (int i = 0; i < vc->npaths; i++)
		if (!path_drained(&vc->paths[i]))
			return;
	for (int i = 0; i < vc->npaths; i++)
		path_release(&vc->paths[i]);
	vc->released = true;
	em_conn_dead(&vc->base);
}

/* Error state flushes every outstanding request back to us, but requests
 * that already completed unsignalled never report. So, like the kernel's
 * ib_drain_sq, post one signalled marker after the error transition: its
 * flush completion retires the whole ring. */
static void drain_sq(struct vpath *p)
{
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };
	ibv_modify_qp(p->id->qp, &qa, IBV_QP_STATE);
	if (p->head == p->tail)
		return;
	uint32_t seq = p->head++;
	p->ring[seq % p->ring_n] = (struct swr){ .kind = SWR_MSG, .slot = -1 };
	struct ibv_send_wr wr = { .wr_id = wr_id(p, seq % p->ring_n, false), .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	int rc = ibv_post_send(p->id->qp, &wr, &bad);
	if (rc) {
		/* No marker: retire the ring now and accept that a late flush of a
		 * posted request would find it empty. */
		EM_WARN("verbs", "%s: cannot post the drain marker: %s", p->vc->base.peer,
			em_strerror(-rc));
		p->head--;
		if (p->head != p->tail)
			send_done(p, p->head - 1, IBV_WC_WR_FLUSH_ERR);
	}
}

static void verbs_shutdown(struct em_conn *c)
{
	struct vconn *vc = (struct vconn *)c;
	vc->shut = true;
	if (vc->setup_timer) {
		em_reactor_timer_cancel(c->net->r, vc->setup_timer);
		vc->setup_timer = NULL;
	}
	if (vc->listener) {
		struct vlistener *l = (struct vlistener *)vc->listener;
		for (struct vconn **pp = &l->pending; *pp; pp = &(*pp)->next_pending) {
			if (*pp == vc) {
				*pp = vc->next_pending;
				break;
			}
		}
		vc->listener = NULL;
	}
	while (vc->q) {
		struct qmsg *m = vc->q;
		vc->q = m->next;
		free(m);
	}
	vc->q_tail = NULL;
	for (int i = 0; i < vc->npaths; i++) {
		struct vpath *p = &vc->paths[i];
		p->dead = true;
		while (p->waiting) {
			struct vslice *s = p->waiting;
			p->waiting = s->next;
			op_slice_done(s->op, c->close_err);
			free(s);
		}
		p->waiting_tail = NULL;
		if (p->qp_made)
			drain_sq(p);
		if (p->id)
			rdma_disconnect(p->id);
	}
	vconn_maybe_dead(vc);
}

static void verbs_fail_ops(struct em_conn *c, int err)
{
	struct vconn *vc = (struct vconn *)c;
	while (vc->ops.next != &vc->ops) {
		struct vop *op = vc->ops.next;
		op->pending = 1;
		op_slice_done(op, err);
	}
}

/* Posted work cannot be recalled: an operation past its deadline closes the
 * connection, and its buffers are released once the flush completes it. */
static void verbs_sweep(struct em_conn *c, uint64_t now)
{
	struct vconn *vc = (struct vconn *)c;
	for (struct vop *op = vc->ops.next; op != &vc->ops; op = op->next) {
		if (op->deadline && now >= op->deadline) {
			EM_WARN_LIMITED("verbs", "%s: a transfer passed its deadline; closing", c->peer);
			em_conn_close(c, -ETIMEDOUT);
			return;
		}
	}
}

static void verbs_free(struct em_conn *c)
{
	free(c);
}

static size_t verbs_max_msg(const struct em_conn *c)
{
	return c->net->cfg.msg_buf;
}

static const struct em_conn_vt verbs_vt = {
	.sendv = verbs_sendv,
	.bulk = verbs_bulk,
	.shutdown = verbs_shutdown,
	.fail_ops = verbs_fail_ops,
	.sweep = verbs_sweep,
	.free = verbs_free,
	.max_msg = verbs_max_msg,
};

int em_verbs_connect(struct em_net *net, const struct em_addr *a, struct em_conn **out)
{
	struct em_verbs *v = NULL;
	int rc = verbs_state(net, &v);
	if (rc)
		return rc;
	uint64_t token;
	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		return -EIO;
	struct vconn *vc;
	if ((rc = vconn_new(net, net->cfg.qps_per_peer, token, &vc)))
		return rc;
	for (int i = 0; i < vc->npaths && !rc; i++) {
		struct vpath *p = &vc->paths[i];
		if (rdma_create_id(v->ech, &p->id, p, RDMA_PS_TCP) ||
		    rdma_resolve_addr(p->id, NULL, (struct sockaddr *)&a->ss, net->cfg.connect_timeout_ms))
			rc = -errno;
	}
	if (rc) {
		/* Fail through the normal path so the caller gets on_close later. */
		em_conn_close(&vc->base, rc);
	}
	*out = &vc->base;
	return 0;
}

static void vlistener_close(struct em_listener *base)
{
	struct vlistener *l = (struct vlistener *)base;
	while (l->pending)
		em_conn_close(&l->pending->base, -ECONNABORTED);
	rdma_destroy_id(l->id);
	free(l);
}

static const struct em_listener_vt vlistener_vt = { .close = vlistener_close };

int em_verbs_listen(struct em_net *net, const struct em_addr *a, struct em_listener **out)
{
	struct em_verbs *v = NULL;
	int rc = verbs_state(net, &v);
	if (rc)
		return rc;
	struct vlistener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (rdma_create_id(v->ech, &l->id, l, RDMA_PS_TCP) ||
	    rdma_bind_addr(l->id, (struct sockaddr *)&a->ss) || rdma_listen(l->id, 128)) {
		rc = -errno;
		if (l->id)
			rdma_destroy_id(l->id);
		free(l);
		return rc;
	}
	l->base.vt = &vlistener_vt;
	l->base.port = ntohs(rdma_get_src_port(l->id));
	*out = &l->base;
	return 0;
}
