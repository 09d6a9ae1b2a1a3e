/* Connections: one API over TCP and RDMA verbs.
 *
 * An em_net is the network context of one reactor: its connections,
 * listeners, completion queues and configuration. Everything here is called
 * on that reactor's thread and every callback runs there.
 *
 * A connection carries messages (whole, ordered, up to em_conn_max_msg bytes)
 * and one-sided bulk operations on a peer's registered memory:
 *   em_conn_read:  remote {addr,len,rkey} -> local registered buffer
 *   em_conn_write: local registered buffer -> remote {addr,len,rkey}
 *   em_conn_writev: a batch of writes with one completion
 * On RDMA these are RDMA READ/WRITE; on TCP they are data frames that the
 * peer's transport checks against the grants of that connection.
 *
 * Callbacks never run from inside the call that caused them: a call that fails
 * at once returns a negative errno and no callback follows; a call that
 * returns 0 gets exactly one completion. When a connection dies, its pending
 * bulk operations complete with the error, then on_close runs once, and the
 * connection is freed when on_close returns.
 */
#ifndef EMBER_NET_CONN_H
#define EMBER_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/addr.h"
#include "net/core/config.h"
#include "net/core/reactor.h"
#include "net/mr.h"

struct em_net_config {
	size_t max_msg;           /* largest message on TCP (RPC header included) */
	/* verbs */
	char rdma_device[64];     /* "" = any device that routes the address */
	int rdma_port;            /* 1-based port number */
	int gid_index;            /* -1: let rdma_cm choose */
	int mtu;                  /* 0: path MTU; else 256..4096 */
	int qps_per_peer;         /* paths per connection, bulk slices spread over them */
	int send_depth;           /* send queue entries per QP */
	int recv_depth;           /* receive buffers posted per QP = credits given */
	size_t msg_buf;           /* receive buffer size: largest message on RDMA */
	int max_sge;
	int max_inline;           /* sends up to this size go inline */
	int rd_atomic;            /* RDMA READs in flight per QP we ask for */
	size_t slice;             /* bulk transfers are cut into slices of this size */
	int poll_batch;           /* completions reaped per poll */
	int connect_timeout_ms;
	int max_conns;            /* incoming connections at once */
	int max_unauth;           /* of those, not yet authenticated (guarded) */
	int frame_timeout_ms;     /* TCP: no progress on a started frame for this long closes */
	int keepalive_s;          /* TCP keepalive idle seconds; 0: off */
	uint64_t idle_timeout_ms; /* RPC: idle connections close (rpc.h); 0: never */
};

void em_net_config_default(struct em_net_config *c);
/* The [net] section of an Ember INI file; merge it into a program's schema. */
extern const struct em_cfg_option em_net_cfg_schema[];
/* Fills c from a config loaded with em_net_cfg_schema. */
void em_net_config_from(const struct em_config *cfg, struct em_net_config *c);

struct em_net;
struct em_conn;
struct em_listener;

/* cfg may be NULL for the defaults. */
int em_net_create(struct em_reactor *r, const struct em_net_config *cfg, struct em_net **out);
/* Close every connection and listener first; this runs the reactor (up to
 * 2 s) until closing connections have drained and their on_close has run. */
void em_net_destroy(struct em_net *net);
struct em_reactor *em_net_reactor(const struct em_net *net);
const struct em_net_config *em_net_config(const struct em_net *net);

struct em_conn_cbs {
	/* Optional: an outgoing connection is established. */
	void (*on_up)(struct em_conn *c, void *arg);
	/* A message; msg is valid until the callback returns. */
	void (*on_msg)(struct em_conn *c, void *arg, const void *msg, size_t len);
	/* Exactly once, err < 0 (-ECONNRESET, -ETIMEDOUT, or what em_conn_close got). */
	void (*on_close)(struct em_conn *c, void *arg, int err);
};

/* A new incoming connection; set its callbacks with em_conn_set_cbs before
 * returning, or close it. */
typedef void (*em_accept_fn)(void *arg, struct em_conn *c);
typedef void (*em_bulk_fn)(void *arg, int status);

/* url: "tcp://IP:PORT" or "rdma://IP:PORT"; port 0 picks a free one. */
int em_listen(struct em_net *net, const char *url, em_accept_fn fn, void *arg,
	      struct em_listener **out);
