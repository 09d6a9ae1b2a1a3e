/* Target state machine: the transition table row by row, then whole chains
 * through failures, returns and resyncs. */
#include <errno.h>

#include "fs/mgmt/state.h"
#include "tap.h"

enum { S = EM_PUB_SERVING, Y = EM_PUB_SYNCING, W = EM_PUB_WAITING, L = EM_PUB_LASTSRV,
       O = EM_PUB_OFFLINE };
enum { UP = EM_LOCAL_UPTODATE, ON = EM_LOCAL_ONLINE, OFF = EM_LOCAL_OFFLINE };

/* The table of the research brief (3FS docs/design_notes.md). pred: -1 no
 * predecessor, else its public state. */
static const struct row {
	int local, cur, pred, next;
} table[] = {
	{ UP, S, -1, S }, { UP, S, S, S },
	{ UP, Y, S, S },  { UP, Y, W, S },
	{ UP, W, S, W },  { UP, W, -1, W },
	{ UP, L, -1, S }, { UP, L, S, S },
	{ UP, O, S, W },  { UP, O, -1, W },
	{ ON, S, -1, S }, { ON, S, S, S },
	{ ON, Y, S, Y },  { ON, Y, W, W }, { ON, Y, L, W }, { ON, Y, -1, W },
	{ ON, W, S, Y },  { ON, W, Y, W }, { ON, W, L, W }, { ON, W, -1, W },
	{ ON, L, -1, S }, { ON, L, S, S },
	{ ON, O, S, W },  { ON, O, -1, W },
	{ OFF, S, -1, L }, { OFF, S, S, O }, { OFF, S, L, O },
	{ OFF, Y, S, O }, { OFF, Y, -1, O },
	{ OFF, W, S, O }, { OFF, W, -1, O },
	{ OFF, O, S, O }, { OFF, O, -1, O },
	{ OFF, L, -1, L }, { OFF, L, S, L },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		char what[96];
		snprintf(what, sizeof(what), "%s + %s, pred %s -> %s",
			 em_local_state_name(r->local), em_pub_state_name(r->cur),
			 r->pred < 0 ? "none" : em_pub_state_name(r->pred),
			 em_pub_state_name(r->next));
		is_int(em_state_next(r->local, r->cur, r->pred >= 0,
				     r->pred < 0 ? EM_PUB_OFFLINE : r->pred),
		       r->next, what);
	}
	ok(em_pub_state_readable(EM_PUB_SERVING) && !em_pub_state_readable(EM_PUB_SYNCING),
	   "only serving targets are read");
	ok(em_pub_state_writable(EM_PUB_SYNCING) && !em_pub_state_writable(EM_PUB_WAITING),
	   "syncing targets take writes, waiting ones do not");
	for (int s = 0; s < EM_PUB_COUNT; s++)
		is_int(em_state_next(em_local_state_presumed(s), s, true, EM_PUB_SERVING), s,
		       "the presumed local state keeps the public state");
}

/* Builds chain 1 from "ABC"-style target ids 1..n with the given states. */
static struct em_chain mk(unsigned n, const int *targets, const int *states)
{
	struct em_chain c = { .id = 1, .version = 1, .n = n };
	for (unsigned i = 0; i < n; i++)
		c.m[i] = (struct em_chain_member){ (uint32_t)targets[i], (uint8_t)states[i] };
	return c;
}

