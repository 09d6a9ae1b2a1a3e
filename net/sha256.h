/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), for the connection
 * handshake. Written here rather than pulling in a crypto library: the
 * handshake needs nothing else, and a hash is small and fully testable against
 * the published vectors. */
#ifndef EMBER_NET_SHA256_H
#define EMBER_NET_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define EM_SHA256_LEN 32

struct em_sha256 {
	uint32_t h[8];
	uint64_t total;     /* bytes fed so far */
	uint8_t block[64];
	size_t fill;
};

void em_sha256_init(struct em_sha256 *s);
void em_sha256_update(struct em_sha256 *s, const void *data, size_t len);
void em_sha256_final(struct em_sha256 *s, uint8_t out[EM_SHA256_LEN]);
void em_sha256(const void *data, size_t len, uint8_t out[EM_SHA256_LEN]);

/* HMAC over the concatenation of n parts, so callers need not build one
 * buffer out of labels and nonces. */
struct em_iov_c {
	const void *p;
	size_t len;
};
void em_hmac_sha256(const void *key, size_t keylen, const struct em_iov_c *parts, size_t n,
		    uint8_t out[EM_SHA256_LEN]);

/* Constant-time comparison: a verifier must not leak how many bytes matched. */
int em_memeq_ct(const void *a, const void *b, size_t len);

#endif
