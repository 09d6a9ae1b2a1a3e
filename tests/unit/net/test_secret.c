/* Cluster secret files (net/auth.h): a file others may read, or a secret too
 * short to resist guessing, is refused with its own error; a good one reads
 * without its trailing newline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/auth.h"
#include "tap.h"

static char path[] = "/tmp/ember-secret-XXXXXX";

static void put(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || chmod(path, mode))
		abort();
}

int main(void)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	char buf[64];
	put("0123456789abcdef0123\n", 0600);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), 20, "0600, 20 bytes: read");
	ok(memcmp(buf, "0123456789abcdef0123", 20) == 0, "without the newline");
	put("0123456789abcdef0123\n", 0400);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), 20, "0400: read");
	put("0123456789abcdef0123\n", 0644);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -EM_ESECRET_MODE,
	       "0644: refused, others may read it");
	put("0123456789abcdef0123\n", 0640);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -EM_ESECRET_MODE,
	       "0640: refused, the group may read it");
	put("x\n", 0600);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -EM_ESECRET_SHORT, "1 byte: refused");
	put("0123456789abcde\n", 0600);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -EM_ESECRET_SHORT, "15 bytes: refused");
	put("0123456789abcdef", 0600);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), 16, "16 bytes: read");
	put("", 0600);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -EM_ESECRET_SHORT, "empty: refused");
	put("0123456789abcdef0123", 0600);
	is_int(em_auth_read_secret(path, buf, 18), -EFBIG, "longer than the buffer: refused");
	ok(strstr(em_strerror(-EM_ESECRET_MODE), "chmod 600") != NULL, "the error says what to do");
	unlink(path);
	is_int(em_auth_read_secret(path, buf, sizeof(buf)), -ENOENT, "missing: ENOENT");
	is_int(em_auth_read_secret("/tmp", buf, sizeof(buf)), -EM_ESECRET_MODE,
	       "a directory: refused");
	return tap_done();
}
