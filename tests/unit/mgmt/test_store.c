/* Cluster state and primary lease in the KV store (LMDB in a temp dir). */
#include <errno.h>
#include <stdlib.h>

#include "fs/mgmt/lease.h"
#include "fs/mgmt/store.h"
#include "net/core/log.h"
#include "tap.h"

static void build(struct em_routing *r)
{
	em_routing_init(r);
	uint32_t ids[4] = { 1, 2, 3, 4 };
	for (int i = 0; i < 4; i++)
		em_routing_register_node(r, ids[i], "tcp://127.0.0.1:9000", 0);
	struct em_chain_table t;
	em_chain_table_generate(4, 3, 2, 1, &t);
	em_routing_add_table(r, &t, ids, 1);
	em_chain_table_free(&t);
}

static int same_chains(const struct em_routing *a, const struct em_routing *b)
{
	if (a->nnodes != b->nnodes || a->ntargets != b->ntargets || a->nchains != b->nchains)
		return 0;
	for (size_t i = 0; i < a->nchains; i++) {
		const struct em_chain *x = &a->chains[i], *y = &b->chains[i];
		if (x->id != y->id || x->version != y->version || x->n != y->n)
			return 0;
		for (unsigned k = 0; k < x->n; k++)
			if (x->m[k].target != y->m[k].target || x->m[k].state != y->m[k].state)
				return 0;
	}
	for (size_t i = 0; i < a->nnodes; i++)
		if (strcmp(a->nodes[i].addr, b->nodes[i].addr))
			return 0;
	return 1;
}

static int count_fn(struct em_kv_txn *txn, void *arg)
{
	struct em_kv_pair *p;
	size_t n;
	int rc = em_kv_range(txn, "C", 1, "D", 1, 0, false, &p, &n);
	*(size_t *)arg = n;
	return rc;
}

static size_t count_keys(struct em_kv *kv)
{
	size_t n = 0;
	em_kv_run(kv, EM_KV_RDONLY, count_fn, &n);
	return n;
}

static int damage_fn(struct em_kv_txn *txn, void *arg)
{
	/* Chain 9's key holding a record of chain 1 (and then a torn one). */
	static const uint8_t key[] = { 'C', 'C', 0, 0, 0, 9 };
	static const uint8_t rec[] = { 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xe9, 3, 0, 0, 0 };
	return em_kv_set(txn, key, sizeof(key), rec, *(int *)arg ? sizeof(rec) : 5);
}

static void test_store(struct em_kv *kv)
{
	struct em_routing r, l;
	is_int(em_mgmt_store_load(kv, &l, 0), 0, "empty store loads");
	ok(l.nnodes == 0 && l.nchains == 0, "as an empty routing");
	em_routing_clear(&l);

	build(&r);
	is_int(em_mgmt_store_save(kv, &r, NULL, 0), 0, "saved");
	is_int(count_keys(kv), 4 + 12 + 6 + 1, "one key per record plus the version");
	is_int(em_mgmt_store_load(kv, &l, 5000), 0, "loaded");
	ok(same_chains(&r, &l), "same nodes, targets and chains");
	is_int(l.version, r.version + 1, "a new primary starts one version up");
	is_int(l.nodes[0].last_hb_ms, 5000, "leases start at load time");
	/* Nothing changes until the nodes have had a lease's time to speak. */
	is_int(em_routing_tick(&l, 5000, 10000), 0, "no chain changes right after loading");
	is_int(em_routing_tick(&l, 15000, 10000), (int)l.nchains, "silent nodes expire");
	em_routing_clear(&l);

	/* Change one chain and drop a node's address: only diffs are written. */
	em_routing_offline_target(&r, r.chains[0].m[0].target);
	em_routing_register_node(&r, 3, "tcp://10.1.1.3:9000", 0);
	is_int(em_mgmt_store_save(kv, &r, NULL, 0), 0, "saved again");
	is_int(em_mgmt_store_load(kv, &l, 0), 0, "reloaded");
	ok(same_chains(&r, &l), "the changes are there");
	em_routing_clear(&l);

	/* A smaller cluster replaces a larger one: stale records go. */
	struct em_routing small;
	em_routing_init(&small);
	em_routing_register_node(&small, 1, "tcp://a:1", 0);
	is_int(em_mgmt_store_save(kv, &small, NULL, 0), 0, "saved a smaller state");
	is_int(count_keys(kv), 2, "old records cleared");

	int whole = 1;
	em_kv_run(kv, 0, damage_fn, &whole);
	is_int(em_mgmt_store_load(kv, &l, 0), -EUCLEAN, "a record under the wrong id is damage");
	ok(l.nodes == NULL && l.nnodes == 0, "and loads nothing");
	whole = 0;
	em_kv_run(kv, 0, damage_fn, &whole);
	is_int(em_mgmt_store_load(kv, &l, 0), -EUCLEAN, "so is a torn record");
	is_int(em_mgmt_store_save(kv, &small, NULL, 0), 0, "saving repairs it");
	is_int(em_mgmt_store_load(kv, &l, 0), 0, "loads again");
	em_routing_clear(&l);
	em_routing_clear(&small);
	em_routing_clear(&r);
}

