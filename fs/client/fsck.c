/* Chunks against metadata (fsck.h). One chain at a time: list every serving
 * replica in full (sorted by id, as LIST returns them), merge the lists, and
 * judge each id once per chain. Chunk ids sort by inode first, so the chunks
 * of one inode come together and one metadata lookup serves them all.
 * Memory holds one chain's listings at a time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/service/client.h"
#include "ember/errors.h"
#include "fs/client/fsck.h"
#include "net/core/crc32c.h"
#include "fs/client/layout.h"
#include "fs/kv/kv.h"
#include "fs/meta/record.h"

/* What the metadata says about one inode. */
enum ino_state { INO_GONE, INO_GC, INO_FILE, INO_NOT_FILE, INO_DAMAGED };

struct ino_info {
	uint64_t ino;
	enum ino_state state;
	uint32_t mode;
	uint64_t size;
	bool sessions;             /* a writer may have chunks past size */
	struct em_meta_layout layout;
};

/* The committed chunks of one replica of the chain being checked. */
struct replica {
	uint32_t target;
	struct em_chunk_meta *c;
	size_t n, cap, pos;
};

struct node_conn {
	struct em_cs_client *c;
	int rc;                    /* a failed connect is not retried per target */
};

struct fsck {
	const struct em_fs_fsck_opts *o;
	struct em_fs_fsck_report *rep;
	uint32_t *chain_ids;       /* ascending, as em_fs_chain_of() expects */
	struct node_conn *conns;   /* by index in routing->nodes */
	struct ino_info cur;       /* the last inode looked up */
	bool have_cur;
	struct em_meta_inode node; /* lookup's decode buffer: too big for a stack frame */
	uint8_t *data;             /* verify_data's read buffer */
};

const char *em_fs_fsck_kind_name(enum em_fs_fsck_kind k)
{
	static const char *const names[EM_FS_FSCK_KINDS] = {
		"orphan", "beyond-eof", "missing", "divergent", "misplaced", "unlisted", "corrupt",
	};
	return k < EM_FS_FSCK_KINDS ? names[k] : "?";
}

/* id NULL: the problem is not about one chunk. */
__attribute__((format(printf, 6, 7))) static void bad(struct fsck *f, enum em_fs_fsck_kind kind,
						       uint32_t chain, uint32_t target,
						       const struct em_chunk_id *id, const char *fmt, ...)
{
	f->rep->kinds[kind]++;
	f->rep->problems++;
	if (!f->o->problem)
		return;
	struct em_fs_fsck_problem p = { .kind = kind, .chain = chain, .target = target };
	if (id)
		p.id = *id;
	int off = snprintf(p.text, sizeof(p.text), "%s: ", em_fs_fsck_kind_name(kind));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p.text + off, sizeof(p.text) - (size_t)off, fmt, ap);
	va_end(ap);
	f->o->problem(f->o->arg, &p);
}

/* ---- listing ------------------------------------------------------------ */

static struct em_cs_client *conn_of(struct fsck *f, uint32_t target, int *rc)
{
	const struct em_routing *r = f->o->routing;
	const struct em_target *t = em_routing_target(r, target);
	const struct em_node *nd = t ? em_routing_node(r, t->node) : NULL;
	if (!nd) {
		*rc = -ENOENT;
		return NULL;
	}
	struct node_conn *nc = &f->conns[nd - r->nodes];
	if (!nc->c && !nc->rc) {
		struct em_cs_client_opts co = {
			.url = nd->addr, .secret = f->o->secret, .secret_len = f->o->secret_len,
			.timeout_ms = f->o->timeout_ms,
		};
		nc->rc = em_cs_client_create(&co, &nc->c);
	}
	*rc = nc->rc;
	return nc->c;
}

/* Every committed chunk of the replica's target, paged EM_CS_MAX_LIST at a
 * time. Paging stops on an empty page, not a short one, so a server that
 * answers fewer than asked cannot cut the listing short. */
