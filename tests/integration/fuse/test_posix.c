/* POSIX semantics through a real ember-fuse mount: every supported system
 * call, its error codes, and permission checks as an unprivileged user.
 *
 *   test_posix MOUNTPOINT      (run as root; children drop to uid 65534)
 */
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tap.h"

#define NOBODY 65534

static char root[512];

static const char *p(const char *name)
{
	static char bufs[4][1024];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, 1024, "%s/%s", root, name);
	return b;
}

/* -errno of a call returning -1, else its value. */
#define E(call) ((call) < 0 ? -errno : 0)

static void files(void)
{
	int fd = open(p("f"), O_CREAT | O_EXCL | O_RDWR, 0644);
	ok(fd >= 0, "open O_CREAT|O_EXCL creates");
	is_int(E(open(p("f"), O_CREAT | O_EXCL | O_RDWR, 0644)), -EEXIST, "O_EXCL on existing: EEXIST");
	is_int((int)write(fd, "hello world", 11), 11, "write");
	char buf[64] = { 0 };
	is_int((int)pread(fd, buf, sizeof(buf), 0), 11, "pread to EOF is short");
	is_str(buf, "hello world", "pread returns the bytes");
	is_int((int)pwrite(fd, "W", 1, 6), 1, "pwrite in the middle");
	is_int((int)pread(fd, buf, 11, 0), 11, "pread again");
	ok(memcmp(buf, "hello World", 11) == 0, "overwrite in place");
	struct stat st;
	is_int(E(fstat(fd, &st)), 0, "fstat");
	is_int((int)st.st_size, 11, "size after writes");
	ok(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644, "mode as created");
	is_int(E(fsync(fd)), 0, "fsync");
	is_int(E(ftruncate(fd, 5)), 0, "ftruncate shrinks");
	is_int(E(ftruncate(fd, 20)), 0, "ftruncate grows");
	memset(buf, 'x', sizeof(buf));
	is_int((int)pread(fd, buf, 64, 0), 20, "read after regrow");
	ok(memcmp(buf, "hello\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20) == 0,
	   "bytes past a truncation read as zeros after growing");
	close(fd);

	fd = open(p("f"), O_WRONLY | O_APPEND);
	is_int((int)write(fd, "!", 1), 1, "O_APPEND write");
	close(fd);
	is_int(E(stat(p("f"), &st)), 0, "stat");
	is_int((int)st.st_size, 21, "O_APPEND wrote at the end");
	fd = open(p("f"), O_RDWR | O_TRUNC);
	ok(fd >= 0, "open O_TRUNC");
	fstat(fd, &st);
	is_int((int)st.st_size, 0, "O_TRUNC empties");
	close(fd);

	/* Sparse: a write far past EOF leaves a hole of zeros. */
	fd = open(p("sparse"), O_CREAT | O_RDWR, 0644);
	is_int((int)pwrite(fd, "end", 3, 300000), 3, "write past EOF");
	char *big = malloc(300003);
	is_int((int)pread(fd, big, 300003, 0), 300003, "read across the hole");
	int zeros = 1;
	for (int i = 0; i < 300000; i++)
		zeros &= big[i] == 0;
	ok(zeros && memcmp(big + 300000, "end", 3) == 0, "hole reads as zeros");
	free(big);
	close(fd);

	is_int(E(open(p("nope"), O_RDONLY)), -ENOENT, "open missing: ENOENT");
	is_int(E(open(p("f/x"), O_RDONLY)), -ENOTDIR, "path through a file: ENOTDIR");
	char longname[300];
	memset(longname, 'n', 299);
	longname[299] = 0;
	is_int(E(open(p(longname), O_CREAT | O_RDWR, 0644)), -ENAMETOOLONG, "ENAMETOOLONG");
}

static void names(void)
{
	struct stat st;
	is_int(E(mkdir(p("d"), 0755)), 0, "mkdir");
	is_int(E(mkdir(p("d"), 0755)), -EEXIST, "mkdir existing: EEXIST");
	int fd = open(p("d/inner"), O_CREAT | O_WRONLY, 0644);
	close(fd);
	is_int(E(rmdir(p("d"))), -ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
	is_int(E(unlink(p("d"))), -EISDIR, "unlink a directory: EISDIR");
	is_int(E(rmdir(p("f"))), -ENOTDIR, "rmdir a file: ENOTDIR");
	is_int(E(open(p("d"), O_WRONLY)), -EISDIR, "open a directory for writing: EISDIR");

	is_int(E(link(p("f"), p("hard"))), 0, "link");
	stat(p("f"), &st);
	is_int((int)st.st_nlink, 2, "nlink 2");
	is_int(E(link(p("d"), p("dl"))), -EPERM, "link a directory: EPERM");
	is_int(E(symlink("f", p("sym"))), 0, "symlink");
	char t[64] = { 0 };
	is_int((int)readlink(p("sym"), t, sizeof(t)), 1, "readlink length");
	is_str(t, "f", "readlink target");
	is_int(E(lstat(p("sym"), &st)), 0, "lstat");
	ok(S_ISLNK(st.st_mode), "lstat sees a symlink");

	is_int(E(rename(p("hard"), p("d/moved"))), 0, "rename across directories");
	is_int(E(renameat2(AT_FDCWD, p("d/moved"), AT_FDCWD, p("d/inner"), RENAME_NOREPLACE)),
	       -EEXIST, "RENAME_NOREPLACE onto an existing name: EEXIST");
	is_int(E(renameat2(AT_FDCWD, p("d/moved"), AT_FDCWD, p("sym"), RENAME_EXCHANGE)), 0,
	       "RENAME_EXCHANGE");
	is_int(E(lstat(p("sym"), &st)), 0, "exchanged name exists");
	ok(S_ISREG(st.st_mode), "exchange swapped the entries");
	is_int(E(rename(p("d"), p("d/inner/x"))), -ENOTDIR, "rename into a file path: ENOTDIR");
	mkdir(p("d/sub"), 0755);
	is_int(E(rename(p("d"), p("d/sub/loop"))), -EINVAL, "rename into own subtree: EINVAL");

	DIR *dir = opendir(p("d"));
	int seen = 0, dots = 0;
	for (struct dirent *e; dir && (e = readdir(dir));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			dots++;
		else
			seen++;
	}
	if (dir)
		closedir(dir);
	is_int(dots, 2, "readdir has . and ..");
	is_int(seen, 3, "readdir lists every entry");

	/* Many entries: listing crosses metadata pages. */
	mkdir(p("many"), 0755);
	for (int i = 0; i < 300; i++) {
		char n[64];
		snprintf(n, sizeof(n), "many/e%03d", i);
		close(open(p(n), O_CREAT | O_WRONLY, 0644));
	}
	dir = opendir(p("many"));
	seen = 0;
	for (struct dirent *e; dir && (e = readdir(dir));)
		seen += e->d_name[0] == 'e';
	if (dir)
		closedir(dir);
	is_int(seen, 300, "readdir of 300 entries");
}

static void unlink_open(void)
{
	int fd = open(p("tmp"), O_CREAT | O_RDWR, 0644);
	is_int((int)write(fd, "still here", 10), 10, "write before unlink");
	is_int(E(unlink(p("tmp"))), 0, "unlink while open");
	is_int(E(access(p("tmp"), F_OK)), -ENOENT, "name is gone");
	char buf[16] = { 0 };
	is_int((int)pread(fd, buf, 10, 0), 10, "read through the open file");
	is_str(buf, "still here", "data survives the unlink");
	is_int((int)pwrite(fd, "!", 1, 10), 1, "write after unlink");
	struct stat st;
	is_int(E(fstat(fd, &st)), 0, "fstat after unlink");
	is_int((int)st.st_nlink, 0, "nlink 0");
	close(fd);

	/* Rename over a file someone has open: the old inode stays readable. */
	fd = open(p("victim"), O_CREAT | O_RDWR, 0644);
	write(fd, "old", 3);
	int fd2 = open(p("newer"), O_CREAT | O_RDWR, 0644);
	write(fd2, "new", 3);
	close(fd2);
	is_int(E(rename(p("newer"), p("victim"))), 0, "rename over an open file");
	memset(buf, 0, sizeof(buf));
	pread(fd, buf, 3, 0);
	is_str(buf, "old", "open file keeps its data");
	close(fd);
}

static void attrs_xattrs(void)
{
	struct stat st;
	is_int(E(chmod(p("f"), 0600)), 0, "chmod");
	stat(p("f"), &st);
	is_int((int)(st.st_mode & 0777), 0600, "chmod applied");
	is_int(E(chown(p("f"), 1000, 1000)), 0, "chown by root");
	stat(p("f"), &st);
	ok(st.st_uid == 1000 && st.st_gid == 1000, "chown applied");
	chown(p("f"), 0, 0);
	struct timespec ts[2] = { { 1000000000, 5 }, { 1200000000, 7 } };
	is_int(E(utimensat(AT_FDCWD, p("f"), ts, 0)), 0, "utimensat");
	stat(p("f"), &st);
	ok(st.st_mtim.tv_sec == 1200000000 && st.st_atim.tv_sec == 1000000000, "times applied");

	is_int(E(setxattr(p("f"), "user.k", "v1", 2, 0)), 0, "setxattr");
	is_int(E(setxattr(p("f"), "user.k", "v2", 2, XATTR_CREATE)), -EEXIST,
	       "XATTR_CREATE on existing: EEXIST");
	is_int(E(setxattr(p("f"), "user.none", "v", 1, XATTR_REPLACE)), -ENODATA,
	       "XATTR_REPLACE on missing: ENODATA");
	char v[16] = { 0 };
	is_int((int)getxattr(p("f"), "user.k", NULL, 0), 2, "getxattr size query");
	is_int((int)getxattr(p("f"), "user.k", v, sizeof(v)), 2, "getxattr");
	is_str(v, "v1", "getxattr value");
	is_int(E(getxattr(p("f"), "user.k", v, 1)), -ERANGE, "getxattr small buffer: ERANGE");
	char list[64];
	int n = (int)listxattr(p("f"), list, sizeof(list));
	ok(n == 7 && !strcmp(list, "user.k"), "listxattr");
	is_int(E(removexattr(p("f"), "user.k")), 0, "removexattr");
	is_int(E(getxattr(p("f"), "user.k", v, sizeof(v))), -ENODATA, "removed: ENODATA");

	struct statvfs sv;
	is_int(E(statvfs(root, &sv)), 0, "statvfs");
	ok(sv.f_namemax == 255, "statvfs name limit");
}

/* Runs fn as uid/gid NOBODY in a child; returns its exit code. */
static int as_nobody(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		gid_t g = NOBODY;
		if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY))
			_exit(99);
		_exit(fn());
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

static int try_read_private(void)
{
	return -E(open(p("private"), O_RDONLY));
}

static int try_create_in_root_dir(void)
{
	return -E(open(p("ro/new"), O_CREAT | O_WRONLY, 0644));
}

static int try_create_shared(void)
{
	int fd = open(p("shared/mine"), O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		return errno;
	struct stat st;
	fstat(fd, &st);
	close(fd);
	return st.st_uid == NOBODY ? 0 : 100;
}

static int try_unlink_sticky(void)
{
	return -E(unlink(p("sticky/roots")));
}

static int try_chmod_others(void)
{
	return -E(chmod(p("f"), 0777));
}

static int try_truncate_readonly(void)
{
	return -E(truncate(p("pubread"), 0));
}

static void permissions(void)
{
	close(open(p("private"), O_CREAT | O_WRONLY, 0600));
	mkdir(p("ro"), 0755);
	mkdir(p("shared"), 0777);
	chmod(p("shared"), 0777);
	mkdir(p("sticky"), 01777);
	chmod(p("sticky"), 01777);
	close(open(p("sticky/roots"), O_CREAT | O_WRONLY, 0666));
	int fd = open(p("pubread"), O_CREAT | O_WRONLY, 0644);
	write(fd, "keep", 4);
	close(fd);
	is_int(as_nobody(try_read_private), EACCES, "unprivileged read of a 0600 file: EACCES");
	is_int(as_nobody(try_create_in_root_dir), EACCES,
	       "unprivileged create in a 0755 root directory: EACCES");
	is_int(as_nobody(try_create_shared), 0, "unprivileged create in 0777: owned by the caller");
	is_int(as_nobody(try_unlink_sticky), EPERM, "unlink another's file in a sticky dir: EPERM");
	is_int(as_nobody(try_chmod_others), EPERM, "chmod another's file: EPERM");
	is_int(as_nobody(try_truncate_readonly), EACCES, "truncate without write permission: EACCES");
	struct stat st;
	stat(p("pubread"), &st);
	is_int((int)st.st_size, 4, "a refused truncate changed nothing");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_posix MOUNTPOINT\n");
		return 2;
	}
	snprintf(root, sizeof(root), "%s/posix.%d", argv[1], (int)getpid());
	if (mkdir(root, 0755)) {
		perror(root);
		return 1;
	}
	files();
	names();
	unlink_open();
	attrs_xattrs();
	permissions();
	return tap_done();
}
