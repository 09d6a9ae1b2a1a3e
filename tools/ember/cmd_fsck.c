/* `ember fsck`: checks the file system of a cluster in two parts, both
 * library calls: the metadata store on its own (em_meta_fsck, fs/meta/fsck.h)
 * and the chunks on the storage targets against it (em_fs_fsck,
 * fs/client/fsck.h). This file resolves the settings, opens the store, asks
 * mgmtd for routing and prints. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "net/auth.h"
#include "block/service/proto.h"
#include "ember/errors.h"
#include "fs/client/client.h"
#include "fs/client/fsck.h"
#include "fs/client/gc.h"
#include "fs/kv/kv.h"
#include "fs/meta/fsck.h"
#include "fs/mgmt/client.h"
#include "fs/mgmt/proto.h"
#include "tools/ember/cli.h"

int em_cmd_fsck(int argc, char **argv);

#define DEFAULT_LIMIT 50
#define MAX_SECRET 4096

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember fsck [--dir DIR] [--db STORE] [--mgmtd URL[,URL]]\n"
		"                  [--secret-file PATH] [--data] [--repair] [--limit N] [--json]\n\n"
		"Checks a running cluster's file system in two parts.\n\n"
		"1. The metadata store, in one read-only snapshot: every record decodes,\n"
		"   directory entries point at live inodes of the right type, link counts\n"
		"   match, every inode is reachable, no directory cycles, sessions, orphans,\n"
		"   xattrs and GC entries belong to the right inodes, no write session has\n"
		"   expired unrecovered, no unlinked inode lingers, no GC entry is stuck\n"
		"   (`ember meta --help`).\n"
		"2. The chunks against the metadata: for every chain mgmtd knows, every\n"
		"   serving replica's chunks are listed through the chunk service and each\n"
		"   committed chunk is checked. Problems:\n"
		"     orphan      its inode does not exist and is not queued for GC, or is\n"
		"                 not a file, or the id is not a file chunk id\n"
		"     beyond-eof  it lies wholly past its file's length (and no write\n"
		"                 session is open on the file)\n"
		"     missing     committed on one serving replica of its chain, absent on\n"
		"                 another\n"
		"     divergent   committed version, length or CRC differ between replicas\n"
		"     misplaced   stored on a chain the file's layout does not map it to\n"
		"     unlisted    a serving replica could not be listed\n"
		"     corrupt     (with --data) a replica's copy fails its block checksums,\n"
		"                 or its bytes do not give its own CRC32C\n"
		"   Not checked: replicas that are not serving (resync rebuilds them),\n"
		"   uncommitted chunks (writes in flight), and a chunk absent from every\n"
		"   replica (it reads as a hole, which is legal). Chunks of deleted files\n"
		"   still in the GC queue are counted, not reported. Writes, deletes or GC\n"
		"   during the check can show as problems: re-run on a quiet cluster first.\n\n"
		EM_CLI_CLUSTER_HELP
		"  --db STORE          metadata store: an LMDB directory, lmdb:DIR, or a\n"
		"                      postgresql:// URI (default $EMBER_META_KV, else DIR's)\n"
		"  --data              also read every committed chunk on every serving\n"
		"                      replica in full (as much I/O as the data, times the\n"
		"                      replicas)\n"
		"  --repair            first fix what is safe, then check: metadata records of\n"
		"                      missing inodes, unlinked inodes no session holds, then\n"
		"                      expired write sessions (length read from storage, as\n"
		"                      the GC leader does) and the whole GC queue drained\n"
		"  --limit N           problems shown one per line (default %d, 0: all);\n"
		"                      the counts always cover every problem\n"
		"  --json              one JSON object\n\n"
		"Exits 0 when nothing is wrong, 1 when a problem was found or a part could\n"
		"not run (store unreadable, mgmtd unreachable), 2 on bad usage.\n",
		DEFAULT_LIMIT);
}

struct out {
	bool json, data;
	uint64_t limit, shown, total;
};

/* Problems stream out as found, so a huge report needs no memory; only the
 * first `limit` are printed, every one is counted. */
static bool take(struct out *o)
{
	o->total++;
	if (o->limit && o->shown >= o->limit)
		return false;
	if (o->json)
		printf("%s\n  ", o->shown ? "," : "");
	o->shown++;
	return true;
}

static void meta_problem(void *arg, const char *text)
{
	struct out *o = arg;
	if (!take(o))
		return;
	if (o->json) {
		printf("{\"kind\": \"metadata\", \"text\": ");
		em_cli_json_str(text);
		printf("}");
	} else {
		printf("problem: metadata: %s\n", text);
	}
}

static void chunk_problem(void *arg, const struct em_fs_fsck_problem *p)
{
	struct out *o = arg;
	if (!take(o))
		return;
	if (o->json) {
		char hex[33];
		em_cs_id_fmt(&p->id, hex);
		printf("{\"kind\": \"%s\", \"chain\": %u, \"target\": %u, \"chunk\": \"%s\", "
		       "\"text\": ", em_fs_fsck_kind_name(p->kind), p->chain, p->target, hex);
		em_cli_json_str(p->text);
		printf("}");
	} else {
		printf("problem: %s\n", p->text);
	}
}

