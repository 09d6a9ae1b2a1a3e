/* The transport-independent half of net/conn.h: the per-reactor context,
 * configuration, grants, and the deferred close path. */
#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "net/core/log.h"
#include "net/transport.h"

void em_net_config_default(struct em_net_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_msg = 64u << 20;
	c->rdma_port = 1;
	c->gid_index = -1;
	c->qps_per_peer = 2;
	c->send_depth = 256;
	c->recv_depth = 64;
	c->msg_buf = 64u << 10;
	c->max_sge = 4;
	c->max_inline = 128;
	c->rd_atomic = 16;
	c->slice = 64u << 10;
	c->poll_batch = 64;
	c->connect_timeout_ms = 5000;
	c->max_conns = 4096;
	c->max_unauth = 256;
	c->frame_timeout_ms = 30000;
	c->keepalive_s = 60;
	c->idle_timeout_ms = 300000;
}

const struct em_cfg_option em_net_cfg_schema[] = {
	{ "net", "max_msg", EM_CFG_SIZE, "64M", 4096, 1LL << 30, "largest RPC message on TCP" },
	{ "net", "rdma_device", EM_CFG_STRING, "", 0, 0, "RDMA device name; empty: any" },
	{ "net", "rdma_port", EM_CFG_INT, "1", 1, 255, "RDMA port number" },
	{ "net", "gid_index", EM_CFG_INT, "-1", -1, 255, "GID index; -1: rdma_cm chooses" },
	{ "net", "mtu", EM_CFG_INT, "0", 0, 4096, "path MTU; 0: as negotiated" },
	{ "net", "qps_per_peer", EM_CFG_INT, "2", 1, 16, "RDMA queue pairs per connection" },
	{ "net", "send_depth", EM_CFG_INT, "256", 16, 16384, "send queue entries per QP" },
	{ "net", "recv_depth", EM_CFG_INT, "64", 4, 4096, "receive buffers (credits) per QP" },
	{ "net", "msg_buf", EM_CFG_SIZE, "64K", 1024, 16 << 20, "receive buffer size; largest RDMA message" },
	{ "net", "max_sge", EM_CFG_INT, "4", 1, 32, "scatter-gather entries per work request" },
	{ "net", "max_inline", EM_CFG_INT, "128", 0, 1024, "sends up to this size go inline" },
	{ "net", "rd_atomic", EM_CFG_INT, "16", 1, 255, "RDMA READs in flight per QP requested" },
	{ "net", "slice", EM_CFG_SIZE, "64K", 4096, 64 << 20, "bulk transfer slice size" },
	{ "net", "poll_batch", EM_CFG_INT, "64", 1, 1024, "completions reaped per poll" },
	{ "net", "connect_timeout", EM_CFG_DURATION, "5s", 1, 600000, "connection setup timeout" },
	{ "net", "max_conns", EM_CFG_INT, "4096", 1, 1 << 20,
	  "incoming connections at once; past it the oldest unauthenticated one is dropped, "
	  "else the newcomer refused" },
	{ "net", "max_unauth", EM_CFG_INT, "256", 1, 1 << 20,
	  "incoming connections not yet authenticated at once; past it the oldest is dropped" },
	{ "net", "idle_timeout", EM_CFG_DURATION, "5m", 0, 86400000,
	  "a client closes a connection idle this long (no call in flight); a server one idle "
	  "twice as long; 0: never" },
	{ "net", "frame_timeout", EM_CFG_DURATION, "30s", 100, 3600000,
	  "TCP: a frame half received or a reply half sent with no progress for this long "
	  "closes the connection" },
	{ "net", "keepalive", EM_CFG_DURATION, "60s", 0, 3600000,
	  "TCP keepalive: idle time before probes (then 3 probes 10 s apart); 0: off" },
	EM_CFG_END,
};

