/* Chain table generation (see chains.h).
 *
 * Three steps. A greedy pass fills chains one by one, each with the nodes
 * that share the fewest chains with the nodes already picked, while never
 * leaving a node more free targets than chains remain (so it always
 * finishes). A local search then swaps nodes between chains to even out the
 * pairwise counts, minimising their sum of squares, which is smallest when
 * every pair shares the average. Last, each chain is ordered so that every
 * node is head, middle and tail about equally often.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/chains.h"

struct gen {
	unsigned n, t, r, nchains;
	uint32_t *node;   /* nchains * r node indices */
	uint16_t *pair;   /* n * n co-occurrence counts */
	uint64_t rng;
};

/* splitmix64: tiny, good enough, and ours, so tables never depend on libc. */
static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rnd_below(struct gen *g, unsigned bound)
{
	return (unsigned)(rnd(g) % bound);
}

static uint16_t *pair_at(struct gen *g, unsigned a, unsigned b)
{
	return &g->pair[(size_t)a * g->n + b];
}

static void pair_add(struct gen *g, unsigned a, unsigned b, int d)
{
	*pair_at(g, a, b) = (uint16_t)(*pair_at(g, a, b) + d);
	*pair_at(g, b, a) = (uint16_t)(*pair_at(g, b, a) + d);
}

static bool in_chain(const struct gen *g, unsigned c, uint32_t node)
{
	for (unsigned j = 0; j < g->r; j++)
		if (g->node[c * g->r + j] == node)
			return true;
	return false;
}

/* Picks the next member of chain c (k members chosen so far). */
static uint32_t pick(struct gen *g, unsigned c, unsigned k, const unsigned *cap)
{
	uint32_t best = UINT32_MAX;
	unsigned best_cost = 0, best_cap = 0;
	uint64_t best_tie = 0;
	for (uint32_t x = 0; x < g->n; x++) {
		if (cap[x] == 0)
			continue;
		bool taken = false;
		unsigned cost = 0;
		for (unsigned j = 0; j < k && !taken; j++) {
			uint32_t y = g->node[c * g->r + j];
			taken = y == x;
			cost += *pair_at(g, x, y);
		}
		if (taken)
			continue;
		uint64_t tie = rnd(g);
		/* Fewest shared chains first; then the node with the most free
		 * targets, which keeps the end of the greedy pass flexible. */
		if (best == UINT32_MAX || cost < best_cost ||
		    (cost == best_cost && (cap[x] > best_cap ||
					   (cap[x] == best_cap && tie < best_tie)))) {
			best = x;
			best_cost = cost;
			best_cap = cap[x];
			best_tie = tie;
		}
	}
	return best;
}

static void greedy(struct gen *g, unsigned *cap)
{
	for (unsigned c = 0; c < g->nchains; c++) {
		unsigned left = g->nchains - c, k = 0;
		/* A node with as many free targets as chains left must be in
		 * every remaining chain. At most r such nodes exist, since the
		 * free targets sum to r * left. */
		for (uint32_t x = 0; x < g->n; x++)
			if (cap[x] == left)
				g->node[c * g->r + k++] = x;
		while (k < g->r) {
			g->node[c * g->r + k] = pick(g, c, k, cap);
			k++;
		}
		for (unsigned j = 0; j < g->r; j++) {
			uint32_t x = g->node[c * g->r + j];
			cap[x]--;
			for (unsigned i = 0; i < j; i++)
				pair_add(g, x, g->node[c * g->r + i], +1);
		}
	}
}

/* Change of the sum of squared pair counts if x leaves chain a for chain b
 * and y goes the other way: (p+1)^2 - p^2 = 2p + 1, (p-1)^2 - p^2 = 1 - 2p.
 * A node z in both chains keeps its pairs with x and y, so it is skipped. */
static long swap_delta(struct gen *g, unsigned a, uint32_t x, unsigned b, uint32_t y)
{
	long d = 0;
	for (unsigned j = 0; j < g->r; j++) {
		uint32_t z = g->node[a * g->r + j];
		if (z != x && !in_chain(g, b, z))
			d += 2L * *pair_at(g, y, z) + 1 + 1 - 2L * *pair_at(g, x, z);
		z = g->node[b * g->r + j];
		if (z != y && !in_chain(g, a, z))
			d += 2L * *pair_at(g, x, z) + 1 + 1 - 2L * *pair_at(g, y, z);
	}
	return d;
}

static void move_node(struct gen *g, unsigned c, unsigned pos, uint32_t to)
{
	uint32_t from = g->node[c * g->r + pos];
	for (unsigned j = 0; j < g->r; j++) {
		if (j == pos)
			continue;
		pair_add(g, from, g->node[c * g->r + j], -1);
		pair_add(g, to, g->node[c * g->r + j], +1);
	}
	g->node[c * g->r + pos] = to;
}

