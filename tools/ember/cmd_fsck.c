/* `ember fsck`: checks the file system of a cluster. Today that is the
 * metadata check of `ember meta fsck` (fs/meta/fsck.h) on the store the
 * cluster's ember-meta uses; checking chunks against the metadata (orphan
 * and missing chunks) is not built yet, and --help says so. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/ember/cli.h"

int em_cmd_fsck(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember fsck [--dir DIR] [--db STORE] [--json]\n\n"
		"Checks the metadata store of a cluster in one read-only snapshot, safe beside\n"
		"running servers: every record decodes, directory entries point at live inodes\n"
		"of the right type, link counts match, every inode is reachable, no directory\n"
		"cycles, sessions, orphans, xattrs and GC entries belong to the right inodes\n"
		"(the full list: `ember meta --help`, docs/metadata.md).\n\n"
		"NOT CHECKED YET: chunks against the metadata. Orphan chunks (on targets, with\n"
		"no file) and missing chunks (a file's range with no chunk on its chain) are not\n"
		"looked for; `ember chunk ls` lists a target's chunks by hand.\n\n"
		"  --dir DIR   cluster started by `ember up --dir DIR` (default $EMBER_DIR,\n"
		"              else /var/lib/ember): its metadata store\n"
		"  --db STORE  the store itself: an LMDB directory, lmdb:DIR, or a\n"
		"              postgresql:// URI (default $EMBER_META_KV, else DIR's)\n"
		"  --json      machine-readable output\n\n"
		"Exits 0 when the store is consistent, 1 when a problem was found or the\n"
		"store could not be read.\n");
}

int em_cmd_fsck(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *db = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b': db = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ember fsck: unexpected '%s'\n", argv[optind]);
		return EM_EXIT_USAGE;
	}
	char buf[1024];
	if (!db)
		db = em_cli_setting(dir, "EMBER_META_KV", buf, sizeof(buf));
	if (!db) {
		fprintf(stderr, "ember fsck: which metadata store? Give --db STORE, or --dir DIR "
				"of a cluster started by `ember up`\n");
		return EM_EXIT_USAGE;
	}
	/* The check itself is `ember meta fsck`: run it, one implementation. */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "ember fsck: /proc/self/exe: %s\n", strerror(errno));
		return EM_EXIT_FAIL;
	}
	self[n] = 0;
	if (!json)
		printf("metadata store %s (chunks are not checked yet: ember fsck --help)\n", db);
	fflush(stdout);
	char *args[] = { self, "meta", "fsck", "--db", (char *)db, json ? "--json" : NULL, NULL };
	execv(self, args);
	fprintf(stderr, "ember fsck: cannot run %s: %s\n", self, strerror(errno));
	return EM_EXIT_FAIL;
}
