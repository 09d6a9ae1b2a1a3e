/* The chunk service's wire format, shared by ember-target and its clients.
 *
 * Service EM_CS_SERVICE on net/rpc.h. Every request but LIST and STATS is a
 * batch of items; the response carries one result per item, in order, so one
 * bad item never fails its neighbours. The RPC status of the response is 0
 * whenever the request itself decoded; a malformed request is answered with
 * -EBADMSG (or -E2BIG for a batch over EM_CS_MAX_BATCH) and no payload.
 *
 * Request payloads:  u32 count, then count items, each as u32 length + fields
 * Response payloads: u32 count, then count results, each as u32 length + fields
 * The per-item length lets a newer peer append fields an older one skips.
 *
 * Item fields by method (all little-endian, see proto.c):
 *   READ      target, id[16], offset, len, flags, buf desc (the server WRITEs into it)
 *   WRITE     target, id, offset, len, ver, chain_ver, flags, crc, buf desc (the server READs it)
 *   TRUNCATE  target, id, len (the new length), ver, chain_ver, flags
 *   COMMIT    target, id, ver
 *   REMOVE    target, id
 *   QUERY     target, id
 * Result fields: i32 status; READ: u32 bytes delivered, u32 CRC32C of those
 * bytes (the client checks what arrived against it: -EM_ECHECKSUM when they
 * differ; absent from older servers); others: u8 has_meta then the chunk
 * metadata when has_meta is 1.
 *
 * LIST request: target, u8 has_after, id after, u32 max; response: u32 count
 * then count metadata records (ascending id). STATS request: empty; response:
 * u32 count then one record per target.
 *
 * Per-item status codes: -ENOENT no such chunk (or version), -EM_EVERSION
 * version mismatch, -ENOSPC no space, -ERANGE offset+len beyond the 64 MiB
 * chunk limit, -EINVAL buffer descriptor length differing from len,
 * -EM_ENOTARGET unknown target, -EM_ETARGETOFFLINE target failed and stopped
 * serving, -EM_ECHECKSUM pulled data did not match the item's CRC32C,
 * -EACCES (or a transport error) buffer not granted / bogus key.
 */
#ifndef EMBER_BLOCK_SERVICE_PROTO_H
#define EMBER_BLOCK_SERVICE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "net/mr.h"
#include "net/serde.h"

#define EM_CS_SERVICE 3

enum em_cs_method {
	EM_CS_READ = 1,
	EM_CS_WRITE = 2,
	EM_CS_COMMIT = 3,
	EM_CS_REMOVE = 4,
	EM_CS_TRUNCATE = 5,
	EM_CS_QUERY = 6,
	EM_CS_LIST = 7,
	EM_CS_STATS = 8,
	EM_CS_METHOD_END,
};

/* Sized so that a full batch fits one 64 KiB verbs message. */
#define EM_CS_MAX_BATCH 1024
#define EM_CS_MAX_LIST 1024
#define EM_CS_MAX_TARGETS 256
/* Bytes a single READ request may ask for in total: bounds server memory. */
#define EM_CS_MAX_READ_BYTES (256u << 20)

/* One item of any batched method; the fields a method does not use are 0. */
struct em_cs_item {
	uint32_t target;
	struct em_chunk_id id;
	uint32_t offset, len;  /* TRUNCATE: len is the new length */
	uint32_t ver;          /* WRITE/TRUNCATE: update version; COMMIT: version to commit */
	uint32_t chain_ver;
	uint32_t flags;        /* EM_CHUNK_COMMIT, EM_CHUNK_READ_PENDING */
	uint32_t crc;          /* WRITE: CRC32C of the data */
	struct em_buf_desc buf;
};

struct em_cs_result {
	int32_t status;
	uint32_t len;          /* READ: bytes delivered (short at the chunk's end) */
	bool has_crc;          /* READ: crc was sent */
	uint32_t crc;          /* READ: CRC32C of the bytes delivered */
	bool has_meta;
	struct em_chunk_meta meta; /* loc fields are not sent */
};

struct em_cs_list_req {
	uint32_t target;
	bool has_after;
	struct em_chunk_id after;
	uint32_t max;
};

enum em_cs_target_state { EM_CS_ONLINE = 0, EM_CS_OFFLINE = 1 };

struct em_cs_target_stats {
	uint32_t target;
	char name[64];
	uint8_t state;
	uint32_t block_size;
	uint64_t dev_size;
	uint32_t data_segments, free_segments;
	uint64_t chunks, bytes;
	uint32_t log_pages;
	uint64_t log_used;
};

const char *em_cs_method_name(uint16_t method);

/* Encoders set the sticky em_enc error when the buffer is short. */
void em_cs_enc_items(struct em_enc *e, uint16_t method, const struct em_cs_item *items, uint32_t n);
void em_cs_enc_results(struct em_enc *e, uint16_t method, const struct em_cs_result *res, uint32_t n);
void em_cs_enc_list_req(struct em_enc *e, const struct em_cs_list_req *r);
void em_cs_enc_metas(struct em_enc *e, const struct em_chunk_meta *m, uint32_t n);
void em_cs_enc_stats(struct em_enc *e, const struct em_cs_target_stats *s, uint32_t n);

/* Decoders check every bound. The batched ones allocate *out (free());
 * they return 0, -EBADMSG (malformed), -E2BIG (count above the limit or
 * above max) or -ENOMEM. */
int em_cs_dec_items(const void *p, size_t len, uint16_t method, struct em_cs_item **out,
		    uint32_t *n);
int em_cs_dec_results(const void *p, size_t len, uint16_t method, struct em_cs_result *out,
		      uint32_t max, uint32_t *n);
int em_cs_dec_list_req(const void *p, size_t len, struct em_cs_list_req *out);
/* A READ result against the bytes that landed in data (asked: the item's
 * len): bytes that arrived unlike they left (a NIC, a bounce buffer, memory)
 * or more than asked turn r->status into -EM_ECHECKSUM, like a bad block. */
void em_cs_read_result_check(struct em_cs_result *r, const void *data, uint32_t asked);
int em_cs_dec_metas(const void *p, size_t len, struct em_chunk_meta *out, uint32_t max,
		    uint32_t *n);
int em_cs_dec_stats(const void *p, size_t len, struct em_cs_target_stats *out, uint32_t max,
		    uint32_t *n);

/* Worst-case encoded sizes, for sizing buffers. */
size_t em_cs_items_size(uint32_t n);
size_t em_cs_results_size(uint32_t n);

/* A 16-byte chunk id as 32 hex digits and back (-EINVAL). The parser also
 * takes a decimal number, stored big-endian in the last 8 bytes. */
void em_cs_id_fmt(const struct em_chunk_id *id, char out[33]);
int em_cs_id_parse(const char *s, struct em_chunk_id *out);

#endif
