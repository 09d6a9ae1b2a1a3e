/* Chain service internals shared by server.c (targets, routing view,
 * locks, duplicates, reads), write.c (the update path) and resync.c. */
#ifndef EMBER_FS_CHAIN_INTERNAL_H
#define EMBER_FS_CHAIN_INTERNAL_H

#include <stdbool.h>

#include "block/service/bufpool.h"
#include "fs/chain/proto.h"
#include "fs/chain/server.h"

#define CH_MAX_TARGETS 64
#define CH_BUCKETS 256
#define CH_REPAIR_QUEUE 256
/* Chunks a repair gave up on are not tried again for a while: a minute
 * when every replica's copy was bad, 5 s when only no good one was found. */
#define CH_REPAIR_HELD 16
#define CH_REPAIR_LOST_MS 60000
#define CH_REPAIR_RETRY_MS 5000

struct ch_waiter {
	struct ch_waiter *next;
	void (*fn)(void *arg);
	void *arg;
};

/* A held chunk lock and the operations queued behind it, in order. */
struct ch_lock {
	struct ch_lock *next;
	struct em_chunk_id id;
	struct ch_waiter *head, *tail;
};

/* Last request of one (client, channel) and, once finished, its answer. */
struct ch_dedup {
	struct ch_dedup *next;
	uint64_t client;
	uint32_t channel;
	uint64_t seq;
	bool done;
	int status;
	struct em_chain_update_rsp rsp;
};

struct ch_resync;
struct ch_repair;
struct ch_scrub;

struct ch_target {
	struct em_chain_server *s;
	uint32_t id;
	char name[64];
	struct em_engine *eng;
	/* SYNC_DONE came while syncing: report up-to-date; cleared when the
	 * target drops out of the chain's readable or syncing states. */
	bool synced;
	struct ch_lock *locks[CH_BUCKETS];
	struct ch_dedup *dedup[CH_BUCKETS];
	struct ch_resync *resync;    /* running towards our successor */
	uint64_t resynced_ver;       /* chain version a resync completed at */
	/* chunks with a bad block, healed one at a time (repair.c) */
	struct ch_repair *repair;
	struct em_chunk_id repair_q[CH_REPAIR_QUEUE];
	unsigned nrepair_q;
	struct { struct em_chunk_id id; uint64_t until_ms; } held[CH_REPAIR_HELD];
	unsigned nheld;
	uint64_t checksum_errors, repaired, unrepairable;
	struct ch_scrub *scrub;      /* scrub.c */
};

struct em_chain_server {
	struct em_rpc *rpc;
	struct em_reactor *r;
	struct em_mgmt_client *mgmt;
	struct em_cs_bufpool *pool;
	struct em_cs_bufpool *repair_pool; /* granted to a peer that writes into it */
	uint64_t scrub_rate;         /* bytes a second per target */
	uint64_t scrub_interval_ms;  /* 0: only on request */
	uint64_t forward_timeout_ms, rpc_timeout_ms;
	struct ch_target targets[CH_MAX_TARGETS];
	size_t n;
	struct em_timer *tick;
	bool fenced_logged;
	/* Lease gaps: the last acknowledged heartbeat we saw, and whether a
	 * gap of half the lease or more still waits for fresh routing. */
	uint64_t last_acked_ms;
	bool unfencing, unfence_refresh;
	bool stopping;     /* resyncs end at their next step */
};

/* A target's place in its chain, from the cached routing info. */
struct ch_view {
	const struct em_chain *chain; /* NULL: in no chain */
	int idx;
	uint8_t state;                /* enum em_pub_state */
	uint32_t succ;                /* 0: we are the tail */
	uint8_t succ_state;
	char succ_url[128];
};

struct ch_target *ch_target_find(struct em_chain_server *s, uint32_t id);
void ch_view(struct em_chain_server *s, const struct ch_target *t, struct ch_view *v);
/* True while this node may serve: a heartbeat was acknowledged within
 * half the lease, and after any gap of half the lease between two
 * acknowledgements (the process was frozen or cut off) routing was
 * fetched again. */
bool ch_serving_allowed(struct em_chain_server *s);
/* Common admission of a request: the target is ours, this node holds its
 * lease, the target is in chain and the sender's chain version is ours
 * (a newer one makes us refresh). Fills *t and *v. */
int ch_admit(struct em_chain_server *s, uint32_t target, uint32_t chain, uint64_t ver,
	     struct ch_target **t, struct ch_view *v);
/* Asks mgmtd for newer routing (a peer showed us a newer version). */
void ch_refresh(struct em_chain_server *s);

/* Per-chunk lock. Returns true when taken at once; otherwise fn(arg) runs
 * once it is granted. */
bool ch_lock(struct ch_target *t, const struct em_chunk_id *id, void (*fn)(void *), void *arg);
void ch_unlock(struct ch_target *t, const struct em_chunk_id *id);

struct ch_dedup *ch_dedup_get(struct ch_target *t, uint64_t client, uint32_t channel);

void ch_handle_write(struct em_rpc_req *req, void *arg);
void ch_handle_update(struct em_rpc_req *req, void *arg);
void ch_resync_free(struct ch_resync *rs);
/* Starts or checks the resync of t's successor. */
void ch_resync_check(struct ch_target *t);

/* A read of t's copy of id found a bad block: count it, and queue the chunk
 * for healing from another replica (repair.c). */
void ch_repair_count_error(struct ch_target *t);
/* A counter of the default registry labelled target (and result, unless
 * NULL); NULL when the registry is full. */
struct em_metric;
struct em_metric *ch_metric_counter(const char *name, const char *help, uint32_t target,
				    const char *result);
void ch_repair_queue(struct ch_target *t, const struct em_chunk_id *id);
bool ch_repair_idle(const struct ch_target *t);
/* After the engines closed: frees a repair left waiting. */
void ch_repair_free(struct ch_target *t);

/* The scrubber of one target (scrub.c): init at add, tick from the
 * server's tick, control and stat for EM_CHAIN_SCRUB, free at destroy. */
int ch_scrub_init(struct ch_target *t);
void ch_scrub_tick(struct ch_target *t);
int ch_scrub_control(struct ch_target *t, uint8_t op);
void ch_scrub_stat(const struct ch_target *t, struct em_chain_scrub_stat *out);
void ch_scrub_free(struct ch_target *t);

#endif
