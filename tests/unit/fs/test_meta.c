/* POSIX semantics of the metadata service: every operation's success and
 * error cases, with permission checks as non-root callers.
 *
 *   test_meta              over a fresh LMDB store in a temp dir (unit)
 *   test_meta URI          over that store, wiped first (the integration
 *                          suite passes a throwaway PostgreSQL server)
 * Built with -DEM_META_TEST_RPC (tests/integration/meta), every call goes
 * through the RPC client to a real ember-meta process instead.
 *
 * Cast: root; alice (1000/1000); bob (1001/1001, also in group 1000);
 * carol (1002/1002, in no other group).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/kv/kv.h"
#include "fs/meta/meta.h"
#include "fs/meta/record.h"
#include "tap.h"

static const struct em_meta_cred root = { 0, 0, 0, { 0 } };
static const struct em_meta_cred alice = { 1000, 1000, 0, { 0 } };
static const struct em_meta_cred bob = { 1001, 1001, 1, { 1000 } };
static const struct em_meta_cred carol = { 1002, 1002, 0, { 0 } };

static const struct em_meta_options mopts = { .chain_count = 4, .id_batch = 16 };

#ifdef EM_META_TEST_RPC
/* The same suite driven through ember-meta and the RPC client: m is a
 * client and em_meta_* are its calls. */
#include "via_rpc.h"
#else
static struct em_meta *m;
static char dir[64], uri[128];
static struct em_kv *kv;
static const struct em_kv_options kvopts = { .pg_table = "ember_meta_posix" };

static void open_all(void)
{
	char err[256];
	if (em_kv_open(uri, &kvopts, &kv, err, sizeof(err)) < 0 || em_meta_init(kv, &mopts, &m) < 0) {
		printf("Bail out! cannot open %s: %s\n", uri, err);
		exit(1);
	}
	printf("# backend %s\n", em_kv_backend_name(kv));
}

static void close_all(void)
{
	em_meta_destroy(m);
	em_kv_close(kv);
}

static int wipe(struct em_kv_txn *t, void *arg)
{
	return em_kv_clear_range(t, NULL, 0, NULL, 0);
}

/* argv[1]: a store URI to wipe and use; none: a fresh LMDB store. */
static int target_setup(int argc, char **argv)
{
	if (argc > 1) {
		char err[256];
		snprintf(uri, sizeof(uri), "%s", argv[1]);
		if (em_kv_open(uri, &kvopts, &kv, err, sizeof(err)) < 0 ||
		    em_kv_run(kv, 0, wipe, NULL) < 0) {
			printf("Bail out! cannot open and wipe %s: %s\n", uri, err);
			return -1;
		}
		em_kv_close(kv);
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/ember-meta-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(uri, sizeof(uri), "lmdb:%s/db", dir);
	return 0;
}

static void target_teardown(void)
{
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
}
#endif

#define ROOT EM_META_ROOT_INO

static uint64_t mkdir_as(const struct em_meta_cred *cr, uint64_t parent, const char *name,
			 uint32_t mode)
{
	struct em_meta_attr a;
	int rc = em_meta_mkdir(m, cr, parent, name, mode, &a);
	if (rc < 0) {
		printf("# mkdir %s: %s\n", name, em_errname(rc));
		return 0;
	}
	return a.ino;
}

static uint64_t file_as(const struct em_meta_cred *cr, uint64_t parent, const char *name,
			uint32_t mode)
{
	struct em_meta_open_res r;
	int rc = em_meta_create(m, cr, parent, name, mode, O_RDONLY | O_CREAT | O_EXCL, 1, &r);
	if (rc < 0) {
		printf("# create %s: %s\n", name, em_errname(rc));
		return 0;
	}
	return r.attr.ino;
}

static struct em_meta_attr attr(uint64_t ino)
{
	struct em_meta_attr a;
	memset(&a, 0, sizeof(a));
	em_meta_getattr(m, &root, ino, &a);
	return a;
}

static int lookup(const struct em_meta_cred *cr, uint64_t parent, const char *name)
{
	struct em_meta_attr a;
	return em_meta_lookup(m, cr, parent, name, &a);
}

static uint64_t ino_of(uint64_t parent, const char *name)
{
	struct em_meta_attr a;
	return em_meta_lookup(m, &root, parent, name, &a) == 0 ? a.ino : 0;
}

static int chmod_as(const struct em_meta_cred *cr, uint64_t ino, uint32_t mode)
{
	struct em_meta_setattr s = { .valid = EM_SETATTR_MODE, .mode = mode };
	return em_meta_setattr(m, cr, ino, &s, NULL);
}

static int chown_as(const struct em_meta_cred *cr, uint64_t ino, uint32_t uid, uint32_t gid)
{
	struct em_meta_setattr s = { .valid = EM_SETATTR_UID | EM_SETATTR_GID, .uid = uid, .gid = gid };
	return em_meta_setattr(m, cr, ino, &s, NULL);
}

static size_t gc_count(uint64_t ino)
{
	struct em_meta_gc_entry g[64];
	size_t n, hits = 0;
	em_meta_gc_list(m, g, 64, &n);
	for (size_t i = 0; i < n; i++)
		hits += g[i].ino == ino;
	return hits;
}

/* Directories shared by the tests: /home (alice's, 0755), /tmp (1777). */
static uint64_t home, tmp;

static void test_root_and_mkdir(void)
{
	struct em_meta_attr a = attr(ROOT);
	is_int(a.mode, S_IFDIR | 0755, "root is a 0755 directory");
	is_int(a.nlink, 2, "root has two links");
	is_int(a.uid, 0, "root is owned by root");

	home = mkdir_as(&root, ROOT, "home", 0755);
	ok(home > ROOT, "mkdir as root");
	is_int(chown_as(&root, home, 1000, 1000), 0, "chown home to alice");
	a = attr(home);
	is_int(a.mode, S_IFDIR | 0755, "mkdir mode");
	is_int(a.nlink, 2, "new directory has two links");
	is_int(a.parent, ROOT, "new directory records its parent");
	is_int(attr(ROOT).nlink, 3, "mkdir adds a link to the parent");
	tmp = mkdir_as(&root, ROOT, "tmp", 01777);
	is_int(attr(tmp).mode, S_IFDIR | 01777, "sticky mode kept");

	struct em_meta_attr out;
	is_int(em_meta_mkdir(m, &root, ROOT, "home", 0755, &out), -EEXIST, "mkdir existing: EEXIST");
	is_int(em_meta_mkdir(m, &root, ROOT, ".", 0755, &out), -EEXIST, "mkdir '.': EEXIST");
	is_int(em_meta_mkdir(m, &root, ROOT, "..", 0755, &out), -EEXIST, "mkdir '..': EEXIST");
	is_int(em_meta_mkdir(m, &root, 999999, "x", 0755, &out), -ENOENT, "mkdir in missing dir: ENOENT");
	is_int(em_meta_mkdir(m, &alice, ROOT, "x", 0755, &out), -EACCES,
	       "mkdir without write permission: EACCES");
	is_int(em_meta_mkdir(m, &alice, home, "", 0755, &out), -ENOENT, "empty name: ENOENT");
	is_int(em_meta_mkdir(m, &alice, home, "a/b", 0755, &out), -EINVAL, "name with '/': EINVAL");
	char longname[EM_META_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname));
	longname[EM_META_NAME_MAX + 1] = 0;
	is_int(em_meta_mkdir(m, &alice, home, longname, 0755, &out), -ENAMETOOLONG,
	       "256-byte name: ENAMETOOLONG");
	longname[EM_META_NAME_MAX] = 0;
	is_int(em_meta_mkdir(m, &alice, home, longname, 0755, &out), 0, "255-byte name is fine");
	is_int(em_meta_rmdir(m, &alice, home, longname), 0, "and removable");
	uint64_t f = file_as(&alice, home, "plain", 0644);
	is_int(em_meta_mkdir(m, &alice, f, "x", 0755, &out), -ENOTDIR, "mkdir under a file: ENOTDIR");
	is_int(em_meta_mkdir(m, &alice, home, "d", 0750, &out), 0, "mkdir as alice in her home");
	is_int(out.uid, 1000, "owned by the caller");
	is_int(out.gid, 1000, "group from the caller");
}

