/* Issue 8's acceptance soak, on test_chain.c's cluster (`test_chain ...
 * soak`): a writer and a verifier run while a random storage daemon is
 * killed with SIGKILL and restarted, KILLS times, then one is frozen with
 * SIGSTOP past its lease and resumed.
 *
 * Every 8-byte word the writer stores names its place and the write that
 * stored it: (chunk << 24 | word) << 32 | generation, generations growing
 * with every operation. The writer also truncates and removes chunks. The
 * model keeps, per word, the generation of the newest acknowledged
 * operation covering it and whether that was a truncate or remove (then
 * zero is a valid answer too). The verifier snapshots the model, reads a whole
 * chunk through the chain client and checks every word: in its place, not
 * older than the snapshot, not newer than what was issued; zero only when
 * the snapshot allows it or a truncate or remove of that word was issued
 * after the acknowledged write (one in flight may already show). At the end
 * every replica is read through its chunk service and checked the same
 * way, and the three copies must be identical.
 *
 * The frozen daemon must fence itself: a read with the chain version from
 * before the freeze, already queued on its socket when it resumes, is
 * refused; then it returns through a resync like a killed one. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/chain/proto.h"
#include "tap.h"
#include "chain_test.h"

#define KILLS 20
#define SCHUNKS 8
#define SCHUNK (128u << 10)
#define WORDS (SCHUNK / 8)
#define MAX_WRITE_WORDS 4096 /* 32 KiB */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t acked_gen[SCHUNKS][WORDS];
static uint8_t zero_ok[SCHUNKS][WORDS];
static uint32_t trim_issued[SCHUNKS][WORDS]; /* newest truncate or remove sent */
static uint32_t issued;
static atomic_bool stop;
static unsigned n_writes, n_trims, n_failed, n_reads, n_read_err, n_stale;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct em_chunk_id soak_id(unsigned k)
{
	struct em_chunk_id id = { { 0 } };
	id.b[0] = 0x5a;
	id.b[15] = (uint8_t)(k + 1);
	return id;
}

static uint64_t word_of(unsigned k, uint32_t w, uint32_t gen)
{
	return (uint64_t)(k << 24 | w) << 32 | gen;
}

/* Whether word w of chunk k read as v agrees with a model snapshot
 * (acked generations, zero allowed), the generations issued by the end of
 * the read and the truncates and removes sent by then. */
static bool word_ok(unsigned k, uint32_t w, uint64_t v, const uint32_t *gen, const uint8_t *zok,
		    uint32_t max_gen, const uint32_t *trims)
{
	if (v == 0)
		return zok[w] || gen[w] == 0 || trims[w] > gen[w];
	uint32_t g = (uint32_t)v;
	return v >> 32 == (uint64_t)(k << 24 | w) && g >= gen[w] && g <= max_gen;
}

/* ---- the writer ---------------------------------------------------------- */

