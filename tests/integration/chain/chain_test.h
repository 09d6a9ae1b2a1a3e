/* The chain integration test's cluster (test_chain.c), shared with the
 * soak (soak.c): mgmtd and NNODES storage daemons on 127.0.0.1, one file
 * target each, one chain of three. */
#ifndef EMBER_TESTS_CHAIN_TEST_H
#define EMBER_TESTS_CHAIN_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/chain/client.h"
#include "fs/mgmt/client.h"
#include "net/rpc.h"

#define NNODES 3

struct node {
	pid_t pid;
	char url[128];
	char ini[128];
	uint32_t target;
};

extern struct node nodes[NNODES];
extern const char secret[];
extern char dir[64], mgmtd_url[128];
extern uint32_t chain_id;

/* (Re)starts storage daemon i and waits until it is ready. */
int start_node(int i, bool first);
/* The chain, as mgmtd has it now. */
int get_chain(struct em_chain *out);
bool all_serving(void);
/* A chain client with this id (one per thread). */
int chain_client(uint64_t id, struct em_chain_client **out);
/* Chunk id on node i through its chunk service (query, then read len
 * bytes into data unless NULL): the chunk's status (-ENOENT, ...). */
int replica_get(int i, const struct em_chunk_id *id, struct em_chunk_meta *m, void *data,
		uint32_t len);

/* A raw chain RPC on the test's reactor (main thread only). */
struct raw {
	bool done;
	int status;
};
int raw_start(const char *url, uint16_t method, const void *req, size_t len,
	      const struct em_rpc_call_opts *co, struct raw *w);
int raw_wait(struct raw *w);

/* The issue 8 soak (soak.c) on the cluster setup() returned setup_rc
 * for; prints its TAP stream and returns tap_done()'s status. */
int soak(int setup_rc);

#endif
