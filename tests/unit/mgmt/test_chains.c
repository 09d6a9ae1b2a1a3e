/* Chain table generation: structure and balance for several cluster shapes. */
#include <errno.h>
#include <stdlib.h>

#include "fs/mgmt/chains.h"
#include "tap.h"

/* Every chain has R distinct nodes; every (node, slot) appears exactly once. */
static int well_formed(const struct em_chain_table *t)
{
	unsigned total = t->nodes * t->targets_per_node;
	char *seen = calloc(total, 1);
	int good = seen && t->nchains * t->replicas == total;
	for (unsigned c = 0; good && c < t->nchains; c++) {
		const struct em_chain_slot *m = &t->slots[c * t->replicas];
		for (unsigned j = 0; good && j < t->replicas; j++) {
			good = m[j].node < t->nodes && m[j].slot < t->targets_per_node;
			for (unsigned i = 0; good && i < j; i++)
				good = m[i].node != m[j].node;
			if (good) {
				unsigned k = m[j].node * t->targets_per_node + m[j].slot;
				good = !seen[k];
				seen[k] = 1;
			}
		}
	}
	free(seen);
	return good;
}

static void check_shape(unsigned n, unsigned tpn, unsigned r, int exact)
{
	struct em_chain_table t;
	struct em_chain_balance b;
	char what[128];
	int rc = em_chain_table_generate(n, tpn, r, 7, &t);
	snprintf(what, sizeof(what), "N=%u T=%u R=%u: generated", n, tpn, r);
	is_int(rc, 0, what);
	if (rc < 0)
		return;
	snprintf(what, sizeof(what), "N=%u T=%u R=%u: %u chains, each on R distinct nodes, "
		 "every target used once", n, tpn, r, t.nchains);
	ok(well_formed(&t), what);
	is_int(em_chain_table_balance(&t, &b), 0, "balance measured");
	printf("# N=%u T=%u R=%u: pair co-occurrence max %u (ideal %u) min %u, "
	       "min peers %u, heads %u..%u\n", n, tpn, r, b.max_pair, b.ideal_pair,
	       b.min_pair, b.min_peers, b.min_heads, b.max_heads);
	snprintf(what, sizeof(what), "N=%u T=%u R=%u: max pair %s ideal", n, tpn, r,
		 exact ? "==" : "<= 1 +");
	ok(exact ? b.max_pair == b.ideal_pair : b.max_pair <= b.ideal_pair + 1, what);
	/* A failed node's chains are spread over as many peers as it can have. */
	unsigned want_peers = tpn * (r - 1) < n - 1 ? tpn * (r - 1) : n - 1;
	snprintf(what, sizeof(what), "N=%u T=%u R=%u: each node shares chains with >= %u peers",
		 n, tpn, r, exact ? want_peers : want_peers * 9 / 10);
	ok(b.min_peers >= (exact ? want_peers : want_peers * 9 / 10), what);
	snprintf(what, sizeof(what), "N=%u T=%u R=%u: heads differ by at most one", n, tpn, r);
	ok(b.max_heads - b.min_heads <= 1, what);
	em_chain_table_free(&t);
}

static void test_shapes(void)
{
	check_shape(3, 4, 3, 1);   /* every chain on every node */
	check_shape(4, 3, 2, 1);
	check_shape(5, 6, 3, 1);   /* the 3FS placement example */
	check_shape(6, 10, 3, 1);  /* a 2-(6,3,4) design */
	check_shape(7, 3, 3, 1);   /* the Fano plane */
	check_shape(9, 4, 3, 1);
	check_shape(10, 9, 3, 1);
	check_shape(8, 6, 4, 1);
	check_shape(12, 8, 3, 1);
	check_shape(16, 8, 2, 1);
	check_shape(20, 12, 4, 1);
	check_shape(100, 18, 3, 1);
	check_shape(50, 96, 3, 0); /* 16 SSDs x 6 targets, as 3FS deploys */
	check_shape(2, 5, 2, 1);
	check_shape(1, 4, 1, 1);   /* no replication */
}

static void test_deterministic(void)
{
	struct em_chain_table a, b, c;
	is_int(em_chain_table_generate(12, 8, 3, 99, &a), 0, "first run");
	is_int(em_chain_table_generate(12, 8, 3, 99, &b), 0, "second run, same seed");
	is_int(em_chain_table_generate(12, 8, 3, 100, &c), 0, "third run, other seed");
	size_t bytes = (size_t)a.nchains * a.replicas * sizeof(*a.slots);
	ok(memcmp(a.slots, b.slots, bytes) == 0, "same arguments, same table");
	ok(memcmp(a.slots, c.slots, bytes) != 0, "the seed changes the table");
	em_chain_table_free(&a);
	em_chain_table_free(&b);
	em_chain_table_free(&c);
}

static void test_invalid(void)
{
	struct em_chain_table t;
	is_int(em_chain_table_generate(10, 16, 3, 1, &t), -EINVAL, "R must divide N*T");
	is_int(em_chain_table_generate(2, 4, 3, 1, &t), -EINVAL, "R above N");
	is_int(em_chain_table_generate(20, 4, EM_CHAIN_MAX + 1, 1, &t), -EINVAL, "R above the chain limit");
	is_int(em_chain_table_generate(0, 4, 1, 1, &t), -EINVAL, "no nodes");
	is_int(em_chain_table_generate(4, 0, 2, 1, &t), -EINVAL, "no targets");
	ok(t.slots == NULL && t.nchains == 0, "a failed call leaves an empty table");

	struct em_chain_slot bad[] = { { 0, 0 }, { 0, 1 } };
	struct em_chain_table twice = { .nodes = 2, .targets_per_node = 2, .replicas = 2,
					.nchains = 1, .slots = bad };
	struct em_chain_balance b;
	is_int(em_chain_table_balance(&twice, &b), -EINVAL, "a chain twice on one node is refused");
}

int main(void)
{
	test_shapes();
	test_deterministic();
	test_invalid();
	return tap_done();
}
