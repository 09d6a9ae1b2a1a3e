/* `ember meta`: inspect and check a metadata store directly (no server
 * needed).
 *
 * Reads through the fs/meta library with root credentials, so what it shows
 * is exactly what the metadata service would answer. Paths are resolved
 * component by component without following symlinks. `fsck` runs
 * em_meta_fsck() (fs/meta/fsck.h) on the raw records instead, so it sees
 * damage the operations would hide or refuse. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ember/errors.h"
#include "fs/kv/kv.h"
#include "fs/meta/fsck.h"
#include "fs/meta/meta.h"
#include "tools/ember/cli.h"

int em_cmd_meta(int argc, char **argv);

static const struct em_meta_cred root_cred = { 0, 0, 0, { 0 } };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember meta ls   --db STORE [PATH] [--json]\n"
		"       ember meta stat --db STORE PATH [--json]\n"
		"       ember meta tree --db STORE [PATH]\n"
		"       ember meta fsck --db STORE [--repair] [--json]\n\n"
		"ls    list a directory, one line per entry, like ls -l\n"
		"stat  every attribute of one inode, with its file layout\n"
		"tree  the namespace below PATH (default /)\n"
		"fsck  check every invariant of the namespace (a read-only snapshot,\n"
		"      safe beside running servers); exits 1 when a problem is found.\n"
		"      Also problems: write sessions whose client stopped renewing (expired,\n"
		"      length not recovered yet), unlinked inodes no live session holds,\n"
		"      GC entries waiting over 10 minutes (no GC running)\n"
		"      --repair first fixes what metadata alone can: records of missing\n"
		"      inodes, damaged client records, unlinked inodes no session holds\n"
		"      (their chunks go to GC). Expired sessions need the storage side:\n"
		"      `ember fsck --repair`, or a metadata server with [meta] mgmtd\n\n"
		"--db, --kv STORE  an LMDB store directory, or a KV URI (postgresql://..., lmdb:DIR)\n"
		"--json            machine-readable output\n");
}

struct store {
	struct em_kv *kv;
	struct em_meta *m;
};

static int open_store(const char *db, struct store *s)
{
	int rc = em_cli_open_kv("meta", db, &s->kv);
	if (rc < 0)
		return rc;
	rc = em_meta_init(s->kv, NULL, &s->m);
	if (rc < 0) {
		fprintf(stderr, "ember meta: %s: %s\n", db, em_strerror(rc));
		em_kv_close(s->kv);
	}
	return rc;
}

static void close_store(struct store *s)
{
	em_meta_destroy(s->m);
	em_kv_close(s->kv);
}

static int resolve(struct em_meta *m, const char *path, struct em_meta_attr *out)
{
	char buf[4096], *save = NULL;
	int rc = em_meta_getattr(m, &root_cred, EM_META_ROOT_INO, out);

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c && rc == 0; c = strtok_r(NULL, "/", &save))
		rc = em_meta_lookup(m, &root_cred, out->ino, c, out);
	if (rc < 0)
		fprintf(stderr, "ember meta: %s: %s\n", path, em_strerror(rc));
	return rc;
}

static const char *mode_str(uint32_t mode, char *b)
{
	static const char rwx[] = "rwxrwxrwx";
	b[0] = S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		b[i + 1] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		b[3] = (mode & S_IXUSR) ? 's' : 'S';
	if (mode & S_ISGID)
		b[6] = (mode & S_IXGRP) ? 's' : 'S';
	if (mode & S_ISVTX)
		b[9] = (mode & S_IXOTH) ? 't' : 'T';
	b[10] = 0;
	return b;
}

static const char *time_str(int64_t ns, char *b, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(b, len, "%Y-%m-%d %H:%M:%S", &tm);
	return b;
}

static void print_attr_json(const struct em_meta_attr *a)
{
	printf("\"ino\": %llu, \"mode\": %u, \"nlink\": %u, \"uid\": %u, \"gid\": %u, "
	       "\"size\": %llu, \"atime_ns\": %lld, \"mtime_ns\": %lld, \"ctime_ns\": %lld",
	       (unsigned long long)a->ino, a->mode, a->nlink, a->uid, a->gid,
	       (unsigned long long)a->size, (long long)a->atime_ns, (long long)a->mtime_ns,
	       (long long)a->ctime_ns);
	if (!S_ISLNK(a->mode))
		printf(", \"layout\": {\"table_id\": %u, \"table_version\": %u, \"chunk_size\": %u, "
		       "\"stripe\": %u, \"first_chain\": %u, \"seed\": %llu}",
		       a->layout.table_id, a->layout.table_version, a->layout.chunk_size,
		       a->layout.stripe, a->layout.first_chain, (unsigned long long)a->layout.seed);
}

static int do_stat(struct em_meta *m, const char *path, bool json)
{
	struct em_meta_attr a;
	char mb[12], tb[32], target[EM_META_SYMLINK_MAX + 1] = "";
	int rc = resolve(m, path, &a);
	if (rc < 0)
		return EM_EXIT_FAIL;
	if (S_ISLNK(a.mode))
		em_meta_readlink(m, &root_cred, a.ino, target, sizeof(target));
	if (json) {
		printf("{\"path\": ");
		em_cli_json_str(path);
		printf(", ");
		print_attr_json(&a);
		if (S_ISLNK(a.mode)) {
			printf(", \"target\": ");
			em_cli_json_str(target);
		}
		printf("}\n");
		return EM_EXIT_OK;
	}
	printf("  path: %s%s%s\n", path, target[0] ? " -> " : "", target);
	printf(" inode: %llu\n", (unsigned long long)a.ino);
	printf("  mode: %s (%04o)\n", mode_str(a.mode, mb), a.mode & 07777);
	printf(" links: %u\n", a.nlink);
	printf(" owner: uid %u gid %u\n", a.uid, a.gid);
	printf("  size: %llu\n", (unsigned long long)a.size);
	printf(" atime: %s\n", time_str(a.atime_ns, tb, sizeof(tb)));
	printf(" mtime: %s\n", time_str(a.mtime_ns, tb, sizeof(tb)));
	printf(" ctime: %s\n", time_str(a.ctime_ns, tb, sizeof(tb)));
	if (S_ISDIR(a.mode))
		printf("parent: %llu\n", (unsigned long long)a.parent);
	if (!S_ISLNK(a.mode))
		printf("layout: table %u v%u, chunk %u, stripe %u, first chain %u, seed %llu%s\n",
		       a.layout.table_id, a.layout.table_version, a.layout.chunk_size,
		       a.layout.stripe, a.layout.first_chain, (unsigned long long)a.layout.seed,
		       S_ISDIR(a.mode) ? " (for new files)" : "");
	return EM_EXIT_OK;
}

typedef int (*entry_fn)(struct em_meta *m, const struct em_meta_dirent *e, void *arg);

/* Walks a directory page by page; the name cursor keeps it consistent. */
static int each_entry(struct em_meta *m, uint64_t dir, entry_fn fn, void *arg)
{
	struct em_meta_dirent *ents = malloc(256 * sizeof(*ents));
	char after[EM_META_NAME_MAX + 1] = "";
	size_t n;
	bool eof = false;
	int rc = ents ? 0 : -ENOMEM;

	while (rc == 0 && !eof) {
		rc = em_meta_readdir(m, &root_cred, dir, after, ents, 256, &n, &eof);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = fn(m, &ents[i], arg);
		if (n)
			snprintf(after, sizeof(after), "%s", ents[n - 1].name);
	}
	free(ents);
	return rc;
}

