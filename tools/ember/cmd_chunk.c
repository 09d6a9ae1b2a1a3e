/* `ember chunk`: put, get, stat and list chunks on a running ember-target,
 * for people debugging a target. Talks the chunk service through
 * block/service/client.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "block/service/client.h"
#include "ember/errors.h"
#include "net/core/config.h"
#include "tools/ember/cli.h"

int em_cmd_chunk(int argc, char **argv);

/* Bytes per READ call when fetching a chunk: keeps each transfer modest. */
#define GET_PIECE (8u << 20)
#define MAX_SECRET 4096

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember chunk put  --addr URL --target ID CHUNK [FILE] [--offset N] [--version V] [--no-commit]\n"
		"       ember chunk get  --addr URL --target ID CHUNK [--offset N] [--length N] [-o FILE]\n"
		"       ember chunk stat --addr URL [--target ID CHUNK]\n"
		"       ember chunk ls   --addr URL --target ID [--limit N]\n\n"
		"put   writes FILE (or stdin) at --offset of CHUNK as version V (default: the\n"
		"      committed version + 1) and commits it unless --no-commit.\n"
		"get   writes the committed bytes of CHUNK to stdout or -o FILE.\n"
		"stat  shows one chunk's metadata, or with no CHUNK every target's state and space.\n"
		"ls    lists a target's chunks in id order.\n\n"
		"CHUNK         32 hex digits, or a decimal number (stored big-endian in the low 8 bytes)\n"
		"--addr        tcp://IP:PORT or rdma://IP:PORT of the ember-target\n"
		"--secret-file the cluster secret (default $EMBER_SECRET_FILE, then the one of\n"
		"              --dir DIR, $EMBER_DIR or /var/lib/ember as `ember up` wrote it, then\n"
		"              /etc/ember/secret)\n"
		"--dir DIR     a cluster from `ember up --dir DIR`: its secret\n"
		"--json        machine-readable output\n");
}

struct opts {
	const char *addr, *secret_file, *out;
	struct em_cli_cluster cl; /* where secret_file points */
	uint32_t target;
	bool has_target, json, no_commit;
	uint64_t offset, length, version, limit;
	bool has_length, has_version;
};

