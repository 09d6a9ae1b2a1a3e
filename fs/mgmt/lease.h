/* Election through a lease in the KV store: mgmtd's primary, and the one
 * metadata server that runs the chunk GC.
 *
 * One key holds {holder, term, expiry}. An instance acquires the lease when
 * it is free, expired or already its own, and must renew it well before the
 * expiry (3FS: a 60 s lease renewed every 10 s). The term grows by one each
 * time a new tenure starts, so a write fenced with em_lease_check() inside
 * the same transaction can never come from a primary that has been replaced,
 * even one that paused for longer than its lease.
 *
 * Times are wall-clock milliseconds (CLOCK_REALTIME) because instances on
 * different hosts compare them: an instance should act as primary only until
 * expires_ms minus the clock skew it tolerates.
 */
#ifndef EMBER_FS_MGMT_LEASE_H
#define EMBER_FS_MGMT_LEASE_H

#include <stdint.h>

#include "fs/kv/kv.h"

#define EM_LEASE_HOLDER_MAX 128 /* bytes of a holder name, with the NUL */

/* mgmtd's primary lease, among the cluster state keys (store.h). */
#define EM_LEASE_KEY "CL"
#define EM_LEASE_KEY_MAX 16 /* bytes of a key, with the NUL */

struct em_lease {
	char key[EM_LEASE_KEY_MAX];       /* which lease */
	char holder[EM_LEASE_HOLDER_MAX]; /* e.g. "mgmtd@10.0.0.1:9000"; "" when free */
	uint64_t term;                    /* tenure number, 0 before the first */
	uint64_t expires_ms;
};

/* Takes or extends the lease at key (1..EM_LEASE_KEY_MAX-1 bytes) for self (1..EM_LEASE_HOLDER_MAX-1 bytes) until
 * now_ms + duration_ms. Returns 0 with *out our lease (a new term unless we
 * held an unexpired one), -EBUSY with *out the current holder's lease, -EINVAL,
 * or a KV error. */
int em_lease_acquire(struct em_kv *kv, const char *key, const char *self, uint64_t now_ms,
		     uint64_t duration_ms, struct em_lease *out);

/* Extends a lease we hold, even past its expiry as long as nobody took it
 * since (same holder and term). Returns 0 with *out updated, -ESTALE when it
 * was taken over (step down), or a KV error. */
int em_lease_renew(struct em_kv *kv, const struct em_lease *held, uint64_t now_ms,
		   uint64_t duration_ms, struct em_lease *out);

/* Ends our tenure early so a standby need not wait for the expiry. Returns 0
 * (also when it was no longer ours), or a KV error. */
int em_lease_release(struct em_kv *kv, const struct em_lease *held);

/* For use inside a write transaction: 0 when held is still the unexpired
 * lease at now_ms, -ESTALE otherwise. Reading the key makes a concurrent
 * takeover conflict with the transaction. */
int em_lease_check(struct em_kv_txn *txn, const struct em_lease *held, uint64_t now_ms);

#endif