struct ls_ctx {
	bool json, first;
};

static int ls_entry(struct em_meta *m, const struct em_meta_dirent *e, void *arg)
{
	struct ls_ctx *c = arg;
	struct em_meta_attr a;
	char mb[12], tb[32], target[EM_META_SYMLINK_MAX + 1] = "";
	int rc = em_meta_getattr(m, &root_cred, e->ino, &a);
	if (rc < 0)
		return rc;
	if (S_ISLNK(a.mode))
		em_meta_readlink(m, &root_cred, a.ino, target, sizeof(target));
	if (c->json) {
		printf("%s  {\"name\": ", c->first ? "" : ",\n");
		em_cli_json_str(e->name);
		printf(", ");
		print_attr_json(&a);
		printf("}");
		c->first = false;
		return 0;
	}
	printf("%s %3u %5u %5u %12llu %s %s%s%s\n", mode_str(a.mode, mb), a.nlink, a.uid, a.gid,
	       (unsigned long long)a.size, time_str(a.mtime_ns, tb, sizeof(tb)), e->name,
	       target[0] ? " -> " : "", target);
	return 0;
}

static int do_ls(struct em_meta *m, const char *path, bool json)
{
	struct em_meta_attr a;
	struct ls_ctx c = { json, true };
	if (resolve(m, path, &a) < 0)
		return EM_EXIT_FAIL;
	if (json)
		printf("[\n");
	int rc = each_entry(m, a.ino, ls_entry, &c);
	if (json)
		printf("\n]\n");
	if (rc < 0) {
		fprintf(stderr, "ember meta: %s: %s\n", path, em_strerror(rc));
		return EM_EXIT_FAIL;
	}
	return EM_EXIT_OK;
}

struct tree_ctx {
	int depth;
	uint64_t dirs, files;
};

static int tree_entry(struct em_meta *m, const struct em_meta_dirent *e, void *arg)
{
	struct tree_ctx *c = arg;
	char target[EM_META_SYMLINK_MAX + 1] = "";
	printf("%*s%s", 2 * c->depth, "", e->name);
	if (e->type == DT_LNK) {
		em_meta_readlink(m, &root_cred, e->ino, target, sizeof(target));
		printf(" -> %s\n", target);
	} else {
		printf("%s\n", e->type == DT_DIR ? "/" : "");
	}
	if (e->type != DT_DIR) {
		c->files++;
		return 0;
	}
	c->dirs++;
	/* A corrupt store could loop; no real tree is this deep. */
	if (c->depth >= 4096)
		return -ELOOP;
	c->depth++;
	int rc = each_entry(m, e->ino, tree_entry, c);
	c->depth--;
	return rc;
}

