/* chunk_rm URL SECRET_FILE TARGET CHUNK: removes one chunk from one target
 * through its chunk service, bypassing replication, so fsck.sh can make one
 * replica of a chain lose a chunk the others keep (`ember chunk` has no
 * remove: it is not an operator's action). Exits 0 when removed. */
#include <stdio.h>
#include <stdlib.h>

#include "net/auth.h"
#include "block/service/client.h"
#include "ember/errors.h"
#include "fs/mgmt/client.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: chunk_rm URL SECRET_FILE TARGET CHUNK\n");
		return 2;
	}
	static char secret[4096];
	int n = em_auth_read_secret(argv[2], secret, sizeof(secret));
	struct em_cs_io io = { .item = { .target = (uint32_t)strtoul(argv[3], NULL, 10) } };
	if (n < 0 || em_cs_id_parse(argv[4], &io.item.id) < 0) {
		fprintf(stderr, "chunk_rm: bad secret file or chunk id\n");
		return 2;
	}
	struct em_cs_client_opts co = { .url = argv[1], .secret = secret, .secret_len = (size_t)n };
	struct em_cs_client *c;
	int rc = em_cs_client_create(&co, &c);
	struct em_cs_result res;
	if (rc == 0) {
		rc = em_cs_client_batch(c, EM_CS_REMOVE, &io, 1, &res);
		if (rc == 0)
			rc = res.status;
		em_cs_client_destroy(c);
	}
	if (rc < 0) {
		fprintf(stderr, "chunk_rm: %s\n", em_strerror(rc));
		return 1;
	}
	return 0;
}
