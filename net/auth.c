#include "net/auth.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "net/sha256.h"

int em_auth_nonce(uint8_t out[EM_AUTH_NONCE])
{
	ssize_t n = getrandom(out, EM_AUTH_NONCE, 0);
	if (n < 0)
		return -errno;
	return n == EM_AUTH_NONCE ? 0 : -EIO;
}

void em_auth_proof(const void *secret, size_t secret_len, enum em_auth_role role,
		   const uint8_t server_nonce[EM_AUTH_NONCE],
		   const uint8_t client_nonce[EM_AUTH_NONCE], uint8_t out[EM_AUTH_PROOF])
{
	const char *label = role == EM_AUTH_CLIENT ? "ember-auth-v1 client" : "ember-auth-v1 server";
	struct em_iov_c parts[] = {
		{ label, strlen(label) },
		{ server_nonce, EM_AUTH_NONCE },
		{ client_nonce, EM_AUTH_NONCE },
	};
	em_hmac_sha256(secret, secret_len, parts, 3, out);
}

bool em_auth_verify(const void *secret, size_t secret_len, enum em_auth_role role,
		    const uint8_t server_nonce[EM_AUTH_NONCE],
		    const uint8_t client_nonce[EM_AUTH_NONCE], const uint8_t proof[EM_AUTH_PROOF])
{
	uint8_t want[EM_AUTH_PROOF];
	em_auth_proof(secret, secret_len, role, server_nonce, client_nonce, want);
	return em_memeq_ct(want, proof, EM_AUTH_PROOF);
}
