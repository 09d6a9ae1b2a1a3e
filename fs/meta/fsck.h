/* Metadata consistency check: reads the whole namespace in one read-only
 * KV transaction (a consistent snapshot, so it can run beside live servers)
 * and reports every broken invariant. `ember fsck` and the race tests use it.
 *
 * Invariants checked:
 *   - every record decodes (CRC, bounds);
 *   - every directory entry sits in a live directory and points at a live
 *     inode of the type the entry records;
 *   - a file's or symlink's link count equals the entries naming it, or it
 *     is 0 with an orphan marker (unlinked while write-open);
 *   - a directory other than the root has exactly one entry, in the parent
 *     its record names, and 2 + its subdirectories as link count;
 *   - every inode is reachable from the root or an orphan; no directory
 *     cycles;
 *   - orphan markers, sessions and xattrs belong to live inodes, GC entries
 *     to dead ones, and every inode id is below the allocation counter;
 *   - no write session has expired (its client stopped renewing a lease
 *     ago) without its length being recovered, no unlinked inode lingers
 *     without a live session, no GC entry waits longer than
 *     EM_META_FSCK_GC_STUCK_NS (the GC is not running).
 */
#ifndef EMBER_FS_META_FSCK_H
#define EMBER_FS_META_FSCK_H

#include <stdint.h>

struct em_kv;

struct em_meta_fsck_report {
	uint64_t inodes, dirs, files, symlinks, dentries;
	uint64_t orphans, sessions, gc, xattrs, clients;
	uint64_t expired;          /* write sessions of dead clients */
	uint64_t orphans_dead;     /* unlinked inodes no live session holds */
	uint64_t gc_stuck;
	uint64_t problems;
};

#define EM_META_FSCK_GC_STUCK_NS (600 * 1000000000LL)

/* Called once per problem with one line of text (no newline). */
typedef void (*em_meta_fsck_fn)(void *arg, const char *problem);

/* Returns 0 when the check ran (out->problems says what it found) or a
 * negative errno when the store could not be read. problem may be NULL. */
int em_meta_fsck(struct em_kv *kv, em_meta_fsck_fn problem, void *arg,
		 struct em_meta_fsck_report *out);

/* Fixes what metadata alone can fix safely, each fix re-checked in its own
 * transaction: orphan markers, sessions and xattrs of missing inodes are
 * removed, damaged client records dropped, and an unlinked inode that no
 * session holds is destroyed (its chunks go to the GC queue), unless a
 * session has expired somewhere. Expired sessions need their lengths read
 * from storage (`ember fsck --repair`, or the GC leader); stuck GC entries
 * need a GC. fixed gets one line per fix; *n_fixed counts them. */
int em_meta_fsck_repair(struct em_kv *kv, em_meta_fsck_fn fixed, void *arg, uint64_t *n_fixed);

#endif
