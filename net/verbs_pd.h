/* The private data of Ember's rdma_cm connect and accept (docs/protocol.md,
 * RDMA transport), little-endian (x86/arm64 hosts). Private to net/; in a
 * file of its own so that the fuzz tier can reach the check of what a peer
 * sends before anything is allocated for it. */
#ifndef EMBER_NET_VERBS_PD_H
#define EMBER_NET_VERBS_PD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EM_VPD_MAGIC 0x454d4256u /* "VBME" */
#define EM_VPD_VERSION 1
#define EM_VPD_MAX_PATHS 16

struct em_vpd {
	uint32_t magic;
	uint16_t version, path, npaths, rsvd;
	uint32_t recv_depth, msg_buf;
	uint64_t token;
} __attribute__((packed));

/* Copies what the peer sent (len bytes at p; rdma_cm may report more than
 * were sent) into out and checks it: 0, or -EPROTO when it is short, not
 * ours, of another version, or gives fewer than 2 receive credits. A
 * connect request (request true) must also name a path inside 1..16 paths
 * and the receive buffer size ours is (msg_buf), since messages are sized
 * by it. */
int em_vpd_parse(const void *p, size_t len, bool request, uint32_t msg_buf, struct em_vpd *out);

#endif
