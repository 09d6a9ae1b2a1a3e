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
