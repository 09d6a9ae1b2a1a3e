/* A blocking chunk-service client: one connection to one ember-target, on
 * a reactor of its own, for the CLI, tests and tools. Not thread-safe: use
 * one client per thread.
 *
 * Data moves one-sidedly: for a READ the client grants the server write
 * access to each item's buffer and the server pushes the bytes; for a WRITE
 * it grants read access and the server pulls them. Buffers inside a region
 * the caller registered (em_cs_io.mr) are used as they are; others are
 * registered for the duration of the call.
 */
#ifndef EMBER_BLOCK_SERVICE_CLIENT_H
#define EMBER_BLOCK_SERVICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "block/service/proto.h"
#include "net/conn.h"
#include "net/rpc.h"

struct em_cs_client;

struct em_cs_client_opts {
	const char *url;          /* tcp://IP:PORT or rdma://IP:PORT */
	const void *secret;
	size_t secret_len;
	uint32_t timeout_ms;      /* per call; 0: 30 s */
	const struct em_net_config *net; /* NULL: defaults */
};

int em_cs_client_create(const struct em_cs_client_opts *o, struct em_cs_client **out);
void em_cs_client_destroy(struct em_cs_client *c);

/* One item and its data. For READ, data receives up to item.len bytes; for
 * WRITE, data holds item.len bytes (item.crc and item.buf are filled in). */
struct em_cs_io {
	struct em_cs_item item;
	void *data;
	struct em_mr *mr;         /* optional: a registered region holding data */
};

/* A batch of one method (READ..QUERY). Returns the call's status (0, or the
 * server's or transport's negative error); on 0 res[i] holds item i's. */
int em_cs_client_batch(struct em_cs_client *c, uint16_t method, struct em_cs_io *ios,
		       uint32_t n, struct em_cs_result *res);
/* Up to r->max (<= EM_CS_MAX_LIST) chunks after r->after; *n gets the count. */
int em_cs_client_list(struct em_cs_client *c, const struct em_cs_list_req *r,
		      struct em_chunk_meta *out, uint32_t *n);
int em_cs_client_stats(struct em_cs_client *c, struct em_cs_target_stats *out, uint32_t cap,
		       uint32_t *n);

/* A raw call with the caller's payload and grants: the building block of
 * the above, exposed for tests of malformed requests. *resp (malloc'd, may
 * be NULL when empty) and *resp_len get the answer's payload. */
int em_cs_client_call(struct em_cs_client *c, uint16_t method, const void *payload, size_t len,
		      const struct em_rpc_grant *grants, unsigned n_grants, void **resp,
		      size_t *resp_len);

/* The client's reactor, for callers that register memory or poll. */
struct em_reactor *em_cs_client_reactor(struct em_cs_client *c);

#endif