int em_listener_port(const struct em_listener *l);
/* Optional: asked with the peer's address ("tcp://IP:PORT") before an
 * incoming connection is taken; false refuses it at once (closed on TCP,
 * rejected on RDMA) and it never reaches fn. */
typedef bool (*em_admit_fn)(void *arg, const char *peer);
void em_listener_set_admit(struct em_listener *l, em_admit_fn admit);
void em_listener_close(struct em_listener *l);

/* Starts connecting; messages sent before on_up are queued. */
int em_connect(struct em_net *net, const char *url, const struct em_conn_cbs *cbs, void *arg,
	       struct em_conn **out);
void em_conn_set_cbs(struct em_conn *c, const struct em_conn_cbs *cbs, void *arg);

/* Sends one message made of iov[0..n) (copied or sent before returning).
 * Returns 0, -EMSGSIZE above em_conn_max_msg, -ENOTCONN after close, -ENOBUFS
 * when too much is queued. */
int em_conn_sendv(struct em_conn *c, const struct iovec *iov, int n);
int em_conn_send(struct em_conn *c, const void *msg, size_t len);
size_t em_conn_max_msg(const struct em_conn *c);

/* Bulk operations; local must lie inside mr and the length is remote->len. */
int em_conn_read(struct em_conn *c, const struct em_buf_desc *remote, struct em_mr *mr,
		 void *local, em_bulk_fn cb, void *arg);
int em_conn_write(struct em_conn *c, const struct em_buf_desc *remote, struct em_mr *mr,
		  const void *local, em_bulk_fn cb, void *arg);

/* One piece of a batch: local (inside mr) <-> remote, remote->len bytes. */
struct em_bulk_item {
	struct em_buf_desc remote;
	struct em_mr *mr;
	const void *local;
};

/* Writes every item, as one batch: on RDMA the WRITEs of all items (sliced
 * like em_conn_write) are chained and posted together per queue pair with only
 * the last one signalled; on TCP their data frames go out back to back. The
 * single completion reports 0 or the first error of any item, so a bad item
 * fails the batch (its neighbours may have landed). An invalid item (empty,
 * outside its mr) fails the call at once and nothing is sent. items is not
 * referenced after the call returns; the local buffers are, until cb. */
int em_conn_writev(struct em_conn *c, const struct em_bulk_item *items, int n, em_bulk_fn cb,
		   void *arg);

/* Reads (write false) or writes every item as one call, like em_conn_writev,
 * ending by deadline (an em_now_ms() time; 0: none): a call not complete by
 * then completes with -ETIMEDOUT within EM_NET_SWEEP_MS. On TCP the transfer
 * is cancelled (a late answer is discarded; nothing touches the local
 * buffers after the callback) and the connection goes on; on RDMA, where
 * posted work cannot be recalled, the connection closes with -ETIMEDOUT. */
int em_conn_bulk(struct em_conn *c, bool write, const struct em_bulk_item *items, int n,
		 uint64_t deadline, em_bulk_fn cb, void *arg);

/* Lets the peer of c perform access (EM_ACCESS_*) on d, which must lie in a
 * region registered with that access (-EACCES otherwise). Revoke with the same
 * descriptor. On RDMA the NIC enforces the registration only. */
int em_conn_grant(struct em_conn *c, const struct em_buf_desc *d, unsigned access);
void em_conn_revoke(struct em_conn *c, const struct em_buf_desc *d);

/* A guarded connection's peer has not proven who it is: it may send only
 * messages of at most EM_CONN_GUARD_MSG bytes and no bulk frames (anything
 * else closes it), and it counts against [net] max_unauth. Incoming
 * connections start guarded; the RPC layer lifts the guard when the
 * handshake succeeds. Outgoing ones start unguarded. */
#define EM_CONN_GUARD_MSG 4096u
void em_conn_guard(struct em_conn *c, bool on);

/* 0 while the connection is usable, else the error it is closing with. */
int em_conn_error(const struct em_conn *c);
/* Closes with err (< 0) reported to on_close; idempotent. */
void em_conn_close(struct em_conn *c, int err);
enum em_transport_kind em_conn_kind(const struct em_conn *c);
/* "tcp://127.0.0.1:41234" */
const char *em_conn_peer(const struct em_conn *c);

#endif