/* Checks the chain is exactly targets/states, head first. */
static int same(const struct em_chain *c, unsigned n, const int *targets, const int *states)
{
	if (c->n != n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (c->m[i].target != (uint32_t)targets[i] || c->m[i].state != states[i])
			return 0;
	return 1;
}

/* Local states by target id (1-based), looked up in the chain's order. */
static int step(struct em_chain *c, const int *by_target)
{
	enum em_local_state local[EM_CHAIN_MAX];
	for (unsigned i = 0; i < c->n; i++)
		local[i] = by_target[c->m[i].target];
	return em_chain_update(c, local);
}

static void test_fail_head(void)
{
	struct em_chain c = mk(3, (int[]){ 1, 2, 3 }, (int[]){ S, S, S });
	is_int(step(&c, (int[]){ 0, UP, UP, UP }), 0, "healthy chain: no change");
	is_int(c.version, 1, "no change keeps the version");

	is_int(step(&c, (int[]){ 0, OFF, UP, UP }), 1, "head fails: changed");
	ok(same(&c, 3, (int[]){ 2, 3, 1 }, (int[]){ S, S, O }), "failed head moves to the tail, offline");
	is_int(c.version, 2, "version bumped");
	is_int(step(&c, (int[]){ 0, OFF, UP, UP }), 0, "stable while it stays down");

	is_int(step(&c, (int[]){ 0, ON, UP, UP }), 1, "it returns online");
	ok(same(&c, 3, (int[]){ 2, 3, 1 }, (int[]){ S, S, W }), "offline -> waiting first");
	is_int(step(&c, (int[]){ 0, ON, UP, UP }), 1, "next round");
	ok(same(&c, 3, (int[]){ 2, 3, 1 }, (int[]){ S, S, Y }), "waiting behind serving -> syncing");
	is_int(step(&c, (int[]){ 0, ON, UP, UP }), 0, "stays syncing while online");
	is_int(step(&c, (int[]){ 0, UP, UP, UP }), 1, "sync done: up-to-date");
	ok(same(&c, 3, (int[]){ 2, 3, 1 }, (int[]){ S, S, S }), "syncing -> serving, at the tail");
	is_int(c.version, 5, "one bump per change");
}

static void test_fail_two(void)
{
	struct em_chain c = mk(3, (int[]){ 1, 2, 3 }, (int[]){ S, S, S });
	step(&c, (int[]){ 0, OFF, OFF, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, O, O }),
	   "two fail at once: the survivor heads, both failed at the tail in order");

	/* Both return; only one may sync at a time. */
	step(&c, (int[]){ 0, ON, ON, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, W, W }), "both waiting");
	step(&c, (int[]){ 0, ON, ON, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, Y, W }), "exactly one syncing");
	step(&c, (int[]){ 0, ON, ON, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, Y, W }), "the other keeps waiting");
	step(&c, (int[]){ 0, UP, ON, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, S, Y }),
	   "first done: serving, and the next starts syncing in the same round");
	step(&c, (int[]){ 0, UP, UP, UP });
	ok(same(&c, 3, (int[]){ 3, 1, 2 }, (int[]){ S, S, S }), "back to three serving");
}

static void test_syncing_loses_source(void)
{
	struct em_chain c = mk(2, (int[]){ 1, 2 }, (int[]){ S, Y });
	step(&c, (int[]){ 0, OFF, ON });
	ok(same(&c, 2, (int[]){ 1, 2 }, (int[]){ L, W }),
	   "the only serving target fails mid-sync: it is lastsrv, the half-synced one waits");

	c = mk(2, (int[]){ 1, 2 }, (int[]){ S, Y });
	step(&c, (int[]){ 0, OFF, UP });
	ok(same(&c, 2, (int[]){ 2, 1 }, (int[]){ S, O }),
	   "unless the sync finished in the same round: then it serves");
}

static void test_lastsrv(void)
{
	struct em_chain c = mk(3, (int[]){ 1, 2, 3 }, (int[]){ S, S, S });
	step(&c, (int[]){ 0, OFF, OFF, OFF });
	ok(same(&c, 3, (int[]){ 1, 2, 3 }, (int[]){ L, O, O }),
	   "all fail: only the first becomes lastsrv");
	is_int(em_chain_check(&c), 0, "still well formed");

	step(&c, (int[]){ 0, OFF, ON, ON });
	ok(same(&c, 3, (int[]){ 1, 2, 3 }, (int[]){ L, W, W }),
	   "others return first: they wait for the lastsrv, nobody syncs from them");
	step(&c, (int[]){ 0, OFF, ON, ON });
	ok(same(&c, 3, (int[]){ 1, 2, 3 }, (int[]){ L, W, W }), "still waiting");

	step(&c, (int[]){ 0, ON, ON, ON });
	ok(same(&c, 3, (int[]){ 1, 2, 3 }, (int[]){ S, Y, W }),
	   "lastsrv returns: serving, and one waiting target starts syncing from it");

	c = mk(3, (int[]){ 1, 2, 3 }, (int[]){ S, S, S });
	step(&c, (int[]){ 0, UP, OFF, UP });
	step(&c, (int[]){ 0, OFF, ON, OFF });
	ok(same(&c, 3, (int[]){ 1, 2, 3 }, (int[]){ L, W, O }),
	   "serial failures: the first of the last serving ones becomes lastsrv");
}