static int do_tree(struct em_meta *m, const char *path)
{
	struct em_meta_attr a;
	struct tree_ctx c = { 1, 0, 0 };
	if (resolve(m, path, &a) < 0)
		return EM_EXIT_FAIL;
	printf("%s\n", path);
	int rc = each_entry(m, a.ino, tree_entry, &c);
	if (rc < 0) {
		fprintf(stderr, "ember meta: %s: %s\n", path, em_strerror(rc));
		return EM_EXIT_FAIL;
	}
	printf("\n%llu directories, %llu files\n", (unsigned long long)c.dirs,
	       (unsigned long long)c.files);
	return EM_EXIT_OK;
}

struct fsck_ctx {
	bool json;
	uint64_t shown;
};

static void fsck_problem(void *arg, const char *problem)
{
	struct fsck_ctx *c = arg;
	if (c->json) {
		printf("%s\n    ", c->shown ? "," : "");
		em_cli_json_str(problem);
	} else {
		printf("problem: %s\n", problem);
	}
	c->shown++;
}

static void fixed_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "fixed: %s\n", line);
}

static int do_fsck(const char *db, bool json, bool repair)
{
	struct em_kv *kv;
	struct em_meta_fsck_report r;
	struct fsck_ctx c = { json, 0 };
	/* Only the KV store: fsck must not depend on the superblock that
	 * em_meta_init() checks, since it may be what is damaged. */
	if (em_cli_open_kv("meta", db, &kv) < 0)
		return EM_EXIT_FAIL;
	if (repair) {
		uint64_t n = 0;
		int rc = em_meta_fsck_repair(kv, fixed_line, NULL, &n);
		if (rc < 0) {
			fprintf(stderr, "ember meta: repair %s: %s\n", db, em_strerror(rc));
			em_kv_close(kv);
			return EM_EXIT_FAIL;
		}
		fprintf(stderr, "%llu fixed\n", (unsigned long long)n);
	}
	/* Problems stream out as found, so a huge report needs no memory. */
	if (json)
		printf("{\"problem_list\": [");
	int rc = em_meta_fsck(kv, fsck_problem, &c, &r);
	em_kv_close(kv);
	if (rc < 0) {
		if (json)
			printf("]}\n");
		fprintf(stderr, "ember meta: fsck %s: %s\n", db,
			rc == -ENODATA ? "no metadata in this store" : em_strerror(rc));
		return EM_EXIT_FAIL;
	}
	unsigned long long v[] = { r.inodes,  r.files,	r.dirs,	   r.symlinks, r.dentries,
				   r.orphans, r.sessions, r.gc,	   r.xattrs,   r.problems,
				   r.expired, r.gc_stuck, r.clients };
	if (json)
		printf("%s],\n  \"inodes\": %llu, \"files\": %llu, \"dirs\": %llu, "
		       "\"symlinks\": %llu, \"dentries\": %llu, \"orphans\": %llu, "
		       "\"sessions\": %llu, \"gc\": %llu, \"xattrs\": %llu, "
		       "\"sessions_expired\": %llu, \"gc_stuck\": %llu, \"clients\": %llu, "
		       "\"problems\": %llu}\n",
		       c.shown ? "\n  " : "", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
		       v[10], v[11], v[12], v[9]);
	else
		printf("%llu inodes (%llu files, %llu directories, %llu symlinks), %llu entries, "
		       "%llu orphans, %llu write sessions (%llu expired), %llu in GC, %llu xattrs: "
		       "%llu problem%s\n",
		       v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[10], v[7], v[8], v[9],
		       v[9] == 1 ? "" : "s");
	return r.problems ? EM_EXIT_FAIL : EM_EXIT_OK;
}

int em_cmd_meta(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "kv", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "repair", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL;
	bool json = false, repair = false;
	int opt;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EM_EXIT_USAGE : EM_EXIT_OK;
	}
	const char *sub = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "d:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			db = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'r':
			repair = true;
			break;
		case 'h':
			usage(stdout);
			return EM_EXIT_OK;
		default:
			usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	const char *path = optind < argc ? argv[optind] : NULL;
	bool fsck = strcmp(sub, "fsck") == 0;
	bool known = fsck || strcmp(sub, "ls") == 0 || strcmp(sub, "stat") == 0 ||
		     strcmp(sub, "tree") == 0;
	if (!known || !db || optind + 1 < argc || (strcmp(sub, "stat") == 0 && !path) ||
	    (fsck && path) || (repair && !fsck)) {
		if (!known)
			fprintf(stderr, "ember meta: unknown subcommand '%s'\n", sub);
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	if (fsck)
		return do_fsck(db, json, repair);
	if (!path)
		path = "/";

	struct store s;
	if (open_store(db, &s) < 0)
		return EM_EXIT_FAIL;
	int status = strcmp(sub, "ls") == 0     ? do_ls(s.m, path, json)
		     : strcmp(sub, "stat") == 0 ? do_stat(s.m, path, json)
						: do_tree(s.m, path);
	close_store(&s);
	return status;
}
