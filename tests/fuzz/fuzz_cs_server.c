/* libFuzzer: the chunk service's request handlers (block/service/server.c,
 * exec.c) beyond their decoders, over a real chunk engine on a 256 MiB (sparse) target
 * file and a real RPC connection on 127.0.0.1 (one reactor for both ends).
 *
 * Input: byte 0 picks the method (EM_CS_READ .. EM_CS_STATS, or beyond them),
 * the rest is the request payload, sent as is. The caller grants a 1 MiB
 * buffer for reads and writes, so item descriptors that fall inside it move
 * data and the rest are refused by the grant check. The answer must come
 * (or the call time out), and the server must neither crash nor leak. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/chunk/engine.h"
#include "block/service/proto.h"
#include "block/service/server.h"
#include "net/conn.h"
#include "net/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GRANT (1u << 20)

static const char secret[] = "fuzz-secret-0123456789";
static struct em_reactor *r;
static struct em_rpc *srv, *cli;
static struct em_cs_server *cs;
static struct em_mr *mr;
static uint8_t *buf;
static char url[64];

static void setup(void)
{
	/* In the working directory (the build tree): /tmp may be tmpfs, without O_DIRECT. */
	char path[] = "fuzz-cs-target.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 256 << 20) < 0)
		abort();
	close(fd);
	struct em_engine_format_opts fo = { .kind = EM_BDEV_AIO };
	struct em_engine_opts eo = { .kind = EM_BDEV_AIO, .queue_depth = 32,
				     .csum_cache_pages = 256 };
	struct em_rpc_opts ro = { .secret = secret, .secret_len = strlen(secret) };
	struct em_net *net;
	struct em_engine *e;
	int port;
	buf = calloc(1, GRANT);
	if (!buf || em_engine_format(path, &fo) || em_reactor_create("fuzz", &r) ||
	    em_engine_open(path, &eo, r, &e) || em_net_create(r, NULL, &net) ||
	    em_rpc_create(net, &ro, &srv) || em_rpc_create(net, &ro, &cli) ||
	    em_cs_server_create(srv, r, &cs) || em_cs_server_add_target(cs, 1, "t", e, r) ||
	    em_rpc_listen(srv, "tcp://127.0.0.1:0", &port) ||
	    em_mr_reg(buf, GRANT, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr))
		abort();
	unlink(path); /* the engine keeps it open */
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
}

struct done {
	bool done;
};

static void on_done(void *arg, int status, const void *payload, size_t len)
{
	((struct done *)arg)->done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!r)
		setup();
	if (size < 1)
		return 0;
	struct em_rpc_grant g = { .access = EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE };
	if (em_mr_desc(mr, buf, GRANT, &g.desc))
		abort();
	struct em_rpc_call_opts co = { .timeout_ms = 2000, .grants = &g, .n_grants = 1 };
	struct done d = { false };
	if (em_rpc_call(cli, url, EM_CS_SERVICE, data[0] % (EM_CS_METHOD_END + 1), data + 1,
			size - 1, &co, on_done, &d))
		return 0;
	for (int i = 0; i < 100000 && !d.done; i++)
		em_reactor_run_once(r, 10);
	if (!d.done)
		abort(); /* the call's own timeout must have ended it */
	/* After a timeout the server may still be at work: it must finish. */
	for (int i = 0; i < 500 && em_rpc_inflight(srv); i++)
		em_reactor_run_once(r, 10);
	if (em_rpc_inflight(srv))
		abort();
	return 0;
}
