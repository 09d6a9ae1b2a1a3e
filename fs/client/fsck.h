/* Chunks against metadata: the storage half of `ember fsck`.
 *
 * For every chain in the routing info, lists the chunks of each serving
 * replica through the chunk service (block/service/client.h, paged) and
 * checks each chunk id found:
 *   - ORPHAN: its inode has no record and no GC queue entry (or is not a
 *     regular file), or the id is not a file chunk id (layout.h);
 *   - BEYOND_EOF: the chunk lies wholly past the file's length and no write
 *     session is open on the file (a writer reports its length only later);
 *   - MISSING: committed on one serving replica of the chain, absent (or
 *     never committed) on another;
 *   - DIVERGENT: committed version, length or CRC differ between replicas;
 *   - MISPLACED: the chain is not the one the file's layout maps it to;
 *   - UNLISTED: a serving replica could not be listed, so the chain was
 *     compared without it;
 *   - CORRUPT (with verify_data): a replica's copy fails its block
 *     checksums when read, or its bytes do not match its own CRC32C.
 * Chunks whose inode is in the GC queue are expected and only counted.
 * Replicas not serving (syncing, offline...) are skipped: resync rebuilds
 * them. Uncommitted chunks (a write in flight) are ignored. A chunk missing
 * on every replica is not reported: it reads as a hole, which is legal.
 *
 * Metadata is read straight from the store (fs/meta/record.h), one read-only
 * transaction per inode, so sessions and the GC queue are visible; chunks are
 * listed before their inode is read, so a file created meanwhile is not
 * flagged. Writes, deletes and GC running during the check can still show up
 * as problems: re-run on a quiet cluster before acting on one.
 */
#ifndef EMBER_FS_CLIENT_FSCK_H
#define EMBER_FS_CLIENT_FSCK_H

#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "fs/mgmt/routing.h"

struct em_kv;

enum em_fs_fsck_kind {
	EM_FS_FSCK_ORPHAN,
	EM_FS_FSCK_BEYOND_EOF,
	EM_FS_FSCK_MISSING,
	EM_FS_FSCK_DIVERGENT,
	EM_FS_FSCK_MISPLACED,
	EM_FS_FSCK_UNLISTED,
	EM_FS_FSCK_CORRUPT,
	EM_FS_FSCK_KINDS
};

/* "orphan", "beyond-eof", ... as in the text of a problem. */
const char *em_fs_fsck_kind_name(enum em_fs_fsck_kind k);

struct em_fs_fsck_problem {
	enum em_fs_fsck_kind kind;
	uint32_t chain;
	uint32_t target;          /* the replica concerned; 0 when all of them */
	struct em_chunk_id id;    /* zero for UNLISTED */
	char text[256];           /* one line, no newline, starting with the kind */
};

/* Called once per problem; the problem is valid during the call. */
typedef void (*em_fs_fsck_fn)(void *arg, const struct em_fs_fsck_problem *p);

struct em_fs_fsck_opts {
	struct em_kv *kv;                 /* the metadata store */
	const struct em_routing *routing; /* chains, targets, node addresses */
	const void *secret;               /* cluster secret for the chunk service */
	size_t secret_len;
	uint32_t timeout_ms;              /* per chunk-service call; 0: 30 s */
	bool verify_data;                 /* read every replica's chunks in full */
	em_fs_fsck_fn problem;            /* may be NULL */
	void *arg;
};

struct em_fs_fsck_report {
	uint64_t chains, replicas_listed, replicas_skipped;
	uint64_t chunks;                  /* distinct (chain, chunk id) committed somewhere */
	uint64_t gc_pending;              /* of those, belonging to inodes queued for GC */
	uint64_t bytes_verified;          /* replica bytes read back (verify_data) */
	uint64_t kinds[EM_FS_FSCK_KINDS];
	uint64_t problems;
};

/* Returns 0 when the check ran (out->problems says what it found) or a
 * negative errno when it could not (metadata store unreadable, no memory). */
int em_fs_fsck(const struct em_fs_fsck_opts *o, struct em_fs_fsck_report *out);

#endif