static uint64_t sum_squares(const struct gen *g)
{
	uint64_t s = 0;
	for (size_t i = 0; i < (size_t)g->n * g->n; i++)
		s += (uint64_t)g->pair[i] * g->pair[i];
	return s / 2; /* the matrix holds every pair twice */
}

/* Simulated annealing over node swaps: early on, moves that make the spread
 * slightly worse are taken too, so the search leaves the local minima that
 * plain descent gets stuck in; the temperature falls to zero by the end. */
static void improve(struct gen *g)
{
	if (g->nchains < 2 || g->r < 2)
		return;
	/* Lower bound: every pair at the floor or ceiling of the average. */
	uint64_t pairs = (uint64_t)g->n * (g->n - 1) / 2;
	uint64_t inc = (uint64_t)g->nchains * g->r * (g->r - 1) / 2;
	uint64_t q = inc / pairs, rem = inc % pairs;
	uint64_t floor_ss = rem * (q + 1) * (q + 1) + (pairs - rem) * q * q;

	uint64_t ss = sum_squares(g);
	uint64_t budget = 400ull * g->nchains * g->r + 1000000;
	for (uint64_t it = 0; it < budget && ss > floor_ss; it++) {
		unsigned a = rnd_below(g, g->nchains), b = rnd_below(g, g->nchains);
		unsigned i = rnd_below(g, g->r), j = rnd_below(g, g->r);
		uint32_t x = g->node[a * g->r + i], y = g->node[b * g->r + j];
		if (a == b || x == y || in_chain(g, b, x) || in_chain(g, a, y))
			continue;
		long d = swap_delta(g, a, x, b, y);
		if (d > 0) {
			double temp = 0.5 * (double)(budget - it) / (double)budget;
			double u = (double)(rnd(g) >> 11) / 9007199254740992.0;
			if (u >= exp(-(double)d / temp))
				continue;
		}
		move_node(g, a, i, y);
		move_node(g, b, j, x);
		ss = (uint64_t)((int64_t)ss + d);
	}
}

/* Index of node x within chain c, at a position >= from. */
static unsigned pos_of(const struct gen *g, unsigned c, uint32_t x, unsigned from)
{
	unsigned j = from;
	while (g->node[c * g->r + j] != x)
		j++;
	return j;
}

/* One step of evening out who holds position p: a breadth-first search from
 * the node u holding p most often, through the chains u holds p in, to their
 * members further back, until it meets a node w holding p at least twice
 * fewer times than u. Handing p along that path moves one unit from u to w
 * and leaves every node in between unchanged. Returns false when no such
 * path exists, which means the counts are as even as swaps can make them. */
static bool shift_position(struct gen *g, unsigned p, unsigned *count, uint32_t *via,
			   uint32_t *queue)
{
	uint32_t u = 0;
	for (uint32_t x = 1; x < g->n; x++)
		if (count[x] > count[u])
			u = x;
	for (uint32_t x = 0; x < g->n; x++)
		via[x] = UINT32_MAX;
	via[u] = g->nchains; /* the root */
	unsigned head = 0, tail = 0;
	queue[tail++] = u;
	while (head < tail) {
		uint32_t x = queue[head++];
		for (unsigned c = 0; c < g->nchains; c++) {
			if (g->node[c * g->r + p] != x)
				continue;
			for (unsigned j = p + 1; j < g->r; j++) {
				uint32_t w = g->node[c * g->r + j];
				if (via[w] != UINT32_MAX)
					continue;
				via[w] = c;
				if (count[w] + 2 <= count[u]) {
					count[u]--;
					count[w]++;
					/* Walk back, swapping each chain's holder of p. */
					while (w != u) {
						unsigned ch = via[w];
						uint32_t prev = g->node[ch * g->r + p];
						unsigned k = pos_of(g, ch, w, p + 1);
						g->node[ch * g->r + k] = prev;
						g->node[ch * g->r + p] = w;
						w = prev;
					}
					return true;
				}
				queue[tail++] = w;
			}
		}
	}
	return false;
}

/* Orders each chain so every node holds each position about equally often,
 * spreading the head's extra work (client writes) over all nodes. Positions
 * are balanced front to back, each without disturbing the ones before. */
static int orient(struct gen *g)
{
	unsigned *count = calloc(g->n, sizeof(*count));
	uint32_t *via = malloc(g->n * sizeof(*via));
	uint32_t *queue = malloc(g->n * sizeof(*queue));
	int rc = -ENOMEM;
	if (!count || !via || !queue)
		goto out;
	for (unsigned p = 0; p + 1 < g->r; p++) {
		memset(count, 0, g->n * sizeof(*count));
		for (unsigned c = 0; c < g->nchains; c++)
			count[g->node[c * g->r + p]]++;
		while (shift_position(g, p, count, via, queue))
			;
	}
	rc = 0;
out:
	free(queue);
	free(via);
	free(count);
	return rc;
}

