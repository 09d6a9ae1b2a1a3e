#include "net/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/sha256.h"

int em_auth_read_secret(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The secret admits a peer to the cluster: a file others can read
	 * gives that away. */
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return -EM_ESECRET_MODE;
	}
	/* One byte more than fits tells an oversized file from a full one. */
	char *tmp = malloc(cap + 1);
	ssize_t n = tmp ? read(fd, tmp, cap + 1) : -1;
	int err = tmp ? -errno : -ENOMEM;
	close(fd);
	if (n >= 0) {
		while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
			n--;
		err = n < EM_AUTH_SECRET_MIN ? -EM_ESECRET_SHORT : (size_t)n > cap ? -EFBIG : 0;
		if (err == 0)
			memcpy(buf, tmp, (size_t)n);
	}
	free(tmp);
	return err < 0 ? err : (int)n;
}

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
