/* The scrubber: every chunk of every local target read at a bounded rate, so
 * a bad block nobody reads is found (and healed, repair.c) before its other
 * replicas fail too.
 *
 * A pass walks the target's chunks in id order, a page at a time. For each
 * page it first lists the same ids on the chain's successor (the chunk
 * service's LIST) and compares committed versions: the same version with
 * another length or CRC is divergence, which no replica's own checksums can
 * see; it is counted and logged, not repaired (which copy is right is not
 * known here; `ember fsck` names both). Then each committed chunk is read in
 * full through the engine, which verifies every block; a bad one is queued
 * for repair. Reads are paced so that the pass moves at most `rate` bytes a
 * second, and run one at a time, so client I/O always comes first.
 *
 * A pass starts `interval` after the previous one started (the first one
 * `interval` after the daemon started), or at once on EM_CHAIN_SCRUB_START.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/service/proto.h"
#include "ember/errors.h"
#include "fs/chain/internal.h"
#include "net/core/log.h"
#include "net/core/metrics.h"

#define SCRUB_PAGE 256u

struct ch_scrub {
	struct ch_target *t;
	bool running, busy, stop;
	bool has_after;
	struct em_chunk_id after;
	struct em_chunk_meta page[SCRUB_PAGE];
	size_t npage, pos;
	struct em_chunk_meta *succ; /* the successor's copies of this page's ids */
	size_t nsucc;
	struct em_cs_buf *buf;
	struct em_timer *timer;
	uint64_t pass_start_ms, next_pass_ms, pass_bytes;
	struct em_chain_scrub_stat st;
	struct em_metric *m_bytes, *m_chunks, *m_divergent;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void step(struct ch_scrub *sc);

static void pass_end(struct ch_scrub *sc, const char *why)
{
	struct ch_target *t = sc->t;
	sc->running = false;
	sc->stop = false;
	if (!why) {
		sc->st.passes++;
		sc->st.last_pass_ms = wall_ms();
	}
	EM_INFO("chain", "target %u: scrub %s: %llu chunks, %llu bytes read in %llu s; %llu bad "
		"blocks found so far, %llu chunks repaired, %llu unrepairable, %llu divergent",
		t->id, why ? why : "pass complete", (unsigned long long)sc->st.chunks_done,
		(unsigned long long)sc->st.bytes_done,
		(unsigned long long)((em_now_ms() - sc->pass_start_ms) / 1000),
		(unsigned long long)t->checksum_errors, (unsigned long long)t->repaired,
		(unsigned long long)t->unrepairable, (unsigned long long)sc->st.divergent);
}

static void on_timer(void *arg)
{
	struct ch_scrub *sc = arg;
	sc->timer = NULL;
	step(sc);
}

/* Next chunk, or a timer when the pass is ahead of its rate. */
static void schedule(struct ch_scrub *sc)
{
	struct em_chain_server *s = sc->t->s;
	uint64_t rate = s->scrub_rate;
	uint64_t due = sc->pass_start_ms + (rate ? sc->pass_bytes * 1000 / rate : 0);
	uint64_t now = em_now_ms();
	if (due <= now) {
		step(sc);
		return;
	}
	if (em_reactor_timer(s->r, due - now, on_timer, sc, &sc->timer))
		sc->timer = NULL;
}

static void compare(struct ch_scrub *sc)
{
	size_t j = 0;
	for (size_t i = 0; i < sc->npage; i++) {
		const struct em_chunk_meta *a = &sc->page[i];
		while (j < sc->nsucc && memcmp(sc->succ[j].id.b, a->id.b, sizeof(a->id.b)) < 0)
			j++;
		if (j == sc->nsucc)
			break;
		const struct em_chunk_meta *b = &sc->succ[j];
		if (memcmp(b->id.b, a->id.b, sizeof(a->id.b)) || !a->commit_ver ||
		    a->pending_ver || b->pending_ver || a->commit_ver != b->commit_ver ||
		    (a->length == b->length && a->crc == b->crc))
			continue;
		char hex[33];
		em_cs_id_fmt(&a->id, hex);
		sc->st.divergent++;
		if (sc->m_divergent)
			em_counter_add(sc->m_divergent, 1);
		EM_ERR("chain", "target %u: scrub: chunk %s version %u differs from the successor's "
		       "(length %u crc %08x here, %u %08x there); run `ember fsck`", sc->t->id, hex,
		       a->commit_ver, a->length, a->crc, b->length, b->crc);
	}
}