int em_chain_table_generate(unsigned nodes, unsigned targets_per_node, unsigned replicas,
			    uint64_t seed, struct em_chain_table *out)
{
	memset(out, 0, sizeof(*out));
	if (nodes < 1 || nodes > EM_CHAINS_MAX_NODES || targets_per_node < 1 ||
	    targets_per_node > EM_CHAINS_MAX_TARGETS || replicas < 1 || replicas > nodes ||
	    replicas > EM_CHAIN_MAX || (nodes * targets_per_node) % replicas)
		return -EINVAL;

	struct gen g = {
		.n = nodes, .t = targets_per_node, .r = replicas,
		.nchains = nodes * targets_per_node / replicas, .rng = seed,
	};
	unsigned *cap = malloc(nodes * sizeof(*cap));
	g.node = malloc((size_t)g.nchains * replicas * sizeof(*g.node));
	g.pair = calloc((size_t)nodes * nodes, sizeof(*g.pair));
	struct em_chain_slot *slots = malloc((size_t)g.nchains * replicas * sizeof(*slots));
	int rc = -ENOMEM;
	if (!cap || !g.node || !g.pair || !slots)
		goto out;
	for (unsigned x = 0; x < nodes; x++)
		cap[x] = targets_per_node;

	greedy(&g, cap);
	improve(&g);
	rc = orient(&g);
	if (rc < 0)
		goto out;

	/* Slots in chain order: a node's first chain gets its target 0. */
	memset(cap, 0, nodes * sizeof(*cap));
	for (size_t i = 0; i < (size_t)g.nchains * replicas; i++)
		slots[i] = (struct em_chain_slot){ g.node[i], cap[g.node[i]]++ };
	*out = (struct em_chain_table){
		.nodes = nodes, .targets_per_node = targets_per_node, .replicas = replicas,
		.nchains = g.nchains, .slots = slots,
	};
	slots = NULL;
out:
	free(slots);
	free(g.pair);
	free(g.node);
	free(cap);
	return rc;
}

void em_chain_table_free(struct em_chain_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->nchains = 0;
}

static int count_pairs(const struct em_chain_table *t, unsigned *pair, unsigned *heads)
{
	unsigned r = t->replicas;
	for (unsigned c = 0; c < t->nchains; c++) {
		const struct em_chain_slot *m = &t->slots[(size_t)c * r];
		for (unsigned j = 0; j < r; j++) {
			if (m[j].node >= t->nodes || m[j].slot >= t->targets_per_node)
				return -EINVAL;
			for (unsigned i = 0; i < j; i++) {
				if (m[i].node == m[j].node)
					return -EINVAL;
				pair[(size_t)m[i].node * t->nodes + m[j].node]++;
				pair[(size_t)m[j].node * t->nodes + m[i].node]++;
			}
		}
		heads[m[0].node]++;
	}
	return 0;
}

int em_chain_table_balance(const struct em_chain_table *t, struct em_chain_balance *out)
{
	unsigned n = t->nodes;
	memset(out, 0, sizeof(*out));
	if (n < 1 || t->replicas < 1 || t->replicas > EM_CHAIN_MAX)
		return -EINVAL;
	unsigned *pair = calloc((size_t)n * n, sizeof(*pair));
	unsigned *heads = calloc(n, sizeof(*heads));
	int rc = -ENOMEM;
	if (!pair || !heads)
		goto out;
	rc = count_pairs(t, pair, heads);
	if (rc < 0)
		goto out;

	if (n > 1) {
		unsigned per = t->targets_per_node * (t->replicas - 1);
		out->ideal_pair = (per + n - 2) / (n - 1);
		out->min_pair = UINT32_MAX;
		out->min_peers = UINT32_MAX;
	}
	out->min_heads = UINT32_MAX;
	for (unsigned a = 0; a < n; a++) {
		unsigned peers = 0;
		for (unsigned b = 0; b < n; b++) {
			unsigned p = pair[(size_t)a * n + b];
			if (a == b)
				continue;
			peers += p > 0;
			if (p > out->max_pair)
				out->max_pair = p;
			if (p < out->min_pair)
				out->min_pair = p;
		}
		if (n > 1 && peers < out->min_peers)
			out->min_peers = peers;
		if (heads[a] > out->max_heads)
			out->max_heads = heads[a];
		if (heads[a] < out->min_heads)
			out->min_heads = heads[a];
	}
out:
	free(heads);
	free(pair);
	return rc;
}
