/* Included by tests/unit/fs/test_meta.c when built with -DEM_META_TEST_RPC:
 * the POSIX suite's target becomes a real ember-meta process over LMDB,
 * reached through the RPC client, whose functions have meta.h's signatures
 * with a client in place of the em_meta handle.
 *
 *   test_meta_rpc EMBER_META_EXE
 *
 * open_all/close_all start and stop the server (SIGTERM, which must exit
 * cleanly), so the suite's reopen checks persistence across a restart.
 */
#include <sys/wait.h>

#include "fs/meta/client.h"
#include "server.h"

#define em_meta em_meta_client
#define em_meta_lookup(...) em_meta_client_lookup(__VA_ARGS__)
#define em_meta_getattr(...) em_meta_client_getattr(__VA_ARGS__)
#define em_meta_setattr(...) em_meta_client_setattr(__VA_ARGS__)
#define em_meta_create(...) em_meta_client_create(__VA_ARGS__)
#define em_meta_open(...) em_meta_client_open(__VA_ARGS__)
#define em_meta_close(...) em_meta_client_close(__VA_ARGS__)
#define em_meta_set_length(...) em_meta_client_set_length(__VA_ARGS__)
#define em_meta_mkdir(...) em_meta_client_mkdir(__VA_ARGS__)
#define em_meta_symlink(...) em_meta_client_symlink(__VA_ARGS__)
#define em_meta_mknod(...) em_meta_client_mknod(__VA_ARGS__)
#define em_meta_lock(...) em_meta_client_lock(__VA_ARGS__)
#define em_meta_link(...) em_meta_client_link(__VA_ARGS__)
#define em_meta_unlink(...) em_meta_client_unlink(__VA_ARGS__)
#define em_meta_rmdir(...) em_meta_client_rmdir(__VA_ARGS__)
#define em_meta_rename(...) em_meta_client_rename(__VA_ARGS__)
#define em_meta_readlink(...) em_meta_client_readlink(__VA_ARGS__)
#define em_meta_readdir(...) em_meta_client_readdir(__VA_ARGS__)
#define em_meta_statfs(...) em_meta_client_statfs(__VA_ARGS__)
#define em_meta_getxattr(...) em_meta_client_getxattr(__VA_ARGS__)
#define em_meta_setxattr(...) em_meta_client_setxattr(__VA_ARGS__)
#define em_meta_listxattr(...) em_meta_client_listxattr(__VA_ARGS__)
#define em_meta_removexattr(...) em_meta_client_removexattr(__VA_ARGS__)
#define em_meta_gc_list(...) em_meta_client_gc_list(__VA_ARGS__)
#define em_meta_gc_done(...) em_meta_client_gc_done(__VA_ARGS__)

static struct em_meta_client *m;
static char dir[64], kv_uri[128];
static const char *server_exe, *secret;
static struct meta_server server;

static void open_all(void)
{
	if (meta_server_start(server_exe, dir, "meta", kv_uri, mopts.chain_count, &server) < 0) {
		printf("Bail out! ember-meta did not start\n");
		exit(1);
	}
	const char *urls[] = { server.url };
	struct em_meta_client_opts o = { .servers = urls, .n_servers = 1, .secret = secret,
					 .secret_len = strlen(secret) };
	if (em_meta_connect(&o, &m) < 0) {
		printf("Bail out! cannot start the client\n");
		exit(1);
	}
	printf("# ember-meta at %s over %s\n", server.url, kv_uri);
}

static void close_all(void)
{
	em_meta_disconnect(m);
	is_int(meta_server_stop(&server), 0, "ember-meta exits cleanly on SIGTERM");
}

static int target_setup(int argc, char **argv)
{
	if (argc < 2) {
		printf("Bail out! usage: %s EMBER_META_EXE\n", argv[0]);
		return -1;
	}
	server_exe = argv[1];
	snprintf(dir, sizeof(dir), "/tmp/ember-meta-rpc-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(kv_uri, sizeof(kv_uri), "lmdb:%s/db", dir);
	secret = meta_test_secret(dir);
	return 0;
}

static void target_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}