/* A pseudo-random walk through local states: the chain stays well formed
 * and its version only grows, by exactly one per change. */
static void test_random_walk(void)
{
	struct em_chain c = mk(4, (int[]){ 1, 2, 3, 4 }, (int[]){ S, S, S, S });
	uint64_t x = 42, prev = c.version;
	int good = 1, mono = 1, syncing_ok = 1, changes = 0;
	for (int i = 0; i < 20000; i++) {
		int local[5];
		for (int t = 1; t <= 4; t++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			local[t] = (int)((x >> 33) % 3);
		}
		int rc = step(&c, local);
		good &= rc >= 0 && em_chain_check(&c) == 0;
		mono &= c.version == prev + (uint64_t)(rc > 0);
		changes += rc > 0;
		prev = c.version;
		int s = 0;
		for (unsigned k = 0; k < c.n; k++)
			s += c.m[k].state == EM_PUB_SYNCING;
		syncing_ok &= s <= 1;
	}
	ok(good, "every state reached is a well-formed chain");
	ok(mono, "the version grows by one exactly when the chain changes");
	ok(syncing_ok, "never two syncing targets");
	ok(changes > 1000, "the walk exercised many transitions");
}

static void test_invalid(void)
{
	struct em_chain c = mk(2, (int[]){ 1, 1 }, (int[]){ S, S });
	enum em_local_state local[2] = { EM_LOCAL_UPTODATE, EM_LOCAL_UPTODATE };
	is_int(em_chain_update(&c, local), -EINVAL, "duplicate target rejected");
	c = mk(2, (int[]){ 1, 2 }, (int[]){ S, 9 });
	is_int(em_chain_update(&c, local), -EINVAL, "bad public state rejected");
	c = mk(2, (int[]){ 1, 2 }, (int[]){ S, S });
	local[1] = 7;
	is_int(em_chain_update(&c, local), -EINVAL, "bad local state rejected");
	is_int(c.version, 1, "rejected update leaves the chain alone");
	c.n = 0;
	is_int(em_chain_check(&c), -EINVAL, "empty chain is malformed");
	c = mk(2, (int[]){ 1, 2 }, (int[]){ O, S });
	is_int(em_chain_check(&c), -EINVAL, "offline ahead of serving is malformed");
	c = mk(3, (int[]){ 1, 2, 3 }, (int[]){ S, Y, Y });
	is_int(em_chain_check(&c), -EINVAL, "two syncing is malformed");
	c = mk(2, (int[]){ 1, 2 }, (int[]){ L, Y });
	is_int(em_chain_check(&c), -EINVAL, "syncing without a serving source is malformed");
	is_int(em_chain_find(&c, 2), 1, "find a member");
	is_int(em_chain_find(&c, 5), -ENOENT, "find a stranger");
}

static void test_lease(void)
{
	is_int(em_local_state_at(EM_LOCAL_UPTODATE, 1000, 5000, 10000), EM_LOCAL_UPTODATE,
	       "within the lease the report stands");
	is_int(em_local_state_at(EM_LOCAL_UPTODATE, 1000, 11000, 10000), EM_LOCAL_OFFLINE,
	       "at the lease end the node is offline");
	is_int(em_local_state_at(EM_LOCAL_ONLINE, 5000, 4000, 10000), EM_LOCAL_ONLINE,
	       "a heartbeat from the future is not an expiry");
	is_str(em_pub_state_name(EM_PUB_LASTSRV), "lastsrv", "state names");
	is_str(em_local_state_name(EM_LOCAL_UPTODATE), "up-to-date", "local names");
}

int main(void)
{
	test_table();
	test_fail_head();
	test_fail_two();
	test_syncing_loses_source();
	test_lastsrv();
	test_random_walk();
	test_invalid();
	test_lease();
	return tap_done();
}
