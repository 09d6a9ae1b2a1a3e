/* Byte layout of the routing records, shared by the wire encoding
 * (routing_codec.c) and the KV records (store.c); private to fs/mgmt.
 *
 * All integers little-endian. Record bodies, each readable from a bounded
 * slice whose extra bytes (fields appended by newer versions) are ignored:
 *   node    u32 id, u16 addr length, addr bytes (no NUL)
 *   target  u32 id, u32 node, u32 chain (0: none)
 *   chain   u32 id, u64 version, u8 n, n x {u32 target, u8 public state}
 *
 * The writer and reader are sticky: after the first overflow or short read
 * every call is a no-op, so a record is written or read whole and checked
 * once at the end.
 */
#ifndef EMBER_FS_MGMT_RECORD_H
#define EMBER_FS_MGMT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/mgmt/routing.h"

struct em_mwr {
	uint8_t *p; /* NULL: only count bytes into len */
	size_t cap, len;
	bool overflow;
};

struct em_mrd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

void em_mwr_u8(struct em_mwr *w, uint8_t v);
void em_mwr_u16(struct em_mwr *w, uint16_t v);
void em_mwr_u32(struct em_mwr *w, uint32_t v);
void em_mwr_u64(struct em_mwr *w, uint64_t v);
void em_mwr_raw(struct em_mwr *w, const void *src, size_t n);
/* Rewrites a u16 written earlier at off (a length prefix). */
void em_mwr_patch_u16(struct em_mwr *w, size_t off, uint16_t v);

uint8_t em_mrd_u8(struct em_mrd *r);
uint16_t em_mrd_u16(struct em_mrd *r);
uint32_t em_mrd_u32(struct em_mrd *r);
uint64_t em_mrd_u64(struct em_mrd *r);
/* Points at the next n bytes (no copy), or NULL after marking r bad. */
const uint8_t *em_mrd_take(struct em_mrd *r, size_t n);

void em_rec_put_node(struct em_mwr *w, const struct em_node *n);
void em_rec_put_target(struct em_mwr *w, const struct em_target *t);
void em_rec_put_chain(struct em_mwr *w, const struct em_chain *c);

/* Each reads one body from r and checks it on its own (ids nonzero, address
 * without NUL and short enough, chain well formed by em_chain_check);
 * -EBADMSG when short or invalid. Cross-record checks are the caller's. */
int em_rec_get_node(struct em_mrd *r, struct em_node *n);
int em_rec_get_target(struct em_mrd *r, struct em_target *t);
int em_rec_get_chain(struct em_mrd *r, struct em_chain *c);

/* Cross-record consistency of decoded or loaded routing info: ids strictly
 * ascending, every target on a known node, every chain member a known target
 * that names the chain, members on distinct nodes, and no target naming a
 * chain it is not in. 0 or -EBADMSG. */
int em_routing_validate(const struct em_routing *r);

#endif
