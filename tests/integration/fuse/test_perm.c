/* Permission checks through a real ember-fuse mount, as users who are not
 * root: refused calls fail with EACCES or EPERM and change nothing, and the
 * permitted ones succeed.
 *
 *   test_fuse_perm MOUNTPOINT      (run as root; children drop to uids
 *                                   1001 and 1002 with setresuid)
 *
 * fuse.sh runs it on a mount with default_permissions (the kernel checks
 * mode bits first) and on one with no_default_permissions, where the kernel
 * leaves them to the metadata service (fs/meta/perm.c, fs/meta/inode.c)
 * and every refusal below is the service's own. That mount also has
 * entry_timeout=0 and attr_timeout=0, so that no lookup is answered from
 * the kernel's cache on someone else's behalf.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#define ALICE 1001 /* owns alice/ and what is in it */
#define BOB 1002   /* owns nothing there */
#define TEAM 2000  /* a supplementary group of alice's */
#define OTHERS 3000 /* a group alice is not in */

static char root[512];

static const char *p(const char *name)
{
	static char bufs[4][1024];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, 1024, "%s/%s", root, name);
	return b;
}

/* ---- one call as another user ------------------------------------------ */

enum kind { READ, WRITE, CREATE, MKDIR, UNLINK, RENAME, CHMOD, CHOWN, TRUNCATE, STAT, LIST };

struct op {
	enum kind kind;
	const char *path, *to; /* to: RENAME's new name */
	unsigned mode;         /* CHMOD */
	uid_t uid;             /* CHOWN (-1: unchanged) */
	gid_t gid;
};

#define OP(k, name, ...) ((struct op){ .kind = (k), .path = (name), __VA_ARGS__ })

