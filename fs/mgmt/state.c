/* Target state transitions (see state.h and docs/cluster.md). */
#include <errno.h>
#include <string.h>

#include "fs/mgmt/state.h"

const char *em_local_state_name(enum em_local_state s)
{
	switch (s) {
	case EM_LOCAL_OFFLINE: return "offline";
	case EM_LOCAL_ONLINE: return "online";
	case EM_LOCAL_UPTODATE: return "up-to-date";
	default: return "?";
	}
}

const char *em_pub_state_name(enum em_pub_state s)
{
	switch (s) {
	case EM_PUB_SERVING: return "serving";
	case EM_PUB_SYNCING: return "syncing";
	case EM_PUB_WAITING: return "waiting";
	case EM_PUB_LASTSRV: return "lastsrv";
	case EM_PUB_OFFLINE: return "offline";
	default: return "?";
	}
}

bool em_pub_state_readable(enum em_pub_state s)
{
	return s == EM_PUB_SERVING;
}

bool em_pub_state_writable(enum em_pub_state s)
{
	/* A syncing target takes writes so it never falls behind again while
	 * its predecessor copies the older chunks. */
	return s == EM_PUB_SERVING || s == EM_PUB_SYNCING;
}

unsigned em_pub_state_rank(enum em_pub_state s)
{
	static const unsigned rank[EM_PUB_COUNT] = {
		[EM_PUB_SERVING] = 0, [EM_PUB_LASTSRV] = 1, [EM_PUB_SYNCING] = 2,
		[EM_PUB_WAITING] = 3, [EM_PUB_OFFLINE] = 4,
	};
	return (unsigned)s < EM_PUB_COUNT ? rank[s] : EM_PUB_COUNT;
}

enum em_pub_state em_state_next(enum em_local_state local, enum em_pub_state cur,
				bool has_pred, enum em_pub_state pred)
{
	bool pred_serving = has_pred && pred == EM_PUB_SERVING;

	switch (local) {
	case EM_LOCAL_UPTODATE:
		switch (cur) {
		case EM_PUB_SERVING:
		case EM_PUB_SYNCING:
		case EM_PUB_LASTSRV:
			return EM_PUB_SERVING;
		case EM_PUB_WAITING:
		case EM_PUB_OFFLINE:
		default:
			return EM_PUB_WAITING;
		}
	case EM_LOCAL_ONLINE:
		switch (cur) {
		case EM_PUB_SERVING:
		case EM_PUB_LASTSRV:
			return EM_PUB_SERVING;
		case EM_PUB_SYNCING:
		case EM_PUB_WAITING:
			return pred_serving ? EM_PUB_SYNCING : EM_PUB_WAITING;
		case EM_PUB_OFFLINE:
		default:
			return EM_PUB_WAITING;
		}
	case EM_LOCAL_OFFLINE:
	default:
		switch (cur) {
		case EM_PUB_SERVING:
			return has_pred ? EM_PUB_OFFLINE : EM_PUB_LASTSRV;
		case EM_PUB_LASTSRV:
			return EM_PUB_LASTSRV;
		default:
			return EM_PUB_OFFLINE;
		}
	}
}

/* The rows whose result depends on the predecessor. */
static bool needs_pred(enum em_local_state local, enum em_pub_state cur)
{
	if (local == EM_LOCAL_OFFLINE)
		return cur == EM_PUB_SERVING;
	if (local == EM_LOCAL_ONLINE)
		return cur == EM_PUB_SYNCING || cur == EM_PUB_WAITING;
	return false;
}

static int check_members(const struct em_chain *c)
{
	if (c->n < 1 || c->n > EM_CHAIN_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->m[i].target == 0 || c->m[i].state >= EM_PUB_COUNT)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (c->m[j].target == c->m[i].target)
				return -EINVAL;
	}
	return 0;
}

int em_chain_check(const struct em_chain *c)
{
	int rc = check_members(c);
	if (rc < 0)
		return rc;
	unsigned syncing = 0, serving = 0;
	for (unsigned i = 0; i < c->n; i++) {
		enum em_pub_state s = c->m[i].state;
		if (i > 0 && em_pub_state_rank(c->m[i - 1].state) > em_pub_state_rank(s))
			return -EINVAL;
		syncing += s == EM_PUB_SYNCING;
		serving += s == EM_PUB_SERVING;
	}
	return syncing > 1 || (syncing && !serving) ? -EINVAL : 0;
}

