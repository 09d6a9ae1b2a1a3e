/* Helpers shared by several `ember` command families (cli.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/kv/kv.h"
#include "tools/ember/cli.h"

int em_cli_open_kv(const char *name, const char *db, struct em_kv **kv)
{
	char uri[4096], err[600];
	struct stat st;
	int rc;

	if (strstr(db, "://") || strncmp(db, "lmdb:", 5) == 0 || strncmp(db, "pg:", 3) == 0) {
		snprintf(uri, sizeof(uri), "%s", db);
	} else {
		/* Inspecting must never create a store by mistake: a typo would
		 * otherwise give an empty store that checks clean. */
		snprintf(uri, sizeof(uri), "%s/data.mdb", db);
		if (stat(uri, &st) < 0) {
			fprintf(stderr, "ember %s: %s is not an LMDB store (no data.mdb)\n", name, db);
			return -ENOENT;
		}
		snprintf(uri, sizeof(uri), "lmdb:%s", db);
	}
	rc = em_kv_open(uri, NULL, kv, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ember %s: %s\n", name, err);
	return rc;
}

void em_cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}