static void on_succ_list(void *arg, int status, const void *p, size_t len)
{
	struct ch_scrub *sc = arg;
	uint32_t n = 0;
	sc->busy = false;
	if (status == 0 && em_cs_dec_metas(p, len, sc->succ, SCRUB_PAGE, &n) == 0) {
		sc->nsucc = n;
		compare(sc);
	} else if (status != -EM_ECHAINVER) {
		EM_DEBUG("chain", "target %u: scrub: listing the successor: %s", sc->t->id,
			 em_strerror(status ? status : -EBADMSG));
	}
	step(sc);
}

/* The successor's copies of the ids from this page's first on. */
static bool list_successor(struct ch_scrub *sc)
{
	struct ch_target *t = sc->t;
	struct ch_view v;
	ch_view(t->s, t, &v);
	if (!v.succ || v.succ_state != EM_PUB_SERVING || v.state != EM_PUB_SERVING)
		return false;
	struct em_cs_list_req q = { .target = v.succ, .max = SCRUB_PAGE,
				    .has_after = sc->has_after, .after = sc->after };
	uint8_t req[64];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_cs_enc_list_req(&e, &q);
	struct em_rpc_call_opts co = { .timeout_ms = (uint32_t)t->s->rpc_timeout_ms };
	if (em_enc_error(&e) || em_rpc_call(t->s->rpc, v.succ_url, EM_CS_SERVICE, EM_CS_LIST, req,
					    e.len, &co, on_succ_list, sc))
		return false;
	sc->busy = true;
	return true;
}

static void on_read(void *arg, int status)
{
	struct ch_scrub *sc = arg;
	struct ch_target *t = sc->t;
	const struct em_chunk_meta *m = &sc->page[sc->pos];
	sc->busy = false;
	em_cs_buf_put(t->s->pool, sc->buf);
	sc->buf = NULL;
	if (status == -EM_ECHECKSUM) {
		ch_repair_count_error(t);
		ch_repair_queue(t, &m->id);
	}
	/* Paced by what the pass meant to read, found or not. */
	sc->pass_bytes += m->length;
	if (status > 0) {
		sc->st.bytes_done += (uint64_t)status;
		if (sc->m_bytes)
			em_counter_add(sc->m_bytes, (uint64_t)status);
	}
	sc->st.chunks_done++;
	if (sc->m_chunks)
		em_counter_add(sc->m_chunks, 1);
	sc->after = m->id;
	sc->has_after = true;
	sc->pos++;
	schedule(sc);
}

static void step(struct ch_scrub *sc)
{
	struct ch_target *t = sc->t;
	if (sc->busy || sc->timer)
		return;
	if (sc->stop || t->s->stopping) {
		pass_end(sc, "stopped");
		return;
	}
	if (sc->pos == sc->npage) {
		sc->npage = em_chunk_list(t->eng, sc->has_after ? &sc->after : NULL, sc->page,
					  SCRUB_PAGE);
		sc->pos = 0;
		sc->nsucc = 0;
		if (!sc->npage) {
			pass_end(sc, NULL);
			return;
		}
		if (list_successor(sc))
			return;
	}
	while (sc->pos < sc->npage) {
		const struct em_chunk_meta *m = &sc->page[sc->pos];
		struct em_chunk_meta now;
		/* Gone, empty or not committed since the page was listed. */
		if (em_chunk_query(t->eng, &m->id, &now) == 0 && now.commit_ver && now.length) {
			sc->page[sc->pos] = now;
			break;
		}
		sc->after = m->id;
		sc->has_after = true;
		sc->pos++;
	}
	if (sc->pos == sc->npage) {
		schedule(sc);
		return;
	}
	const struct em_chunk_meta *m = &sc->page[sc->pos];
	int rc = em_cs_buf_get(t->s->pool, m->length, &sc->buf);
	if (rc == 0) {
		rc = em_chunk_read(t->eng, &m->id, 0, m->length, sc->buf->data, 0, on_read, sc);
		if (rc)
			em_cs_buf_put(t->s->pool, sc->buf);
	}
	if (rc) {
		sc->buf = NULL;
		if (rc != -ENOENT) {
			pass_end(sc, "ended by an error");
			return;
		}
		on_read(sc, 0); /* removed meanwhile */
		return;
	}
	sc->busy = true;
}