int em_chain_find(const struct em_chain *c, uint32_t target)
{
	for (unsigned i = 0; i < c->n && i < EM_CHAIN_MAX; i++)
		if (c->m[i].target == target)
			return (int)i;
	return -ENOENT;
}

/* The predecessor of a target depends on the new order, which depends on the
 * new states. The circle is cut by deciding states in the order the new chain
 * is laid out: first every state that needs no predecessor; then failing
 * serving targets, in chain order, each of which has a predecessor exactly
 * when a serving or lastsrv target is already placed ahead of it (so only the
 * first one of a chain that lost all serving targets becomes lastsrv, and the
 * chain waits for it rather than for a replica that may be stale); then the
 * resync candidates, a syncing one before waiting ones so an ongoing resync
 * keeps its place, each seeing the last target placed ahead of it. Only the
 * first candidate can follow a serving target, hence at most one syncing. */
static void decide(const struct em_chain *c, const enum em_local_state *local,
		   enum em_pub_state *next)
{
	bool has_pred = false;
	enum em_pub_state pred = EM_PUB_OFFLINE;
	bool decided[EM_CHAIN_MAX] = { false };

	for (unsigned i = 0; i < c->n; i++) {
		if (needs_pred(local[i], c->m[i].state))
			continue;
		next[i] = em_state_next(local[i], c->m[i].state, false, EM_PUB_OFFLINE);
		decided[i] = true;
		if (next[i] == EM_PUB_SERVING || next[i] == EM_PUB_LASTSRV) {
			/* Rank order puts lastsrv after serving. */
			if (!has_pred || pred != EM_PUB_LASTSRV)
				pred = next[i];
			has_pred = true;
		}
	}
	for (unsigned i = 0; i < c->n; i++) {
		if (decided[i] || c->m[i].state != EM_PUB_SERVING)
			continue;
		next[i] = em_state_next(local[i], c->m[i].state, has_pred, pred);
		decided[i] = true;
		if (next[i] == EM_PUB_LASTSRV) {
			has_pred = true;
			pred = EM_PUB_LASTSRV;
		}
	}
	static const enum em_pub_state order[] = { EM_PUB_SYNCING, EM_PUB_WAITING };
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < c->n; i++) {
			if (decided[i] || c->m[i].state != order[k])
				continue;
			next[i] = em_state_next(local[i], c->m[i].state, has_pred, pred);
			decided[i] = true;
			has_pred = true;
			pred = next[i];
		}
	}
}

int em_chain_update(struct em_chain *c, const enum em_local_state *local)
{
	int rc = check_members(c);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < c->n; i++)
		if ((unsigned)local[i] >= EM_LOCAL_COUNT)
			return -EINVAL;

	enum em_pub_state next[EM_CHAIN_MAX];
	decide(c, local, next);

	/* Stable sort by rank: a counting pass per rank keeps chain order. */
	struct em_chain_member out[EM_CHAIN_MAX];
	unsigned n = 0;
	for (unsigned r = 0; r < EM_PUB_COUNT; r++)
		for (unsigned i = 0; i < c->n; i++)
			if (em_pub_state_rank(next[i]) == r)
				out[n++] = (struct em_chain_member){ c->m[i].target, (uint8_t)next[i] };

	bool changed = false;
	for (unsigned i = 0; i < c->n; i++)
		changed |= out[i].target != c->m[i].target || out[i].state != c->m[i].state;
	if (!changed)
		return 0;
	memcpy(c->m, out, c->n * sizeof(out[0]));
	c->version++;
	return 1;
}

enum em_local_state em_local_state_presumed(enum em_pub_state pub)
{
	switch (pub) {
	case EM_PUB_SERVING:
	case EM_PUB_WAITING:
		return EM_LOCAL_UPTODATE;
	case EM_PUB_SYNCING:
		return EM_LOCAL_ONLINE;
	default:
		return EM_LOCAL_OFFLINE;
	}
}

enum em_local_state em_local_state_at(enum em_local_state reported, uint64_t last_hb_ms,
				      uint64_t now_ms, uint64_t lease_ms)
{
	/* A clock reading before the heartbeat (now < last) is not an expiry. */
	if (now_ms > last_hb_ms && now_ms - last_hb_ms >= lease_ms)
		return EM_LOCAL_OFFLINE;
	return reported;
}