static void test_lookup(void)
{
	struct em_meta_attr a;
	is_int(em_meta_lookup(m, &alice, home, "plain", &a), 0, "lookup");
	ok(S_ISREG(a.mode), "lookup returns the inode's attributes");
	is_int(lookup(&alice, home, "nope"), -ENOENT, "lookup missing: ENOENT");
	is_int(lookup(&alice, ino_of(home, "plain"), "x"), -ENOTDIR, "lookup under a file: ENOTDIR");
	is_int(em_meta_lookup(m, &alice, home, ".", &a), 0, "lookup '.'");
	is_int(a.ino, home, "'.' is the directory itself");
	is_int(em_meta_lookup(m, &alice, home, "..", &a), 0, "lookup '..'");
	is_int(a.ino, ROOT, "'..' is the parent");
	em_meta_lookup(m, &alice, ROOT, "..", &a);
	is_int(a.ino, ROOT, "root's '..' is root");
	uint64_t priv = mkdir_as(&root, ROOT, "private", 0700);
	mkdir_as(&root, priv, "inner", 0755);
	is_int(lookup(&alice, priv, "inner"), -EACCES, "lookup without search permission: EACCES");
	is_int(lookup(&root, priv, "inner"), 0, "root searches anything");
	is_int(lookup(&alice, home, "a/b"), -EINVAL, "lookup of a path: EINVAL");
}

static void test_create_open(void)
{
	struct em_meta_open_res r, r2;
	is_int(em_meta_create(m, &alice, home, "f1", 0640, O_WRONLY | O_CREAT, 7, &r), 0,
	       "create for writing");
	ok(r.created, "reports creation");
	ok(r.session != 0, "write open gets a session");
	is_int(r.attr.mode, S_IFREG | 0640, "create mode");
	is_int(r.attr.nlink, 1, "one link");
	is_int(r.attr.size, 0, "empty");
	is_int(r.attr.layout.chunk_size, 1 << 20, "default chunk size in the layout");
	is_int(r.attr.layout.stripe, 1, "default stripe");
	is_int(r.attr.layout.seed, r.attr.ino, "layout seed is the inode");
	ok(r.attr.layout.first_chain < 4, "first chain within the table");
	uint64_t f1 = r.attr.ino;
	em_meta_close(m, &alice, f1, r.session, 0, 0);

	is_int(em_meta_create(m, &alice, home, "f2", 0644, O_RDONLY | O_CREAT, 7, &r2), 0, "create f2");
	ok(r2.attr.layout.first_chain != r.attr.layout.first_chain,
	   "successive files start on different chains");
	is_int(r2.session, 0, "read-only open has no session");

	is_int(em_meta_create(m, &alice, home, "f1", 0644, O_WRONLY | O_CREAT | O_EXCL, 7, &r),
	       -EEXIST, "O_EXCL on an existing name: EEXIST");
	is_int(em_meta_create(m, &alice, home, "f1", 0644, O_RDONLY | O_CREAT, 7, &r), 0,
	       "O_CREAT without O_EXCL opens the existing file");
	ok(!r.created && r.attr.ino == f1, "the same inode, not created");
	is_int(em_meta_create(m, &alice, home, "d", 0644, O_WRONLY | O_CREAT, 7, &r), -EISDIR,
	       "create over a directory for writing: EISDIR");
	is_int(em_meta_create(m, &bob, home, "bobs", 0644, O_WRONLY | O_CREAT, 7, &r), -EACCES,
	       "create without write permission on the directory: EACCES");
	is_int(em_meta_create(m, &alice, 999999, "x", 0644, O_RDONLY | O_CREAT, 7, &r), -ENOENT,
	       "create in a missing directory: ENOENT");
	is_int(em_meta_create(m, &alice, home, "ro", 0444, O_WRONLY | O_CREAT | O_EXCL, 7, &r), 0,
	       "creator may write-open a new read-only file");
	em_meta_close(m, &alice, r.attr.ino, r.session, 0, 0);
	is_int(em_meta_open(m, &alice, r.attr.ino, O_WRONLY, 7, &r2), -EACCES,
	       "but not reopen it for writing: EACCES");
	is_int(em_meta_open(m, &root, r.attr.ino, O_WRONLY, 7, &r2), 0, "root may");
	em_meta_close(m, &root, r.attr.ino, r2.session, 0, 0);

	/* open permission classes: f1 is alice:1000 0640 */
	is_int(em_meta_open(m, &bob, f1, O_RDONLY, 8, &r), 0, "group member reads a 0640 file");
	is_int(em_meta_open(m, &bob, f1, O_RDWR, 8, &r), -EACCES, "group member cannot write it");
	is_int(em_meta_open(m, &carol, f1, O_RDONLY, 8, &r), -EACCES, "others cannot read it");
	is_int(em_meta_open(m, &alice, 999999, O_RDONLY, 8, &r), -ENOENT, "open missing: ENOENT");
	is_int(em_meta_open(m, &alice, home, O_RDONLY, 8, &r), 0, "directories open read-only");
	is_int(em_meta_open(m, &alice, home, O_RDWR, 8, &r), -EISDIR, "not for writing: EISDIR");
	struct em_meta_attr l;
	em_meta_symlink(m, &alice, home, "lnk", "f1", &l);
	is_int(em_meta_open(m, &alice, l.ino, O_RDONLY, 8, &r), -ELOOP, "opening a symlink: ELOOP");

	/* lengths and O_TRUNC */
	is_int(em_meta_open(m, &alice, f1, O_WRONLY, 9, &r), 0, "write open");
	is_int(em_meta_set_length(m, &alice, f1, r.session, 5000, 0), 0, "length report");
	is_int(attr(f1).size, 5000, "length grows");
	is_int(em_meta_set_length(m, &alice, f1, r.session, 100, 0), 0, "smaller report");
	is_int(attr(f1).size, 5000, "never shrinks the length");
	is_int(em_meta_set_length(m, &alice, f1, 12345, 9000, 0), -EBADF, "unknown session: EBADF");
	is_int(em_meta_close(m, &alice, f1, r.session, 8192, 0), 0, "close");
	is_int(attr(f1).size, 8192, "close adopts a larger length");
	is_int(em_meta_close(m, &alice, f1, r.session, 0, 0), -EBADF, "second close: EBADF");
	is_int(em_meta_open(m, &bob, f1, O_RDONLY | O_TRUNC, 9, &r), -EACCES,
	       "O_TRUNC needs write permission");
	is_int(em_meta_open(m, &alice, f1, O_WRONLY | O_TRUNC, 9, &r), 0, "O_TRUNC");
	is_int(r.attr.size, 0, "truncates to zero");
	is_int(attr(f1).size, 0, "persistently");
	em_meta_close(m, &alice, f1, r.session, 0, 0);
}

static void test_setattr(void)
{
	uint64_t f = file_as(&alice, home, "attrs", 0644);
	struct em_meta_setattr s;
	struct em_meta_attr a;

	is_int(chmod_as(&alice, f, 0600), 0, "owner chmod");
	is_int(attr(f).mode, S_IFREG | 0600, "mode changed");
	is_int(chmod_as(&bob, f, 0777), -EPERM, "non-owner chmod: EPERM");
	is_int(chmod_as(&root, f, 0640), 0, "root chmod");
	is_int(chmod_as(&alice, f, 02755), 0, "owner sets setgid for her own group");
	is_int(attr(f).mode & S_ISGID, S_ISGID, "kept");
	is_int(chown_as(&alice, f, 1000, 1001), -EPERM, "chgrp to a group she is not in: EPERM");
	is_int(chown_as(&alice, f, 1001, 1000), -EPERM, "giving the file away: EPERM");
	is_int(chown_as(&bob, f, 1000, 1000), -EPERM, "non-owner chown, even a no-op: EPERM");
	is_int(chown_as(&root, f, 1001, 1001), 0, "root chown");
	a = attr(f);
	ok(a.uid == 1001 && a.gid == 1001, "new owner");
	is_int(a.mode & S_ISGID, 0, "chown clears setgid on an executable file");
	chown_as(&root, f, 1000, 1000);
	is_int(chmod_as(&alice, f, 04755), 0, "setuid");
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_GID, .gid = 1000 };
	em_meta_setattr(m, &alice, f, &s, NULL);
	is_int(chmod_as(&carol, f, 0), -EPERM, "carol cannot chmod");
	chown_as(&root, f, 1000, 1000);
	is_int(attr(f).mode & S_ISUID, 0, "chown clears setuid");

	/* chmod by a group-less owner drops setgid */
	uint64_t cf = file_as(&root, tmp, "carols", 0644);
	chown_as(&root, cf, 1002, 1000);
	is_int(chmod_as(&carol, cf, 02755), 0, "owner outside the file's group may chmod");
	is_int(attr(cf).mode & S_ISGID, 0, "but setgid is silently dropped");

	/* truncate */
	chmod_as(&alice, f, 04664);
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_SIZE, .size = 4096 };
	is_int(em_meta_setattr(m, &carol, f, &s, NULL), -EACCES, "truncate without write: EACCES");
	is_int(em_meta_setattr(m, &bob, f, &s, &a), 0, "group member with write truncates");
	is_int(a.size, 4096, "size set");
	is_int(a.mode & S_ISUID, 0, "a non-root write clears setuid");
	s.size = EM_META_MAX_FILE_SIZE + 1;
	is_int(em_meta_setattr(m, &bob, f, &s, NULL), -EFBIG, "truncate past the largest file: EFBIG");
	s.size = EM_META_MAX_FILE_SIZE;
	is_int(em_meta_setattr(m, &bob, f, &s, &a), 0, "truncate to the largest file");
	s.size = 4096;
	is_int(em_meta_setattr(m, &bob, f, &s, &a), 0, "and back");
	is_int(em_meta_setattr(m, &root, home, &s, NULL), -EISDIR, "truncate a directory: EISDIR");
	is_int(em_meta_setattr(m, &root, 999999, &s, NULL), -ENOENT, "setattr missing: ENOENT");

	/* times */
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_ATIME | EM_SETATTR_MTIME,
				      .atime_ns = 1000000000, .mtime_ns = 2000000000 };
	is_int(em_meta_setattr(m, &alice, f, &s, &a), 0, "owner sets explicit times");
	ok(a.atime_ns == 1000000000 && a.mtime_ns == 2000000000, "times stored");
	is_int(em_meta_setattr(m, &bob, f, &s, NULL), -EPERM,
	       "explicit times by a non-owner, even with write: EPERM");
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_ATIME_NOW | EM_SETATTR_MTIME_NOW };
	is_int(em_meta_setattr(m, &bob, f, &s, &a), 0, "'now' by a writer");
	ok(a.mtime_ns > 2000000000, "mtime now");
	is_int(em_meta_setattr(m, &carol, f, &s, NULL), -EACCES, "'now' without write: EACCES");
	ok(a.ctime_ns >= a.mtime_ns, "ctime follows every change");
}

