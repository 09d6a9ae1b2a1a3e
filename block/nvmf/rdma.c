/* NVMe-oF RDMA transport (see rdma.h).
 *
 * Request life: a receive slot and a request object are paired by index.
 * RECV completes -> parse -> [RDMA READ of host data] -> execute ->
 * complete: repost the slot's receive, post [RDMA WRITE] + SEND response.
 * The request is free again as soon as its response is posted. That is safe
 * because responses and receives are both posted in the same order: the host
 * can only fill receive i again after it got response i, which travels
 * behind the data WRITE of i on the same queue pair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "block/nvmf/internal.h"
#include "block/nvmf/rdma.h"
#include "ember/errors.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define LISTEN_BACKLOG 128
/* How long a shutdown waits for hosts to confirm disconnects. */
#define SHUTDOWN_GRACE_MS 5000u
#define POLL_BATCH 32
#define BUF_ALIGN 4096

/* Work request ids: the request pointer with the kind in the low bits. */
enum wr_kind {
	WR_RECV = 0,
	WR_READ = 1,
	WR_SEND1 = 2, /* response SEND alone: one send-queue slot */
	WR_SEND2 = 3, /* RDMA WRITE + SEND: two slots */
};
#define WR_KIND_MASK 3u

enum rreq_state {
	RREQ_FREE,
	RREQ_READING,      /* RDMA READ of host data in flight */
	RREQ_EXECUTING,    /* in the command layer or the device */
	RREQ_PENDING_READ, /* waiting for send-queue room */
	RREQ_PENDING_RSP,
};

struct rqueue;

struct rreq {
	struct em_nvmf_req req; /* first: the command layer's view */
	struct rqueue *rq;
	uint32_t idx;
	enum rreq_state state;
	struct rreq *next_pending;
};

struct rdma_dev {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_device_attr attr;
	struct rdma_dev *next;
};

struct em_nvmf_rdma {
	struct em_nvmf_tgt *tgt;
	struct em_reactor *r;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;
	struct rdma_dev *devs;
	struct rqueue *queues;
	/* em_nvmf_rdma_shutdown(): called back once queues is empty. */
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
	struct em_timer *shutdown_timer;
};

struct rqueue {
	struct em_nvmf_queue q;
	struct em_nvmf_rdma *rt;
	struct rqueue *next;
	struct rdma_cm_id *id;
	struct rdma_dev *dev;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	uint32_t depth, icd_size, buf_size;
	struct rreq *reqs;
	uint8_t *cmds, *icds, *bufs;
	struct em_nvme_cqe *rsps;
	struct ibv_mr *cmds_mr, *icds_mr, *bufs_mr, *rsps_mr;
	int send_credits;
	bool inline_rsp;
	struct rreq *pend_head, *pend_tail;
	uint32_t busy;            /* requests not FREE */
	bool fd_added;
	bool disconnecting;       /* rdma_disconnect issued */
	bool dead;                /* connection gone: post nothing more */
	bool destroy_scheduled;
};

static const struct em_nvmf_queue_ops rdma_queue_ops;

static uint64_t wr_tag(struct rreq *rr, enum wr_kind k)
{
	return (uint64_t)(uintptr_t)rr | k;
}

static struct rreq *wr_req(uint64_t id)
{
	return (struct rreq *)(uintptr_t)(id & ~(uint64_t)WR_KIND_MASK);
}

static void queue_disconnect(struct rqueue *rq)
{
	if (rq->disconnecting)
		return;
	rq->disconnecting = true;
	/* Moves the QP to error (flushing posted work) and makes rdma_cm
	 * report DISCONNECTED, where the queue is torn down. */
	if (rdma_disconnect(rq->id) != 0)
		EM_DEBUG("nvmf", "qid %u: rdma_disconnect: %s", rq->q.qid, em_errname(-errno));
}

static void ops_disconnect(struct em_nvmf_queue *q)
{
	queue_disconnect((struct rqueue *)q);
}

/* --- teardown --------------------------------------------------------------- */

/* Everything but the rdma_cm id, which connect_request() hands back to the
 * caller when it rejects. */