static void pass_start(struct ch_scrub *sc)
{
	struct em_engine_stats es;
	em_engine_get_stats(sc->t->eng, &es);
	sc->running = true;
	sc->stop = false;
	sc->has_after = false;
	sc->npage = sc->pos = 0;
	sc->pass_start_ms = em_now_ms();
	sc->next_pass_ms = sc->pass_start_ms + sc->t->s->scrub_interval_ms;
	sc->pass_bytes = 0;
	sc->st.chunks_done = sc->st.bytes_done = 0;
	sc->st.chunks_total = es.chunks;
	EM_INFO("chain", "target %u: scrub pass started: %llu chunks, %llu bytes", sc->t->id,
		(unsigned long long)es.chunks, (unsigned long long)es.bytes);
	step(sc);
}

int ch_scrub_init(struct ch_target *t)
{
	struct ch_scrub *sc = calloc(1, sizeof(*sc));
	if (sc)
		sc->succ = calloc(SCRUB_PAGE, sizeof(*sc->succ));
	if (!sc || !sc->succ) {
		free(sc);
		return -ENOMEM;
	}
	sc->t = t;
	sc->st.target = t->id;
	sc->next_pass_ms = em_now_ms() + t->s->scrub_interval_ms;
	sc->m_bytes = ch_metric_counter("ember_scrub_bytes_total",
					"chunk bytes read and verified by the scrubber", t->id, NULL);
	sc->m_chunks = ch_metric_counter("ember_scrub_chunks_total", "chunks read by the scrubber",
					 t->id, NULL);
	sc->m_divergent = ch_metric_counter("ember_scrub_divergent_total",
					    "chunks whose committed copy differs from the "
					    "successor's at the same version", t->id, NULL);
	t->scrub = sc;
	return 0;
}

void ch_scrub_free(struct ch_target *t)
{
	struct ch_scrub *sc = t->scrub;
	if (!sc)
		return;
	if (sc->timer)
		em_reactor_timer_cancel(t->s->r, sc->timer);
	if (sc->buf)
		em_cs_buf_put(t->s->pool, sc->buf);
	free(sc->succ);
	free(sc);
	t->scrub = NULL;
}

void ch_scrub_tick(struct ch_target *t)
{
	struct ch_scrub *sc = t->scrub;
	if (!sc || sc->running || !t->s->scrub_interval_ms || em_now_ms() < sc->next_pass_ms)
		return;
	pass_start(sc);
}

int ch_scrub_control(struct ch_target *t, uint8_t op)
{
	struct ch_scrub *sc = t->scrub;
	if (!sc)
		return -ENOMEM;
	if (op == EM_CHAIN_SCRUB_START && !sc->running)
		pass_start(sc);
	else if (op == EM_CHAIN_SCRUB_STOP && sc->running) {
		sc->stop = true;
		if (sc->timer) {
			em_reactor_timer_cancel(t->s->r, sc->timer);
			sc->timer = NULL;
		}
		step(sc); /* ends now unless a read is in flight */
	}
	return 0;
}

void ch_scrub_stat(const struct ch_target *t, struct em_chain_scrub_stat *out)
{
	const struct ch_scrub *sc = t->scrub;
	memset(out, 0, sizeof(*out));
	if (sc)
		*out = sc->st;
	out->target = t->id;
	out->running = sc && sc->running;
	out->errors = t->checksum_errors;
	out->repaired = t->repaired;
	out->unrepairable = t->unrepairable;
}