static void test_unlink_rmdir(void)
{
	struct em_meta_attr a;
	uint64_t f = file_as(&alice, home, "gone", 0644);
	is_int(em_meta_unlink(m, &alice, home, "gone"), 0, "unlink");
	is_int(lookup(&alice, home, "gone"), -ENOENT, "name gone");
	is_int(em_meta_getattr(m, &alice, f, &a), -ENOENT, "inode gone");
	is_int(gc_count(f), 1, "its chunks are queued for GC");
	is_int(em_meta_gc_done(m, f), 0, "GC entry done");
	is_int(gc_count(f), 0, "and gone");
	is_int(em_meta_unlink(m, &alice, home, "gone"), -ENOENT, "unlink missing: ENOENT");
	is_int(em_meta_unlink(m, &alice, home, "d"), -EISDIR, "unlink a directory: EISDIR");
	is_int(em_meta_unlink(m, &alice, home, "."), -EISDIR, "unlink '.': EISDIR");
	file_as(&alice, home, "keep", 0666);
	is_int(em_meta_unlink(m, &bob, home, "keep"), -EACCES,
	       "unlink without write on the directory: EACCES");

	/* sticky /tmp */
	file_as(&alice, tmp, "a1", 0666);
	file_as(&alice, tmp, "a2", 0666);
	is_int(em_meta_unlink(m, &bob, tmp, "a1"), -EPERM, "sticky: others cannot unlink: EPERM");
	is_int(em_meta_unlink(m, &alice, tmp, "a1"), 0, "sticky: the owner can");
	is_int(em_meta_unlink(m, &root, tmp, "a2"), 0, "sticky: root can");
	uint64_t bt = mkdir_as(&root, ROOT, "bobtmp", 01777);
	chown_as(&root, bt, 1001, 1001);
	file_as(&alice, bt, "a3", 0600);
	is_int(em_meta_unlink(m, &bob, bt, "a3"), 0, "sticky: the directory's owner can");

	/* unlinked while write-open */
	struct em_meta_open_res r;
	em_meta_create(m, &alice, home, "open", 0644, O_WRONLY | O_CREAT, 3, &r);
	em_meta_set_length(m, &alice, r.attr.ino, r.session, 777, 0);
	is_int(em_meta_unlink(m, &alice, home, "open"), 0, "unlink a write-open file");
	is_int(lookup(&alice, home, "open"), -ENOENT, "name gone at once");
	is_int(em_meta_getattr(m, &alice, r.attr.ino, &a), 0, "inode lives while open");
	is_int(a.nlink, 0, "with no links");
	is_int(gc_count(r.attr.ino), 0, "not yet in GC");
	is_int(em_meta_open(m, &alice, r.attr.ino, O_RDONLY, 3, &r), -ENOENT,
	       "cannot be opened again: ENOENT");
	is_int(em_meta_set_length(m, &alice, r.attr.ino, r.session, 900, 0), 0,
	       "its writer still reports length");
	is_int(em_meta_close(m, &alice, r.attr.ino, r.session, 1000, 0), 0, "last close");
	is_int(em_meta_getattr(m, &alice, r.attr.ino, &a), -ENOENT, "inode gone after last close");
	struct em_meta_gc_entry g[8];
	size_t n;
	em_meta_gc_list(m, g, 8, &n);
	ok(n >= 1 && g[n - 1].ino == r.attr.ino && g[n - 1].length == 1000,
	   "GC entry carries inode and last length");
	em_meta_gc_done(m, r.attr.ino);

	/* rmdir */
	uint64_t d = mkdir_as(&alice, home, "rd", 0755);
	uint32_t links = attr(home).nlink;
	file_as(&alice, d, "x", 0644);
	is_int(em_meta_rmdir(m, &alice, home, "rd"), -ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
	em_meta_unlink(m, &alice, d, "x");
	is_int(em_meta_rmdir(m, &bob, home, "rd"), -EACCES, "rmdir without write: EACCES");
	is_int(em_meta_rmdir(m, &alice, home, "rd"), 0, "rmdir");
	is_int(attr(home).nlink, links - 1, "parent loses a link");
	is_int(em_meta_rmdir(m, &alice, home, "rd"), -ENOENT, "rmdir missing: ENOENT");
	is_int(em_meta_rmdir(m, &alice, home, "keep"), -ENOTDIR, "rmdir a file: ENOTDIR");
	is_int(em_meta_rmdir(m, &alice, home, "."), -EINVAL, "rmdir '.': EINVAL");
	is_int(em_meta_rmdir(m, &alice, home, ".."), -ENOTEMPTY, "rmdir '..': ENOTEMPTY");
	mkdir_as(&alice, tmp, "adir", 0777);
	is_int(em_meta_rmdir(m, &bob, tmp, "adir"), -EPERM, "sticky rmdir by others: EPERM");
	is_int(em_meta_rmdir(m, &alice, tmp, "adir"), 0, "sticky rmdir by the owner");
}

static void test_link_symlink(void)
{
	struct em_meta_attr a;
	char buf[64];
	uint64_t f = file_as(&alice, home, "orig", 0644);

	is_int(em_meta_link(m, &alice, f, home, "second", &a), 0, "link");
	is_int(a.nlink, 2, "two links");
	is_int(ino_of(home, "second"), f, "same inode under both names");
	is_int(em_meta_link(m, &alice, f, home, "second", &a), -EEXIST, "link to existing: EEXIST");
	is_int(em_meta_link(m, &alice, home, ROOT, "h2", &a), -EPERM, "link a directory: EPERM");
	is_int(em_meta_link(m, &alice, 999999, home, "z", &a), -ENOENT, "link missing: ENOENT");
	is_int(em_meta_link(m, &alice, f, ROOT, "z", &a), -EACCES,
	       "link into a directory without write: EACCES");
	em_meta_unlink(m, &alice, home, "orig");
	is_int(attr(f).nlink, 1, "unlink one name leaves the other");
	is_int(gc_count(f), 0, "and no GC");

	is_int(em_meta_symlink(m, &alice, home, "sl", "/some/where", &a), 0, "symlink");
	is_int(a.mode, S_IFLNK | 0777, "symlink mode");
	is_int(a.size, 11, "size is the target length");
	is_int(em_meta_readlink(m, &alice, a.ino, buf, sizeof(buf)), 11, "readlink length");
	is_str(buf, "/some/where", "readlink target");
	is_int(em_meta_readlink(m, &alice, f, buf, sizeof(buf)), -EINVAL, "readlink a file: EINVAL");
	is_int(em_meta_symlink(m, &alice, home, "sl", "x", &a), -EEXIST, "symlink existing: EEXIST");
	is_int(em_meta_symlink(m, &alice, home, "s2", "", &a), -ENOENT, "empty target: ENOENT");
	char big[EM_META_SYMLINK_MAX + 2];
	memset(big, 't', sizeof(big));
	big[EM_META_SYMLINK_MAX + 1] = 0;
	is_int(em_meta_symlink(m, &alice, home, "s3", big, &a), -ENAMETOOLONG,
	       "4096-byte target: ENAMETOOLONG");
	big[EM_META_SYMLINK_MAX] = 0;
	is_int(em_meta_symlink(m, &alice, home, "s4", big, &a), 0, "4095-byte target");
	is_int(em_meta_readlink(m, &alice, a.ino, buf, sizeof(buf)), EM_META_SYMLINK_MAX,
	       "readlink reports the full length into a small buffer");
	is_int(em_meta_symlink(m, &bob, home, "s5", "x", &a), -EACCES, "symlink without write: EACCES");
}

static void test_rename(void)
{
	uint64_t r = mkdir_as(&alice, home, "ren", 0755);
	uint64_t a = mkdir_as(&alice, r, "a", 0755), b = mkdir_as(&alice, r, "b", 0755);
	uint64_t f = file_as(&alice, a, "f", 0644);
	struct em_meta_attr at;

	is_int(em_meta_rename(m, &alice, a, "f", a, "g", 0), 0, "rename within a directory");
	ok(ino_of(a, "f") == 0 && ino_of(a, "g") == f, "old name gone, new name is the inode");
	is_int(em_meta_rename(m, &alice, a, "g", b, "f", 0), 0, "rename across directories");
	is_int(ino_of(b, "f"), f, "moved");

	uint64_t sub = mkdir_as(&alice, a, "sub", 0755);
	uint32_t al = attr(a).nlink, bl = attr(b).nlink;
	is_int(em_meta_rename(m, &alice, a, "sub", b, "sub", 0), 0, "move a directory");
	is_int(attr(a).nlink, al - 1, "old parent loses a link");
	is_int(attr(b).nlink, bl + 1, "new parent gains one");
	em_meta_lookup(m, &alice, sub, "..", &at);
	is_int(at.ino, b, "'..' follows the move");

	is_int(em_meta_rename(m, &alice, r, "b", sub, "b2", 0), -EINVAL,
	       "into its own subtree: EINVAL");
	is_int(em_meta_rename(m, &alice, r, "b", b, "self", 0), -EINVAL, "into itself: EINVAL");
	is_int(em_meta_rename(m, &alice, a, "nope", b, "x", 0), -ENOENT, "missing source: ENOENT");
	is_int(em_meta_rename(m, &alice, a, ".", b, "x", 0), -EBUSY, "'.' as source: EBUSY");
	is_int(em_meta_rename(m, &alice, a, "x", b, "f", RENAME_NOREPLACE | RENAME_EXCHANGE),
	       -EINVAL, "NOREPLACE with EXCHANGE: EINVAL");

	/* replacing targets */
	uint64_t f2 = file_as(&alice, a, "f2", 0644);
	is_int(em_meta_rename(m, &alice, a, "f2", b, "f", RENAME_NOREPLACE), -EEXIST,
	       "NOREPLACE onto an existing name: EEXIST");
	is_int(em_meta_rename(m, &alice, a, "f2", b, "f", 0), 0, "replace a file");
	is_int(ino_of(b, "f"), f2, "target now names the source");
	is_int(gc_count(f), 1, "the replaced file goes to GC");
	em_meta_gc_done(m, f);
	is_int(em_meta_rename(m, &alice, b, "f", a, "fresh", RENAME_NOREPLACE), 0,
	       "NOREPLACE onto a free name");
	mkdir_as(&alice, a, "e1", 0755);
	mkdir_as(&alice, b, "e2", 0755);
	file_as(&alice, b, "plainf", 0644);
	is_int(em_meta_rename(m, &alice, a, "e1", b, "plainf", 0), -ENOTDIR,
	       "directory over a file: ENOTDIR");
	is_int(em_meta_rename(m, &alice, b, "plainf", a, "e1", 0), -EISDIR,
	       "file over a directory: EISDIR");
	file_as(&alice, sub, "occupant", 0644);
	is_int(em_meta_rename(m, &alice, a, "e1", b, "sub", 0), -ENOTEMPTY,
	       "directory over a non-empty directory: ENOTEMPTY");
	uint32_t links = attr(b).nlink;
	uint64_t e2 = ino_of(b, "e2");
	is_int(em_meta_rename(m, &alice, a, "e1", b, "e2", 0), 0, "directory over an empty one");
	is_int(attr(b).nlink, links, "net links unchanged on the target side");
	struct em_meta_attr gone;
	is_int(em_meta_getattr(m, &root, e2, &gone), -ENOENT, "replaced directory is gone");

	/* same inode: a no-op */
	em_meta_link(m, &alice, f2, a, "hl", NULL);
	is_int(em_meta_rename(m, &alice, a, "hl", a, "fresh", 0), 0, "rename onto another link of itself");
	ok(ino_of(a, "hl") == f2 && ino_of(a, "fresh") == f2, "both names remain");

	/* exchange */
	uint64_t x = file_as(&alice, a, "x", 0644), yd = mkdir_as(&alice, b, "y", 0755);
	uint32_t la = attr(a).nlink, lb = attr(b).nlink;
	is_int(em_meta_rename(m, &alice, a, "x", b, "y", RENAME_EXCHANGE), 0, "exchange file and dir");
	ok(ino_of(a, "x") == yd && ino_of(b, "y") == x, "swapped");
	ok(attr(a).nlink == la + 1 && attr(b).nlink == lb - 1, "directory links follow the dir");
	is_int(attr(yd).parent, a, "exchanged directory's parent updated");
	is_int(em_meta_rename(m, &alice, a, "x", b, "none", RENAME_EXCHANGE), -ENOENT,
	       "exchange with a missing target: ENOENT");
	is_int(em_meta_rename(m, &alice, r, "a", a, "x", RENAME_EXCHANGE), -EINVAL,
	       "exchange a directory with its own descendant: EINVAL");

	/* permissions */
	is_int(em_meta_rename(m, &bob, a, "hl", a, "hl2", 0), -EACCES,
	       "rename without write on the directory: EACCES");
	file_as(&alice, tmp, "mine", 0666);
	is_int(em_meta_rename(m, &bob, tmp, "mine", tmp, "his", 0), -EPERM,
	       "sticky: others cannot rename: EPERM");
	file_as(&bob, tmp, "bobs", 0666);
	is_int(em_meta_rename(m, &bob, tmp, "bobs", tmp, "mine", 0), -EPERM,
	       "sticky: others cannot replace: EPERM");
	is_int(em_meta_rename(m, &alice, tmp, "mine", tmp, "hers", 0), 0, "sticky: the owner can");
	uint64_t ro = mkdir_as(&alice, a, "rodir", 0555);
	(void)ro;
	is_int(em_meta_rename(m, &bob, a, "rodir", b, "rodir", 0), -EACCES, "bob has no write here");
	chmod_as(&alice, a, 0777);
	chmod_as(&alice, b, 0777);
	is_int(em_meta_rename(m, &bob, a, "rodir", b, "rodir", 0), -EACCES,
	       "moving a directory to a new parent needs write on it: EACCES");
	is_int(em_meta_rename(m, &bob, a, "rodir", a, "rodir2", 0), 0,
	       "renaming it in place does not");
}

static void test_readdir(void)
{
	uint64_t d = mkdir_as(&alice, home, "list", 0755);
	char name[16];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "e%02d", i);
		file_as(&alice, d, name, 0644);
	}
	struct em_meta_dirent ents[4];
	size_t n;
	bool eof;
	char seen[20][16];
	size_t total = 0;
	const char *after = "";
	int pages = 0;
	do {
		if (em_meta_readdir(m, &alice, d, after, ents, 3, &n, &eof) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			snprintf(seen[total++], 16, "%s", ents[i].name);
		after = total ? seen[total - 1] : "";
		pages++;
		/* Change the directory between pages: remove an entry already
		 * returned and one not yet, add one behind and one ahead. */
		if (pages == 1) {
			em_meta_unlink(m, &alice, d, "e00");
			em_meta_unlink(m, &alice, d, "e07");
			file_as(&alice, d, "a-behind", 0644);
			file_as(&alice, d, "z-ahead", 0644);
		}
	} while (!eof && total < 20);
	is_int(pages, 4, "10 entries in pages of 3 take 4 pages");
	is_int(total, 10, "every entry returned exactly once");
	is_str(seen[0], "e00", "first page as it was");
	bool sorted = true;
	for (size_t i = 1; i < total; i++)
		sorted &= strcmp(seen[i - 1], seen[i]) < 0;
	ok(sorted, "names in byte order, no repeats");
	bool has_e09 = false, has_e07 = false, has_z = false;
	for (size_t i = 0; i < total; i++) {
		has_e09 |= strcmp(seen[i], "e09") == 0;
		has_e07 |= strcmp(seen[i], "e07") == 0;
		has_z |= strcmp(seen[i], "z-ahead") == 0;
	}
	ok(has_e09, "entries present throughout are all returned");
	ok(!has_e07, "an entry removed ahead of the cursor is not");
	ok(has_z, "an entry added ahead of the cursor is");
	is_int(em_meta_readdir(m, &alice, d, NULL, ents, 4, &n, &eof), 0, "readdir from the start");
	is_str(ents[0].name, "a-behind", "starts at the first name");
	is_int(ents[0].type, DT_REG, "entry type");
	is_int(em_meta_readdir(m, &alice, home, NULL, ents, 4, &n, &eof), 0, "readdir home");
	is_int(em_meta_readdir(m, &carol, ino_of(ROOT, "private"), NULL, ents, 4, &n, &eof), -EACCES,
	       "readdir without read permission: EACCES");
	is_int(em_meta_readdir(m, &alice, ino_of(home, "plain"), NULL, ents, 4, &n, &eof), -ENOTDIR,
	       "readdir a file: ENOTDIR");
	uint64_t e = mkdir_as(&alice, home, "empty", 0755);
	is_int(em_meta_readdir(m, &alice, e, NULL, ents, 4, &n, &eof), 0, "readdir an empty directory");
	ok(n == 0 && eof, "nothing, end of directory");
}

