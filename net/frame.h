/* The RPC frame: a fixed 40-byte little-endian header, then the payload.
 *
 *   0  u32 magic        "EMB1" (0x31424d45)
 *   4  u8  version      EM_FRAME_VERSION
 *   5  u8  flags        EM_FRAME_RESPONSE
 *   6  u16 service
 *   8  u16 method
 *  10  u16 reserved     0
 *  12  u32 timeout_ms   requests: time the caller still waits; 0 = none
 *  16  u64 request id
 *  24  i32 status       responses: 0 or a negative Ember error
 *  28  u32 payload length
 *  32  u32 crc32c       of the header (this field zero) and the payload
 *  36  u32 reserved     0
 *
 * One frame is one transport message, so the payload length must match the
 * message exactly. See docs/protocol.md.
 */
#ifndef EMBER_NET_FRAME_H
#define EMBER_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define EM_FRAME_MAGIC 0x31424d45u
#define EM_FRAME_VERSION 1
#define EM_FRAME_HDR 40
#define EM_FRAME_RESPONSE 0x01

struct em_frame_hdr {
	uint8_t flags;
	uint16_t service, method;
	uint32_t timeout_ms;
	uint64_t id;
	int32_t status;
	uint32_t len;
};

/* Writes the header for payload[0..h->len) into out, CRC included. */
void em_frame_encode(const struct em_frame_hdr *h, const void *payload, uint8_t out[EM_FRAME_HDR]);

/* Decodes and verifies a whole message. Returns 0 and sets *payload (pointing
 * into msg), or -EBADMSG (short, bad magic, unknown flags, reserved bits set,
 * length mismatch), EM_EPROTO_VERSION or EM_ECHECKSUM as negative numbers. */
int em_frame_decode(const void *msg, size_t len, struct em_frame_hdr *out, const void **payload);

#endif
