/* Target configuration from an INI file (see config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/nvmf/config.h"
#include "block/nvmf/internal.h"
#include "block/nvmf/volume.h"
#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"

const struct em_cfg_option em_nvmf_config_schema[] = {
	/* Not required: in ember-target, no [nvmf] listen means no NVMe-oF target. */
	{ "nvmf", "listen", EM_CFG_STRING, "", 0, 0,
	  "IPv4 address to listen on; reported in the discovery log, so not 0.0.0.0; "
	  "empty: no NVMe-oF target" },
	{ "nvmf", "port", EM_CFG_INT, "4420", 1, 65535, "NVMe-oF RDMA port" },
	{ "nvmf", "max_io_size", EM_CFG_SIZE, "128K", 4096, 1 << 24,
	  "largest transfer per command (MDTS); the devices may lower it" },
	{ "nvmf", "inline_data_size", EM_CFG_SIZE, "4K", 16, 16384,
	  "write data carried inside I/O command capsules" },
	{ "nvmf", "queue_depth", EM_CFG_INT, "128", 32, 1024, "entries per I/O queue" },
	{ "nvmf", "io_queues", EM_CFG_INT, "16", 1, EM_NVMF_MAX_QID,
	  "I/O queues per controller" },
	{ "subsystem.*", "nqn", EM_CFG_STRING, NULL, 0, 0, "NVMe qualified name" },
	{ "subsystem.*", "serial", EM_CFG_STRING, "", 0, 0,
	  "serial number, up to 20 characters; default: the section's name" },
	{ "subsystem.*", "model", EM_CFG_STRING, "Ember NVMe-oF", 0, 0,
	  "model number, up to 40 characters" },
	{ "subsystem.*", "allowed_hosts", EM_CFG_STRING, "", 0, 0,
	  "comma-separated host NQNs that may connect" },
	{ "subsystem.*", "allow_any_host", EM_CFG_BOOL, "false", 0, 0,
	  "let every host connect (ignores allowed_hosts)" },
	{ "subsystem.*", "namespace", EM_CFG_STRING, "", 0, 0,
	  "comma-separated device paths, NSID 1, 2, ... in order (/dev/ngXnY: passthrough); "
	  "chunk:ENGINE_PATH is a chunk volume on the chunk engine (target) at ENGINE_PATH; "
	  "target:NAME one on the engine of ember-target's [target.NAME]" },
	{ "subsystem.*", "backend", EM_CFG_STRING, "auto", 0, 0,
	  "device backend for the namespaces and chunk engines: auto, nvme, uring or aio" },
	{ "subsystem.*", "volume_size", EM_CFG_SIZE, "0", 0, INT64_MAX,
	  "size of each chunk volume namespace (required with chunk:)" },
	{ "subsystem.*", "chunk_size", EM_CFG_SIZE, "1M", 64 << 10, EM_CHUNK_MAX_SIZE,
	  "bytes of a chunk volume per chunk, a power of two" },
	{ "subsystem.*", "volume_block_size", EM_CFG_SIZE, "4K", 512, 4096,
	  "LBA size of chunk volume namespaces" },
	{ "subsystem.*", "volume_id", EM_CFG_INT, "0", 0, INT64_MAX,
	  "id of the first chunk volume (the next ones count up); 0: derived from nqn and NSID" },
	EM_CFG_END,
};

/* Calls fn for each non-empty, whitespace-trimmed item of a comma list;
 * stops at the first non-zero return and returns it. */
static int for_each_item(const char *list, int (*fn)(void *arg, const char *item), void *arg)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok)
			rc = fn(arg, tok);
	}
	free(copy);
	return rc;
}

struct ns_ctx {
	struct em_nvmf_subsys *s;
	struct em_reactor *r;
	enum em_bdev_kind kind;
	struct em_volume_opts vol;   /* id 0: derive; else the next volume's id */
	char *err;
	size_t errlen;
	const char *section;
};

static int add_host(void *arg, const char *nqn)
{
	return em_nvmf_subsys_allow_host(arg, nqn);
}

#define CHUNK_PREFIX "chunk:"
#define TARGET_PREFIX "target:"

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A stable id for a volume nobody named: renaming the subsystem or moving
 * the namespace to another NSID would orphan its chunks, hence volume_id. */
static uint64_t derived_volume_id(const char *nqn, uint32_t nsid)
{
	uint32_t hi = em_crc32c(0x766f6c00u, nqn, strlen(nqn));
	uint32_t lo = em_crc32c(hi, &nsid, sizeof nsid);
	return (uint64_t)hi << 32 | lo;
}

/* The engine lent under [target.NAME], or -ENOENT. */
static int lent_engine(struct em_nvmf_tgt *t, const char *name, struct em_engine **out)
{
	for (struct em_nvmf_engine *en = t->engines; en; en = en->next) {
		if (en->name && strcmp(en->name, name) == 0) {
			*out = en->engine;
			return 0;
		}
	}
	return -ENOENT;
}

