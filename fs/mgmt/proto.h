/* The mgmtd RPC service's wire format, shared by ember-mgmtd (service.c)
 * and its clients (client.c): storage daemons, metadata, FUSE, the CLI.
 *
 * Service EM_MGMT_SERVICE on net/rpc.h. Payloads are little-endian, built
 * with net/serde.h; fields are only ever appended, and decoders ignore bytes
 * after the fields they know. Requests and responses by method:
 *
 *   REGISTER        node u32, addr str, n u32, n x target u32
 *                -> routing version u64
 *   HEARTBEAT       node u32, n u32, n x {target u32, local state u8},
 *                   n x {total bytes u64, used bytes u64} (optional)
 *                -> routing version u64, heartbeat lease ms u32
 *   GET_ROUTING     version the caller holds u64 (0: none)
 *                -> routing version u64, routing bytes (u32 length; empty
 *                   when the caller's version is current: "not modified")
 *   OFFLINE_TARGET  target u32                      -> routing version u64
 *   CREATE_CHAINS   replicas u8, targets per node u32 (0: as registered),
 *                   seed u64                        -> version u64, chains u32
 *   LIST            (empty)
 *                -> primary str, term u64, heartbeat lease ms u32,
 *                   routing bytes, n u32, n x {node u32, ms since its last
 *                   heartbeat u64}, n u32, n x {target u32, local state u8},
 *                   n x {total bytes u64, used bytes u64} (optional; the
 *                   same targets in the same order; 0, 0: none reported)
 *
 * Routing bytes are em_routing_encode()'s format (docs/cluster.md).
 *
 * Status codes: a standby mgmtd answers every method with EM_MGMT_ENOTPRIMARY
 * and the primary's address (str, "" when unknown) as payload; clients retry
 * there. -EBADMSG: malformed request. Others by method: -ENOENT (unknown
 * node or target), -EINVAL, -EBUSY (offlining a chain's last serving
 * target), -EEXIST (chains exist already), -EIO and friends from the KV store.
 */
#ifndef EMBER_FS_MGMT_PROTO_H
#define EMBER_FS_MGMT_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/mgmt/routing.h"
#include "net/serde.h"

#define EM_MGMT_SERVICE 2

enum em_mgmt_method {
	EM_MGMT_REGISTER = 1,
	EM_MGMT_HEARTBEAT = 2,
	EM_MGMT_GET_ROUTING = 3,
	EM_MGMT_OFFLINE_TARGET = 4,
	EM_MGMT_CREATE_CHAINS = 5,
	EM_MGMT_LIST = 6,
	EM_MGMT_METHOD_END,
};

/* "Object is remote": this instance is not the primary. errno has no closer
 * word and include/ember/errors.h no code for it yet. */
#define EM_MGMT_ENOTPRIMARY (-EREMOTE)

/* Targets one node may register or report. */
#define EM_MGMT_MAX_TARGETS EM_CHAINS_MAX_TARGETS

struct em_mgmt_register {
	uint32_t node;
	char addr[EM_NODE_ADDR_MAX];
	uint32_t n;
	uint32_t targets[EM_MGMT_MAX_TARGETS];
};

struct em_mgmt_heartbeat {
	uint32_t node;
	uint32_t n;
	struct em_target_report reports[EM_MGMT_MAX_TARGETS];
};

struct em_mgmt_create_chains {
	uint8_t replicas;
	uint32_t targets_per_node;
	uint64_t seed;
};

/* LIST's answer, decoded: the routing info plus what only mgmtd memory
 * holds. hb_age_ms[i] belongs to routing.nodes[i], and routing.targets[i]
 * .local carries the reported local state. */
struct em_mgmt_list {
	char primary[EM_NODE_ADDR_MAX];
	uint64_t term;
	uint32_t hb_lease_ms;
	struct em_routing routing;
	uint64_t *hb_age_ms;
};

void em_mgmt_enc_register(struct em_enc *e, const struct em_mgmt_register *m);
void em_mgmt_enc_heartbeat(struct em_enc *e, const struct em_mgmt_heartbeat *m);
void em_mgmt_enc_create_chains(struct em_enc *e, const struct em_mgmt_create_chains *m);

/* Each returns 0 or -EBADMSG (short, a count out of bounds, a bad state). */
int em_mgmt_dec_register(const void *p, size_t len, struct em_mgmt_register *m);
int em_mgmt_dec_heartbeat(const void *p, size_t len, struct em_mgmt_heartbeat *m);
int em_mgmt_dec_create_chains(const void *p, size_t len, struct em_mgmt_create_chains *m);

/* LIST's answer from the primary's state; returns the encoder's error. */
int em_mgmt_enc_list(struct em_enc *e, const char *primary, uint64_t term, uint32_t hb_lease_ms,
		     const struct em_routing *r, uint64_t now_ms);
/* Bytes em_mgmt_enc_list needs. */
size_t em_mgmt_list_size(const char *primary, const struct em_routing *r);
/* Fills an em_mgmt_list (free with em_mgmt_list_free, also after errors).
 * Returns 0, -EBADMSG, -EM_ECHECKSUM, -EM_EPROTO_VERSION or -ENOMEM. */
int em_mgmt_dec_list(const void *p, size_t len, struct em_mgmt_list *out);
void em_mgmt_list_free(struct em_mgmt_list *l);

#endif