static void test_xattr(void)
{
	uint64_t f = file_as(&alice, home, "xa", 0644);
	char buf[256];

	is_int(em_meta_setxattr(m, &alice, f, "user.color", "blue", 4, 0), 0, "setxattr");
	is_int(em_meta_getxattr(m, &alice, f, "user.color", buf, sizeof(buf)), 4, "getxattr size");
	ok(memcmp(buf, "blue", 4) == 0, "getxattr value");
	is_int(em_meta_getxattr(m, &alice, f, "user.color", NULL, 0), 4, "size query");
	is_int(em_meta_getxattr(m, &alice, f, "user.color", buf, 2), -ERANGE, "small buffer: ERANGE");
	is_int(em_meta_setxattr(m, &alice, f, "user.color", "red", 3, XATTR_CREATE), -EEXIST,
	       "XATTR_CREATE on existing: EEXIST");
	is_int(em_meta_setxattr(m, &alice, f, "user.size", "1", 1, XATTR_REPLACE), -ENODATA,
	       "XATTR_REPLACE on missing: ENODATA");
	is_int(em_meta_setxattr(m, &alice, f, "user.color", "red", 3, XATTR_REPLACE), 0,
	       "XATTR_REPLACE on existing");
	is_int(em_meta_getxattr(m, &alice, f, "user.none", buf, sizeof(buf)), -ENODATA,
	       "getxattr missing: ENODATA");
	is_int(em_meta_setxattr(m, &alice, f, "user.empty", NULL, 0, 0), 0, "empty value");
	is_int(em_meta_getxattr(m, &alice, f, "user.empty", buf, sizeof(buf)), 0, "reads as empty");
	is_int(em_meta_setxattr(m, &root, f, "trusted.t", "x", 1, 0), 0, "root sets trusted.*");
	is_int(em_meta_setxattr(m, &alice, f, "trusted.u", "x", 1, 0), -EPERM,
	       "non-root trusted.*: EPERM");
	is_int(em_meta_getxattr(m, &alice, f, "trusted.t", buf, sizeof(buf)), -EPERM,
	       "non-root reads trusted.*: EPERM");

	int len = em_meta_listxattr(m, &alice, f, buf, sizeof(buf));
	is_int(len, (int)sizeof("user.color") + (int)sizeof("user.empty"), "listxattr hides trusted.*");
	ok(len > 0 && strcmp(buf, "user.color") == 0, "names in order, NUL-separated");
	is_int(em_meta_listxattr(m, &root, f, NULL, 0), len + (int)sizeof("trusted.t"),
	       "root sees trusted.* (size query)");
	is_int(em_meta_listxattr(m, &root, f, buf, 3), -ERANGE, "small list buffer: ERANGE");

	is_int(em_meta_setxattr(m, &alice, f, "system.posix_acl_access", "x", 1, 0), -EOPNOTSUPP,
	       "system.*: EOPNOTSUPP");
	is_int(em_meta_setxattr(m, &alice, f, "weird.x", "x", 1, 0), -EOPNOTSUPP,
	       "unknown namespace: EOPNOTSUPP");
	is_int(em_meta_setxattr(m, &alice, f, "user.", "x", 1, 0), -EINVAL, "bare prefix: EINVAL");
	is_int(em_meta_setxattr(m, &alice, f, "", "x", 1, 0), -ERANGE, "empty name: ERANGE");
	static char huge[EM_META_XATTR_SIZE_MAX + 1];
	is_int(em_meta_setxattr(m, &alice, f, "user.big", huge, sizeof(huge), 0), -E2BIG,
	       "value over 64 KiB: E2BIG");
	is_int(em_meta_setxattr(m, &alice, f, "user.big", huge, sizeof(huge) - 1, 0), 0,
	       "64 KiB value");
	is_int(em_meta_setxattr(m, &carol, f, "user.c", "x", 1, 0), -EACCES,
	       "user.* without write: EACCES");
	chmod_as(&alice, f, 0600);
	is_int(em_meta_getxattr(m, &carol, f, "user.color", buf, sizeof(buf)), -EACCES,
	       "user.* without read: EACCES");
	is_int(em_meta_setxattr(m, &alice, ino_of(home, "sl"), "user.x", "x", 1, 0), -EPERM,
	       "user.* on a symlink: EPERM");
	is_int(em_meta_setxattr(m, &bob, tmp, "user.x", "x", 1, 0), -EPERM,
	       "user.* on a sticky directory by a non-owner: EPERM");
	is_int(em_meta_setxattr(m, &carol, f, "security.x", "x", 1, 0), -EPERM,
	       "security.* by a non-owner: EPERM");

	is_int(em_meta_removexattr(m, &alice, f, "user.color"), 0, "removexattr");
	is_int(em_meta_removexattr(m, &alice, f, "user.color"), -ENODATA, "remove missing: ENODATA");
	is_int(em_meta_getxattr(m, &alice, f, "user.color", buf, sizeof(buf)), -ENODATA, "removed");
	is_int(em_meta_getxattr(m, &alice, 999999, "user.color", buf, sizeof(buf)), -ENOENT,
	       "xattr on a missing inode: ENOENT");
}