/* spec is "chunk:PATH" or "target:NAME". */
static int add_volume(struct ns_ctx *c, const char *spec)
{
	struct em_nvmf_tgt *t = c->s->tgt;
	struct em_volume_opts o = c->vol;
	struct em_engine *e;
	struct em_volume *v;
	const char *what = "chunk engine";
	int rc;

	if (o.size == 0) {
		snprintf(c->err, c->errlen, "[%s] namespace %s needs volume_size", c->section, spec);
		return -EINVAL;
	}
	if (o.id == 0)
		o.id = derived_volume_id(c->s->nqn, c->s->nn + 1);
	if (has_prefix(spec, TARGET_PREFIX)) {
		rc = lent_engine(t, spec + strlen(TARGET_PREFIX), &e);
		if (rc < 0) {
			snprintf(c->err, c->errlen, "[%s] namespace %s: no [target.%s] in this file",
				 c->section, spec, spec + strlen(TARGET_PREFIX));
			return rc;
		}
	} else {
		rc = em_nvmf_tgt_engine(t, spec + strlen(CHUNK_PREFIX), c->kind, &e);
	}
	if (rc == 0) {
		what = "volume (volume_size a multiple of volume_block_size, chunk_size a power of two)";
		rc = em_volume_open(e, c->r, &o, &v);
	}
	if (rc == 0) {
		rc = em_nvmf_ns_add_volume(c->s, v, NULL);
		if (rc < 0)
			em_volume_close(v);
	}
	if (rc < 0) {
		snprintf(c->err, c->errlen, "[%s] namespace %s: %s: %s", c->section, spec, what,
			 em_strerror(rc));
		return rc;
	}
	if (c->vol.id)
		c->vol.id++;
	EM_INFO("nvmf", "%s nsid %u: chunk volume %#llx on %s (%llu bytes, %u-byte chunks, "
		"%u-byte blocks)", c->s->nqn, c->s->nn, (unsigned long long)o.id, spec,
		(unsigned long long)o.size, o.chunk_size, o.block_size);
	return 0;
}

static int add_ns(void *arg, const char *path)
{
	struct ns_ctx *c = arg;
	struct em_bdev_opts o = { .kind = c->kind };
	struct em_nvmf_engine *en;
	struct em_bdev *d;
	int rc;

	if (has_prefix(path, CHUNK_PREFIX) || has_prefix(path, TARGET_PREFIX))
		return add_volume(c, path);
	/* Raw writes would corrupt the engine behind its back. */
	en = em_nvmf_tgt_engine_find(c->s->tgt, path);
	if (en) {
		snprintf(c->err, c->errlen, "[%s] namespace %s holds a chunk engine (%s%s); "
			 "export a chunk volume on it instead", c->section, path,
			 en->name ? "target:" : "chunk:", en->name ? en->name : en->path);
		return -EBUSY;
	}
	rc = em_bdev_open(path, &o, &d);
	if (rc < 0) {
		snprintf(c->err, c->errlen, "[%s] namespace %s: %s", c->section, path,
			 em_strerror(rc));
		return rc;
	}
	rc = em_bdev_attach(d, c->r);
	if (rc == 0)
		rc = em_nvmf_ns_add_bdev(c->s, d, NULL);
	if (rc < 0) {
		snprintf(c->err, c->errlen, "[%s] namespace %s: %s", c->section, path,
			 em_strerror(rc));
		em_bdev_close(d);
		return rc;
	}
	EM_INFO("nvmf", "%s nsid %u: %s (%s, %llu bytes, %u-byte blocks)", c->s->nqn, c->s->nn,
		path, em_bdev_kind_name(em_bdev_get_info(d)->kind),
		(unsigned long long)em_bdev_get_info(d)->size, em_bdev_get_info(d)->block_size);
	return 0;
}