static void queue_free_resources(struct rqueue *rq)
{
	struct em_nvmf_rdma *rt = rq->rt;
	struct rqueue **pp;

	if (rq->fd_added)
		em_reactor_del_fd(rt->r, rq->ch->fd);
	if (rq->id->qp)
		rdma_destroy_qp(rq->id);
	if (rq->cq)
		ibv_destroy_cq(rq->cq);
	if (rq->ch)
		ibv_destroy_comp_channel(rq->ch);
	if (rq->cmds_mr)
		ibv_dereg_mr(rq->cmds_mr);
	if (rq->icds_mr)
		ibv_dereg_mr(rq->icds_mr);
	if (rq->bufs_mr)
		ibv_dereg_mr(rq->bufs_mr);
	if (rq->rsps_mr)
		ibv_dereg_mr(rq->rsps_mr);
	free(rq->cmds);
	free(rq->icds);
	free(rq->bufs);
	free(rq->rsps);
	free(rq->reqs);
	for (pp = &rt->queues; *pp; pp = &(*pp)->next)
		if (*pp == rq) {
			*pp = rq->next;
			break;
		}
}

static void queue_free(struct rqueue *rq)
{
	queue_free_resources(rq);
	rdma_destroy_id(rq->id);
	free(rq);
}

static void shutdown_check(struct em_nvmf_rdma *rt)
{
	void (*done)(void *arg) = rt->shutdown_done;

	if (!done || rt->queues)
		return;
	rt->shutdown_done = NULL;
	if (rt->shutdown_timer)
		em_reactor_timer_cancel(rt->r, rt->shutdown_timer);
	rt->shutdown_timer = NULL;
	EM_INFO("nvmf", "every queue closed");
	done(rt->shutdown_arg);
}

static void queue_destroy_msg(void *arg)
{
	struct rqueue *rq = arg;
	struct em_nvmf_rdma *rt = rq->rt;

	EM_DEBUG("nvmf", "qid %u: queue freed", rq->q.qid);
	queue_free(rq);
	shutdown_check(rt);
}

/* Freed from a reactor message, never from inside the completion loop that
 * may still be walking this queue's CQ. */
static void maybe_destroy(struct rqueue *rq)
{
	if (!rq->dead || rq->busy || rq->destroy_scheduled)
		return;
	rq->destroy_scheduled = true;
	if (em_reactor_send(rq->rt->r, queue_destroy_msg, rq) < 0)
		EM_ERR("nvmf", "qid %u: cannot schedule queue teardown; leaking it", rq->q.qid);
}

static void release(struct rreq *rr)
{
	rr->state = RREQ_FREE;
	rr->rq->busy--;
	maybe_destroy(rr->rq);
}

static void queue_dead(struct rqueue *rq)
{
	if (rq->dead)
		return;
	rq->dead = true;
	queue_disconnect(rq);
	while (rq->pend_head) {
		struct rreq *rr = rq->pend_head;
		rq->pend_head = rr->next_pending;
		release(rr);
	}
	rq->pend_tail = NULL;
	/* Parked requests (AERs) come back through complete() and are
	 * released there. */
	em_nvmf_queue_detach(&rq->q);
	maybe_destroy(rq);
}

/* --- posting ---------------------------------------------------------------- */

