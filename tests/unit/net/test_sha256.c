/* SHA-256 and HMAC-SHA256 against FIPS 180-4 and RFC 4231 vectors, and the
 * handshake proofs built on them. */
#include <stdlib.h>

#include "net/auth.h"
#include "net/sha256.h"
#include "tap.h"

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_sha(const void *msg, size_t len, const char *want, const char *what)
{
	uint8_t d[EM_SHA256_LEN];
	char h[65];
	em_sha256(msg, len, d);
	hex(d, sizeof(d), h);
	is_str(h, want, what);
}

static void check_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
		       const char *want, const char *what)
{
	uint8_t d[EM_SHA256_LEN];
	char h[65];
	struct em_iov_c part = { msg, mlen };
	em_hmac_sha256(key, klen, &part, 1, d);
	hex(d, sizeof(d), h);
	is_str(h, want, what);
}

int main(void)
{
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check_sha(m448, strlen(m448),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "448 bits");
	char *million = malloc(1000000);
	memset(million, 'a', 1000000);
	check_sha(million, 1000000,
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a");

	/* The same data fed in odd pieces must hash the same. */
	struct em_sha256 s;
	uint8_t d[EM_SHA256_LEN];
	char h[65];
	em_sha256_init(&s);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 997 + 1)
		em_sha256_update(&s, million + off, off + step > 1000000 ? 1000000 - off : step);
	em_sha256_final(&s, d);
	hex(d, sizeof(d), h);
	is_str(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "incremental update");
	free(million);

	/* RFC 4231 test cases 1, 2, 6 (key longer than a block). */
	uint8_t k1[20];
	memset(k1, 0x0b, sizeof(k1));
	check_hmac(k1, sizeof(k1), "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "hmac case 1");
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "hmac case 2");
	uint8_t k6[131];
	memset(k6, 0xaa, sizeof(k6));
	const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	check_hmac(k6, sizeof(k6), m6, strlen(m6),
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "hmac case 6");

	/* Handshake proofs. */
	uint8_t sn[EM_AUTH_NONCE], cn[EM_AUTH_NONCE], pc[EM_AUTH_PROOF], ps[EM_AUTH_PROOF];
	is_int(em_auth_nonce(sn), 0, "server nonce");
	is_int(em_auth_nonce(cn), 0, "client nonce");
	ok(memcmp(sn, cn, EM_AUTH_NONCE) != 0, "nonces differ");
	em_auth_proof("secret", 6, EM_AUTH_CLIENT, sn, cn, pc);
	em_auth_proof("secret", 6, EM_AUTH_SERVER, sn, cn, ps);
	ok(em_auth_verify("secret", 6, EM_AUTH_CLIENT, sn, cn, pc), "client proof verifies");
	ok(em_auth_verify("secret", 6, EM_AUTH_SERVER, sn, cn, ps), "server proof verifies");
	ok(!em_auth_verify("secreT", 6, EM_AUTH_CLIENT, sn, cn, pc), "wrong secret fails");
	ok(!em_auth_verify("secret", 6, EM_AUTH_SERVER, sn, cn, pc), "client proof cannot be reflected");
	ok(!em_auth_verify("secret", 6, EM_AUTH_CLIENT, cn, sn, pc), "nonces are bound to roles");
	pc[31] ^= 1;
	ok(!em_auth_verify("secret", 6, EM_AUTH_CLIENT, sn, cn, pc), "one flipped bit fails");
	return tap_done();
}