static void test_lease(struct em_kv *kv)
{
	struct em_lease a, b, seen;
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-a", 1000, 60000, &a), 0, "a acquires a free lease");
	is_int(a.term, 1, "first term");
	is_int(a.expires_ms, 61000, "expiry");
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-b", 2000, 60000, &seen), -EBUSY, "b is refused");
	is_str(seen.holder, "mgmtd-a", "and told who holds it");
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-a", 10000, 60000, &a), 0, "a re-acquires its own");
	is_int(a.term, 1, "same tenure");
	is_int(em_lease_renew(kv, &a, 20000, 60000, &a), 0, "a renews");
	is_int(a.expires_ms, 80000, "later expiry");

	/* Fenced writes. */
	struct em_routing r;
	em_routing_init(&r);
	em_routing_register_node(&r, 1, "tcp://a:1", 0);
	is_int(em_mgmt_store_save(kv, &r, &a, 30000), 0, "the primary writes");

	/* a stalls past its expiry; b takes over. */
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-b", 80000, 60000, &b), 0, "b takes the expired lease");
	is_int(b.term, 2, "a new term");
	is_int(em_lease_renew(kv, &a, 81000, 60000, &seen), -ESTALE, "a's renewal fails");
	em_routing_register_node(&r, 2, "tcp://b:1", 0);
	is_int(em_mgmt_store_save(kv, &r, &a, 81000), -ESTALE, "a's fenced write fails");
	is_int(em_mgmt_store_save(kv, &r, &b, 81000), 0, "b's goes through");
	is_int(em_mgmt_store_save(kv, &r, &b, 150000), -ESTALE, "even b cannot write once expired");

	is_int(em_lease_release(kv, &b), 0, "b releases");
	is_int(em_lease_renew(kv, &b, 90000, 60000, &seen), -ESTALE, "a released lease is not renewed");
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-a", 90000, 60000, &a), 0, "a gets it at once");
	is_int(a.term, 3, "terms never repeat");
	is_int(em_lease_release(kv, &b), 0, "releasing someone else's lease is a no-op");
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "mgmtd-b", 91000, 60000, &seen), -EBUSY, "a still holds it");
	is_int(em_lease_acquire(kv, EM_LEASE_KEY, "", 0, 1, &seen), -EINVAL, "empty holder refused");
	em_routing_clear(&r);
}

int main(void)
{
	em_log_set_level(EM_LOG_WARN);
	char dir[] = "/tmp/ember-mgmt-XXXXXX", uri[64], err[256], cmd[96];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(uri, sizeof(uri), "lmdb:%s", dir);
	struct em_kv *kv;
	int rc = em_kv_open(uri, NULL, &kv, err, sizeof(err));
	is_int(rc, 0, "open LMDB store");
	if (rc == 0) {
		test_store(kv);
		test_lease(kv);
		em_kv_close(kv);
	} else {
		printf("# %s\n", err);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
