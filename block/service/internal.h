/* Chunk service internals shared by server.c (requests, replies, targets)
 * and exec.c (what runs on a target's reactor). */
#ifndef EMBER_BLOCK_SERVICE_INTERNAL_H
#define EMBER_BLOCK_SERVICE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "block/service/bufpool.h"
#include "block/service/proto.h"
#include "block/service/server.h"

struct cs_target {
	uint32_t id;
	char name[64];
	struct em_engine *eng;
	struct em_reactor *r;
	/* Set on the target's reactor, read on the network reactor. */
	atomic_bool offline;
};

struct em_cs_server {
	struct em_rpc *rpc;
	struct em_reactor *r; /* the network reactor */
	struct cs_target targets[EM_CS_MAX_TARGETS];
	size_t n_targets;
	struct em_cs_bufpool *pool;
};

struct cs_op;

/* One unit of engine work: an item of a batch, the single LIST, or one
 * target of STATS. Shuttles between the network reactor and the target's. */
struct cs_task {
	struct cs_op *op;
	uint32_t idx;
	struct cs_target *t;
	struct em_cs_buf *buf;
	int status;
	bool has_meta;
	struct em_chunk_meta meta;
};

/* One request being served. */
struct cs_op {
	struct em_cs_server *s;
	struct em_rpc_req *req;
	uint16_t method;
	struct em_cs_item *items; /* batched methods */
	struct em_cs_result *res;
	struct cs_task *tasks;
	uint32_t n;               /* items, or targets for STATS */
	uint32_t pending;         /* tasks not finished */
	uint32_t pulls;           /* WRITE: bulk reads outstanding */
	uint32_t unread;          /* READ: engine reads not back yet */
	struct em_cs_list_req list;
	struct em_chunk_meta *metas;
	uint32_t n_metas;
	struct em_cs_target_stats *stats;
};

/* Sends t to its target's reactor to run the op's engine call; the result
 * comes back to em_cs_task_back on the network reactor. */
void em_cs_task_start(struct cs_task *t);
void em_cs_task_back(void *arg);

#endif