static int post_recv(struct rqueue *rq, struct rreq *rr)
{
	struct ibv_sge sge[2] = {
		{ (uintptr_t)(rq->cmds + (size_t)rr->idx * EM_NVME_SQE_SIZE), EM_NVME_SQE_SIZE,
		  rq->cmds_mr->lkey },
	};
	struct ibv_recv_wr wr = { .wr_id = wr_tag(rr, WR_RECV), .sg_list = sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	if (rq->icd_size) {
		sge[1].addr = (uintptr_t)(rq->icds + (size_t)rr->idx * rq->icd_size);
		sge[1].length = rq->icd_size;
		sge[1].lkey = rq->icds_mr->lkey;
		wr.num_sge = 2;
	}
	return -ibv_post_recv(rq->id->qp, &wr, &bad);
}

static void pend(struct rqueue *rq, struct rreq *rr, enum rreq_state st)
{
	rr->state = st;
	rr->next_pending = NULL;
	if (rq->pend_tail)
		rq->pend_tail->next_pending = rr;
	else
		rq->pend_head = rr;
	rq->pend_tail = rr;
}

static void post_read(struct rreq *rr)
{
	struct rqueue *rq = rr->rq;
	struct em_nvmf_req *req = &rr->req;
	struct ibv_sge sge = { (uintptr_t)req->data, req->data_len, rq->bufs_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_tag(rr, WR_READ),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_RDMA_READ,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;
	int rc;

	if (rq->send_credits < 1 || rq->pend_head) {
		pend(rq, rr, RREQ_PENDING_READ);
		return;
	}
	wr.wr.rdma.remote_addr = req->sgl_addr;
	wr.wr.rdma.rkey = req->sgl_key;
	rr->state = RREQ_READING;
	rc = ibv_post_send(rq->id->qp, &wr, &bad);
	if (rc) {
		EM_ERR("nvmf", "qid %u: post RDMA READ: %s", rq->q.qid, em_errname(-rc));
		release(rr);
		queue_disconnect(rq);
		return;
	}
	rq->send_credits--;
}

static void post_response(struct rreq *rr)
{
	struct rqueue *rq = rr->rq;
	struct em_nvmf_req *req = &rr->req;
	struct em_nvme_cqe *rsp = &rq->rsps[rr->idx];
	bool write = req->keyed && req->xfer == EM_XFER_C2H;
	int need = write ? 2 : 1;
	struct ibv_sge dsge = { (uintptr_t)req->data, req->data_len, rq->bufs_mr->lkey };
	struct ibv_sge rsge = { (uintptr_t)rsp, sizeof *rsp, rq->rsps_mr->lkey };
	struct ibv_send_wr wr[2], *bad, *first;
	int rc;

	if (rq->send_credits < need || (rq->pend_head && rq->pend_head != rr)) {
		if (rr->state != RREQ_PENDING_RSP)
			pend(rq, rr, RREQ_PENDING_RSP);
		return;
	}
	*rsp = req->rsp;
	memset(wr, 0, sizeof wr);
	wr[1].wr_id = wr_tag(rr, write ? WR_SEND2 : WR_SEND1);
	wr[1].sg_list = &rsge;
	wr[1].num_sge = 1;
	wr[1].opcode = IBV_WR_SEND;
	wr[1].send_flags = IBV_SEND_SIGNALED | (rq->inline_rsp ? IBV_SEND_INLINE : 0);
	first = &wr[1];
	if (write) {
		/* Unsignalled: the SEND behind it completes for both. */
		wr[0].sg_list = &dsge;
		wr[0].num_sge = 1;
		wr[0].opcode = IBV_WR_RDMA_WRITE;
		wr[0].wr.rdma.remote_addr = req->sgl_addr;
		wr[0].wr.rdma.rkey = req->sgl_key;
		wr[0].next = &wr[1];
		first = &wr[0];
	}
	/* The receive goes back first so the host's next capsule never finds
	 * the queue without one (an RNR stall costs 655 ms on RoCE). */
	rc = post_recv(rq, rr);
	if (rc == 0)
		rc = -ibv_post_send(rq->id->qp, first, &bad);
	if (rc) {
		EM_ERR("nvmf", "qid %u: post response: %s", rq->q.qid, em_errname(rc));
		release(rr);
		queue_disconnect(rq);
		return;
	}
	rq->send_credits -= need;
	release(rr);
}

static void kick_pending(struct rqueue *rq)
{
	while (rq->pend_head && !rq->dead) {
		struct rreq *rr = rq->pend_head;
		int need = rr->state == RREQ_PENDING_READ ? 1
			   : (rr->req.keyed && rr->req.xfer == EM_XFER_C2H) ? 2 : 1;
		if (rq->send_credits < need)
			return;
		rq->pend_head = rr->next_pending;
		if (!rq->pend_head)
			rq->pend_tail = NULL;
		if (rr->state == RREQ_PENDING_READ)
			post_read(rr);
		else
			post_response(rr);
	}
}

/* complete() hook: called by the command layer with req->rsp filled. */
static void ops_complete(struct em_nvmf_req *req)
{
	struct rreq *rr = (struct rreq *)req;

	if (rr->rq->dead) {
		release(rr);
		return;
	}
	post_response(rr);
}

static const struct em_nvmf_queue_ops rdma_queue_ops = {
	.complete = ops_complete,
	.disconnect = ops_disconnect,
};

/* --- completions ------------------------------------------------------------ */

static void on_recv(struct rqueue *rq, struct rreq *rr, uint32_t byte_len)
{
	struct em_nvmf_req *req = &rr->req;
	uint16_t status;

	if (byte_len < EM_NVME_SQE_SIZE) {
		EM_WARN("nvmf", "qid %u: %u-byte capsule is shorter than a command", rq->q.qid,
			byte_len);
		queue_disconnect(rq);
		return;
	}
	memcpy(&req->cmd, rq->cmds + (size_t)rr->idx * EM_NVME_SQE_SIZE, EM_NVME_SQE_SIZE);
	req->icd = rq->icd_size ? rq->icds + (size_t)rr->idx * rq->icd_size : NULL;
	req->icd_len = byte_len - EM_NVME_SQE_SIZE;
	rr->state = RREQ_EXECUTING;
	rq->busy++;
	status = em_nvmf_req_parse(req);
	if (status) {
		em_nvmf_req_complete(req, status);
		return;
	}
	if (req->keyed && req->xfer == EM_XFER_H2C)
		post_read(rr);
	else
		em_nvmf_req_execute(req);
}

static void on_wc(struct rqueue *rq, const struct ibv_wc *wc)
{
	struct rreq *rr = wr_req(wc->wr_id);
	enum wr_kind kind = (enum wr_kind)(wc->wr_id & WR_KIND_MASK);
	bool ok = wc->status == IBV_WC_SUCCESS;

	if (!ok && wc->status != IBV_WC_WR_FLUSH_ERR && !rq->dead) {
		EM_WARN("nvmf", "qid %u: work completion %s (kind %d)", rq->q.qid,
			ibv_wc_status_str(wc->status), kind);
		queue_disconnect(rq);
	}
	switch (kind) {
	case WR_RECV:
		if (ok && !rq->dead)
			on_recv(rq, rr, wc->byte_len);
		return;
	case WR_READ:
		rq->send_credits++;
		if (!ok || rq->dead) {
			release(rr);
			break;
		}
		rr->state = RREQ_EXECUTING;
		em_nvmf_req_execute(&rr->req);
		break;
	case WR_SEND1:
		rq->send_credits++;
		break;
	case WR_SEND2:
		rq->send_credits += 2;
		break;
	}
	kick_pending(rq);
}

static int drain_cq(struct rqueue *rq)
{
	struct ibv_wc wc[POLL_BATCH];
	int total = 0, n;

	do {
		n = ibv_poll_cq(rq->cq, POLL_BATCH, wc);
		if (n < 0) {
			EM_ERR("nvmf", "qid %u: ibv_poll_cq failed", rq->q.qid);
			queue_dead(rq);
			return total;
		}
		for (int i = 0; i < n; i++)
			on_wc(rq, &wc[i]);
		total += n;
	} while (n == POLL_BATCH);
	return total;
}

static void on_cq_event(void *arg, uint32_t events)
{
	struct rqueue *rq = arg;
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(rq->ch, &cq, &ctx) == 0)
		ibv_ack_cq_events(cq, 1);
	drain_cq(rq);
	/* Re-arm, then look once more: a completion that landed between the
	 * last poll and the arming would otherwise wait for the next event. */
	if (ibv_req_notify_cq(rq->cq, 0) != 0)
		EM_ERR("nvmf", "qid %u: ibv_req_notify_cq failed", rq->q.qid);
	drain_cq(rq);
}

/* --- connection setup ------------------------------------------------------- */

static struct rdma_dev *get_dev(struct em_nvmf_rdma *rt, struct ibv_context *verbs)
{
	struct rdma_dev *d;

	for (d = rt->devs; d; d = d->next)
		if (d->verbs == verbs)
			return d;
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->verbs = verbs;
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd || ibv_query_device(verbs, &d->attr) != 0) {
		if (d->pd)
			ibv_dealloc_pd(d->pd);
		free(d);
		return NULL;
	}
	d->next = rt->devs;
	rt->devs = d;
	return d;
}

