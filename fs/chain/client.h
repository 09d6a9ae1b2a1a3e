/* A blocking chain-replication client: writes, truncates and removes
 * through a chain's head, reads from its serving replicas, following
 * routing changes. For the FUSE client, the CLI and tests. It owns a reactor, so it is not thread-safe:
 * use one client per thread (each with its own client_id).
 *
 * Updates carry (client_id, channel, seq): a retry after a lost answer is
 * recognised by the head and answered from its record, never applied
 * twice. Every call retries on routing changes, stale chain versions,
 * failed or fenced targets and "not committed" until timeout_ms has passed.
 */
#ifndef EMBER_FS_CHAIN_CLIENT_H
#define EMBER_FS_CHAIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "net/conn.h"

struct em_chain_client;

struct em_chain_client_opts {
	const char *const *mgmtd;   /* mgmtd URLs */
	size_t n_mgmtd;
	const void *secret;
	size_t secret_len;
	uint64_t client_id;         /* nonzero, unique among the cluster's clients */
	uint32_t timeout_ms;        /* per write or read, retries included; 0: 60 s */
	bool read_head;             /* read from the head only, not every serving
				     * replica (a benchmark's reference) */
	const struct em_net_config *net; /* NULL: defaults */
};

int em_chain_client_create(const struct em_chain_client_opts *o, struct em_chain_client **out);
void em_chain_client_destroy(struct em_chain_client *c);

/* The chunk after an acknowledged write: it is committed on every replica
 * of the chain with this version, length and CRC32C. */
struct em_chain_ack {
	uint32_t commit_ver, length, crc;
};

/* Writes len bytes at offset of chunk id on chain. 0 once every replica
 * committed, else the last error when timeout_ms ran out (the write may
 * or may not have been applied) or a permanent one (-EINVAL, -ERANGE,
 * -ENOSPC...). ack may be NULL. */
int em_chain_write(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		   uint32_t offset, const void *data, uint32_t len, struct em_chain_ack *ack);

/* Sets the chunk's length through the chain like a write: shrinking drops
 * the bytes past length, growing appends zeros. A chunk that does not
 * exist is removed from every replica rather than created (it reads as a
 * hole either way); ack then says length 0, version 0. Same retries and
 * results as em_chain_write. */
int em_chain_truncate(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		      uint32_t length, struct em_chain_ack *ack);

/* Removes the chunk from every replica of chain, giving its space back.
 * 0 also when it did not exist; results as em_chain_write. */
int em_chain_remove(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id);

/* Reads up to len bytes at offset from a serving replica, spreading reads
 * over them. Returns the bytes read (short at the chunk's end), -ENOENT
 * for a chunk that does not exist, or the last error at the timeout. */
int em_chain_read(struct em_chain_client *c, uint32_t chain, const struct em_chunk_id *id,
		  uint32_t offset, void *buf, uint32_t len);

#endif