void em_net_config_from(const struct em_config *cfg, struct em_net_config *c)
{
	em_net_config_default(c);
	c->max_msg = em_config_size(cfg, "net", "max_msg");
	snprintf(c->rdma_device, sizeof(c->rdma_device), "%s", em_config_str(cfg, "net", "rdma_device"));
	c->rdma_port = (int)em_config_int(cfg, "net", "rdma_port");
	c->gid_index = (int)em_config_int(cfg, "net", "gid_index");
	c->mtu = (int)em_config_int(cfg, "net", "mtu");
	c->qps_per_peer = (int)em_config_int(cfg, "net", "qps_per_peer");
	c->send_depth = (int)em_config_int(cfg, "net", "send_depth");
	c->recv_depth = (int)em_config_int(cfg, "net", "recv_depth");
	c->msg_buf = em_config_size(cfg, "net", "msg_buf");
	c->max_sge = (int)em_config_int(cfg, "net", "max_sge");
	c->max_inline = (int)em_config_int(cfg, "net", "max_inline");
	c->rd_atomic = (int)em_config_int(cfg, "net", "rd_atomic");
	c->slice = em_config_size(cfg, "net", "slice");
	c->poll_batch = (int)em_config_int(cfg, "net", "poll_batch");
	c->connect_timeout_ms = (int)em_config_duration_ms(cfg, "net", "connect_timeout");
	c->max_conns = (int)em_config_int(cfg, "net", "max_conns");
	c->max_unauth = (int)em_config_int(cfg, "net", "max_unauth");
	c->idle_timeout_ms = em_config_duration_ms(cfg, "net", "idle_timeout");
	c->frame_timeout_ms = (int)em_config_duration_ms(cfg, "net", "frame_timeout");
	c->keepalive_s = (int)((em_config_duration_ms(cfg, "net", "keepalive") + 999) / 1000);
}

/* Runs every iteration: finishes closed connections and reaps verbs
 * completions. Returns > 0 while there is work, keeping the reactor hot. */
static int net_poll(void *arg)
{
	struct em_net *net = arg;
	int work = net->verbs ? em_verbs_poll(net) : 0;
	while (net->dead) {
		struct em_conn *c = net->dead;
		net->dead = c->next_dead;
		if (!net->dead)
			net->dead_tail = NULL;
		c->vt->fail_ops(c, c->close_err);
		if (c->cbs.on_close)
			c->cbs.on_close(c, c->arg, c->close_err);
		free(c->grants);
		em_conn_guard(c, false);
		if (c->all_prev)
			c->all_prev->all_next = c->all_next;
		else
			net->all = c->all_next;
		if (c->all_next)
			c->all_next->all_prev = c->all_prev;
		if (c->incoming)
			net->n_incoming--;
		net->n_conns--;
		c->vt->free(c);
		work++;
	}
	return work;
}

static void net_sweep(void *arg)
{
	struct em_net *net = arg;
	net->sweep = NULL;
	uint64_t now = em_now_ms();
	/* A sweep may close connections; they stay listed until net_poll frees them. */
	for (struct em_conn *c = net->all; c; c = c->all_next)
		if (!c->closing && c->vt->sweep)
			c->vt->sweep(c, now);
	int rc = em_reactor_timer(net->r, EM_NET_SWEEP_MS, net_sweep, net, &net->sweep);
	if (rc) {
		net->sweep = NULL;
		EM_ERR("net", "cannot rearm the connection sweep: %s", em_strerror(rc));
	}
}

int em_net_create(struct em_reactor *r, const struct em_net_config *cfg, struct em_net **out)
{
	struct em_net *net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	net->r = r;
	if (cfg)
		net->cfg = *cfg;
	else
		em_net_config_default(&net->cfg);
	int rc = em_reactor_add_poller(r, net_poll, net, &net->poller);
	if (rc) {
		free(net);
		return rc;
	}
	rc = em_reactor_timer(r, EM_NET_SWEEP_MS, net_sweep, net, &net->sweep);
	if (rc) {
		em_reactor_del_poller(r, net->poller);
		free(net);
		return rc;
	}
	*out = net;
	return 0;
}

void em_net_destroy(struct em_net *net)
{
	if (!net)
		return;
	/* Closing RDMA connections wait for their flushed work requests; give
	 * them a moment, then run the pending close callbacks. */
	uint64_t until = em_now_ms() + 2000;
	while (net->n_conns && em_now_ms() < until)
		em_reactor_run_once(net->r, 10);
	if (net->n_conns)
		EM_WARN("net", "destroying a context with %d open connections", net->n_conns);
	if (net->verbs)
		em_verbs_destroy(net);
	if (net->sweep)
		em_reactor_timer_cancel(net->r, net->sweep);
	em_reactor_del_poller(net->r, net->poller);
	free(net);
}

struct em_reactor *em_net_reactor(const struct em_net *net)
{
	return net->r;
}

const struct em_net_config *em_net_config(const struct em_net *net)
{
	return &net->cfg;
}

void em_conn_init(struct em_conn *c, const struct em_conn_vt *vt, struct em_net *net,
		  enum em_transport_kind kind)
{
	c->vt = vt;
	c->net = net;
	c->kind = kind;
	c->all_next = net->all;
	if (net->all)
		net->all->all_prev = c;
	net->all = c;
	net->n_conns++;
}