/* FIFOs, sockets and device nodes: stored with their type and rdev, and
 * every name and attribute operation works on them as on ext4. */
static void test_special_files(void)
{
	uint64_t d = mkdir_as(&alice, home, "special", 0755);
	struct em_meta_attr a, b;
	is_int(em_meta_mknod(m, &alice, d, "fifo", S_IFIFO | 0644, 0, &a), 0, "mkfifo");
	is_int(a.mode, S_IFIFO | 0644, "a FIFO");
	ok(a.uid == 1000 && a.nlink == 1 && a.size == 0 && a.rdev == 0, "owner, one link, empty");
	is_int(em_meta_mknod(m, &alice, d, "sock", S_IFSOCK | 0600, 0, &b), 0, "socket node");
	is_int(attr(b.ino).mode, S_IFSOCK | 0600, "a socket");
	is_int(em_meta_mknod(m, &alice, d, "chr", S_IFCHR | 0644, 0x10203, &a), -EPERM,
	       "a device node needs root");
	is_int(em_meta_mknod(m, &root, d, "chr", S_IFCHR | 0644, 0x10203, &a), 0, "root: mknod c");
	ok(attr(a.ino).rdev == 0x10203 && S_ISCHR(attr(a.ino).mode), "its rdev is kept");
	uint64_t blk = 0;
	is_int(em_meta_mknod(m, &root, d, "blk", S_IFBLK | 0600, (8ull << 8) | 1, &a), 0,
	       "root: mknod b");
	blk = a.ino;
	is_int(attr(blk).rdev, (8 << 8) | 1, "block rdev kept");
	is_int(em_meta_mknod(m, &alice, d, "fifo", S_IFIFO | 0644, 0, &a), -EEXIST, "EEXIST");
	is_int(em_meta_mknod(m, &alice, d, "dir", S_IFDIR | 0755, 0, &a), -EINVAL,
	       "mknod of a directory: EINVAL");
	is_int(em_meta_mknod(m, &alice, d, "reg", S_IFREG | 0640, 0, &a), 0, "mknod of a file");
	is_int(attr(a.ino).mode, S_IFREG | 0640, "a regular file, openable");
	is_int(em_meta_mknod(m, &bob, d, "nope", S_IFIFO | 0644, 0, &a), -EACCES,
	       "no write permission on the directory: EACCES");

	struct em_meta_dirent ents[8];
	size_t n;
	bool eof;
	is_int(em_meta_readdir(m, &alice, d, "", ents, 8, &n, &eof), 0, "readdir");
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ents[i].name, "fifo"))
			seen += ents[i].type == DT_FIFO;
		else if (!strcmp(ents[i].name, "sock"))
			seen += ents[i].type == DT_SOCK;
		else if (!strcmp(ents[i].name, "chr"))
			seen += ents[i].type == DT_CHR;
		else if (!strcmp(ents[i].name, "blk"))
			seen += ents[i].type == DT_BLK;
	}
	is_int(seen, 4, "readdir types: DT_FIFO, DT_SOCK, DT_CHR, DT_BLK");

	uint64_t fifo = ino_of(d, "fifo");
	is_int(chmod_as(&alice, fifo, 0600), 0, "chmod a FIFO");
	is_int(chown_as(&root, fifo, 1001, 1001), 0, "chown a FIFO");
	struct em_meta_setattr s = { .valid = EM_SETATTR_SIZE, .size = 0 };
	is_int(em_meta_setattr(m, &root, fifo, &s, NULL), -EINVAL, "truncate a FIFO: EINVAL");
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_MTIME, .mtime_ns = 123000000000 };
	is_int(em_meta_setattr(m, &root, fifo, &s, NULL), 0, "utimens a FIFO");
	is_int(attr(fifo).mtime_ns, 123000000000, "its mtime set");
	is_int(em_meta_link(m, &root, fifo, d, "fifo2", &a), 0, "link a FIFO");
	is_int(attr(fifo).nlink, 2, "two links");
	is_int(em_meta_rename(m, &root, d, "blk", d, "blk2", 0), 0, "rename a device node");
	is_int(attr(ino_of(d, "blk2")).rdev, (8 << 8) | 1, "rdev survives the rename");
	is_int(em_meta_setxattr(m, &root, fifo, "user.x", "1", 1, 0), -EPERM,
	       "user. xattrs on a FIFO: EPERM (as Linux)");
	is_int(em_meta_setxattr(m, &root, fifo, "trusted.x", "1", 1, 0), 0, "trusted. on a FIFO");
	struct em_meta_open_res o;
	is_int(em_meta_open(m, &root, fifo, O_RDONLY, 1, &o), 0, "open a FIFO read-only");
	is_int(o.session, 0, "no write session for a node without data");
	size_t gc0 = gc_count(blk);
	is_int(em_meta_unlink(m, &root, d, "blk2"), 0, "unlink a device node");
	is_int(gc_count(blk), gc0, "nothing to collect");
	is_int(em_meta_unlink(m, &root, d, "fifo"), 0, "unlink one FIFO link");
	is_int(em_meta_unlink(m, &root, d, "fifo2"), 0, "and the other");
	is_int(lookup(&root, d, "fifo2"), -ENOENT, "gone");
}

