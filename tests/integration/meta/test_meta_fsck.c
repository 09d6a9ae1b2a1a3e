/* `ember meta fsck` against a store that is consistent, then deliberately
 * broken through the KV API underneath the metadata layer: the real CLI must
 * pass the first and report each break (exit 1) in the second.
 *
 *   test_meta_fsck EMBER_EXE [KV_URI]   (default: a fresh LMDB store;
 *                                        with-pg.sh appends a PostgreSQL URI)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/kv/kv.h"
#include "fs/meta/meta.h"
#include "fs/meta/record.h"
#include "server.h"
#include "tap.h"

static const struct em_meta_cred root = { 0, 0, 0, { 0 } };
static const char *ember;

/* A small namespace with every kind of record fsck cross-checks. */
struct damage {
	uint64_t dir, file;
	struct em_meta_layout layout; /* a valid one, for a decodable GC entry */
};

static int populate(struct em_kv *kv, struct damage *dm)
{
	struct em_meta *m;
	struct em_meta_attr d, l;
	struct em_meta_open_res o;
	int rc = em_meta_init(kv, NULL, &m);
	if (rc < 0)
		return rc;
	if ((rc = em_meta_mkdir(m, &root, EM_META_ROOT_INO, "d", 0755, &d)) == 0 &&
	    (rc = em_meta_create(m, &root, d.ino, "f", 0644, O_WRONLY | O_CREAT | O_EXCL, 0,
				 &o)) == 0 &&
	    (rc = em_meta_link(m, &root, o.attr.ino, EM_META_ROOT_INO, "f2", &l)) == 0 &&
	    (rc = em_meta_symlink(m, &root, d.ino, "s", "f", &l)) == 0 &&
	    (rc = em_meta_setxattr(m, &root, o.attr.ino, "user.k", "v", 1, 0)) == 0)
		rc = em_meta_close(m, &root, o.attr.ino, o.session, 10, 0);
	dm->dir = d.ino;
	dm->file = o.attr.ino;
	dm->layout = o.attr.layout;
	em_meta_destroy(m);
	return rc;
}

/* Three independent breaks: an entry to an inode that does not exist, an
 * entry removed without fixing its file's link count, and a GC entry for a
 * live file. */
static int break_store(struct em_kv_txn *t, void *arg)
{
	const struct damage *dm = arg;
	uint8_t key[EM_META_KEY_MAX], val[EM_META_GC_LEN];
	struct em_meta_dentry ghost = { .ino = 4000, .type = EM_META_T_FILE };
	struct em_meta_gc_entry g = { .ino = dm->dir, .layout = dm->layout };
	size_t vlen = em_meta_dentry_encode(&ghost, val);
	int rc = em_kv_set(t, key, em_meta_key_dentry(key, dm->dir, "ghost", 5), val, vlen);
	if (rc == 0)
		rc = em_kv_clear(t, key, em_meta_key_dentry(key, EM_META_ROOT_INO, "f2", 2));
	if (rc == 0) {
		vlen = em_meta_gc_encode(&g, val);
		rc = em_kv_set(t, key, em_meta_key_ino_prefix(key, 'G', dm->dir), val, vlen);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		printf("Bail out! usage: %s EMBER_EXE [KV_URI]\n", argv[0]);
		return 1;
	}
	ember = argv[1];
	char dir[] = "/tmp/ember-meta-fsck-XXXXXX", uri[256], err[256], out[16384];
	if (!mkdtemp(dir))
		return 1;
	if (argc > 2)
		snprintf(uri, sizeof(uri), "%s", argv[2]);
	else
		snprintf(uri, sizeof(uri), "lmdb:%s/db", dir);

	struct em_kv *kv;
	struct damage dm;
	if (em_kv_open(uri, NULL, &kv, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	is_int(populate(kv, &dm), 0, "a namespace with a file, link, symlink, xattr");
	em_kv_close(kv);

	is_int(meta_fsck_cli(ember, uri, "", out, sizeof(out)), 0, "fsck passes a consistent store");
	ok(strstr(out, "4 inodes (1 files, 2 directories, 1 symlinks)") && strstr(out, ": 0 problems"),
	   "and counts what it saw");
	meta_diag(out, 50);
	is_int(meta_fsck_cli(ember, uri, "--json", out, sizeof(out)), 0, "fsck --json passes it");
	ok(strstr(out, "\"problem_list\": []") && strstr(out, "\"problems\": 0}"),
	   "with an empty problem list");

	if (em_kv_open(uri, NULL, &kv, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	is_int(em_kv_run(kv, 0, break_store, &dm), 0, "the store is broken through the KV API");
	em_kv_close(kv);

	char want[3][128];
	snprintf(want[0], sizeof(want[0]), "entry %llu/ghost: inode 4000 missing",
		 (unsigned long long)dm.dir);
	snprintf(want[1], sizeof(want[1]), "inode %llu: link count 2, 1 entries",
		 (unsigned long long)dm.file);
	snprintf(want[2], sizeof(want[2]), "GC entry for live inode %llu",
		 (unsigned long long)dm.dir);
	is_int(meta_fsck_cli(ember, uri, "", out, sizeof(out)), 1, "fsck exits 1 on the broken store");
	meta_diag(out, 50);
	for (int i = 0; i < 3; i++)
		ok(strstr(out, want[i]) != NULL, want[i]);
	ok(strstr(out, ": 3 problems") != NULL, "and nothing else");
	is_int(meta_fsck_cli(ember, uri, "--json", out, sizeof(out)), 1, "fsck --json exits 1 too");
	ok(strstr(out, want[0]) && strstr(out, "\"problems\": 3}"), "and lists the problems");

	is_int(meta_fsck_cli(ember, uri, "--help", out, sizeof(out)), 0, "--help");
	ok(strstr(out, "ember meta fsck") != NULL, "describes fsck");
	is_int(meta_fsck_cli(ember, uri, "/extra 2>/dev/null", out, sizeof(out)), 2, "fsck takes no path");
	if (argc <= 2) {
		snprintf(uri, sizeof(uri), "%s/none", dir);
		is_int(meta_fsck_cli(ember, uri, "2>/dev/null", out, sizeof(out)), 1, "a missing store fails");
		struct stat st;
		ok(stat(uri, &st) < 0 && errno == ENOENT, "without being created");
	}

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
