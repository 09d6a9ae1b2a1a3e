/* The metadata server's upkeep thread: the chunk GC, the end of dead
 * clients' write sessions, and the space statfs reports.
 *
 * GC: deleting a file (its last name and last write session gone) leaves a
 * GC queue entry in the metadata store (fs/meta/meta.h). Every interval the
 * worker holding the GC lease takes a batch of entries, removes each file's
 * chunks from every replica through the chains (em_fs_remove_file: CRAQ
 * REMOVE through the head) and only then deletes the entry, so a worker
 * killed mid-batch leaves the entries for the next one, and removing again
 * is harmless. Inode ids are never reused and an entry is written only when
 * its inode record is deleted, so a live file's chunks are never touched.
 *
 * With several metadata servers over one store, the lease (fs/mgmt/lease.h,
 * key EM_FS_GC_LEASE_KEY in the metadata store) picks the one that runs the
 * GC; the others take over when it stops renewing. Each entry is finished
 * only while the lease is ours with a clock margin to spare.
 *
 * Sessions: the lease holder also ends write sessions whose client stopped
 * renewing (fs/meta/meta.h, em_meta_expired_sessions): it reads how far
 * each file's data goes on storage (em_fs_recover_length), adopts that
 * length if larger and ends the session as a close would (an unlinked
 * file's last one sends it to GC). It waits one session lease after it
 * starts, so clients cut off by a metadata restart can renew first.
 *
 * Space: every server (leader or not) asks mgmtd for the targets' space
 * each interval and hands usable total and free bytes to em_meta_set_space,
 * so statfs and `df` follow deletes and writes within an interval or two.
 *
 * Metrics (the process's default registry): ember_gc_queue_entries (entries
 * the last pass found, at most the batch), ember_gc_files_total,
 * ember_gc_chunks_removed_total, ember_gc_bytes_total (freed files' lengths),
 * ember_gc_errors_total, ember_gc_leader (1 while this server runs the GC),
 * ember_sessions_expired (found by the last pass, at most the batch),
 * ember_sessions_recovered_total.
 */
#ifndef EMBER_FS_CLIENT_GC_H
#define EMBER_FS_CLIENT_GC_H

#include <stddef.h>
#include <stdint.h>

struct em_kv;
struct em_meta;

#define EM_FS_GC_LEASE_KEY "Lgc"

struct em_fs_gc_opts {
	struct em_kv *kv;           /* the metadata store: queue and lease */
	struct em_meta *meta;
	const char *self;           /* unique name of this server in the lease */
	const char *const *mgmtd;   /* mgmtd URLs */
	size_t n_mgmtd;
	const void *secret;
	size_t secret_len;
	uint32_t interval_ms;       /* between passes; 0: 2 s */
	uint32_t lease_ms;          /* GC lease; 0: 10 s */
	uint32_t batch;             /* entries (and sessions) per pass; 0: 256 */
	uint32_t session_lease_ms;  /* as the metadata service's; 0: EM_META_SESSION_LEASE_MS */
	unsigned io_threads;        /* parallel chunk removals; 0: 8 */
};

struct em_fs_gc;

/* Starts the thread. Fails only on bad options or no memory: an unreachable
 * mgmtd is retried every interval and logged once. */
int em_fs_gc_start(const struct em_fs_gc_opts *o, struct em_fs_gc **out);
/* Finishes the entry in hand, releases the lease, joins the thread. */
void em_fs_gc_stop(struct em_fs_gc *g);

/* One pass by hand, for `ember fsck --repair`: ends every expired write
 * session with its length read from storage, then drains the GC queue.
 * No lease: both steps re-check in their transactions and removing twice
 * is harmless, so a GC leader running beside it does no harm. Returns 0
 * or the first failure (counted in errors; the rest still ran). */
struct em_fs;
struct em_fs_upkeep_counts {
	uint64_t recovered;         /* sessions ended with their storage length */
	uint64_t freed, chunks;     /* GC entries done, chunk removals sent */
	uint64_t errors;
};
int em_fs_upkeep_once(struct em_fs *fs, struct em_meta *m, struct em_fs_upkeep_counts *out);

#endif
