/* The metadata consistency check (fsck.h). One read-only transaction loads
 * every inode into a sorted table (inode keys are big-endian, so the scan
 * returns them in order), then walks entries, markers and sessions against it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/kv/kv.h"
#include "fs/meta/fsck.h"
#include "fs/meta/internal.h"

#define PAGE 4096
/* Deeper than any real tree; a longer parent walk is a cycle. */
#define MAX_DEPTH 4096

struct node {
	uint64_t ino, parent;
	uint32_t mode, nlink;
	uint32_t entries;          /* dentries naming it */
	uint32_t subdirs;          /* directories: entries that are directories */
	uint64_t entry_parent;     /* directories: where its entry is */
	bool orphan;
	uint32_t live_sessions;    /* write sessions not expired */
};

struct client {
	uint64_t id;
	struct em_meta_client_rec rec;
};

/* Something repair may fix: re-checked in its own transaction. */
enum fix_kind { FIX_CLEAR, FIX_DESTROY };
struct fix {
	enum fix_kind kind;
	uint64_t ino;
	uint8_t key[EM_KV_KEY_MAX];
	size_t klen;
};

struct fsck {
	em_meta_fsck_fn problem;
	void *arg;
	struct em_meta_fsck_report rep;
	struct node *nodes;
	size_t n, cap;
	struct client *clients;
	size_t nc, ccap;
	uint64_t next_ino;
	int64_t now;
	bool collect;              /* repair: note the fixable problems */
	struct fix *fixes;
	size_t nf, fcap;
};