/* 0 or the errno the call failed with. */
static int run_op(const struct op *o)
{
	const char *a = p(o->path);
	struct stat st;
	char buf[64];
	int fd, rc = 0;
	switch (o->kind) {
	case READ:
		if ((fd = open(a, O_RDONLY)) < 0)
			return errno;
		rc = read(fd, buf, sizeof(buf)) < 0 ? errno : 0;
		close(fd);
		return rc;
	case WRITE:
		if ((fd = open(a, O_WRONLY)) < 0)
			return errno;
		rc = write(fd, "x", 1) != 1 ? errno : 0;
		close(fd);
		return rc;
	case CREATE:
		if ((fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0)
			return errno;
		close(fd);
		return 0;
	case MKDIR:
		return mkdir(a, 0755) ? errno : 0;
	case UNLINK:
		return unlink(a) ? errno : 0;
	case RENAME: {
		char to[1024];
		snprintf(to, sizeof(to), "%s", p(o->to));
		return rename(a, to) ? errno : 0;
	}
	case CHMOD:
		return chmod(a, o->mode) ? errno : 0;
	case CHOWN:
		return chown(a, o->uid, o->gid) ? errno : 0;
	case TRUNCATE:
		return truncate(a, 0) ? errno : 0;
	case STAT:
		return stat(a, &st) ? errno : 0;
	case LIST: {
		/* To the end: without default_permissions the open succeeds and
		 * "." and ".." come before ember-meta's check on the entries. */
		DIR *d = opendir(a);
		if (!d)
			return errno;
		int n = 0;
		for (errno = 0; readdir(d); errno = 0)
			n++;
		rc = errno ? errno : n < 2 ? ENOENT : 0;
		closedir(d);
		return rc;
	}
	}
	return EINVAL;
}

/* Runs o in a child as uid (group uid, plus TEAM for alice). */
static int as(uid_t uid, const struct op *o)
{
	pid_t pid = fork();
	if (pid == 0) {
		gid_t groups[2] = { uid, TEAM };
		if (uid != 0 && (setgroups(uid == ALICE ? 2 : 1, groups) ||
				 setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(250);
		_exit(run_op(o));
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 251;
	return WEXITSTATUS(st);
}

static const char *who(uid_t uid)
{
	return uid == ALICE ? "alice" : uid == BOB ? "bob" : "root";
}

static void expect(uid_t uid, struct op o, int want, const char *what)
{
	char line[256];
	snprintf(line, sizeof(line), "%s: %s (%s)", who(uid), what,
		 want ? strerrorname_np(want) : "allowed");
	int got = as(uid, &o);
	if (!ok(got == want, line))
		printf("#   got %s (%d)\n", got ? (strerrorname_np(got) ? strerrorname_np(got) : "?") : "0",
		       got);
}

/* ---- what root sets up, and what must not change ------------------------ */

static struct stat st_of(const char *name)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	if (stat(p(name), &st))
		st.st_mode = 0;
	return st;
}

static int make(const char *name, unsigned mode, uid_t uid, const char *data)
{
	int fd = open(p(name), O_CREAT | O_EXCL | O_WRONLY, mode);
	if (fd < 0)
		return -1;
	int rc = data && write(fd, data, strlen(data)) != (ssize_t)strlen(data);
	rc |= close(fd) | chmod(p(name), mode) | chown(p(name), uid, uid);
	return rc ? -1 : 0;
}

static int make_dir(const char *name, unsigned mode, uid_t uid)
{
	return mkdir(p(name), mode) || chmod(p(name), mode) || chown(p(name), uid, uid) ? -1 : 0;
}

static void setup(void)
{
	/* root/          0755 root
	 *   alice/       0755 alice      another uid's directory, for bob
	 *     secret     0600 alice      "secret"
	 *     pub        0644 alice      "public"
	 *     mine       0644 alice      chmod and chown targets
	 *     grp        0644 alice
	 *     given      0644 alice
	 *   private/     0700 alice      no search, no listing for bob
	 *     inside     0644 alice
	 *   sticky/      1777 root
	 *     alices     0644 alice
	 *     bobs       0644 bob
	 *   open/        0777 root       anyone creates */
	int rc = make_dir("alice", 0755, ALICE);
	rc |= make("alice/secret", 0600, ALICE, "secret");
	rc |= make("alice/pub", 0644, ALICE, "public");
	rc |= make("alice/mine", 0644, ALICE, NULL);
	rc |= make("alice/grp", 0644, ALICE, NULL);
	rc |= make("alice/given", 0644, ALICE, NULL);
	rc |= make_dir("private", 0700, ALICE);
	rc |= make("private/inside", 0644, ALICE, NULL);
	rc |= make_dir("sticky", 01777, 0);
	rc |= make("sticky/alices", 0644, ALICE, NULL);
	rc |= make("sticky/bobs", 0644, BOB, NULL);
	rc |= make_dir("open", 0777, 0);
	ok(rc == 0, "root sets up files and directories of alice's, a sticky and an open directory");
}

static void reading(void)
{
	expect(BOB, OP(READ, "alice/secret"), EACCES, "read another's 0600 file");
	expect(BOB, OP(WRITE, "alice/pub"), EACCES, "write another's 0644 file");
	expect(BOB, OP(TRUNCATE, "alice/pub"), EACCES, "truncate another's 0644 file");
	expect(ALICE, OP(READ, "alice/secret"), 0, "read her own 0600 file");
	expect(BOB, OP(READ, "alice/pub"), 0, "read another's 0644 file");
	expect(ALICE, OP(WRITE, "alice/pub"), 0, "write her own 0644 file");
	expect(0, OP(READ, "alice/secret"), 0, "read anyone's 0600 file");
	struct stat st = st_of("alice/pub");
	is_int((int)st.st_size, 6, "the refused write and truncate changed nothing");
}

static void directories(void)
{
	expect(BOB, OP(CREATE, "alice/bobs"), EACCES,
	       "create in another's 0755 directory");
	expect(BOB, OP(MKDIR, "alice/bobdir"), EACCES,
	       "mkdir in another's 0755 directory");
	expect(BOB, OP(UNLINK, "alice/pub"), EACCES,
	       "unlink in another's 0755 directory");
	expect(BOB, OP(RENAME, "alice/pub", .to = "alice/moved"), EACCES,
	       "rename in another's 0755 directory");
	expect(BOB, OP(STAT, "private/inside"), EACCES,
	       "look up a name in another's 0700 directory");
	expect(BOB, OP(LIST, "private"), EACCES, "list another's 0700 directory");
	ok(st_of("alice/bobs").st_mode == 0 && st_of("alice/bobdir").st_mode == 0 &&
	   st_of("alice/pub").st_mode != 0 && st_of("alice/moved").st_mode == 0,
	   "the refused calls created, removed and renamed nothing");
	expect(ALICE, OP(CREATE, "alice/new"), 0, "create in her own 0755 directory");
	expect(ALICE, OP(STAT, "private/inside"), 0, "look up in her own 0700 directory");
	expect(ALICE, OP(LIST, "private"), 0, "list her own 0700 directory");
	expect(BOB, OP(CREATE, "open/bobs"), 0, "create in a 0777 directory");
	struct stat st = st_of("alice/new"), sb = st_of("open/bobs");
	ok(st.st_uid == ALICE && sb.st_uid == BOB, "new files belong to their creators");
	expect(ALICE, OP(UNLINK, "alice/new"), 0, "unlink in her own directory");
}

static void ownership(void)
{
	expect(BOB, OP(CHMOD, "alice/mine", .mode = 0666), EPERM,
	       "chmod another's file");
	is_int((int)(st_of("alice/mine").st_mode & 07777), 0644, "the refused chmod changed nothing");
	expect(ALICE, OP(CHMOD, "alice/mine", .mode = 0640), 0, "chmod her own file");
	is_int((int)(st_of("alice/mine").st_mode & 07777), 0640, "the chmod took");
	expect(BOB, OP(CHOWN, "alice/mine", .uid = BOB, .gid = (gid_t)-1), EPERM,
	       "chown another's file to himself");
	expect(ALICE, OP(CHOWN, "alice/mine", .uid = BOB, .gid = (gid_t)-1), EPERM,
	       "give her own file away (chown, not root)");
	expect(ALICE, OP(CHOWN, "alice/grp", .uid = (uid_t)-1, .gid = OTHERS), EPERM,
	       "chgrp her own file to a group she is not in");
	struct stat sm = st_of("alice/mine"), sg = st_of("alice/grp");
	ok(sm.st_uid == ALICE && sm.st_gid == ALICE && sg.st_gid == ALICE,
	   "the refused chowns changed nothing");
	expect(ALICE, OP(CHOWN, "alice/grp", .uid = (uid_t)-1, .gid = TEAM), 0,
	       "chgrp her own file to a group of hers");
	expect(0, OP(CHOWN, "alice/given", .uid = BOB, .gid = BOB), 0,
	       "chown anyone's file");
	struct stat s2 = st_of("alice/grp"), s3 = st_of("alice/given");
	ok(s2.st_gid == TEAM && s3.st_uid == BOB && s3.st_gid == BOB, "the permitted chowns took");
}

static void sticky(void)
{
	expect(BOB, OP(UNLINK, "sticky/alices"), EPERM,
	       "unlink another's file in a sticky directory");
	expect(BOB, OP(RENAME, "sticky/alices", .to = "sticky/bobs-now"), EPERM,
	       "rename another's file in a sticky directory");
	ok(st_of("sticky/alices").st_mode != 0 && st_of("sticky/bobs-now").st_mode == 0,
	   "the refused unlink and rename changed nothing");
	expect(BOB, OP(UNLINK, "sticky/bobs"), 0,
	       "unlink his own file in a sticky directory");
	expect(ALICE, OP(UNLINK, "sticky/alices"), 0,
	       "unlink her own file in a sticky directory");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_fuse_perm MOUNTPOINT\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "test_fuse_perm: needs root, to switch users\n");
		return 1;
	}
	snprintf(root, sizeof(root), "%s/perm.%d", argv[1], (int)getpid());
	if (mkdir(root, 0755) || chmod(root, 0755)) {
		perror(root);
		return 1;
	}
	setup();
	reading();
	directories();
	ownership();
	sticky();
	return tap_done();
}