/* Set-id bits go with a write or truncate by anyone but root, and the
 * descriptor, not today's mode, decides what a writer may do. */
static void test_killpriv(void)
{
	uint64_t d = mkdir_as(&alice, home, "setid", 0777);
	struct em_meta_open_res o;
	struct em_meta_setattr s;
	is_int(em_meta_create(m, &alice, d, "suid", 06777, O_WRONLY | O_CREAT, 1, &o), 0,
	       "create 06777");
	uint64_t f = o.attr.ino;
	em_meta_close(m, &alice, f, o.session, 0, 0);
	chmod_as(&alice, f, 06777);
	is_int(em_meta_open(m, &bob, f, O_WRONLY, 1, &o), 0, "bob opens it to write");
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_KILL_PRIV };
	is_int(em_meta_setattr(m, &carol, f, &s, NULL), 0, "carol may write (0777): kill-priv");
	is_int(attr(f).mode & 07777, 0777, "setuid and setgid (group exec) gone");
	chmod_as(&alice, f, 06700);
	is_int(em_meta_setattr(m, &bob, f, &s, NULL), -EACCES,
	       "one who may not write cannot strip the bits");
	s.session = o.session + 1;
	is_int(em_meta_setattr(m, &bob, f, &s, NULL), -EACCES, "nor with a wrong session id");
	s.session = o.session;
	is_int(em_meta_setattr(m, &bob, f, &s, NULL), 0,
	       "bob's write through the file he opened when he could");
	is_int(attr(f).mode & 07777, 02700,
	       "setuid gone; setgid without group exec stays (mandatory locking mark)");
	chmod_as(&alice, f, 04777);
	is_int(em_meta_set_length(m, &bob, f, o.session, 10, EM_META_WROTE), 0,
	       "a length report that says it wrote");
	struct em_meta_attr a = attr(f);
	is_int(a.mode & 07777, 0777, "takes setuid too (a mount with a stale mode)");
	int64_t before = a.mtime_ns;
	usleep(2000);
	is_int(em_meta_close(m, &bob, f, o.session, 10, EM_META_WROTE), 0, "close after overwrite");
	ok(attr(f).mtime_ns > before, "an overwrite moves mtime");
	chmod_as(&alice, f, 04777);
	is_int(em_meta_open(m, &root, f, O_WRONLY, 1, &o), 0, "root writes");
	em_meta_close(m, &root, f, o.session, 0, EM_META_WROTE);
	is_int(attr(f).mode & 07777, 04777, "root's write keeps the bits");

	/* open(O_CREAT|O_RDWR, 0) then ftruncate works; truncate by path does not. */
	is_int(em_meta_create(m, &carol, d, "zero", 0, O_RDWR | O_CREAT, 1, &o), 0, "create mode 0");
	s = (struct em_meta_setattr){ .valid = EM_SETATTR_SIZE, .size = 100 };
	is_int(em_meta_setattr(m, &carol, o.attr.ino, &s, NULL), -EACCES, "truncate(path): EACCES");
	s.session = o.session;
	is_int(em_meta_setattr(m, &carol, o.attr.ino, &s, NULL), 0, "ftruncate on the open file");
	is_int(attr(o.attr.ino).size, 100, "truncated");
	em_meta_close(m, &carol, o.attr.ino, o.session, 100, 0);
	is_int(em_meta_setattr(m, &carol, o.attr.ino, &s, NULL), -EACCES,
	       "a closed session grants nothing");
}

#ifndef EM_META_TEST_RPC
static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

static int lk(uint64_t ino, uint64_t client, uint64_t owner, uint8_t type, uint64_t start,
	      uint64_t end, uint8_t kind, struct em_meta_lock_range *c)
{
	struct em_meta_lock l = { .client = client, .owner = owner, .start = start, .end = end,
				  .pid = (uint32_t)(owner * 10), .type = type, .kind = kind };
	return em_meta_lock(m, &alice, ino, &l, c);
}

static int lk_test(uint64_t ino, uint64_t client, uint64_t owner, uint8_t type, uint64_t start,
		   uint64_t end, struct em_meta_lock_range *c)
{
	struct em_meta_lock l = { .client = client, .owner = owner, .start = start, .end = end,
				  .type = type, .kind = EM_META_LOCK_POSIX, .test = true };
	return em_meta_lock(m, &alice, ino, &l, c);
}

/* Locks shared by every client: record locks split and merge per owner,
 * conflict only across owners, flock is separate, unlink drops them. */