static int alloc_reg(struct rqueue *rq, size_t len, uint8_t **buf, struct ibv_mr **mr,
		     int access)
{
	void *p;

	if (posix_memalign(&p, BUF_ALIGN, len) != 0)
		return -ENOMEM;
	memset(p, 0, len);
	*buf = p;
	*mr = ibv_reg_mr(rq->dev->pd, p, len, access);
	return *mr ? 0 : -errno;
}

static int queue_setup(struct rqueue *rq)
{
	uint32_t d = rq->depth;
	struct ibv_qp_init_attr qa;
	int rc, flags;

	rq->reqs = calloc(d, sizeof *rq->reqs);
	if (!rq->reqs)
		return -ENOMEM;
	rc = alloc_reg(rq, (size_t)d * EM_NVME_SQE_SIZE, &rq->cmds, &rq->cmds_mr,
		       IBV_ACCESS_LOCAL_WRITE);
	if (!rc && rq->icd_size)
		rc = alloc_reg(rq, (size_t)d * rq->icd_size, &rq->icds, &rq->icds_mr,
			       IBV_ACCESS_LOCAL_WRITE);
	if (!rc)
		rc = alloc_reg(rq, (size_t)d * rq->buf_size, &rq->bufs, &rq->bufs_mr,
			       IBV_ACCESS_LOCAL_WRITE);
	if (!rc)
		rc = alloc_reg(rq, (size_t)d * sizeof(struct em_nvme_cqe), (uint8_t **)&rq->rsps,
			       &rq->rsps_mr, 0);
	if (rc)
		return rc;

	rq->ch = ibv_create_comp_channel(rq->dev->verbs);
	if (!rq->ch)
		return -errno;
	flags = fcntl(rq->ch->fd, F_GETFL);
	if (flags < 0 || fcntl(rq->ch->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	/* Per request at most one RECV plus either a READ or WRITE+SEND. */
	rq->send_credits = (int)(3 * d);
	rq->cq = ibv_create_cq(rq->dev->verbs, (int)(4 * d + 1), rq, rq->ch, 0);
	if (!rq->cq)
		return -errno;

	memset(&qa, 0, sizeof qa);
	qa.send_cq = rq->cq;
	qa.recv_cq = rq->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = (uint32_t)rq->send_credits;
	qa.cap.max_recv_wr = d;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = rq->icd_size ? 2 : 1;
	qa.cap.max_inline_data = sizeof(struct em_nvme_cqe);
	if (rdma_create_qp(rq->id, rq->dev->pd, &qa) != 0) {
		/* Some devices have no inline sends; responses then go by MR. */
		qa.cap.max_inline_data = 0;
		if (rdma_create_qp(rq->id, rq->dev->pd, &qa) != 0)
			return -errno;
	}
	rq->inline_rsp = qa.cap.max_inline_data >= sizeof(struct em_nvme_cqe);

	for (uint32_t i = 0; i < d; i++) {
		struct rreq *rr = &rq->reqs[i];
		rr->rq = rq;
		rr->idx = i;
		rr->req.q = &rq->q;
		rr->req.buf = rq->bufs + (size_t)i * rq->buf_size;
		rr->req.buf_size = rq->buf_size;
		rc = post_recv(rq, rr);
		if (rc)
			return rc;
	}
	if (ibv_req_notify_cq(rq->cq, 0) != 0)
		return -EIO;
	rc = em_reactor_add_fd(rq->rt->r, rq->ch->fd, EPOLLIN, on_cq_event, rq);
	if (rc)
		return rc;
	rq->fd_added = true;
	return 0;
}

static void reject(struct rdma_cm_id *id, uint16_t sts)
{
	struct em_nvmf_rdma_cm_rej rej = { 0, htole16(sts) };

	if (rdma_reject(id, &rej, sizeof rej) != 0)
		EM_DEBUG("nvmf", "rdma_reject: %s", em_errname(-errno));
}

/* Returns 0 when the connection was accepted, or the rdma_cm reject status
 * (the id is then the caller's to destroy). */
static uint16_t connect_request(struct em_nvmf_rdma *rt, struct rdma_cm_event *ev)
{
	struct em_nvmf_tgt *t = rt->tgt;
	const struct rdma_conn_param *cp = &ev->param.conn;
	struct em_nvmf_rdma_cm_info ci;
	struct em_nvmf_rdma_cm_rep rep;
	struct rdma_conn_param ap;
	struct rqueue *rq;
	int rc;

	uint16_t st = em_nvmf_rdma_check_cm_req(cp->private_data, cp->private_data_len,
						t->max_io_queues, EM_NVMF_ADMIN_QUEUE_DEPTH,
						t->max_queue_depth, &ci);
	if (st)
		return st;
	uint16_t qid = ci.qid;
	uint32_t depth = ci.depth;

	rq = calloc(1, sizeof *rq);
	if (!rq)
		return EM_NVMF_RDMA_REJ_NO_RESOURCES;
	rq->rt = rt;
	rq->id = ev->id;
	rq->q.tgt = t;
	rq->q.ops = &rdma_queue_ops;
	rq->q.qid = qid;
	rq->q.size = (uint16_t)depth;
	rq->depth = depth;
	/* The host never sends in-capsule data on the admin queue. */
	rq->icd_size = qid == 0 ? 0 : t->inline_data_size;
	rq->buf_size = t->max_io_size;
	rq->dev = get_dev(rt, ev->id->verbs);
	ev->id->context = rq;
	rq->next = rt->queues;
	rt->queues = rq;
	rc = rq->dev ? queue_setup(rq) : -ENODEV;
	if (rc) {
		EM_ERR("nvmf", "qid %u: queue setup (depth %u): %s", qid, depth, em_errname(rc));
		goto fail;
	}

	memset(&rep, 0, sizeof rep);
	rep.recfmt = 0;
	rep.crqsize = htole16((uint16_t)depth);
	memset(&ap, 0, sizeof ap);
	ap.private_data = &rep;
	ap.private_data_len = sizeof rep;
	/* We issue RDMA READs: as many at once as both ends allow. */
	ap.initiator_depth = cp->initiator_depth;
	if (ap.initiator_depth > rq->dev->attr.max_qp_init_rd_atom)
		ap.initiator_depth = (uint8_t)rq->dev->attr.max_qp_init_rd_atom;
	ap.responder_resources = 0;
	ap.rnr_retry_count = 7;
	ap.flow_control = 1;
	if (rdma_accept(ev->id, &ap) != 0) {
		rc = -errno;
		EM_ERR("nvmf", "qid %u: rdma_accept: %s", qid, em_errname(rc));
		goto fail;
	}
	EM_DEBUG("nvmf", "qid %u: accepted, depth %u, read depth %u", qid, depth,
		 ap.initiator_depth);
	return 0;
fail:
	ev->id->context = NULL;
	queue_free_resources(rq);
	free(rq);
	return EM_NVMF_RDMA_REJ_NO_RESOURCES;
}

/* --- rdma_cm events ---------------------------------------------------------- */

static void on_cm_event(void *arg, uint32_t events)
{
	struct em_nvmf_rdma *rt = arg;
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(rt->ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		struct rdma_cm_id *id = ev->id;
		struct rqueue *rq = id->context != rt ? id->context : NULL;
		uint16_t rej = 0;

		EM_TRACE("nvmf", "rdma_cm event %s", rdma_event_str(type));
		/* The private data lives in the event: use it before the ack. */
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			rej = connect_request(rt, ev);
			if (rej) {
				EM_WARN("nvmf", "rejecting rdma_cm connection: status %u", rej);
				reject(id, rej);
			}
		}
		rdma_ack_cm_event(ev);
		if (rej) {
			rdma_destroy_id(id);
			continue;
		}
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			if (rq)
				EM_DEBUG("nvmf", "qid %u: established", rq->q.qid);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			if (rq) {
				EM_DEBUG("nvmf", "qid %u: %s", rq->q.qid, rdma_event_str(type));
				queue_dead(rq);
			} else if (type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
				EM_ERR("nvmf", "RDMA device of the listener removed");
			}
			break;
		default:
			break;
		}
	}
}