static int list_replica(struct fsck *f, struct replica *rp)
{
	int rc;
	struct em_cs_client *c = conn_of(f, rp->target, &rc);
	if (!c)
		return rc;
	struct em_cs_list_req req = { .target = rp->target, .max = EM_CS_MAX_LIST };
	for (;;) {
		if (rp->cap - rp->n < EM_CS_MAX_LIST) {
			size_t cap = rp->cap ? rp->cap * 2 : 4 * EM_CS_MAX_LIST;
			struct em_chunk_meta *p = realloc(rp->c, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			rp->c = p;
			rp->cap = cap;
		}
		uint32_t n;
		rc = em_cs_client_list(c, &req, rp->c + rp->n, &n);
		if (rc < 0)
			return rc;
		if (!n)
			return 0;
		req.has_after = true;
		req.after = rp->c[rp->n + n - 1].id;
		/* Never-committed chunks are writes in flight, not data. */
		size_t keep = rp->n;
		for (size_t i = rp->n; i < rp->n + n; i++)
			if (rp->c[i].commit_ver)
				rp->c[keep++] = rp->c[i];
		rp->n = keep;
	}
}

/* ---- metadata ----------------------------------------------------------- */

static int lookup_fn(struct em_kv_txn *t, void *arg)
{
	struct fsck *f = arg;
	struct ino_info *in = &f->cur;
	uint8_t key[EM_META_KEY_MAX], end[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	in->state = INO_GONE;
	in->sessions = false;
	int rc = em_kv_get(t, key, em_meta_key_inode(key, in->ino), &v, &vl);
	if (rc == -ENOENT) {
		rc = em_kv_get(t, key, em_meta_key_ino_prefix(key, 'G', in->ino), &v, &vl);
		if (rc == 0)
			in->state = INO_GC;
		return rc == -ENOENT ? 0 : rc;
	}
	if (rc < 0)
		return rc;
	if (em_meta_inode_decode(v, vl, &f->node) < 0) {
		/* The metadata check reports the damaged record itself. */
		in->state = INO_DAMAGED;
		return 0;
	}
	in->mode = f->node.a.mode;
	in->size = f->node.a.size;
	in->layout = f->node.a.layout;
	in->state = S_ISREG(in->mode) ? INO_FILE : INO_NOT_FILE;
	/* Sessions of ino: keys "S" ino session, so [S ino, S ino+1). */
	size_t blen = em_meta_key_ino_prefix(key, 'S', in->ino), elen = 1;
	if (in->ino == UINT64_MAX)
		end[0] = 'S' + 1;
	else
		elen = em_meta_key_ino_prefix(end, 'S', in->ino + 1);
	struct em_kv_pair *p;
	size_t n;
	rc = em_kv_range(t, key, blen, end, elen, 1, false, &p, &n);
	if (rc < 0)
		return rc;
	in->sessions = n > 0;
	return 0;
}

static int lookup(struct fsck *f, uint64_t ino)
{
	if (f->have_cur && f->cur.ino == ino)
		return 0;
	f->cur.ino = ino;
	int rc = em_kv_run(f->o->kv, EM_KV_RDONLY, lookup_fn, f);
	f->have_cur = rc == 0;
	return rc;
}

/* ---- judging ------------------------------------------------------------ */

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The chunk against its inode: orphan, past EOF, on the wrong chain. */
static int judge_meta(struct fsck *f, uint32_t chain, const struct em_chunk_id *id,
		      const char *hex)
{
	const uint8_t *b = id->b;
	/* layout.h: [tenant 0][reserved 0][inode 8][track 0 0][index 4]. */
	if (b[0] || b[1] || b[10] || b[11]) {
		bad(f, EM_FS_FSCK_ORPHAN, chain, 0, id, "chunk %s on chain %u is not a file chunk id",
		    hex, chain);
		return 0;
	}
	uint64_t ino = get_be(b + 2, 8);
	uint32_t index = (uint32_t)get_be(b + 12, 4);
	int rc = lookup(f, ino);
	if (rc < 0)
		return rc;
	const struct ino_info *in = &f->cur;
	switch (in->state) {
	case INO_DAMAGED:
		return 0;
	case INO_GC:
		f->rep->gc_pending++;
		return 0;
	case INO_GONE:
		bad(f, EM_FS_FSCK_ORPHAN, chain, 0, id,
		    "chunk %s (inode %llu, chunk %u) on chain %u: no such inode, not queued for GC",
		    hex, (unsigned long long)ino, index, chain);
		return 0;
	case INO_NOT_FILE:
		bad(f, EM_FS_FSCK_ORPHAN, chain, 0, id,
		    "chunk %s (inode %llu, chunk %u) on chain %u: inode is a %s, not a file", hex,
		    (unsigned long long)ino, index, chain, S_ISDIR(in->mode) ? "directory" : "symlink");
		return 0;
	case INO_FILE:
		break;
	}
	if (!in->sessions && (uint64_t)index * in->layout.chunk_size >= in->size)
		bad(f, EM_FS_FSCK_BEYOND_EOF, chain, 0, id,
		    "chunk %s (inode %llu, chunk %u) on chain %u starts at %llu, past the "
		    "file's length %llu", hex, (unsigned long long)ino, index, chain,
		    (unsigned long long)index * in->layout.chunk_size,
		    (unsigned long long)in->size);
	size_t nchains = f->o->routing->nchains;
	uint32_t want = em_fs_chain_of(&in->layout, index, f->chain_ids, nchains);
	if (want != chain)
		bad(f, EM_FS_FSCK_MISPLACED, chain, 0, id,
		    "chunk %s (inode %llu, chunk %u) is on chain %u, its layout maps it to chain %u",
		    hex, (unsigned long long)ino, index, chain, want);
	return 0;
}

static bool same(const struct em_chunk_meta *a, const struct em_chunk_meta *b)
{
	return a->commit_ver == b->commit_ver && a->length == b->length && a->crc == b->crc;
}

/* The replicas of one chunk id against each other. have[i] is replica i's
 * copy or NULL. The reference is the copy most replicas agree on, so the
 * odd replica is the one named. */
static void judge_replicas(struct fsck *f, uint32_t chain, const struct replica *rs, unsigned k,
			   const struct em_chunk_meta *const *have, const struct em_chunk_id *id,
			   const char *hex)
{
	unsigned best = 0, best_votes = 0;
	for (unsigned i = 0; i < k; i++) {
		unsigned votes = 0;
		for (unsigned j = 0; have[i] && j < k; j++)
			votes += have[j] && same(have[i], have[j]);
		if (votes > best_votes) {
			best = i;
			best_votes = votes;
		}
	}
	const struct em_chunk_meta *ref = have[best];
	for (unsigned i = 0; i < k; i++) {
		if (!have[i])
			bad(f, EM_FS_FSCK_MISSING, chain, rs[i].target, id,
			    "chunk %s on chain %u: on target %u, not on target %u", hex, chain,
			    rs[best].target, rs[i].target);
		else if (!same(have[i], ref))
			bad(f, EM_FS_FSCK_DIVERGENT, chain, rs[i].target, id,
			    "chunk %s on chain %u: target %u has version %u length %u crc %08x, "
			    "target %u has version %u length %u crc %08x", hex, chain, rs[i].target,
			    have[i]->commit_ver, have[i]->length, have[i]->crc, rs[best].target,
			    ref->commit_ver, ref->length, ref->crc);
	}
}

#define VERIFY_PIECE (4u << 20)

/* Reads replica rp's copy m in full: its engine checks every block, and the
 * bytes must give the CRC32C its metadata names. */
static void verify_copy(struct fsck *f, uint32_t chain, uint32_t target,
			const struct em_chunk_meta *m, const char *hex)
{
	int rc = 0;
	struct em_cs_client *c = conn_of(f, target, &rc);
	if (!f->data)
		f->data = malloc(VERIFY_PIECE);
	if (!c || !f->data)
		return; /* unreachable replicas are UNLISTED already */
	uint32_t crc = 0, off = 0;
	while (off < m->length) {
		uint32_t n = m->length - off < VERIFY_PIECE ? m->length - off : VERIFY_PIECE;
		struct em_cs_io io = { .item = { .target = target, .id = m->id, .offset = off,
						 .len = n }, .data = f->data };
		struct em_cs_result res;
		rc = em_cs_client_batch(c, EM_CS_READ, &io, 1, &res);
		if (rc == 0)
			rc = res.status;
		if (rc == 0 && res.len != n)
			rc = -ENODATA; /* changed under us: not this check's business */
		if (rc)
			break;
		crc = em_crc32c(crc, f->data, n);
		f->rep->bytes_verified += n;
		off += n;
	}
	if (rc == -EM_ECHECKSUM)
		bad(f, EM_FS_FSCK_CORRUPT, chain, target, &m->id,
		    "chunk %s on chain %u: target %u: a block fails its checksum (version %u, "
		    "%u bytes)", hex, chain, target, m->commit_ver, m->length);
	else if (rc == 0 && crc != m->crc)
		bad(f, EM_FS_FSCK_CORRUPT, chain, target, &m->id,
		    "chunk %s on chain %u: target %u: bytes give crc %08x, metadata says %08x", hex,
		    chain, target, crc, m->crc);
}

static int cmp_id(const struct em_chunk_id *a, const struct em_chunk_id *b)
{
	return memcmp(a->b, b->b, sizeof(a->b));
}

/* Merges the sorted listings: each id once, with every replica's copy. */
static int merge(struct fsck *f, uint32_t chain, struct replica *rs, unsigned k)
{
	for (;;) {
		const struct em_chunk_id *min = NULL;
		for (unsigned i = 0; i < k; i++)
			if (rs[i].pos < rs[i].n && (!min || cmp_id(&rs[i].c[rs[i].pos].id, min) < 0))
				min = &rs[i].c[rs[i].pos].id;
		if (!min)
			return 0;
		struct em_chunk_id id = *min;
		const struct em_chunk_meta *have[EM_CHAIN_MAX] = { 0 };
		for (unsigned i = 0; i < k; i++)
			if (rs[i].pos < rs[i].n && cmp_id(&rs[i].c[rs[i].pos].id, &id) == 0)
				have[i] = &rs[i].c[rs[i].pos++];
		f->rep->chunks++;
		char hex[33];
		em_cs_id_fmt(&id, hex);
		judge_replicas(f, chain, rs, k, have, &id, hex);
		for (unsigned i = 0; f->o->verify_data && i < k; i++)
			if (have[i] && have[i]->length)
				verify_copy(f, chain, rs[i].target, have[i], hex);
		int rc = judge_meta(f, chain, &id, hex);
		if (rc < 0)
			return rc;
	}
}

static int check_chain(struct fsck *f, const struct em_chain *ch)
{
	struct replica rs[EM_CHAIN_MAX];
	unsigned k = 0;
	int rc = 0;
	f->rep->chains++;
	for (unsigned i = 0; i < ch->n && rc == 0; i++) {
		if (ch->m[i].state != EM_PUB_SERVING) {
			f->rep->replicas_skipped++;
			continue;
		}
		rs[k] = (struct replica){ .target = ch->m[i].target };
		rc = list_replica(f, &rs[k]);
		if (rc == 0) {
			f->rep->replicas_listed++;
			k++;
		} else if (rc != -ENOMEM) {
			bad(f, EM_FS_FSCK_UNLISTED, ch->id, rs[k].target, NULL,
			    "target %u of chain %u could not be listed: %s", rs[k].target, ch->id,
			    em_strerror(rc));
			free(rs[k].c);
			rc = 0;
		} else {
			free(rs[k].c);
		}
	}
	if (rc == 0)
		rc = merge(f, ch->id, rs, k);
	for (unsigned i = 0; i < k; i++)
		free(rs[i].c);
	return rc;
}

int em_fs_fsck(const struct em_fs_fsck_opts *o, struct em_fs_fsck_report *out)
{
	const struct em_routing *r = o->routing;
	struct fsck *f = calloc(1, sizeof(*f));
	memset(out, 0, sizeof(*out));
	if (!f)
		return -ENOMEM;
	f->o = o;
	f->rep = out;
	f->chain_ids = malloc((r->nchains ? r->nchains : 1) * sizeof(*f->chain_ids));
	f->conns = calloc(r->nnodes ? r->nnodes : 1, sizeof(*f->conns));
	int rc = f->chain_ids && f->conns ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < r->nchains; i++)
		f->chain_ids[i] = r->chains[i].id;
	for (size_t i = 0; rc == 0 && i < r->nchains; i++)
		rc = check_chain(f, &r->chains[i]);
	for (size_t i = 0; f->conns && i < r->nnodes; i++)
		if (f->conns[i].c)
			em_cs_client_destroy(f->conns[i].c);
	free(f->conns);
	free(f->data);
	free(f->chain_ids);
	free(f);
	return rc;
}
