/* The connection handshake's proofs (challenge-response HMAC-SHA256).
 *
 * Both sides know the cluster secret. The server sends a fresh nonce; the
 * client answers with its own nonce and HMAC(secret, "ember-auth-v1 client" ||
 * server nonce || client nonce); the server checks it and answers with
 * HMAC(secret, "ember-auth-v1 server" || server nonce || client nonce), so the
 * client knows it reached a member of the cluster too. The labels differ so a
 * proof can never be reflected back; the nonces make every proof single-use.
 * The secret never travels. See docs/protocol.md for the messages.
 */
#ifndef EMBER_NET_AUTH_H
#define EMBER_NET_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EM_AUTH_NONCE 32
#define EM_AUTH_PROOF 32

enum em_auth_role { EM_AUTH_CLIENT, EM_AUTH_SERVER };

/* A cluster secret must be at least this long. */
#define EM_AUTH_SECRET_MIN 16

/* Reads a cluster secret file into buf[cap] (a trailing newline is not part
 * of the secret). Returns its length, or -errno, -EM_ESECRET_MODE when group
 * or others may read the file (or it is not a regular file), -EM_ESECRET_SHORT
 * when shorter than EM_AUTH_SECRET_MIN bytes, -EFBIG when longer than cap. */
int em_auth_read_secret(const char *path, void *buf, size_t cap);

/* Fills a nonce from the kernel's CSPRNG. Returns 0 or a negative errno. */
int em_auth_nonce(uint8_t out[EM_AUTH_NONCE]);

void em_auth_proof(const void *secret, size_t secret_len, enum em_auth_role role,
		   const uint8_t server_nonce[EM_AUTH_NONCE],
		   const uint8_t client_nonce[EM_AUTH_NONCE], uint8_t out[EM_AUTH_PROOF]);

/* Constant-time check of a received proof. */
bool em_auth_verify(const void *secret, size_t secret_len, enum em_auth_role role,
		    const uint8_t server_nonce[EM_AUTH_NONCE],
		    const uint8_t client_nonce[EM_AUTH_NONCE], const uint8_t proof[EM_AUTH_PROOF]);

#endif