int em_nvmf_rdma_create(struct em_nvmf_tgt *t, struct em_nvmf_rdma **out)
{
	struct em_nvmf_rdma *rt;
	struct sockaddr_in sin;
	int rc, flags;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(t->trsvcid));
	if (inet_pton(AF_INET, t->traddr, &sin.sin_addr) != 1)
		return -EINVAL;
	rt = calloc(1, sizeof *rt);
	if (!rt)
		return -ENOMEM;
	rt->tgt = t;
	rt->r = t->reactor;
	rt->ec = rdma_create_event_channel();
	if (!rt->ec) {
		rc = -errno;
		goto fail;
	}
	flags = fcntl(rt->ec->fd, F_GETFL);
	if (flags < 0 || fcntl(rt->ec->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	if (rdma_create_id(rt->ec, &rt->listen, rt, RDMA_PS_TCP) != 0 ||
	    rdma_bind_addr(rt->listen, (struct sockaddr *)&sin) != 0 ||
	    rdma_listen(rt->listen, LISTEN_BACKLOG) != 0) {
		rc = -errno;
		EM_ERR("nvmf", "cannot listen on %s:%s over RDMA: %s", t->traddr, t->trsvcid,
		       em_strerror(rc));
		goto fail;
	}
	rc = em_reactor_add_fd(rt->r, rt->ec->fd, EPOLLIN, on_cm_event, rt);
	if (rc)
		goto fail;
	EM_INFO("nvmf", "listening on rdma %s:%s", t->traddr, t->trsvcid);
	*out = rt;
	return 0;
fail:
	if (rt->listen)
		rdma_destroy_id(rt->listen);
	if (rt->ec)
		rdma_destroy_event_channel(rt->ec);
	free(rt);
	return rc;
}

static void stop_listening(struct em_nvmf_rdma *rt)
{
	if (rt->listen)
		rdma_destroy_id(rt->listen);
	rt->listen = NULL;
}

/* The host did not confirm some disconnects in time: drop those queues as
 * if it had. Requests still at a device finish first (their queue is freed
 * when the last one is released). */
static void shutdown_expired(void *arg)
{
	struct em_nvmf_rdma *rt = arg;

	rt->shutdown_timer = NULL;
	EM_WARN("nvmf", "queues still open %u ms after disconnecting; dropping them",
		SHUTDOWN_GRACE_MS);
	for (struct rqueue *rq = rt->queues, *next; rq; rq = next) {
		next = rq->next;
		queue_dead(rq);
	}
}

void em_nvmf_rdma_shutdown(struct em_nvmf_rdma *rt, void (*done)(void *arg), void *arg)
{
	stop_listening(rt);
	rt->shutdown_done = done;
	rt->shutdown_arg = arg;
	for (struct rqueue *rq = rt->queues; rq; rq = rq->next)
		queue_disconnect(rq);
	if (rt->queues &&
	    em_reactor_timer(rt->r, SHUTDOWN_GRACE_MS, shutdown_expired, rt, &rt->shutdown_timer) < 0)
		shutdown_expired(rt);
	shutdown_check(rt);
}

void em_nvmf_rdma_destroy(struct em_nvmf_rdma *rt)
{
	if (!rt)
		return;
	if (rt->shutdown_timer)
		em_reactor_timer_cancel(rt->r, rt->shutdown_timer);
	em_reactor_del_fd(rt->r, rt->ec->fd);
	while (rt->queues) {
		struct rqueue *rq = rt->queues;
		rq->dead = true;
		em_nvmf_queue_detach(&rq->q);
		queue_free(rq);
	}
	stop_listening(rt);
	while (rt->devs) {
		struct rdma_dev *d = rt->devs;
		rt->devs = d->next;
		ibv_dealloc_pd(d->pd);
		free(d);
	}
	rdma_destroy_event_channel(rt->ec);
	free(rt);
}
