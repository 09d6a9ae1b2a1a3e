/* The `ember` admin CLI: one program, one file per command family.
 *
 * Each family exports a run function taking the arguments after its name
 * (argv[0] is the family name) and returning the process exit status. Add a
 * family by writing cmd_<name>.c and one line in main.c's table.
 */
#ifndef EMBER_TOOLS_CLI_H
#define EMBER_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct em_cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Exit statuses: 0 ok, 1 the operation failed, 2 bad usage. */
#define EM_EXIT_OK 0
#define EM_EXIT_FAIL 1
#define EM_EXIT_USAGE 2

/* Progress bar on stderr when it is a terminal, silent otherwise. */
struct em_progress {
	const char *label;
	uint64_t total, done;
	uint64_t start_ms, last_draw_ms;
	bool tty;
};
void em_progress_start(struct em_progress *p, const char *label, uint64_t total);
void em_progress_update(struct em_progress *p, uint64_t done);
void em_progress_finish(struct em_progress *p);

/* "1.5 GiB" style sizes for human output. */
const char *em_fmt_bytes(uint64_t bytes, char *buf, size_t len);

/* A cluster setting for commands that talk to a running cluster: the
 * environment variable KEY (EMBER_MGMTD, EMBER_META, EMBER_SECRET_FILE,
 * EMBER_META_KV, EMBER_MOUNT...), else KEY=VALUE from DIR/ember.env, which
 * `ember up` writes (dir NULL: $EMBER_DIR, else /var/lib/ember). Returns
 * buf[len] or the environment's string, NULL when neither has it. */
const char *em_cli_setting(const char *dir, const char *key, char *buf, size_t len);

/* Where a command that talks to a running cluster finds it (cmd_up.c), in
 * this order: --mgmtd / --secret-file as given; $EMBER_MGMTD /
 * $EMBER_SECRET_FILE; DIR/ember.env, DIR being --dir, else $EMBER_DIR, else
 * /var/lib/ember (the default `ember up` cluster); then mgmtd on
 * tcp://127.0.0.1:9100 and /etc/ember/secret. dir, mgmtd and secret may be
 * NULL. Returns 0, or -ENOENT with a message on stderr naming every place it
 * looked when no readable secret file was found. */
struct em_cli_cluster {
	char mgmtd[1024];   /* comma-separated URLs */
	char secret[1024];  /* secret file */
};
int em_cli_cluster(const char *name, const char *dir, const char *mgmtd, const char *secret,
		   struct em_cli_cluster *out);
/* The help lines of --dir, --mgmtd and --secret-file, for usage texts. */
#define EM_CLI_CLUSTER_HELP                                                                   \
	"  --dir DIR           cluster started by `ember up --dir DIR`: its settings\n"          \
	"                      (default $EMBER_DIR, else /var/lib/ember)\n"                      \
	"  --mgmtd URL         mgmtd instances, comma-separated (default $EMBER_MGMTD,\n"        \
	"                      DIR's, else tcp://127.0.0.1:9100)\n"                              \
	"  --secret-file PATH  cluster secret (default $EMBER_SECRET_FILE, DIR's,\n"             \
	"                      else /etc/ember/secret)\n"

/* mgmtd's EM_MGMT_LIST answer (cmd_cluster.c), for commands that summarise
 * it. mgmtd_list is a comma-separated URL list (modified). Prints failures
 * as "ember NAME: ..."; returns 0 or negative. Free with em_mgmt_list_free. */
struct em_mgmt_list;
int em_cli_mgmt_list(const char *name, char *mgmtd_list, const char *secret_file,
		     struct em_mgmt_list *out);

/* Opens a KV store the way `ember meta` and `ember fsck` name it (util.c):
 * a KV URI (postgresql://..., lmdb:DIR, pg:...) as given, else DIR must
 * already hold an LMDB store, so inspecting never creates one. Only the KV
 * store is opened, not em_meta, whose superblock check may be what a
 * checker needs to get past. Prints failures as "ember NAME: ..."; returns
 * 0 or negative. */
struct em_kv;
int em_cli_open_kv(const char *name, const char *db, struct em_kv **kv);

/* S on stdout as a JSON string, quoted and escaped. */
void em_cli_json_str(const char *s);

#endif
