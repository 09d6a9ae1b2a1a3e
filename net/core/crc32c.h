/* CRC32C (Castagnoli), the checksum of every Ember record, frame and chunk.
 *
 * Hardware-accelerated through ISA-L (SSE4.2 crc32 plus PCLMUL folding). Chains
 * like zlib's crc32(): start with 0, feed the previous result to continue, so
 * em_crc32c(em_crc32c(0, a, n), b, m) equals the CRC of a followed by b.
 */
#ifndef EMBER_NET_CORE_CRC32C_H
#define EMBER_NET_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t em_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