static void fixed_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "fixed: %s\n", line);
}

/* --repair: metadata first, then what needs the chunks. */
static int repair(struct em_kv *kv, char *mgmtd, const char *secret_file)
{
	static uint8_t secret[MAX_SECRET];
	uint64_t fixed = 0;
	int rc = em_meta_fsck_repair(kv, fixed_line, NULL, &fixed);
	if (rc < 0) {
		fprintf(stderr, "ember fsck: repairing metadata: %s\n", em_strerror(rc));
		return rc;
	}
	int n = em_auth_read_secret(secret_file, secret, sizeof(secret));
	if (n < 0) {
		fprintf(stderr, "ember fsck: secret file %s: %s\n", secret_file, em_strerror(n));
		return n;
	}
	const char *urls[16];
	size_t nu = 0;
	char *save = NULL;
	for (char *u = strtok_r(mgmtd, ",", &save); u && nu < 16; u = strtok_r(NULL, ",", &save))
		urls[nu++] = u;
	struct em_meta_options mo = { 0 };
	struct em_meta *m = NULL;
	struct em_fs *fs = NULL;
	struct em_fs_opts fo = { .mgmtd = urls, .n_mgmtd = nu, .secret = secret,
				 .secret_len = (size_t)n };
	struct em_fs_upkeep_counts c = { 0 };
	if ((rc = em_meta_init(kv, &mo, &m)) < 0)
		fprintf(stderr, "ember fsck: metadata: %s\n", em_strerror(rc));
	else if ((rc = em_fs_open(&fo, &fs)) < 0)
		fprintf(stderr, "ember fsck: cluster %s: %s\n", mgmtd, em_strerror(rc));
	else if ((rc = em_fs_upkeep_once(fs, m, &c)) < 0)
		fprintf(stderr, "ember fsck: repair: %s (%llu failed)\n", em_strerror(rc),
			(unsigned long long)c.errors);
	fprintf(stderr, "repair: %llu metadata fixes, %llu write sessions recovered from storage, "
		"%llu GC entries freed (%llu chunk removals)\n", (unsigned long long)fixed,
		(unsigned long long)c.recovered, (unsigned long long)c.freed,
		(unsigned long long)c.chunks);
	em_fs_close(fs);
	em_meta_destroy(m);
	return rc;
}

/* Part 2: routing from mgmtd, then em_fs_fsck. Returns 0 or negative
 * (printed). */
static int check_chunks(struct em_kv *kv, char *mgmtd, const char *secret_file, struct out *o,
			struct em_fs_fsck_report *rep)
{
	static uint8_t secret[MAX_SECRET];
	int n = em_auth_read_secret(secret_file, secret, sizeof(secret));
	if (n < 0) {
		fprintf(stderr, "ember fsck: secret file %s: %s\n", secret_file, em_strerror(n));
		return n;
	}
	struct em_mgmt_list l;
	int rc = em_cli_mgmt_list("fsck", mgmtd, secret_file, &l);
	if (rc < 0)
		return rc;
	struct em_fs_fsck_opts fo = {
		.kv = kv, .routing = &l.routing, .secret = secret, .secret_len = (size_t)n,
		.problem = chunk_problem, .arg = o, .verify_data = o->data,
	};
	rc = em_fs_fsck(&fo, rep);
	if (rc < 0)
		fprintf(stderr, "ember fsck: chunks: %s\n", em_strerror(rc));
	em_mgmt_list_free(&l);
	return rc;
}

static void print_json(const char *db, const struct em_meta_fsck_report *m,
		       const struct em_fs_fsck_report *c, const struct out *o)
{
	printf("%s],\n  \"metadata\": {\"store\": ", o->shown ? "\n  " : "");
	em_cli_json_str(db);
	printf(", \"inodes\": %llu, \"files\": %llu, \"dirs\": %llu, \"symlinks\": %llu, "
	       "\"dentries\": %llu, \"orphans\": %llu, \"sessions\": %llu, \"gc\": %llu, "
	       "\"xattrs\": %llu, \"sessions_expired\": %llu, \"gc_stuck\": %llu, "
	       "\"problems\": %llu},\n",
	       (unsigned long long)m->inodes, (unsigned long long)m->files,
	       (unsigned long long)m->dirs, (unsigned long long)m->symlinks,
	       (unsigned long long)m->dentries, (unsigned long long)m->orphans,
	       (unsigned long long)m->sessions, (unsigned long long)m->gc,
	       (unsigned long long)m->xattrs, (unsigned long long)m->expired,
	       (unsigned long long)m->gc_stuck, (unsigned long long)m->problems);
	printf("  \"chunks\": {\"chains\": %llu, \"replicas_listed\": %llu, "
	       "\"replicas_skipped\": %llu, \"chunks\": %llu, \"gc_pending\": %llu, "
	       "\"bytes_verified\": %llu",
	       (unsigned long long)c->chains, (unsigned long long)c->replicas_listed,
	       (unsigned long long)c->replicas_skipped, (unsigned long long)c->chunks,
	       (unsigned long long)c->gc_pending, (unsigned long long)c->bytes_verified);
	for (int k = 0; k < EM_FS_FSCK_KINDS; k++)
		printf(", \"%s\": %llu", em_fs_fsck_kind_name(k), (unsigned long long)c->kinds[k]);
	printf(", \"problems\": %llu},\n  \"problems\": %llu, \"problems_shown\": %llu}\n",
	       (unsigned long long)c->problems, (unsigned long long)o->total,
	       (unsigned long long)o->shown);
}