/* The incoming connection that has waited longest to authenticate. */
static struct em_conn *oldest_guarded(struct em_net *net)
{
	struct em_conn *old = NULL;
	for (struct em_conn *c = net->all; c; c = c->all_next) /* newest first */
		if (c->incoming && c->guarded && !c->closing)
			old = c;
	return old;
}

int em_net_admit(struct em_net *net, const char *peer)
{
	const struct em_net_config *cfg = &net->cfg;
	const char *why = net->n_incoming >= cfg->max_conns ? "max_conns"
			  : net->n_guarded >= cfg->max_unauth ? "max_unauth" : NULL;
	if (!why)
		return 0;
	/* Make room by dropping the peer that has had longest to prove itself,
	 * so that idle or slow connections cannot lock honest clients out;
	 * only when every connection is authenticated is the newcomer refused. */
	struct em_conn *old = oldest_guarded(net);
	net->refused++;
	EM_WARN_LIMITED("net", "%s: [net] %s reached (%d open, %d not authenticated): %s; %llu so far",
		peer, why, net->n_incoming, net->n_guarded,
		old ? "dropping the oldest unauthenticated connection" : "refused",
		(unsigned long long)net->refused);
	if (!old)
		return -ECONNREFUSED;
	em_conn_close(old, -ECONNABORTED); /* which frees its slot for the newcomer */
	return 0;
}

void em_conn_accepted(struct em_conn *c)
{
	c->incoming = true;
	c->net->n_incoming++;
	em_conn_guard(c, true);
}

void em_conn_guard(struct em_conn *c, bool on)
{
	if (c->guarded == on)
		return;
	c->guarded = on;
	if (c->incoming)
		c->net->n_guarded += on ? 1 : -1;
}

size_t em_conn_rx_limit(const struct em_conn *c)
{
	return c->guarded ? EM_CONN_GUARD_MSG : c->vt->max_msg(c);
}

void em_conn_dead(struct em_conn *c)
{
	struct em_net *net = c->net;
	c->next_dead = NULL;
	if (net->dead_tail)
		net->dead_tail->next_dead = c;
	else
		net->dead = c;
	net->dead_tail = c;
}

void em_conn_deliver(struct em_conn *c, const void *msg, size_t len)
{
	if (c->guarded && len > EM_CONN_GUARD_MSG) {
		EM_WARN_LIMITED("net", "%s: %zu-byte message before authentication; closing", c->peer,
				len);
		em_conn_close(c, -EPROTO);
		return;
	}
	if (c->cbs.on_msg && !c->closing)
		c->cbs.on_msg(c, c->arg, msg, len);
}

void em_conn_mark_up(struct em_conn *c)
{
	c->up = true;
	if (c->cbs.on_up && !c->closing)
		c->cbs.on_up(c, c->arg);
}

int em_listen(struct em_net *net, const char *url, em_accept_fn fn, void *arg,
	      struct em_listener **out)
{
	struct em_addr a;
	int rc = em_addr_parse(url, &a);
	if (rc)
		return rc;
	struct em_listener *l;
	rc = a.kind == EM_TRANSPORT_TCP ? em_tcp_listen(net, &a, &l) : em_verbs_listen(net, &a, &l);
	if (rc)
		return rc;
	l->net = net;
	l->fn = fn;
	l->arg = arg;
	*out = l;
	return 0;
}

void em_listener_set_admit(struct em_listener *l, em_admit_fn admit)
{
	l->admit = admit;
}

int em_listener_admit(struct em_listener *l, const char *peer)
{
	if (l->admit && !l->admit(l->arg, peer))
		return -ECONNREFUSED;
	return em_net_admit(l->net, peer);
}

int em_listener_port(const struct em_listener *l)
{
	return l->port;
}

void em_listener_close(struct em_listener *l)
{
	if (l)
		l->vt->close(l);
}

int em_connect(struct em_net *net, const char *url, const struct em_conn_cbs *cbs, void *arg,
	       struct em_conn **out)
{
	struct em_addr a;
	int rc = em_addr_parse(url, &a);
	if (rc)
		return rc;
	struct em_conn *c;
	rc = a.kind == EM_TRANSPORT_TCP ? em_tcp_connect(net, &a, &c) : em_verbs_connect(net, &a, &c);
	if (rc)
		return rc;
	em_addr_format(&a, c->peer, sizeof(c->peer));
	em_conn_set_cbs(c, cbs, arg);
	*out = c;
	return 0;
}

void em_conn_set_cbs(struct em_conn *c, const struct em_conn_cbs *cbs, void *arg)
{
	if (cbs)
		c->cbs = *cbs;
	c->arg = arg;
}

