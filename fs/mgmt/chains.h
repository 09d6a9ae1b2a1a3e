/* Chain table generation: which targets form each chain.
 *
 * N nodes with T targets each, replication factor R, give N*T/R chains of R
 * targets on R different nodes, every target in exactly one chain. When a
 * node fails, the other replicas of its T chains must be read to recover it;
 * the generator spreads them so every other node serves about the same share
 * (3FS poses this as a balanced incomplete block design). The quantity kept
 * small is the pairwise co-occurrence: the number of chains two nodes share,
 * whose ideal maximum is ceil(T*(R-1)/(N-1)).
 *
 * Placement is a deterministic function of (N, T, R, seed): the generator
 * uses its own PRNG, never the C library's, so every build and every machine
 * produces the same table from the same arguments.
 */
#ifndef EMBER_FS_MGMT_CHAINS_H
#define EMBER_FS_MGMT_CHAINS_H

#include <stdint.h>

#include "fs/mgmt/state.h"

/* Upper bounds that keep the pair matrix and the search small. */
#define EM_CHAINS_MAX_NODES 1024
#define EM_CHAINS_MAX_TARGETS 256 /* per node */

/* One replica: node index (0..N-1) and target slot on that node (0..T-1). */
struct em_chain_slot {
	uint32_t node;
	uint32_t slot;
};

struct em_chain_table {
	unsigned nodes, targets_per_node, replicas;
	unsigned nchains;
	struct em_chain_slot *slots; /* nchains * replicas, chain c at c*replicas, head first */
};

struct em_chain_balance {
	unsigned ideal_pair;   /* ceil(T*(R-1)/(N-1)), the best possible max_pair */
	unsigned max_pair;     /* most chains any two nodes share */
	unsigned min_pair;     /* fewest chains any two nodes share (0 is fine when N-1 > T*(R-1)) */
	unsigned min_peers;    /* fewest distinct nodes any node shares a chain with */
	unsigned max_heads;    /* most chains headed by one node (heads take the client writes) */
	unsigned min_heads;
};

/* Builds the table. R must be in 1..min(N, EM_CHAIN_MAX) and divide N*T.
 * Returns 0, -EINVAL for impossible arguments, -ENOMEM. Free with
 * em_chain_table_free(). */
int em_chain_table_generate(unsigned nodes, unsigned targets_per_node, unsigned replicas,
			    uint64_t seed, struct em_chain_table *out);
void em_chain_table_free(struct em_chain_table *t);

/* Measures a table (generated or loaded). Returns 0, -EINVAL when a chain
 * repeats a node or a slot is out of range, -ENOMEM. */
int em_chain_table_balance(const struct em_chain_table *t, struct em_chain_balance *out);

#endif