static int add_subsys(const struct em_config *cfg, struct em_nvmf_tgt *t, struct em_reactor *r,
		      const char *sec, char *err, size_t errlen)
{
	const char *name = sec + strlen("subsystem.");
	const char *serial = em_config_str(cfg, sec, "serial");
	struct em_nvmf_subsys_opts o = {
		.nqn = em_config_str(cfg, sec, "nqn"),
		.serial = *serial ? serial : name,
		.model = em_config_str(cfg, sec, "model"),
		.allow_any_host = em_config_bool(cfg, sec, "allow_any_host"),
	};
	struct ns_ctx nc = {
		.r = r, .err = err, .errlen = errlen, .section = sec,
		.vol = {
			.id = (uint64_t)em_config_int(cfg, sec, "volume_id"),
			.size = em_config_size(cfg, sec, "volume_size"),
			.chunk_size = (uint32_t)em_config_size(cfg, sec, "chunk_size"),
			.block_size = (uint32_t)em_config_size(cfg, sec, "volume_block_size"),
		},
	};
	int rc;

	rc = em_bdev_kind_parse(em_config_str(cfg, sec, "backend"), &nc.kind);
	if (rc < 0) {
		snprintf(err, errlen, "[%s] unknown backend '%s'", sec,
			 em_config_str(cfg, sec, "backend"));
		return rc;
	}
	rc = em_nvmf_subsys_add(t, &o, &nc.s);
	if (rc < 0) {
		snprintf(err, errlen, "[%s] %s", sec,
			 rc == -EEXIST ? "duplicate nqn"
				       : "invalid nqn, serial (<= 20) or model (<= 40)");
		return rc;
	}
	rc = for_each_item(em_config_str(cfg, sec, "allowed_hosts"), add_host, nc.s);
	if (rc < 0) {
		snprintf(err, errlen, "[%s] invalid host NQN in allowed_hosts", sec);
		return rc;
	}
	if (!o.allow_any_host && nc.s->n_hosts == 0)
		EM_WARN("nvmf", "[%s] no allowed_hosts and allow_any_host = false: "
			"no host can connect", sec);
	return for_each_item(em_config_str(cfg, sec, "namespace"), add_ns, &nc);
}

int em_nvmf_tgt_from_config(const struct em_config *cfg, struct em_reactor *r,
			    struct em_nvmf_tgt **out, char *err, size_t errlen)
{
	return em_nvmf_tgt_from_config_lent(cfg, r, NULL, 0, out, err, errlen);
}

int em_nvmf_tgt_from_config_lent(const struct em_config *cfg, struct em_reactor *r,
				 const struct em_nvmf_lent_engine *lent, size_t n_lent,
				 struct em_nvmf_tgt **out, char *err, size_t errlen)
{
	struct em_nvmf_tgt_opts o = {
		.traddr = em_config_str(cfg, "nvmf", "listen"),
		.port = (uint16_t)em_config_int(cfg, "nvmf", "port"),
		.max_io_size = (uint32_t)em_config_size(cfg, "nvmf", "max_io_size"),
		.inline_data_size = (uint32_t)em_config_size(cfg, "nvmf", "inline_data_size"),
		.max_queue_depth = (uint16_t)em_config_int(cfg, "nvmf", "queue_depth"),
		.max_io_queues = (uint16_t)em_config_int(cfg, "nvmf", "io_queues"),
	};
	struct em_nvmf_tgt *t;
	int rc;

	rc = em_nvmf_tgt_create(r, &o, &t);
	if (rc < 0) {
		snprintf(err, errlen, "[nvmf] invalid settings (listen must be an IPv4 address; "
			 "max_io_size a multiple of 4K, inline_data_size of 16)");
		return rc;
	}
	for (size_t i = 0; i < n_lent; i++) {
		rc = em_nvmf_tgt_lend_engine(t, lent[i].name, lent[i].path, lent[i].engine);
		if (rc < 0) {
			snprintf(err, errlen, "[target.%s]: %s", lent[i].name, em_strerror(rc));
			em_nvmf_tgt_destroy(t);
			return rc;
		}
	}
	for (size_t i = 0; i < em_config_instance_count(cfg, "subsystem"); i++) {
		rc = add_subsys(cfg, t, r, em_config_instance(cfg, "subsystem", i), err, errlen);
		if (rc < 0) {
			em_nvmf_tgt_destroy(t);
			return rc;
		}
	}
	*out = t;
	return 0;
}

bool em_nvmf_config_enabled(const struct em_config *cfg)
{
	return *em_config_str(cfg, "nvmf", "listen") ||
	       em_config_instance_count(cfg, "subsystem") > 0;
}

struct uses_ctx {
	const char *name, *path;
};

static int ns_uses(void *arg, const char *ns)
{
	const struct uses_ctx *u = arg;

	if (has_prefix(ns, TARGET_PREFIX))
		return strcmp(ns + strlen(TARGET_PREFIX), u->name) == 0;
	return has_prefix(ns, CHUNK_PREFIX) && em_nvmf_same_file(ns + strlen(CHUNK_PREFIX), u->path);
}

bool em_nvmf_config_uses_engine(const struct em_config *cfg, const char *name, const char *path)
{
	struct uses_ctx u = { name, path };

	for (size_t i = 0; i < em_config_instance_count(cfg, "subsystem"); i++) {
		const char *sec = em_config_instance(cfg, "subsystem", i);
		/* A positive return stops the walk: found. -ENOMEM counts as a
		 * use, so the engine lands on the target's reactor either way. */
		if (for_each_item(em_config_str(cfg, sec, "namespace"), ns_uses, &u) != 0)
			return true;
	}
	return false;
}