static void test_locks(void)
{
	const uint8_t P = EM_META_LOCK_POSIX, F = EM_META_LOCK_FLOCK;
	const uint8_t RD = EM_META_LOCK_RD, WR = EM_META_LOCK_WR, UN = EM_META_LOCK_UN;
	uint64_t f = file_as(&alice, home, "locked", 0644);
	struct em_meta_lock_range c;
	is_int(lk(f, 1, 1, WR, 0, 99, P, NULL), 0, "client 1 write-locks [0, 99]");
	is_int(lk(f, 2, 1, WR, 50, 60, P, NULL), -EAGAIN, "client 2, same owner number: EAGAIN");
	is_int(lk_test(f, 2, 1, WR, 50, 60, &c), 0, "F_GETLK");
	ok(c.type == WR && c.start == 0 && c.end == 99 && c.pid == 10,
	   "the conflict names the holder's range and pid");
	is_int(lk(f, 2, 1, RD, 100, 199, P, NULL), 0, "an adjacent range is free");
	is_int(lk(f, 1, 2, WR, 150, 150, P, NULL), -EAGAIN,
	       "another owner of client 1 conflicts too");
	is_int(lk(f, 3, 1, RD, 150, 160, P, NULL), 0, "read locks share");
	is_int(lk_test(f, 3, 1, WR, 0, UINT64_MAX, &c), 0, "F_GETLK answers 0");
	ok(c.type != UN, "and reports a conflicting lock");
	is_int(lk(f, 1, 1, UN, 40, 59, P, NULL), 0, "unlock the middle: the lock splits");
	is_int(lk(f, 2, 1, WR, 40, 59, P, NULL), 0, "the hole is free");
	is_int(lk(f, 2, 9, WR, 60, 60, P, NULL), -EAGAIN, "the right part still held");
	is_int(lk(f, 2, 9, WR, 39, 39, P, NULL), -EAGAIN, "the left part still held");
	is_int(lk(f, 1, 1, RD, 0, 39, P, NULL), 0, "the owner downgrades its own range");
	is_int(lk(f, 3, 2, RD, 0, 10, P, NULL), 0, "a read lock on the downgraded range");
	is_int(lk(f, 3, 2, WR, 20, 20, P, NULL), -EAGAIN, "but no write lock");
	is_int(lk(f, 4, 1, WR, 0, UINT64_MAX, F, NULL), 0, "flock is another kind: no conflict");
	is_int(lk(f, 5, 1, RD, 0, UINT64_MAX, F, NULL), -EAGAIN, "but flocks conflict");
	is_int(lk(f, 4, 1, UN, 0, UINT64_MAX, F, NULL), 0, "flock released");
	is_int(lk(f, 5, 1, RD, 0, UINT64_MAX, F, NULL), 0, "then granted");
	for (uint64_t i = 0; i < 64; i++)
		lk(f, 6, 1, RD, 1000 + 2 * i, 1000 + 2 * i, P, NULL);
	is_int(lk(f, 6, 1, RD, 2000, 2000, P, NULL), -ENOLCK, "64 ranges per owner: ENOLCK");
	is_int(lk(f, 6, 1, RD, 1001, 1001, P, NULL), 0, "filling a gap merges instead");
	is_int(lk(f, 6, 1, UN, 0, UINT64_MAX, P, NULL), 0, "unlock everything");
	is_int(lk(f, 1, 1, 7, 0, 1, P, NULL), -EINVAL, "bad type: EINVAL");
	is_int(lk(f, 1, 1, WR, 5, 1, P, NULL), -EINVAL, "start after end: EINVAL");
	is_int(lk(f, 0, 1, WR, 0, 1, P, NULL), -EINVAL, "no client: EINVAL");
	is_int(lk(9999999, 1, 1, WR, 0, 1, P, NULL), -ENOENT, "no inode: ENOENT");
	is_int(em_meta_unlink(m, &alice, home, "locked"), 0, "unlink the locked file");
	uint64_t g = file_as(&alice, home, "locked", 0644);
	is_int(lk(g, 9, 1, WR, 0, UINT64_MAX, P, NULL), 0, "a new file by that name is unlocked");
	lk(g, 9, 1, UN, 0, UINT64_MAX, P, NULL);
#ifndef EM_META_TEST_RPC
	/* Lockers got client records (a lease); lapsed, they go. */
	is_int(em_meta_prune_clients(m, wall_ns() + 3LL * EM_META_SESSION_LEASE_MS * 1000000), 0,
	       "prune the lockers' client records");
#endif
}

static void test_setgid_dir(void)
{
	uint64_t g = mkdir_as(&root, ROOT, "shared", 0777);
	chown_as(&root, g, 0, 1000);
	chmod_as(&root, g, 02777);
	struct em_meta_open_res r;
	struct em_meta_attr a;

	em_meta_create(m, &carol, g, "cf", 02755, O_RDONLY | O_CREAT, 1, &r);
	is_int(r.attr.gid, 1000, "file in a setgid directory takes the directory's group");
	is_int(r.attr.mode & S_ISGID, 0, "setgid dropped for a creator outside that group");
	em_meta_create(m, &bob, g, "bf", 02755, O_RDONLY | O_CREAT, 1, &r);
	is_int(r.attr.mode & S_ISGID, S_ISGID, "kept for a member");
	em_meta_mkdir(m, &carol, g, "sub", 0755, &a);
	is_int(a.gid, 1000, "subdirectory takes the group");
	is_int(a.mode & S_ISGID, S_ISGID, "and stays setgid");
	em_meta_mkdir(m, &carol, a.ino, "deeper", 0755, &a);
	ok(a.gid == 1000 && (a.mode & S_ISGID), "the rule propagates");
}

static void test_statfs_and_persistence(void)
{
	struct em_meta_statfs s;
	is_int(em_meta_statfs(m, &alice, &s), 0, "statfs");
	is_int(s.namemax, EM_META_NAME_MAX, "namemax");
	ok(s.ffree < s.files, "used inodes counted");
	is_int(s.bsize, 1 << 20, "block size is the chunk size");

	uint64_t before = file_as(&alice, home, "persist", 0644);
	close_all();
	open_all();
	is_int(ino_of(home, "persist"), before, "namespace survives reopen");
	uint64_t after = file_as(&alice, home, "persist2", 0644);
	ok(after > before, "inode ids are never reused after a restart");
}

/* Threads racing creates and renames in one directory. */
struct racer {
	int id, failures;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t d = ino_of(home, "race");
	char a[32], b[32];
	for (int i = 0; i < 50; i++) {
		snprintf(a, sizeof(a), "t%d-%d", r->id, i);
		snprintf(b, sizeof(b), "r%d-%d", r->id, i);
		if (file_as(&alice, d, a, 0644) == 0)
			r->failures++;
		if (em_meta_rename(m, &alice, d, a, d, b, 0) < 0)
			r->failures++;
	}
	return NULL;
}

static void test_concurrency(void)
{
	pthread_t th[4];
	struct racer rs[4];
	mkdir_as(&alice, home, "race", 0755);
	for (int i = 0; i < 4; i++) {
		rs[i] = (struct racer){ i, 0 };
		pthread_create(&th[i], NULL, race, &rs[i]);
	}
	int fails = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += rs[i].failures;
	}
	is_int(fails, 0, "concurrent creates and renames all succeed");
	struct em_meta_dirent ents[256];
	size_t n;
	bool eof;
	em_meta_readdir(m, &alice, ino_of(home, "race"), NULL, ents, 256, &n, &eof);
	is_int(n, 200, "every renamed file present once");
	bool unique = true;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			unique &= ents[i].ino != ents[j].ino;
	ok(unique, "inode ids unique across threads");
}

static void test_records(void)
{
	struct em_meta_inode in, out;
	uint8_t buf[EM_META_INODE_MAX];
	memset(&in, 0, sizeof(in));
	in.a.mode = S_IFLNK | 0777;
	in.a.nlink = 1;
	in.tlen = 3;
	memcpy(in.target, "abc", 3);
	size_t len = em_meta_inode_encode(&in, buf);
	is_int(em_meta_inode_decode(buf, len, &out), 0, "inode record round-trips");
	is_str(out.target, "abc", "with its target");
	is_int(em_meta_inode_decode(buf, len - 1, &out), -EM_ECHECKSUM, "truncated: checksum fails");
	buf[10] ^= 1;
	is_int(em_meta_inode_decode(buf, len, &out), -EM_ECHECKSUM, "bit flip: EM_ECHECKSUM");
	is_int(em_meta_inode_decode(buf, 3, &out), -EUCLEAN, "too short: EUCLEAN");
	memset(&in, 0, sizeof(in));
	in.a.mode = S_IFCHR | 0600;
	in.a.nlink = 1;
	in.a.rdev = 0x1234567890ull;
	len = em_meta_inode_encode(&in, buf);
	ok(em_meta_inode_decode(buf, len, &out) == 0 && out.a.rdev == 0x1234567890ull &&
		   S_ISCHR(out.a.mode),
	   "device node round-trips with its rdev, no layout");
	in.a.mode = S_IFIFO | 0600;
	len = em_meta_inode_encode(&in, buf);
	is_int(em_meta_inode_decode(buf, len, &out), -EUCLEAN, "rdev on a FIFO: EUCLEAN");
	in.a.mode = S_IFREG | 0600;
	in.a.rdev = 0;
	len = em_meta_inode_encode(&in, buf);
	is_int(em_meta_inode_decode(buf, len, &out), -EUCLEAN, "a file without a layout: EUCLEAN");
	struct em_meta_dentry d = { 42, EM_META_T_FILE }, dout;
	len = em_meta_dentry_encode(&d, buf);
	is_int(em_meta_dentry_decode(buf, len, &dout), 0, "dentry round-trips");
	is_int(dout.ino, 42, "dentry inode");
	is_int(em_meta_dentry_decode(buf, len - 5, &dout), -EUCLEAN, "short dentry: EUCLEAN");
	struct em_meta_session se = { 7, 1000, 1000, 50 }, sout;
	len = em_meta_session_encode(&se, buf);
	is_int(len, EM_META_SESSION_LEN, "session record length");
	ok(em_meta_session_decode(buf, len, &sout) == 0 && sout.lease_ms == 50 && sout.client_id == 7,
	   "session round-trips with its lease");
	struct em_meta_client_rec cr = { 5000000, 80 };
	is_int(em_meta_session_expiry(&se, NULL, 999), 1000 + 50 * 1000000LL,
	       "expiry: created + the session's lease");
	is_int(em_meta_session_expiry(&se, &cr, 999), 5000000 + 80 * 1000000LL,
	       "a later renewal with a longer lease moves it");
	se.lease_ms = 0;
	is_int(em_meta_session_expiry(&se, NULL, 999), 1000 + 999 * 1000000LL,
	       "no lease recorded: the fallback");
	struct em_meta_client_rec cout;
	len = em_meta_client_rec_encode(&cr, buf);
	ok(len == EM_META_CLIENT_LEN && em_meta_client_rec_decode(buf, len, &cout) == 0 &&
		   cout.renewed_ns == cr.renewed_ns && cout.lease_ms == 80,
	   "client record round-trips");
	buf[3] ^= 4;
	is_int(em_meta_client_rec_decode(buf, len, &cout), -EM_ECHECKSUM, "damaged: EM_ECHECKSUM");
}

