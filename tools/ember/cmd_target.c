/* `ember target`: format and inspect chunk targets (a device or a file). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/chunk/engine.h"
#include "include/ember/errors.h"
#include "tools/ember/cli.h"

int em_cmd_target(int argc, char **argv);

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember target format PATH [--size SIZE] [--backend B] [--log-pages N]\n"
		"       ember target inspect PATH [--backend B] [--json]\n\n"
		"format   make PATH (an NVMe namespace /dev/ngXnY, a block device or a file)\n"
		"         an empty chunk target. --size creates or extends a file to SIZE\n"
		"         bytes (K/M/G/T suffixes). Destroys what PATH held.\n"
		"inspect  print the superblock, space per size class, chunk count and log state.\n\n"
		"--backend  auto (default: nvme for /dev/ng*, uring otherwise), nvme, uring, aio\n"
		"--json     machine-readable output\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'T': case 't': shift = 40; break;
	case 'G': case 'g': shift = 30; break;
	case 'M': case 'm': shift = 20; break;
	case 'K': case 'k': shift = 10; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
		return -EINVAL;
	if (shift && v > (~0ull >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct em_progress *p = arg;
	p->total = total; /* known once the layout is planned */
	em_progress_update(p, done);
}

static int do_format(const char *path, uint64_t size, enum em_bdev_kind kind, uint32_t log_pages)
{
	if (size) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "ember: %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EM_EXIT_FAIL;
		}
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "ember: --size applies to files; %s is a device\n", path);
			close(fd);
			return EM_EXIT_USAGE;
		}
		int rc = ftruncate(fd, (off_t)size);
		close(fd);
		if (rc < 0) {
			fprintf(stderr, "ember: %s: %s\n", path, strerror(errno));
			return EM_EXIT_FAIL;
		}
	}
	struct em_progress p;
	em_progress_start(&p, "format", 1);
	struct em_engine_format_opts o = { .kind = kind, .log_pages = log_pages,
					   .progress = on_progress, .progress_arg = &p };
	int rc = em_engine_format(path, &o);
	em_progress_finish(&p);
	if (rc < 0) {
		fprintf(stderr, "ember: format %s: %s\n", path, em_strerror(rc));
		return EM_EXIT_FAIL;
	}
	struct em_engine_stats s;
	rc = em_engine_inspect(path, kind, &s);
	if (rc == 0) {
		char sz[32];
		printf("formatted %s: %s, %u data segments of 64 MiB, log %u pages\n", path,
		       em_fmt_bytes(s.dev_size, sz, sizeof(sz)), s.data_segments, s.log_pages);
	}
	return rc < 0 ? EM_EXIT_FAIL : EM_EXIT_OK;
}

