/* What the transports (tcp.c, verbs*.c) share with conn.c: the common part of
 * a connection and listener, and the operations each transport provides.
 * Private to net/. */
#ifndef EMBER_NET_TRANSPORT_H
#define EMBER_NET_TRANSPORT_H

#include <stdbool.h>

#include "net/conn.h"

struct em_conn_vt {
	int (*sendv)(struct em_conn *c, const struct iovec *iov, int n, size_t total);
	/* n >= 1 items, already checked against their regions; one completion.
	 * deadline: em_now_ms() time, 0 for none (see em_conn_bulk). */
	int (*bulk)(struct em_conn *c, bool write, const struct em_bulk_item *items, int n,
		    uint64_t deadline, em_bulk_fn cb, void *arg);
	/* Every EM_NET_SWEEP_MS on a live connection: end what is overdue
	 * (bulk operations past their deadline, frames stalled half way). */
	void (*sweep)(struct em_conn *c, uint64_t now);
	/* Stop I/O and release the descriptor or queue pair; calls
	 * em_conn_dead() once nothing will touch the connection's buffers. */
	void (*shutdown)(struct em_conn *c);
	/* Complete every pending bulk operation with err. */
	void (*fail_ops)(struct em_conn *c, int err);
	void (*free)(struct em_conn *c);
	size_t (*max_msg)(const struct em_conn *c);
};

struct em_grant_ent {
	struct em_buf_desc d;
	unsigned access;
};

struct em_conn {
	const struct em_conn_vt *vt;
	struct em_net *net;
	enum em_transport_kind kind;
	struct em_conn_cbs cbs;
	void *arg;
	char peer[64];
	bool closing, up;
	bool incoming; /* accepted, counted against [net] max_conns */
	bool guarded;  /* em_conn_guard: not yet authenticated */
	int close_err;
	struct em_grant_ent *grants;
	size_t n_grants, cap_grants;
	struct em_conn *next_dead;
	struct em_conn *all_next, *all_prev; /* every connection of the net, for the sweep */
};

struct em_listener_vt {
	void (*close)(struct em_listener *l);
};

struct em_listener {
	const struct em_listener_vt *vt;
	struct em_net *net;
	em_accept_fn fn;
	void *arg;
	em_admit_fn admit; /* optional: em_listener_set_admit */
	int port;
};

struct em_verbs; /* verbs.c's per-net state */

struct em_net {
	struct em_reactor *r;
	struct em_net_config cfg;
	struct em_poller *poller;
	struct em_conn *dead, *dead_tail;
	int n_conns;
	int n_incoming, n_guarded; /* for [net] max_conns and max_unauth */
	uint64_t refused;          /* connections refused by those limits */
	struct em_conn *all;
	struct em_timer *sweep;
	struct em_verbs *verbs;
};

/* How often overdue bulk operations and stalled frames are looked for. */
#define EM_NET_SWEEP_MS 250

void em_conn_init(struct em_conn *c, const struct em_conn_vt *vt, struct em_net *net,
		  enum em_transport_kind kind);
/* Queue the connection for its close callbacks and freeing (on the next
 * reactor iteration, never inside the caller's stack). */
void em_conn_dead(struct em_conn *c);
void em_conn_deliver(struct em_conn *c, const void *msg, size_t len);
/* Before a transport takes an incoming connection: 0, or -ECONNREFUSED (logged,
 * rate-limited) when [net] max_conns or max_unauth are reached. */
int em_net_admit(struct em_net *net, const char *peer);
/* The same for a listener: its admit callback first (a refusal there costs
 * no slot and no log line), then em_net_admit. */
int em_listener_admit(struct em_listener *l, const char *peer);
/* An incoming connection, before it reaches the listener's callback: counted,
 * and guarded until the layer above vouches for its peer. */
void em_conn_accepted(struct em_conn *c);
/* The largest message the peer may send now: EM_CONN_GUARD_MSG while guarded. */
size_t em_conn_rx_limit(const struct em_conn *c);
void em_conn_mark_up(struct em_conn *c);
/* 0 when the peer may perform access on [d.addr, d.addr+d.len) with d.rkey. */
int em_conn_check_grant(const struct em_conn *c, const struct em_buf_desc *d, unsigned access);

int em_tcp_listen(struct em_net *net, const struct em_addr *a, struct em_listener **out);
int em_tcp_connect(struct em_net *net, const struct em_addr *a, struct em_conn **out);
int em_verbs_listen(struct em_net *net, const struct em_addr *a, struct em_listener **out);
int em_verbs_connect(struct em_net *net, const struct em_addr *a, struct em_conn **out);
/* Polls the verbs completion queues; returns completions handled. */
int em_verbs_poll(struct em_net *net);
void em_verbs_destroy(struct em_net *net);

#endif