static int note_fix(struct fsck *f, enum fix_kind kind, uint64_t ino, const uint8_t *key,
		    size_t klen)
{
	if (!f->collect)
		return 0;
	if (f->nf == f->fcap) {
		size_t cap = f->fcap ? f->fcap * 2 : 64;
		struct fix *nf = realloc(f->fixes, cap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		f->fixes = nf;
		f->fcap = cap;
	}
	struct fix *x = &f->fixes[f->nf++];
	x->kind = kind;
	x->ino = ino;
	x->klen = klen < sizeof(x->key) ? klen : 0;
	memcpy(x->key, key, x->klen);
	return 0;
}

static const struct client *find_client(const struct fsck *f, uint64_t id)
{
	size_t lo = 0, hi = f->nc;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->clients[mid].id == id)
			return &f->clients[mid];
		if (f->clients[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

__attribute__((format(printf, 2, 3))) static void bad(struct fsck *f, const char *fmt, ...)
{
	f->rep.problems++;
	if (!f->problem)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->problem(f->arg, line);
}

static struct node *find(struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->nodes[mid].ino == ino)
			return &f->nodes[mid];
		if (f->nodes[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

typedef int (*visit_fn)(struct fsck *f, const uint8_t *key, size_t klen, const void *val,
			size_t vlen);

/* Every key starting with tag, in pages so no backend buffers the whole
 * namespace at once. */
static int scan(struct em_kv_txn *t, struct fsck *f, char tag, visit_fn fn)
{
	uint8_t begin[EM_KV_KEY_MAX + 1] = { (uint8_t)tag }, end[1] = { (uint8_t)(tag + 1) };
	size_t blen = 1;
	for (;;) {
		struct em_kv_pair *p;
		size_t n;
		int rc = em_kv_range(t, begin, blen, end, 1, PAGE, false, &p, &n);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i++)
			if ((rc = fn(f, p[i].key, p[i].klen, p[i].val, p[i].vlen)) < 0)
				return rc;
		if (n < PAGE)
			return 0;
		/* Resume just after the last key: the key with a 0 byte appended. */
		memcpy(begin, p[n - 1].key, p[n - 1].klen);
		begin[p[n - 1].klen] = 0;
		blen = p[n - 1].klen + 1;
	}
}

static int visit_inode(struct fsck *f, const uint8_t *key, size_t klen, const void *val,
		       size_t vlen)
{
	struct em_meta_inode in;
	if (klen != 9) {
		bad(f, "inode key of %zu bytes", klen);
		return 0;
	}
	uint64_t ino = em_meta_get_be64(key + 1);
	int rc = em_meta_inode_decode(val, vlen, &in);
	if (rc < 0) {
		bad(f, "inode %llu: undecodable record (%d)", (unsigned long long)ino, rc);
		return 0;
	}
	if (ino >= f->next_ino)
		bad(f, "inode %llu at or above the allocation counter %llu",
		    (unsigned long long)ino, (unsigned long long)f->next_ino);
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct node *nn = realloc(f->nodes, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		f->nodes = nn;
		f->cap = cap;
	}
	f->nodes[f->n++] = (struct node){ .ino = ino, .parent = in.a.parent, .mode = in.a.mode,
					  .nlink = in.a.nlink };
	f->rep.inodes++;
	f->rep.dirs += S_ISDIR(in.a.mode);
	f->rep.files += S_ISREG(in.a.mode);
	f->rep.symlinks += S_ISLNK(in.a.mode);
	return 0;
}

static int visit_dentry(struct fsck *f, const uint8_t *key, size_t klen, const void *val,
			size_t vlen)
{
	struct em_meta_dentry d;
	f->rep.dentries++;
	if (klen < 10) {
		bad(f, "dentry key of %zu bytes", klen);
		return 0;
	}
	uint64_t parent = em_meta_get_be64(key + 1);
	int nlen = (int)(klen - 9);
	const char *name = (const char *)key + 9;
	if (em_meta_dentry_decode(val, vlen, &d) < 0) {
		bad(f, "entry %llu/%.*s: undecodable", (unsigned long long)parent, nlen, name);
		return 0;
	}
	struct node *p = find(f, parent), *c = find(f, d.ino);
	if (!p || !S_ISDIR(p->mode))
		bad(f, "entry %llu/%.*s: parent is %s", (unsigned long long)parent, nlen, name,
		    p ? "not a directory" : "missing");
	if (!c) {
		bad(f, "entry %llu/%.*s: inode %llu missing", (unsigned long long)parent, nlen,
		    name, (unsigned long long)d.ino);
		return 0;
	}
	if (em_meta_type_of_mode(c->mode) != d.type)
		bad(f, "entry %llu/%.*s: type %u, inode %llu has mode 0%o",
		    (unsigned long long)parent, nlen, name, d.type, (unsigned long long)d.ino,
		    c->mode);
	c->entries++;
	if (S_ISDIR(c->mode)) {
		c->entry_parent = parent;
		if (p)
			p->subdirs++;
	}
	return 0;
}

/* "O", "S", "X", "G" records: keyed by inode first. */
static int visit_by_ino(struct fsck *f, const uint8_t *key, size_t klen, const void *val,
			size_t vlen)
{
	if (klen < 9) {
		bad(f, "'%c' key of %zu bytes", key[0], klen);
		return 0;
	}
	uint64_t ino = em_meta_get_be64(key + 1);
	struct node *n = find(f, ino);
	switch (key[0]) {
	case 'O':
		f->rep.orphans++;
		if (!n || n->nlink) {
			bad(f, "orphan marker for %s inode %llu", n ? "linked" : "missing",
			    (unsigned long long)ino);
			return note_fix(f, FIX_CLEAR, ino, key, klen);
		}
		n->orphan = true;
		break;
	case 'S': {
		struct em_meta_session s;
		f->rep.sessions++;
		if (!n) {
			bad(f, "write session on missing inode %llu", (unsigned long long)ino);
			return note_fix(f, FIX_CLEAR, ino, key, klen);
		}
		if (klen != 17 || em_meta_session_decode(val, vlen, &s) < 0) {
			bad(f, "write session on inode %llu: undecodable", (unsigned long long)ino);
			return 0;
		}
		const struct client *c = find_client(f, s.client_id);
		int64_t exp = em_meta_session_expiry(&s, c ? &c->rec : NULL, EM_META_SESSION_LEASE_MS);
		if (exp > f->now) {
			n->live_sessions++;
			break;
		}
		f->rep.expired++;
		bad(f, "write session %016llx on inode %llu: client %016llx silent, expired %llds ago, "
		    "length not recovered yet", (unsigned long long)em_meta_get_be64(key + 9),
		    (unsigned long long)ino, (unsigned long long)s.client_id,
		    (long long)((f->now - exp) / 1000000000));
		break;
	}
	case 'X':
		f->rep.xattrs++;
		if (!n) {
			bad(f, "xattr on missing inode %llu", (unsigned long long)ino);
			return note_fix(f, FIX_CLEAR, ino, key, klen);
		}
		break;
	case 'G': {
		struct em_meta_gc_entry g;
		f->rep.gc++;
		if (em_meta_gc_decode(val, vlen, &g) < 0) {
			bad(f, "GC entry %llu: undecodable", (unsigned long long)ino);
			break;
		}
		if (n)
			bad(f, "GC entry for live inode %llu", (unsigned long long)ino);
		else if (g.queued_ns && f->now - g.queued_ns > EM_META_FSCK_GC_STUCK_NS) {
			f->rep.gc_stuck++;
			bad(f, "GC entry %llu queued %llds ago: is the GC running (ember-meta [meta] "
			    "mgmtd)?", (unsigned long long)ino,
			    (long long)((f->now - g.queued_ns) / 1000000000));
		}
		break;
	}
	}
	return 0;
}

static int visit_client(struct fsck *f, const uint8_t *key, size_t klen, const void *val,
			size_t vlen)
{
	struct em_meta_client_rec r;
	if (klen != 9 || em_meta_client_rec_decode(val, vlen, &r) < 0) {
		bad(f, "client record of %zu bytes: undecodable", klen);
		return note_fix(f, FIX_CLEAR, 0, key, klen);
	}
	if (f->nc == f->ccap) {
		size_t cap = f->ccap ? f->ccap * 2 : 64;
		struct client *nc = realloc(f->clients, cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		f->clients = nc;
		f->ccap = cap;
	}
	f->clients[f->nc++] = (struct client){ em_meta_get_be64(key + 1), r };
	f->rep.clients++;
	return 0;
}

static int check_links(struct fsck *f, struct node *n)
{
	unsigned long long ino = (unsigned long long)n->ino;
	if (!S_ISDIR(n->mode)) {
		if (n->nlink == 0 && n->orphan && !n->entries && !n->live_sessions) {
			f->rep.orphans_dead++;
			bad(f, "orphan inode %llu: unlinked and no live write session holds it", ino);
			/* Only when no session at all is left: repair re-checks. */
			uint8_t key[EM_META_KEY_MAX];
			int rc = note_fix(f, FIX_DESTROY, n->ino, key, em_meta_key_inode(key, n->ino));
			if (rc < 0)
				return rc;
		}
		if (n->nlink != n->entries && !(n->nlink == 0 && n->orphan && !n->entries))
			bad(f, "inode %llu: link count %u, %u entries%s", ino, n->nlink,
			    n->entries, n->nlink == 0 ? " and no orphan marker" : "");
		if (n->entries == 0 && !n->orphan)
			bad(f, "inode %llu unreachable", ino);
		return 0;
	}
	bool root = n->ino == EM_META_ROOT_INO;
	if (n->entries != (root ? 0u : 1u))
		bad(f, "directory %llu named by %u entries", ino, n->entries);
	else if (!root && n->entry_parent != n->parent)
		bad(f, "directory %llu: entry in %llu, record says parent %llu", ino,
		    (unsigned long long)n->entry_parent, (unsigned long long)n->parent);
	if (n->nlink != 2 + n->subdirs)
		bad(f, "directory %llu: link count %u, expected %u", ino, n->nlink,
		    2 + n->subdirs);
	return 0;
}

/* Directories reach the root through their entries' parents. */
static void check_reachable(struct fsck *f, struct node *n)
{
	struct node *d = n;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (d->ino == EM_META_ROOT_INO)
			return;
		if (d->entries != 1)
			return; /* already reported by check_links */
		d = find(f, d->entry_parent);
		if (!d)
			return; /* reported as a dangling parent */
	}
	bad(f, "directory %llu: not reachable from the root (a cycle)", (unsigned long long)n->ino);
}

static int fsck_txn(struct em_kv_txn *t, void *arg)
{
	struct fsck *f = arg;
	/* A retried attempt starts over. */
	f->n = 0;
	f->nc = 0;
	f->nf = 0;
	f->rep = (struct em_meta_fsck_report){ 0 };
	const void *v;
	size_t vlen;
	int rc = em_kv_get(t, "A", 1, &v, &vlen);
	if (rc == 0)
		rc = em_meta_u64_decode(v, vlen, &f->next_ino);
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	if ((rc = scan(t, f, 'I', visit_inode)) < 0 || (rc = scan(t, f, 'D', visit_dentry)) < 0 ||
	    (rc = scan(t, f, 'C', visit_client)) < 0)
		return rc;
	static const char tags[] = "OSXG";
	for (const char *tag = tags; *tag; tag++)
		if ((rc = scan(t, f, *tag, visit_by_ino)) < 0)
			return rc;
	struct node *root = find(f, EM_META_ROOT_INO);
	if (!root || !S_ISDIR(root->mode))
		bad(f, "no root directory");
	for (size_t i = 0; i < f->n; i++) {
		if ((rc = check_links(f, &f->nodes[i])) < 0)
			return rc;
		if (S_ISDIR(f->nodes[i].mode))
			check_reachable(f, &f->nodes[i]);
	}
	return 0;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fsck_free(struct fsck *f)
{
	free(f->nodes);
	free(f->clients);
	free(f->fixes);
}

int em_meta_fsck(struct em_kv *kv, em_meta_fsck_fn problem, void *arg,
		 struct em_meta_fsck_report *out)
{
	struct fsck f = { .problem = problem, .arg = arg, .now = wall_ns() };
	int rc = em_kv_run(kv, EM_KV_RDONLY, fsck_txn, &f);
	fsck_free(&f);
	*out = f.rep;
	return rc < 0 ? rc : 0;
}

/* Each fix re-checks its problem in its own transaction: the snapshot the
 * check saw may be stale beside live servers. */
static int fix_fn(struct em_kv_txn *t, void *arg)
{
	const struct fix *x = arg;
	struct em_meta_inode in;
	int rc;
	if (x->kind == FIX_CLEAR) {
		if (x->key[0] == 'C' || !x->ino)
			return em_kv_clear(t, x->key, x->klen);
		rc = em_meta_inode_load(t, x->ino, &in);
		if (rc == 0 && (x->key[0] != 'O' || in.a.nlink == 0))
			return -EEXIST; /* the inode is back or still holds it */
		if (rc < 0 && rc != -ENOENT)
			return rc;
		return em_kv_clear(t, x->key, x->klen);
	}
	if ((rc = em_meta_inode_load(t, x->ino, &in)) < 0)
		return rc;
	if (in.a.nlink != 0)
		return -EEXIST;
	if ((rc = em_meta_has_sessions(t, x->ino)) != 0)
		return rc < 0 ? rc : -EEXIST;
	return em_meta_inode_destroy(t, &in);
}

int em_meta_fsck_repair(struct em_kv *kv, em_meta_fsck_fn fixed, void *arg, uint64_t *n_fixed)
{
	struct fsck f = { .now = wall_ns(), .collect = true };
	*n_fixed = 0;
	int rc = em_kv_run(kv, EM_KV_RDONLY, fsck_txn, &f);
	for (size_t i = 0; rc >= 0 && i < f.nf; i++) {
		const struct fix *x = &f.fixes[i];
		int r = em_kv_run(kv, 0, fix_fn, (void *)x);
		if (r == -EEXIST || r == -ENOENT)
			continue;
		if (r < 0) {
			rc = r;
			break;
		}
		(*n_fixed)++;
		if (!fixed)
			continue;
		char line[128];
		if (x->kind == FIX_DESTROY)
			snprintf(line, sizeof(line), "inode %llu: orphan destroyed, its chunks queued "
				 "for GC", (unsigned long long)x->ino);
		else
			snprintf(line, sizeof(line), "'%c' record of %s inode %llu removed", x->key[0],
				 x->ino ? "missing" : "no", (unsigned long long)x->ino);
		fixed(arg, line);
	}
	fsck_free(&f);
	return rc < 0 ? rc : 0;
}