#ifndef EM_META_TEST_RPC
#include "fs/meta/fsck.h"

static struct em_meta_fsck_report fsck_now(void)
{
	struct em_meta_fsck_report r;
	memset(&r, 0, sizeof(r));
	if (em_meta_fsck(kv, NULL, NULL, &r) < 0)
		r.problems = 1000000;
	return r;
}

struct raw_ctx {
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;     /* NULL: clear */
	size_t vlen;
};

static int raw_fn(struct em_kv_txn *t, void *arg)
{
	struct raw_ctx *c = arg;
	return c->val ? em_kv_set(t, c->key, c->klen, c->val, c->vlen)
		      : em_kv_clear(t, c->key, c->klen);
}

static int raw(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct raw_ctx c = { key, klen, val, vlen };
	return em_kv_run(kv, 0, raw_fn, &c);
}

static void say_fixed(void *arg, const char *line)
{
	(void)arg;
	printf("# fixed: %s\n", line);
}

/* Write sessions end with their client: expiry, recovery, renewal, and
 * what fsck says and repairs. A second server on the same store, with a
 * short lease, plays the part of the cluster's. Expiry is judged at chosen
 * times (q) wherever the API takes one, so a slow machine (ASan, a loaded
 * CI runner) cannot expire the renewing client; sleeps only bound from
 * below. */
static void test_sessions(void)
{
	struct em_meta_options o = mopts;
	o.session_lease_ms = 1000;
	struct em_meta *s;
	if (em_meta_init(kv, &o, &s) < 0) {
		ok(0, "second server");
		return;
	}
	uint64_t d = mkdir_as(&root, ROOT, "sess", 0777);
	struct em_meta_open_res a, b;
	is_int(em_meta_create(s, &alice, d, "a", 0644, O_WRONLY | O_CREAT, 501, &a), 0, "a open");
	is_int(em_meta_create(s, &alice, d, "b", 0644, O_WRONLY | O_CREAT, 502, &b), 0, "b open");
	em_meta_set_length(s, &alice, a.attr.ino, a.session, 100, 0);
	struct em_meta_session_info inf[16];
	size_t n = 99;
	is_int(em_meta_expired_sessions(s, wall_ns(), inf, 16, &n), 0, "list expired");
	is_int(n, 0, "fresh sessions are not expired");
	struct em_meta_fsck_report r = fsck_now();
	is_int(r.problems, 0, "fsck: open sessions are fine");
	uint32_t lease = 0;
	is_int(em_meta_renew(s, 502, &lease), 0, "renew");
	is_int(lease, 1000, "the server grants its lease");
	is_int(em_meta_unlink(s, &alice, d, "b"), 0, "unlink b while write-open");
	usleep(600 * 1000);
	int64_t t1 = wall_ns(), q = t1 + 900LL * 1000000;
	em_meta_renew(s, 502, &lease);
	/* Now past a's expiry (created 600 ms before t1), 500 ms before b's. */
	usleep(500 * 1000);
	em_meta_expired_sessions(s, q, inf, 16, &n);
	is_int(n, 1, "only the silent client's session expired");
	ok(n == 1 && inf[0].ino == a.attr.ino && inf[0].session == a.session &&
		   inf[0].client == 501 && inf[0].attr.size == 100,
	   "it names inode, session, client and the known length");
	r = fsck_now();
	is_int(r.expired, 1, "fsck counts the expired session");
	ok(r.problems >= 1, "and calls it a problem");
	is_int(em_meta_session_recover(s, a.attr.ino, a.session, 4096, q), 0, "recover a");
	is_int(attr(a.attr.ino).size, 4096, "the storage length is adopted");
	is_int(em_meta_session_recover(s, a.attr.ino, a.session, 8192, q), -EBADF,
	       "recovering twice: EBADF");
	is_int(em_meta_session_recover(s, a.attr.ino, a.session + 1, 10, q), -EBADF,
	       "unknown session: EBADF");
	struct em_meta_open_res a2;
	em_meta_open(s, &alice, a.attr.ino, O_WRONLY, 501, &a2);
	is_int(em_meta_session_recover(s, a.attr.ino, a2.session, 10,
				       q + 10LL * 1000 * 1000000), 0,
	       "a smaller length recovers too");
	is_int(attr(a.attr.ino).size, 4096, "but never shrinks the file");
	is_int(em_meta_session_recover(s, b.attr.ino, b.session, 777, q), -EBUSY,
	       "a renewing client keeps its session");
	is_int(gc_count(b.attr.ino), 0, "its unlinked file is kept");
	int64_t later = q + 10LL * 1000 * 1000000;
	is_int(em_meta_session_recover(s, b.attr.ino, b.session, 777, later), 0,
	       "once it stops renewing, recovered");
	struct em_meta_attr ga;
	is_int(em_meta_getattr(s, &root, b.attr.ino, &ga), -ENOENT, "the unlinked inode is gone");
	is_int(gc_count(b.attr.ino), 1, "and its chunks are queued for GC");
	em_meta_gc_done(s, b.attr.ino);
	r = fsck_now();
	is_int(r.problems, 0, "fsck clean after recovery");
	ok(r.clients >= 1, "client records kept");
	is_int(em_meta_prune_clients(s, later + 10LL * 1000 * 1000000), 0, "prune");
	is_int(fsck_now().clients, 0, "lapsed client records pruned");

	/* An unlinked inode whose session record vanished: repair sends it to GC. */
	struct em_meta_open_res c;
	em_meta_create(s, &alice, d, "c", 0644, O_WRONLY | O_CREAT, 503, &c);
	em_meta_unlink(s, &alice, d, "c");
	uint8_t key[EM_META_KEY_MAX];
	raw(key, em_meta_key_session(key, c.attr.ino, c.session), NULL, 0);
	r = fsck_now();
	is_int(r.orphans_dead, 1, "fsck: orphan inode without a session");
	uint64_t fixed = 0;
	is_int(em_meta_fsck_repair(kv, say_fixed, NULL, &fixed), 0, "repair");
	is_int(fixed, 1, "one fix");
	is_int(gc_count(c.attr.ino), 1, "the orphan went to GC");
	is_int(fsck_now().problems, 0, "fsck clean after repair");

	/* A GC entry nobody collects for too long is stuck. */
	struct em_meta_gc_entry g = { c.attr.ino, 0, c.attr.layout,
				      wall_ns() - EM_META_FSCK_GC_STUCK_NS - 1000000000LL };
	uint8_t val[EM_META_GC_LEN];
	raw(key, em_meta_key_ino_prefix(key, 'G', c.attr.ino), val, em_meta_gc_encode(&g, val));
	r = fsck_now();
	is_int(r.gc_stuck, 1, "fsck: an old GC entry is stuck");
	ok(r.problems >= 1, "a problem");
	em_meta_gc_done(s, c.attr.ino);
	is_int(fsck_now().problems, 0, "fsck clean once collected");
	em_meta_destroy(s);
}
#endif

int main(int argc, char **argv)
{
	if (target_setup(argc, argv) < 0)
		return 1;
	open_all();

	test_root_and_mkdir();
	test_lookup();
	test_create_open();
	test_setattr();
	test_unlink_rmdir();
	test_link_symlink();
	test_rename();
	test_readdir();
	test_xattr();
	test_setgid_dir();
	test_special_files();
	test_killpriv();
	test_locks();
	test_statfs_and_persistence();
	test_concurrency();
	test_records();
#ifndef EM_META_TEST_RPC
	test_sessions();
#endif

	close_all();
	target_teardown();
	return tap_done();
}
