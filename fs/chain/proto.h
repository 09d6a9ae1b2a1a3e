/* The chain service's wire format (service EM_CHAIN_SERVICE on net/rpc.h),
 * shared by ember-storage and its clients.
 *
 * One request carries one chunk operation; the RPC status is the result
 * (0 or a negative errno / EM_E* code). Payloads, little-endian:
 *
 *   WRITE, UPDATE  chain u32, chain_ver u64, target u32, id[16], op u8,
 *                  offset u32, len u32, crc u32, update_ver u32,
 *                  client u64, channel u32, seq u64, buf desc
 *               -> commit_ver u32, length u32, crc u32 (the chunk after it)
 *   READ           chain u32, chain_ver u64, target u32, id[16], offset u32,
 *                  len u32, buf desc (the server WRITEs into it)
 *               -> bytes u32, crc u32 (CRC32C of the bytes pushed; readers
 *                  that get a crc check it, and a mismatch counts as
 *                  -EM_ECHECKSUM from that replica)
 *   SYNC_DONE      chain u32, chain_ver u64, target u32 -> (empty)
 *   SCRUB          op u8 (status, start, stop), target u32 (0: every target
 *                  of the node) -> count u32, then count records of target
 *                  u32, running u8, then u64s: chunks_done, chunks_total,
 *                  bytes_done, passes, last_pass_ms, errors, repaired,
 *                  unrepairable, divergent (an operator's CLI, docs/chain.md)
 *
 * WRITE comes from a client to the chain's head (update_ver 0: the head
 * picks it) with op WRITE, TRUNCATE or REMOVE; UPDATE goes from a replica
 * to its successor, which pulls the bytes from the predecessor's buffer.
 * target names the receiving target. TRUNCATE and REMOVE carry no bytes
 * (len 0, empty buffer): TRUNCATE's offset is the new length.
 * Decoders ignore bytes after the fields they know.
 *
 * Codes: -EM_ECHAINVER the sender's chain version differs from the
 * receiver's (refresh routing, retry); -EM_ENOTARGET the target is not on
 * this node, or a WRITE reached a target that is not the chain's head;
 * -EM_ETARGETOFFLINE the target may not serve this (not serving/syncing,
 * or its daemon lost its mgmtd lease); -EM_ENOTCOMMITTED a read hit a
 * chunk with a pending version or one being replaced; -EM_EVERSION an
 * UPDATE does not follow the receiver's version (the sender resends the
 * whole chunk); -EM_ECHECKSUM pulled bytes or a successor's committed
 * chunk differ; -EAGAIN the same (client, channel, seq) is still in
 * flight; -EALREADY a newer seq of that channel was already applied.
 */
#ifndef EMBER_FS_CHAIN_PROTO_H
#define EMBER_FS_CHAIN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "net/mr.h"

#define EM_CHAIN_SERVICE 5

enum em_chain_method {
	EM_CHAIN_WRITE = 1,
	EM_CHAIN_UPDATE = 2,
	EM_CHAIN_READ = 3,
	EM_CHAIN_SYNC_DONE = 4,
	EM_CHAIN_SCRUB = 5,
	EM_CHAIN_METHOD_END,
};

/* What an UPDATE does at the receiver. */
enum em_chain_op {
	EM_CHAIN_OP_WRITE = 0,   /* bytes at offset onto update_ver - 1 */
	EM_CHAIN_OP_REPLACE = 1, /* the whole chunk: len bytes from 0, at update_ver */
	EM_CHAIN_OP_REMOVE = 2,  /* the chunk must not exist (clients and resync) */
	EM_CHAIN_OP_TRUNCATE = 3, /* new length offset onto update_ver - 1 */
	EM_CHAIN_OP_END,
};

struct em_chain_update_req {
	uint32_t chain;
	uint64_t chain_ver;
	uint32_t target;
	struct em_chunk_id id;
	uint8_t op;
	uint32_t offset, len, crc;
	uint32_t update_ver;
	uint64_t client;  /* duplicate detection: 0 = none */
	uint32_t channel;
	uint64_t seq;
	struct em_buf_desc buf;
};