static void *writer(void *arg)
{
	(void)arg;
	struct em_chain_client *c;
	if (chain_client(1001, &c))
		return NULL;
	static uint64_t buf[MAX_WRITE_WORDS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	while (!atomic_load(&stop)) {
		unsigned k = (unsigned)(xorshift(&rng) % SCHUNKS);
		struct em_chunk_id id = soak_id(k);
		unsigned pick = (unsigned)(xorshift(&rng) % 100);
		int rc;
		uint32_t first, nw;
		if (pick < 92) {
			nw = 1 + (uint32_t)(xorshift(&rng) % MAX_WRITE_WORDS);
			first = (uint32_t)(xorshift(&rng) % (WORDS - nw + 1));
		} else if (pick < 97) {
			first = (uint32_t)(xorshift(&rng) % WORDS);
			nw = WORDS - first;
		} else {
			first = 0;
			nw = WORDS;
		}
		pthread_mutex_lock(&mu);
		uint32_t gen = ++issued;
		for (uint32_t j = first; pick >= 92 && j < first + nw; j++)
			trim_issued[k][j] = gen;
		pthread_mutex_unlock(&mu);
		if (pick < 92) {
			for (uint32_t j = 0; j < nw; j++)
				buf[j] = word_of(k, first + j, gen);
			rc = em_chain_write(c, chain_id, &id, first * 8, buf, nw * 8, NULL);
		} else if (pick < 97) {
			rc = em_chain_truncate(c, chain_id, &id, first * 8, NULL);
		} else {
			rc = em_chain_remove(c, chain_id, &id);
		}
		if (rc) {
			n_failed++;
			printf("# soak write failed: %s\n", em_strerror(rc));
			continue;
		}
		pthread_mutex_lock(&mu);
		/* Past a cut, zero or a newer write: never the bytes before it. */
		for (uint32_t j = first; j < first + nw; j++) {
			acked_gen[k][j] = gen;
			zero_ok[k][j] = pick >= 92;
		}
		pthread_mutex_unlock(&mu);
		if (pick < 92)
			n_writes++;
		else
			n_trims++;
	}
	em_chain_client_destroy(c);
	return NULL;
}

/* ---- the verifier ---------------------------------------------------------- */

static void *verifier(void *arg)
{
	(void)arg;
	struct em_chain_client *c;
	if (chain_client(1002, &c))
		return NULL;
	static uint64_t got[WORDS];
	static uint32_t gen[WORDS];
	static uint8_t zok[WORDS];
	static uint32_t trims[WORDS];
	uint64_t rng = 0x2545f4914f6cdd1dull;
	while (!atomic_load(&stop)) {
		unsigned k = (unsigned)(xorshift(&rng) % SCHUNKS);
		struct em_chunk_id id = soak_id(k);
		pthread_mutex_lock(&mu);
		memcpy(gen, acked_gen[k], sizeof(gen));
		memcpy(zok, zero_ok[k], sizeof(zok));
		pthread_mutex_unlock(&mu);
		int n = em_chain_read(c, chain_id, &id, 0, got, SCHUNK);
		pthread_mutex_lock(&mu);
		uint32_t max_gen = issued;
		memcpy(trims, trim_issued[k], sizeof(trims));
		pthread_mutex_unlock(&mu);
		int answer = n;
		if (n == -ENOENT)
			n = 0;
		if (n < 0) {
			n_read_err++;
			printf("# soak read failed: %s\n", em_strerror(n));
			continue;
		}
		memset((uint8_t *)got + n, 0, SCHUNK - (uint32_t)n);
		n_reads++;
		for (uint32_t w = 0; w < WORDS; w++)
			if (!word_ok(k, w, got[w], gen, zok, max_gen, trims)) {
				n_stale++;
				printf("# stale or foreign read (answer %d): chunk %u word %u: %016llx, "
				       "acked %u%s\n", answer, k, w, (unsigned long long)got[w], gen[w],
				       zok[w] ? " or zero" : "");
				break;
			}
	}
	em_chain_client_destroy(c);
	return NULL;
}

/* ---- faults -------------------------------------------------------------- */

static bool wait_serving(uint64_t ms)
{
	uint64_t end = em_now_ms() + ms;
	while (em_now_ms() < end) {
		if (all_serving())
			return true;
		usleep(100000);
	}
	return false;
}

static int node_of(uint32_t target)
{
	for (int i = 0; i < NNODES; i++)
		if (nodes[i].target == target)
			return i;
	return -1;
}

static unsigned kill_cycles(uint64_t *rng)
{
	unsigned kills = 0;
	while (kills < KILLS) {
		if (!wait_serving(60000)) {
			printf("# the chain did not return to three serving targets\n");
			break;
		}
		usleep((useconds_t)(500000 + xorshift(rng) % 1500000));
		int v = (int)(xorshift(rng) % NNODES);
		kill(nodes[v].pid, SIGKILL);
		waitpid(nodes[v].pid, NULL, 0);
		kills++;
		if (start_node(v, false)) {
			printf("# node %d did not restart\n", v + 1);
			break;
		}
	}
	return kills;
}

/* A len-0 READ at chain version ver: only admission answers it. */
static int fence_probe(int v, uint64_t ver, struct raw *w)
{
	struct em_chain_read_req q = { .chain = chain_id, .chain_ver = ver,
				       .target = nodes[v].target, .id = soak_id(0) };
	uint8_t req[EM_CHAIN_READ_REQ_SIZE];
	int n = em_chain_enc_read(req, sizeof(req), &q);
	return n < 0 ? n : raw_start(nodes[v].url, EM_CHAIN_READ, req, (size_t)n, NULL, w);
}

static void freeze(uint64_t *rng)
{
	struct em_chain c;
	if (!wait_serving(60000) || get_chain(&c)) {
		ok(0, "the chain serves before the freeze");
		return;
	}
	int v = node_of(c.m[xorshift(rng) % c.n].target);
	struct raw w;
	/* The connection exists before the freeze, so the probe below sits
	 * in the daemon's socket when it resumes. The chain version may still
	 * move after the last resync (a state report): take the newest. */
	int rc = -EM_ECHAINVER;
	for (int i = 0; i < 20 && rc == -EM_ECHAINVER && get_chain(&c) == 0; i++) {
		rc = fence_probe(v, c.version, &w);
		rc = rc ? rc : raw_wait(&w);
		if (rc)
			usleep(100000);
	}
	/* Past admission the writer may have chunk 0 removed or pending: the
	 * read is still admitted, which is all this asks. */
	if (rc == -ENOENT || rc == -EM_ENOTCOMMITTED)
		rc = 0;
	is_int(rc, 0, "a read at the current chain version is admitted");
	kill(nodes[v].pid, SIGSTOP);
	bool offlined = false;
	uint64_t end = em_now_ms() + 20000;
	while (!offlined && em_now_ms() < end) {
		struct em_chain now;
		usleep(100000);
		if (get_chain(&now) == 0)
			for (unsigned i = 0; i < now.n; i++)
				offlined |= now.m[i].target == nodes[v].target &&
					    now.m[i].state != EM_PUB_SERVING;
	}
	ok(offlined, "mgmtd takes the frozen daemon's target out of service");
	usleep(1000000); /* acknowledged writes it misses */
	rc = fence_probe(v, c.version, &w);
	kill(nodes[v].pid, SIGCONT);
	rc = rc ? rc : raw_wait(&w);
	ok(rc == -EM_ETARGETOFFLINE || rc == -EM_ECHAINVER,
	   "resumed, it refuses a read at the chain version before the freeze");
	printf("# the stale read got: %s\n", em_strerror(rc));
	ok(wait_serving(60000), "the resumed daemon returns through a resync: three serving");
}

/* ---- the end ------------------------------------------------------------- */

static void final_check(void)
{
	static uint64_t got[WORDS];
	unsigned bad = 0, same = 0;
	for (unsigned k = 0; k < SCHUNKS; k++) {
		struct em_chunk_id id = soak_id(k);
		struct em_chunk_meta m[NNODES];
		int st[NNODES];
		for (int i = 0; i < NNODES; i++) {
			memset(got, 0, sizeof(got));
			memset(&m[i], 0, sizeof(m[i]));
			st[i] = replica_get(i, &id, &m[i], got, SCHUNK);
			bool good = (st[i] == 0 && !m[i].pending_ver) || st[i] == -ENOENT;
			for (uint32_t w = 0; good && w < WORDS; w++)
				good = word_ok(k, w, got[w], acked_gen[k], zero_ok[k], issued,
					       trim_issued[k]);
			if (!good)
				printf("# node %d chunk %u: %s, pending %u\n", i + 1, k,
				       em_strerror(st[i]), m[i].pending_ver);
			bad += !good;
		}
		bool eq = true;
		for (int i = 1; i < NNODES; i++)
			eq &= st[i] == st[0] && m[i].length == m[0].length && m[i].crc == m[0].crc &&
			      m[i].commit_ver == m[0].commit_ver;
		same += eq;
	}
	is_int(bad, 0, "every replica holds every acknowledged word, committed");
	is_int(same, SCHUNKS, "the three replicas of every chunk are identical");
}

int soak(int setup_rc)
{
	uint64_t start = em_now_ms(), rng = 0xdeadbeefcafef00dull ^ (uint64_t)getpid();
	if (!ok(setup_rc == 0, "mgmtd, three storage daemons, one chain of three"))
		return tap_done();
	ok(wait_serving(10000), "the chain serves");
	pthread_t wt, vt;
	pthread_create(&wt, NULL, writer, NULL);
	pthread_create(&vt, NULL, verifier, NULL);
	unsigned kills = kill_cycles(&rng);
	is_int(kills, KILLS, "random storage daemons killed with SIGKILL and restarted");
	ok(wait_serving(60000), "after the kills: three serving targets");
	freeze(&rng);
	usleep(1000000);
	atomic_store(&stop, true);
	pthread_join(wt, NULL);
	pthread_join(vt, NULL);
	ok(wait_serving(60000), "at the end: three serving targets");
	printf("# %u writes and %u truncates/removes acknowledged, %u failed; %u reads checked, "
	       "%u failed, %u stale; %llu s\n",
	       n_writes, n_trims, n_failed, n_reads, n_read_err, n_stale,
	       (unsigned long long)(em_now_ms() - start) / 1000);
	ok(n_writes > 100 && n_reads > 100, "the writer and the verifier made progress");
	is_int(n_failed, 0, "no write failed");
	is_int(n_read_err, 0, "no read failed");
	is_int(n_stale, 0, "no read returned data older than an acknowledged write");
	final_check();
	return tap_done();
}