static void uuid_str(const uint8_t *u, char *out)
{
	static const int dash[] = { 4, 6, 8, 10 };
	char *p = out;
	for (int i = 0, d = 0; i < 16; i++) {
		if (d < 4 && i == dash[d]) {
			*p++ = '-';
			d++;
		}
		p += sprintf(p, "%02x", u[i]);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const char *path, const struct em_engine_stats *s, const char *uuid)
{
	printf("{\"path\":");
	json_str(path);
	printf(",\"uuid\":\"%s\",\"format_version\":%u,\"block_size\":%u,"
	       "\"size\":%llu,\"created_ms\":%llu,\"generation\":%llu,\"chunks\":%llu,"
	       "\"bytes\":%llu,\"data_segments\":%u,\"free_segments\":%u,"
	       "\"log\":{\"pages\":%u,\"head\":%llu,\"tail\":%llu,\"checkpoint_slot\":%u,"
	       "\"checkpoint_seq\":%llu,\"records_replayed\":%llu},\"classes\":[",
	       uuid, s->format_version, s->block_size, (unsigned long long)s->dev_size,
	       (unsigned long long)s->created_ms, (unsigned long long)s->generation,
	       (unsigned long long)s->chunks, (unsigned long long)s->bytes, s->data_segments,
	       s->free_segments, s->log_pages, (unsigned long long)s->log_head,
	       (unsigned long long)s->log_tail, s->ckpt_slot, (unsigned long long)s->ckpt_seq,
	       (unsigned long long)s->records_replayed);
	for (int c = 0; c < EM_CHUNK_CLASSES; c++)
		printf("%s{\"slot_size\":%u,\"segments\":%u,\"used\":%llu,\"total\":%llu}",
		       c ? "," : "", s->cls[c].slot_size, s->cls[c].segments,
		       (unsigned long long)s->cls[c].slots_used,
		       (unsigned long long)s->cls[c].slots_total);
	printf("]}\n");
}

static void print_human(const char *path, const struct em_engine_stats *s, const char *uuid)
{
	char a[32], b[32];
	printf("target       %s\n", path);
	printf("uuid         %s\n", uuid);
	printf("format       version %u, block %u, generation %llu\n", s->format_version,
	       s->block_size, (unsigned long long)s->generation);
	printf("size         %s, data %u segments (%u free)\n",
	       em_fmt_bytes(s->dev_size, a, sizeof(a)), s->data_segments, s->free_segments);
	printf("chunks       %llu holding %s\n", (unsigned long long)s->chunks,
	       em_fmt_bytes(s->bytes, b, sizeof(b)));
	printf("log          %llu of %u pages in use (pages %llu..%llu), checkpoint %u at %llu, "
	       "%llu records to replay\n",
	       (unsigned long long)(s->log_head - s->log_tail), s->log_pages,
	       (unsigned long long)s->log_tail, (unsigned long long)s->log_head, s->ckpt_slot,
	       (unsigned long long)s->ckpt_seq, (unsigned long long)s->records_replayed);
	printf("\n%-10s %9s %12s %12s\n", "class", "segments", "slots used", "slots");
	for (int c = 0; c < EM_CHUNK_CLASSES; c++)
		printf("%-10s %9u %12llu %12llu\n", em_fmt_bytes(s->cls[c].slot_size, a, sizeof(a)),
		       s->cls[c].segments, (unsigned long long)s->cls[c].slots_used,
		       (unsigned long long)s->cls[c].slots_total);
}

static int do_inspect(const char *path, enum em_bdev_kind kind, bool json)
{
	struct em_engine_stats s;
	int rc = em_engine_inspect(path, kind, &s);
	if (rc < 0) {
		fprintf(stderr, "ember: inspect %s: %s\n", path, em_strerror(rc));
		return EM_EXIT_FAIL;
	}
	char uuid[40];
	uuid_str(s.uuid, uuid);
	if (json)
		print_json(path, &s, uuid);
	else
		print_human(path, &s, uuid);
	return EM_EXIT_OK;
}

int em_cmd_target(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EM_EXIT_USAGE : EM_EXIT_OK;
	}
	const char *sub = argv[1];
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "log-pages", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t size = 0;
	enum em_bdev_kind kind = EM_BDEV_AUTO;
	uint32_t log_pages = 0;
	bool json = false;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &size) < 0 || size == 0) {
				fprintf(stderr, "ember: bad --size '%s'\n", optarg);
				return EM_EXIT_USAGE;
			}
			break;
		case 'b':
			if (em_bdev_kind_parse(optarg, &kind) < 0) {
				fprintf(stderr, "ember: unknown backend '%s'\n", optarg);
				return EM_EXIT_USAGE;
			}
			break;
		case 'l':
			log_pages = (uint32_t)strtoul(optarg, NULL, 10);
			if (log_pages < 64) {
				fprintf(stderr, "ember: --log-pages needs at least 64\n");
				return EM_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EM_EXIT_OK;
		default:
			usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	const char *path = argv[optind];
	if (strcmp(sub, "format") == 0)
		return do_format(path, size, kind, log_pages);
	if (strcmp(sub, "inspect") == 0)
		return do_inspect(path, kind, json);
	fprintf(stderr, "ember target: unknown subcommand '%s'\n", sub);
	usage(stderr);
	return EM_EXIT_USAGE;
}