struct em_chain_update_rsp {
	uint32_t commit_ver, length, crc;
};

struct em_chain_read_req {
	uint32_t chain;
	uint64_t chain_ver;
	uint32_t target;
	struct em_chunk_id id;
	uint32_t offset, len;
	struct em_buf_desc buf;
};

struct em_chain_read_rsp {
	uint32_t bytes;
	bool has_crc;   /* older servers send only the count */
	uint32_t crc;   /* CRC32C of the bytes pushed */
};

struct em_chain_sync_done {
	uint32_t chain;
	uint64_t chain_ver;
	uint32_t target;
};

enum em_chain_scrub_op {
	EM_CHAIN_SCRUB_STATUS = 0,
	EM_CHAIN_SCRUB_START = 1, /* a pass now, whatever the interval says */
	EM_CHAIN_SCRUB_STOP = 2,  /* end the running pass; the interval starts the next */
	EM_CHAIN_SCRUB_OP_END,
};

struct em_chain_scrub_req {
	uint8_t op;
	uint32_t target;
};

/* One target's scrub: the running (or last) pass and the totals since the
 * daemon started. */
struct em_chain_scrub_stat {
	uint32_t target;
	uint8_t running;
	uint64_t chunks_done, chunks_total, bytes_done;
	uint64_t passes;        /* completed */
	uint64_t last_pass_ms;  /* wall clock the last pass completed, 0: none */
	uint64_t errors;        /* reads of this target that found a bad block */
	uint64_t repaired, unrepairable;
	uint64_t divergent;     /* same version, other length or CRC on the successor */
};

#define EM_CHAIN_SCRUB_MAX 64 /* records in one answer: a node's targets */
#define EM_CHAIN_SCRUB_RSP_SIZE (4 + EM_CHAIN_SCRUB_MAX * 77)

#define EM_CHAIN_UPDATE_REQ_SIZE 96
#define EM_CHAIN_READ_REQ_SIZE 64

/* Encoders return the encoded length, or -EMSGSIZE when cap is short. */
int em_chain_enc_update(void *buf, size_t cap, const struct em_chain_update_req *r);
int em_chain_enc_update_rsp(void *buf, size_t cap, const struct em_chain_update_rsp *r);
int em_chain_enc_read(void *buf, size_t cap, const struct em_chain_read_req *r);
int em_chain_enc_read_rsp(void *buf, size_t cap, const struct em_chain_read_rsp *r);
int em_chain_enc_sync_done(void *buf, size_t cap, const struct em_chain_sync_done *r);
int em_chain_enc_scrub(void *buf, size_t cap, const struct em_chain_scrub_req *r);
int em_chain_enc_scrub_rsp(void *buf, size_t cap, const struct em_chain_scrub_stat *s,
			   uint32_t n);

/* Decoders return 0 or -EBADMSG (short, op out of range, offset + len
 * beyond a chunk, a buffer descriptor whose length is not len, bytes with
 * a TRUNCATE or REMOVE). */
int em_chain_dec_update(const void *p, size_t len, struct em_chain_update_req *out);
int em_chain_dec_update_rsp(const void *p, size_t len, struct em_chain_update_rsp *out);
int em_chain_dec_read(const void *p, size_t len, struct em_chain_read_req *out);
int em_chain_dec_read_rsp(const void *p, size_t len, struct em_chain_read_rsp *out);
/* The bytes a READ answer r says landed in buf, which asked for cap: their
 * count, -EBADMSG for more than asked, -EM_ECHECKSUM when they do not give
 * the answer's CRC (corrupted on the way). */
int em_chain_read_rsp_check(const struct em_chain_read_rsp *r, const void *buf, uint32_t cap);
int em_chain_dec_sync_done(const void *p, size_t len, struct em_chain_sync_done *out);
/* -EBADMSG also for an op out of range. */
int em_chain_dec_scrub(const void *p, size_t len, struct em_chain_scrub_req *out);
/* Up to max records into out, *n of them; -EBADMSG for a count over max or
 * past the payload. */
int em_chain_dec_scrub_rsp(const void *p, size_t len, struct em_chain_scrub_stat *out,
			   uint32_t max, uint32_t *n);

#endif