int em_conn_sendv(struct em_conn *c, const struct iovec *iov, int n)
{
	if (c->closing)
		return -ENOTCONN;
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total == 0 || total > c->vt->max_msg(c))
		return total ? -EMSGSIZE : -EINVAL;
	return c->vt->sendv(c, iov, n, total);
}

int em_conn_send(struct em_conn *c, const void *msg, size_t len)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	return em_conn_sendv(c, &iov, 1);
}

size_t em_conn_max_msg(const struct em_conn *c)
{
	return c->vt->max_msg(c);
}

int em_conn_bulk(struct em_conn *c, bool write, const struct em_bulk_item *items, int n,
		 uint64_t deadline, em_bulk_fn cb, void *arg)
{
	if (c->closing)
		return -ENOTCONN;
	if (n < 1)
		return -EINVAL;
	/* Nothing started yet: no reason to close an RDMA connection over it. */
	if (deadline && em_now_ms() >= deadline)
		return -ETIMEDOUT;
	/* Our side of the length check: each local buffer must hold its item. */
	for (int i = 0; i < n; i++)
		if (items[i].remote.len == 0 ||
		    !em_mr_contains(items[i].mr, items[i].local, items[i].remote.len))
			return -ERANGE;
	return c->vt->bulk(c, write, items, n, deadline, cb, arg);
}

int em_conn_read(struct em_conn *c, const struct em_buf_desc *remote, struct em_mr *mr,
		 void *local, em_bulk_fn cb, void *arg)
{
	struct em_bulk_item it = { .remote = *remote, .mr = mr, .local = local };
	return em_conn_bulk(c, false, &it, 1, 0, cb, arg);
}

int em_conn_write(struct em_conn *c, const struct em_buf_desc *remote, struct em_mr *mr,
		  const void *local, em_bulk_fn cb, void *arg)
{
	struct em_bulk_item it = { .remote = *remote, .mr = mr, .local = local };
	return em_conn_bulk(c, true, &it, 1, 0, cb, arg);
}

int em_conn_writev(struct em_conn *c, const struct em_bulk_item *items, int n, em_bulk_fn cb,
		   void *arg)
{
	return em_conn_bulk(c, true, items, n, 0, cb, arg);
}

int em_conn_grant(struct em_conn *c, const struct em_buf_desc *d, unsigned access)
{
	int rc = em_mr_check(d, access);
	if (rc)
		return rc;
	if (c->n_grants == c->cap_grants) {
		size_t n = c->cap_grants ? c->cap_grants * 2 : 8;
		struct em_grant_ent *g = realloc(c->grants, n * sizeof(*g));
		if (!g)
			return -ENOMEM;
		c->grants = g;
		c->cap_grants = n;
	}
	c->grants[c->n_grants++] = (struct em_grant_ent){ *d, access };
	return 0;
}

void em_conn_revoke(struct em_conn *c, const struct em_buf_desc *d)
{
	for (size_t i = c->n_grants; i-- > 0;) {
		struct em_grant_ent *g = &c->grants[i];
		if (g->d.addr == d->addr && g->d.len == d->len && g->d.rkey == d->rkey) {
			*g = c->grants[--c->n_grants];
			return;
		}
	}
}

int em_conn_check_grant(const struct em_conn *c, const struct em_buf_desc *d, unsigned access)
{
	for (size_t i = 0; i < c->n_grants; i++) {
		const struct em_grant_ent *g = &c->grants[i];
		if (g->d.rkey == d->rkey && (g->access & access) == access && d->addr >= g->d.addr &&
		    d->addr - g->d.addr <= g->d.len && d->len <= g->d.len - (d->addr - g->d.addr))
			return 0;
	}
	return -EACCES;
}

void em_conn_close(struct em_conn *c, int err)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_err = err < 0 ? err : -ECONNABORTED;
	/* A closing connection serves no one: its slot goes to the next peer
	 * now, not when its queues have drained. */
	em_conn_guard(c, false);
	if (c->incoming) {
		c->incoming = false;
		c->net->n_incoming--;
	}
	EM_DEBUG("net", "%s: closing: %s", c->peer, em_strerror(c->close_err));
	c->vt->shutdown(c);
}

int em_conn_error(const struct em_conn *c)
{
	return c->closing ? c->close_err : 0;
}

enum em_transport_kind em_conn_kind(const struct em_conn *c)
{
	return c->kind;
}

const char *em_conn_peer(const struct em_conn *c)
{
	return c->peer;
}