static void print_human(const char *db, const struct em_meta_fsck_report *m,
			const struct em_fs_fsck_report *c, const struct out *o)
{
	if (o->shown < o->total)
		printf("... %llu more problems not shown (--limit 0 shows all)\n",
		       (unsigned long long)(o->total - o->shown));
	printf("metadata  %s: %llu inodes (%llu files, %llu directories, %llu symlinks), "
	       "%llu write sessions (%llu expired), %llu GC entries (%llu stuck): %llu problems\n",
	       db, (unsigned long long)m->inodes, (unsigned long long)m->files,
	       (unsigned long long)m->dirs, (unsigned long long)m->symlinks,
	       (unsigned long long)m->sessions, (unsigned long long)m->expired,
	       (unsigned long long)m->gc, (unsigned long long)m->gc_stuck,
	       (unsigned long long)m->problems);
	printf("chunks    %llu chains, %llu replicas listed, %llu not serving (skipped), "
	       "%llu chunks, %llu awaiting GC: %llu problems\n", (unsigned long long)c->chains,
	       (unsigned long long)c->replicas_listed, (unsigned long long)c->replicas_skipped,
	       (unsigned long long)c->chunks, (unsigned long long)c->gc_pending,
	       (unsigned long long)c->problems);
	printf("         ");
	for (int k = 0; k < EM_FS_FSCK_KINDS; k++)
		printf(" %s %llu", em_fs_fsck_kind_name(k), (unsigned long long)c->kinds[k]);
	printf("\n%s: %llu problems\n", o->total ? "PROBLEMS" : "clean",
	       (unsigned long long)o->total);
}

int em_cmd_fsck(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "mgmtd", required_argument, NULL, 'm' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "data", no_argument, NULL, 'D' },
		{ "repair", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *db = NULL, *mgmtd = NULL, *secret = NULL;
	struct out o = { .limit = DEFAULT_LIMIT };
	bool do_repair = false;
	char *end;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b': db = optarg; break;
		case 'm': mgmtd = optarg; break;
		case 's': secret = optarg; break;
		case 'j': o.json = true; break;
		case 'D': o.data = true; break;
		case 'r': do_repair = true; break;
		case 'n':
			errno = 0;
			o.limit = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-') {
				fprintf(stderr, "ember fsck: bad --limit '%s'\n", optarg);
				return EM_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ember fsck: unexpected '%s'\n", argv[optind]);
		return EM_EXIT_USAGE;
	}
	char dbuf[1024];
	if (!db)
		db = em_cli_setting(dir, "EMBER_META_KV", dbuf, sizeof(dbuf));
	if (!db) {
		fprintf(stderr, "ember fsck: which metadata store? Give --db STORE, or --dir DIR "
				"of a cluster started by `ember up`\n");
		return EM_EXIT_USAGE;
	}
	struct em_cli_cluster cl;
	if (em_cli_cluster("fsck", dir, mgmtd, secret, &cl) < 0)
		return EM_EXIT_FAIL;

	struct em_kv *kv;
	if (em_cli_open_kv("fsck", db, &kv) < 0)
		return EM_EXIT_FAIL;
	struct em_meta_fsck_report mrep = { 0 };
	struct em_fs_fsck_report crep = { 0 };
	if (do_repair) {
		char urls[sizeof(cl.mgmtd)];
		snprintf(urls, sizeof(urls), "%s", cl.mgmtd);
		if (repair(kv, urls, cl.secret) < 0) {
			em_kv_close(kv);
			return EM_EXIT_FAIL;
		}
	}
	if (o.json)
		printf("{\"problem_list\": [");
	int rc = em_meta_fsck(kv, meta_problem, &o, &mrep);
	if (rc < 0)
		fprintf(stderr, "ember fsck: metadata %s: %s\n", db,
			rc == -ENODATA ? "no metadata in this store" : em_strerror(rc));
	/* Chunks are judged against the store even when the metadata check
	 * failed to finish: the two parts read the same records, but a store
	 * that cannot be scanned whole may still answer per-inode reads. */
	int rc2 = check_chunks(kv, cl.mgmtd, cl.secret, &o, &crep);
	em_kv_close(kv);
	if (o.json)
		print_json(db, &mrep, &crep, &o);
	else
		print_human(db, &mrep, &crep, &o);
	return rc < 0 || rc2 < 0 || o.total ? EM_EXIT_FAIL : EM_EXIT_OK;
}