static int parse_u64(const char *s, const char *what, uint64_t *out)
{
	if (em_parse_size(s, out)) {
		fprintf(stderr, "ember chunk: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "addr", required_argument, NULL, 'a' },   { "target", required_argument, NULL, 't' },
		{ "secret-file", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "offset", required_argument, NULL, 'O' }, { "length", required_argument, NULL, 'l' },
		{ "version", required_argument, NULL, 'V' }, { "limit", required_argument, NULL, 'n' },
		{ "no-commit", no_argument, NULL, 'N' },    { "help", no_argument, NULL, 'h' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;
	const char *dir = NULL;
	o->limit = UINT64_MAX;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a': o->addr = optarg; break;
		case 's': o->secret_file = optarg; break;
		case 'd': dir = optarg; break;
		case 'j': o->json = true; break;
		case 'N': o->no_commit = true; break;
		case 'o': o->out = optarg; break;
		case 't':
			if (parse_u64(optarg, "target", &v) || v > UINT32_MAX)
				return EM_EXIT_USAGE;
			o->target = (uint32_t)v;
			o->has_target = true;
			break;
		case 'O':
			if (parse_u64(optarg, "offset", &o->offset))
				return EM_EXIT_USAGE;
			break;
		case 'l':
			if (parse_u64(optarg, "length", &o->length))
				return EM_EXIT_USAGE;
			o->has_length = true;
			break;
		case 'V':
			if (parse_u64(optarg, "version", &o->version) || o->version > UINT32_MAX)
				return EM_EXIT_USAGE;
			o->has_version = true;
			break;
		case 'n':
			if (parse_u64(optarg, "limit", &o->limit))
				return EM_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (!o->addr) {
		fprintf(stderr, "ember chunk: --addr is required\n");
		return EM_EXIT_USAGE;
	}
	if (em_cli_cluster("chunk", dir, NULL, o->secret_file, &o->cl) < 0)
		return EM_EXIT_FAIL;
	o->secret_file = o->cl.secret;
	return 0;
}

static int connect_target(const struct opts *o, struct em_cs_client **c)
{
	static uint8_t secret[MAX_SECRET];
	int n = em_auth_read_secret(o->secret_file, secret, sizeof(secret));
	if (n < 0) {
		fprintf(stderr, "ember chunk: secret file %s: %s\n", o->secret_file, em_strerror(n));
		return n;
	}
	struct em_cs_client_opts co = { .url = o->addr, .secret = secret, .secret_len = (size_t)n,
					.timeout_ms = 30000 };
	int rc = em_cs_client_create(&co, c);
	if (rc)
		fprintf(stderr, "ember chunk: client: %s\n", em_strerror(rc));
	return rc;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "ember chunk: %s: %s (%s)\n", what, em_strerror(rc), em_errname(rc));
	return EM_EXIT_FAIL;
}

static int one(struct em_cs_client *c, uint16_t method, struct em_cs_io *io, struct em_cs_result *r)
{
	int rc = em_cs_client_batch(c, method, io, 1, r);
	return rc ? rc : r->status;
}

static void print_meta(const struct em_chunk_meta *m, bool json)
{
	char id[33];
	em_cs_id_fmt(&m->id, id);
	if (json)
		printf("{\"id\":\"%s\",\"length\":%u,\"commit_ver\":%u,\"pending_ver\":%u,"
		       "\"chain_ver\":%u,\"crc32c\":%u,\"pending_length\":%u}",
		       id, m->length, m->commit_ver, m->pending_ver, m->chain_ver, m->crc,
		       m->pending_length);
	else
		printf("%s  len %-10u ver %-6u pending %-6u chain %-4u crc %08x\n", id, m->length,
		       m->commit_ver, m->pending_ver, m->chain_ver, m->crc);
}

/* Reads all of FILE (or stdin) up to the chunk limit. */
static int slurp(const char *path, uint8_t **out, size_t *len)
{
	int fd = path && strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return -errno;
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (n == cap) {
			if (cap == EM_CHUNK_MAX_SIZE) {
				/* Full: fine only if the input ends exactly here. */
				uint8_t probe;
				ssize_t r = read(fd, &probe, 1);
				rc = r < 0 ? -errno : r > 0 ? -EFBIG : 0;
				break;
			}
			cap *= 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
	}
	if (fd > 0)
		close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int do_put(struct em_cs_client *c, const struct opts *o, struct em_chunk_id id, const char *file)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = slurp(file, &data, &len);
	if (rc)
		return fail(file ? file : "stdin", rc);
	if (o->offset + len > EM_CHUNK_MAX_SIZE) {
		free(data);
		return fail("put", -ERANGE);
	}
	struct em_cs_result r;
	uint32_t ver = (uint32_t)o->version;
	if (!o->has_version) {
		struct em_cs_io q = { .item = { .target = o->target, .id = id } };
		rc = one(c, EM_CS_QUERY, &q, &r);
		if (rc && rc != -ENOENT) {
			free(data);
			return fail("query", rc);
		}
		ver = rc ? 1 : r.meta.commit_ver + 1;
	}
	struct em_cs_io io = { .item = { .target = o->target, .id = id, .offset = (uint32_t)o->offset,
					 .len = (uint32_t)len, .ver = ver, .chain_ver = 1,
					 .flags = o->no_commit ? 0 : EM_CHUNK_COMMIT },
			       .data = data };
	rc = one(c, EM_CS_WRITE, &io, &r);
	free(data);
	if (rc)
		return fail("put", rc);
	print_meta(&r.meta, o->json);
	if (o->json)
		printf("\n");
	return EM_EXIT_OK;
}

static int do_get(struct em_cs_client *c, const struct opts *o, struct em_chunk_id id)
{
	struct em_cs_result r;
	struct em_cs_io q = { .item = { .target = o->target, .id = id } };
	int rc = one(c, EM_CS_QUERY, &q, &r);
	if (rc)
		return fail("query", rc);
	uint64_t end = r.meta.length;
	if (o->has_length && o->offset + o->length < end)
		end = o->offset + o->length;
	FILE *out = o->out ? fopen(o->out, "wb") : stdout;
	if (!out)
		return fail(o->out, -errno);
	uint8_t *buf = malloc(GET_PIECE);
	rc = buf ? 0 : -ENOMEM;
	for (uint64_t off = o->offset; rc == 0 && off < end;) {
		uint32_t n = (uint32_t)(end - off < GET_PIECE ? end - off : GET_PIECE);
		struct em_cs_io io = { .item = { .target = o->target, .id = id, .offset = (uint32_t)off,
						 .len = n }, .data = buf };
		rc = one(c, EM_CS_READ, &io, &r);
		if (rc == 0 && r.len == 0)
			break; /* truncated meanwhile */
		if (rc == 0 && fwrite(buf, 1, r.len, out) != r.len)
			rc = -EIO;
		off += r.len;
	}
	free(buf);
	if (o->out && fclose(out) && rc == 0)
		rc = -errno;
	return rc ? fail("get", rc) : EM_EXIT_OK;
}

static int do_stat(struct em_cs_client *c, const struct opts *o, const char *chunk)
{
	if (chunk) {
		struct em_chunk_id id;
		if (!o->has_target || em_cs_id_parse(chunk, &id)) {
			fprintf(stderr, "ember chunk stat: needs --target and a valid CHUNK\n");
			return EM_EXIT_USAGE;
		}
		struct em_cs_result r;
		struct em_cs_io q = { .item = { .target = o->target, .id = id } };
		int rc = one(c, EM_CS_QUERY, &q, &r);
		if (rc)
			return fail("stat", rc);
		print_meta(&r.meta, o->json);
		if (o->json)
			printf("\n");
		return EM_EXIT_OK;
	}
	static struct em_cs_target_stats st[EM_CS_MAX_TARGETS];
	uint32_t n;
	int rc = em_cs_client_stats(c, st, EM_CS_MAX_TARGETS, &n);
	if (rc)
		return fail("stats", rc);
	if (o->json)
		printf("[");
	else
		printf("%-8s %-16s %-8s %10s %12s %12s %10s\n", "TARGET", "NAME", "STATE", "CHUNKS",
		       "BYTES", "DEVICE", "FREE SEGS");
	for (uint32_t i = 0; i < n; i++) {
		const char *state = st[i].state == EM_CS_ONLINE ? "online" : "offline";
		char b1[32], b2[32];
		if (o->json)
			printf("%s{\"target\":%u,\"name\":\"%s\",\"state\":\"%s\",\"chunks\":%llu,"
			       "\"bytes\":%llu,\"dev_size\":%llu,\"data_segments\":%u,"
			       "\"free_segments\":%u,\"log_used\":%llu,\"log_pages\":%u}",
			       i ? "," : "", st[i].target, st[i].name, state,
			       (unsigned long long)st[i].chunks, (unsigned long long)st[i].bytes,
			       (unsigned long long)st[i].dev_size, st[i].data_segments,
			       st[i].free_segments, (unsigned long long)st[i].log_used, st[i].log_pages);
		else
			printf("%-8u %-16s %-8s %10llu %12s %12s %10u\n", st[i].target, st[i].name, state,
			       (unsigned long long)st[i].chunks, em_fmt_bytes(st[i].bytes, b1, sizeof(b1)),
			       em_fmt_bytes(st[i].dev_size, b2, sizeof(b2)), st[i].free_segments);
	}
	if (o->json)
		printf("]\n");
	return EM_EXIT_OK;
}

static int do_ls(struct em_cs_client *c, const struct opts *o)
{
	static struct em_chunk_meta m[EM_CS_MAX_LIST];
	struct em_cs_list_req r = { .target = o->target, .max = EM_CS_MAX_LIST };
	uint64_t shown = 0;
	if (o->json)
		printf("[");
	for (;;) {
		uint32_t n;
		int rc = em_cs_client_list(c, &r, m, &n);
		if (rc)
			return fail("ls", rc);
		for (uint32_t i = 0; i < n && shown < o->limit; i++, shown++) {
			if (o->json && shown)
				printf(",");
			print_meta(&m[i], o->json);
		}
		if (n < r.max || shown >= o->limit)
			break;
		r.has_after = true;
		r.after = m[n - 1].id;
	}
	if (o->json)
		printf("]\n");
	return EM_EXIT_OK;
}

int em_cmd_chunk(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EM_EXIT_USAGE : EM_EXIT_OK;
	}
	const char *sub = argv[1];
	struct opts o = { 0 };
	int rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc)
		return rc < 0 ? EM_EXIT_OK : rc;
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	bool known = !strcmp(sub, "put") || !strcmp(sub, "get") || !strcmp(sub, "stat") ||
		     !strcmp(sub, "ls");
	if (!known) {
		fprintf(stderr, "ember chunk: unknown subcommand '%s'\n", sub);
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	struct em_chunk_id id;
	bool needs_chunk = !strcmp(sub, "put") || !strcmp(sub, "get");
	if (needs_chunk && (nargs < 1 || !o.has_target || em_cs_id_parse(args[0], &id))) {
		fprintf(stderr, "ember chunk %s: needs --target and a valid CHUNK\n", sub);
		return EM_EXIT_USAGE;
	}
	if (!strcmp(sub, "ls") && !o.has_target) {
		fprintf(stderr, "ember chunk ls: needs --target\n");
		return EM_EXIT_USAGE;
	}
	struct em_cs_client *c;
	if (connect_target(&o, &c))
		return EM_EXIT_FAIL;
	if (!strcmp(sub, "put"))
		rc = do_put(c, &o, id, nargs > 1 ? args[1] : NULL);
	else if (!strcmp(sub, "get"))
		rc = do_get(c, &o, id);
	else if (!strcmp(sub, "stat"))
		rc = do_stat(c, &o, nargs > 0 ? args[0] : NULL);
	else
		rc = do_ls(c, &o);
	em_cs_client_destroy(c);
	return rc;
}
