/* Target, subsystems, namespaces and controllers: who exists, who may
 * connect, and the keep-alive clock of each controller. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/chunk/engine.h"
#include "block/nvmf/internal.h"
#include "block/nvmf/volume.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define DEFAULT_PORT 4420
#define DEFAULT_MAX_IO (128u * 1024)
#define DEFAULT_INLINE 4096u
#define DEFAULT_QUEUE_DEPTH 128
#define DEFAULT_IO_QUEUES 16

void em_nvmf_copy_padded(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);
	memset(dst, ' ', n);
	memcpy(dst, src, len);
}

static bool nqn_valid(const char *nqn)
{
	size_t n = nqn ? strlen(nqn) : 0;
	return n > 0 && n <= EM_NVMF_NQN_MAX;
}

static int subsys_new(struct em_nvmf_tgt *t, const char *nqn, struct em_nvmf_subsys **out)
{
	struct em_nvmf_subsys *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->tgt = t;
	strcpy(s->nqn, nqn);
	s->mdts_bytes = t->max_io_size;
	s->next_cntlid = 1;
	*out = s;
	return 0;
}

static void subsys_free(struct em_nvmf_subsys *s)
{
	for (uint32_t i = 0; i < s->nn; i++) {
		s->ns[i]->ops->close(s->ns[i]->backend);
		free(s->ns[i]);
	}
	for (size_t i = 0; i < s->n_hosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	free(s);
}

int em_nvmf_tgt_create(struct em_reactor *r, const struct em_nvmf_tgt_opts *o,
		       struct em_nvmf_tgt **out)
{
	struct em_nvmf_tgt *t;
	struct in_addr a;
	int rc;

	/* The address goes into discovery log entries: hosts must be able to
	 * connect to it, so the wildcard address is refused. */
	if (!o->traddr || inet_pton(AF_INET, o->traddr, &a) != 1 || a.s_addr == INADDR_ANY)
		return -EINVAL;
	if (o->inline_data_size % 16 || o->max_io_size % 4096 ||
	    (o->max_queue_depth && o->max_queue_depth < EM_NVMF_ADMIN_QUEUE_DEPTH) ||
	    o->max_io_queues > EM_NVMF_MAX_QID)
		return -EINVAL;
	t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->reactor = r;
	strcpy(t->traddr, o->traddr);
	snprintf(t->trsvcid, sizeof t->trsvcid, "%u", o->port ? o->port : DEFAULT_PORT);
	t->max_io_size = o->max_io_size ? o->max_io_size : DEFAULT_MAX_IO;
	t->inline_data_size = o->inline_data_size ? o->inline_data_size : DEFAULT_INLINE;
	t->max_queue_depth = o->max_queue_depth ? o->max_queue_depth : DEFAULT_QUEUE_DEPTH;
	t->max_io_queues = o->max_io_queues ? o->max_io_queues : DEFAULT_IO_QUEUES;
	t->genctr = 1;
	rc = subsys_new(t, EM_NVMF_DISCOVERY_NQN, &t->discovery);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->discovery->discovery = true;
	t->discovery->allow_any_host = true;
	strcpy(t->discovery->serial, "ember-discovery");
	strcpy(t->discovery->model, "Ember NVMe-oF discovery");
	*out = t;
	return 0;
}

void em_nvmf_tgt_destroy(struct em_nvmf_tgt *t)
{
	if (!t)
		return;
	while (t->subsystems) {
		struct em_nvmf_subsys *s = t->subsystems;
		t->subsystems = s->next;
		subsys_free(s);
	}
	subsys_free(t->discovery);
	while (t->engines) {
		struct em_nvmf_engine *en = t->engines;
		t->engines = en->next;
		if (!en->name)
			em_engine_close(en->engine);
		free(en->path);
		free(en->name);
		free(en);
	}
	free(t);
}

bool em_nvmf_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return true;
	if (stat(a, &sa) != 0 || stat(b, &sb) != 0 || (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT))
		return false;
	if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

struct em_nvmf_engine *em_nvmf_tgt_engine_find(struct em_nvmf_tgt *t, const char *path)
{
	for (struct em_nvmf_engine *en = t->engines; en; en = en->next)
		if (em_nvmf_same_file(en->path, path))
			return en;
	return NULL;
}

static int engine_add(struct em_nvmf_tgt *t, const char *path, const char *name,
		      struct em_nvmf_engine **out)
{
	struct em_nvmf_engine *en = calloc(1, sizeof *en);

	if (!en || !(en->path = strdup(path)) || (name && !(en->name = strdup(name)))) {
		if (en)
			free(en->path);
		free(en);
		return -ENOMEM;
	}
	en->next = t->engines;
	t->engines = en;
	*out = en;
	return 0;
}

int em_nvmf_tgt_lend_engine(struct em_nvmf_tgt *t, const char *name, const char *path,
			    struct em_engine *e)
{
	struct em_nvmf_engine *en;
	int rc;

	for (en = t->engines; en; en = en->next)
		if (en->name && strcmp(en->name, name) == 0)
			return -EEXIST;
	rc = engine_add(t, path, name, &en);
	if (rc == 0)
		en->engine = e;
	return rc;
}

int em_nvmf_tgt_engine(struct em_nvmf_tgt *t, const char *path, enum em_bdev_kind kind,
		       struct em_engine **out)
{
	struct em_engine_opts o = { .kind = kind };
	struct em_nvmf_engine *en = em_nvmf_tgt_engine_find(t, path);
	struct em_engine *e;
	int rc;

	if (en) {
		*out = en->engine;
		return 0;
	}
	rc = em_engine_open(path, &o, t->reactor, &e);
	if (rc == 0) {
		rc = engine_add(t, path, NULL, &en);
		if (rc < 0)
			em_engine_close(e);
	}
	if (rc < 0)
		return rc;
	en->engine = e;
	*out = e;
	return 0;
}

int em_nvmf_subsys_add(struct em_nvmf_tgt *t, const struct em_nvmf_subsys_opts *o,
		       struct em_nvmf_subsys **out)
{
	struct em_nvmf_subsys *s, **tail;
	int rc;

	if (!nqn_valid(o->nqn) || strcmp(o->nqn, EM_NVMF_DISCOVERY_NQN) == 0 ||
	    !o->serial || strlen(o->serial) > 20 || !o->model || strlen(o->model) > 40)
		return -EINVAL;
	if (em_nvmf_subsys_find(t, o->nqn))
		return -EEXIST;
	rc = subsys_new(t, o->nqn, &s);
	if (rc < 0)
		return rc;
	strcpy(s->serial, o->serial);
	strcpy(s->model, o->model);
	s->allow_any_host = o->allow_any_host;
	for (tail = &t->subsystems; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	t->genctr++;
	*out = s;
	return 0;
}

int em_nvmf_subsys_allow_host(struct em_nvmf_subsys *s, const char *hostnqn)
{
	char **hosts, *dup;

	if (!nqn_valid(hostnqn))
		return -EINVAL;
	dup = strdup(hostnqn);
	hosts = dup ? realloc(s->hosts, (s->n_hosts + 1) * sizeof *hosts) : NULL;
	if (!hosts) {
		free(dup);
		return -ENOMEM;
	}
	hosts[s->n_hosts++] = dup;
	s->hosts = hosts;
	s->tgt->genctr++;
	return 0;
}

/* A namespace identity stable across restarts and distinct per subsystem:
 * derived from the subsystem NQN and the NSID. The kernel host ignores a
 * namespace whose NGUID it already saw through another subsystem. */
static void make_nguid(uint8_t nguid[16], const char *nqn, uint32_t nsid)
{
	uint32_t w[4];
	for (uint32_t i = 0; i < 3; i++)
		w[i] = em_crc32c(em_crc32c(i, nqn, strlen(nqn)), &nsid, sizeof nsid);
	w[3] = htobe32(nsid);
	memcpy(nguid, w, 16);
}

static int bdev_submit(void *d, struct em_bdev_io *io)
{
	return em_bdev_submit(d, io);
}

static void bdev_close(void *d)
{
	em_bdev_close(d);
}

static int volume_submit(void *v, struct em_bdev_io *io)
{
	return em_volume_submit(v, io);
}

static void volume_close(void *v)
{
	em_volume_close(v);
}

static const struct em_nvmf_ns_ops bdev_ops = { bdev_submit, bdev_close };
static const struct em_nvmf_ns_ops volume_ops = { volume_submit, volume_close };

static int ns_add(struct em_nvmf_subsys *s, const struct em_nvmf_ns_ops *ops, void *backend,
		  const struct em_bdev_info *info, bool dealloc_zeroes, uint32_t *nsid)
{
	struct em_nvmf_ns *ns;
	uint32_t bs = info->block_size;

	if (s->nn >= EM_NVMF_MAX_NS)
		return -ENOSPC;
	/* The host accepts LBA sizes from 512 B to 4 KiB, powers of two. */
	if (bs < 512 || bs > 4096 || (bs & (bs - 1)) || info->size < bs)
		return -EINVAL;
	ns = calloc(1, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	ns->nsid = s->nn + 1;
	ns->ops = ops;
	ns->backend = backend;
	ns->info = *info;
	ns->dealloc_zeroes = dealloc_zeroes;
	ns->block_size = bs;
	ns->lbads = (uint8_t)__builtin_ctz(bs);
	ns->nblocks = info->size / bs;
	make_nguid(ns->nguid, s->nqn, ns->nsid);
	s->ns[s->nn++] = ns;
	/* MDTS is one limit for the whole controller: the smallest device's. */
	if (info->max_transfer && info->max_transfer < s->mdts_bytes)
		s->mdts_bytes = info->max_transfer;
	s->tgt->genctr++;
	if (nsid)
		*nsid = ns->nsid;
	return 0;
}

int em_nvmf_ns_add_bdev(struct em_nvmf_subsys *s, struct em_bdev *bdev, uint32_t *nsid)
{
	return ns_add(s, &bdev_ops, bdev, em_bdev_get_info(bdev), false, nsid);
}

int em_nvmf_ns_add_volume(struct em_nvmf_subsys *s, struct em_volume *v, uint32_t *nsid)
{
	return ns_add(s, &volume_ops, v, em_volume_get_info(v), true, nsid);
}

struct em_nvmf_subsys *em_nvmf_subsys_find(struct em_nvmf_tgt *t, const char *nqn)
{
	if (strcmp(nqn, t->discovery->nqn) == 0)
		return t->discovery;
	for (struct em_nvmf_subsys *s = t->subsystems; s; s = s->next)
		if (strcmp(s->nqn, nqn) == 0)
			return s;
	return NULL;
}

bool em_nvmf_host_allowed(const struct em_nvmf_subsys *s, const char *hostnqn)
{
	if (s->allow_any_host)
		return true;
	for (size_t i = 0; i < s->n_hosts; i++)
		if (strcmp(s->hosts[i], hostnqn) == 0)
			return true;
	return false;
}

struct em_nvmf_ns *em_nvmf_ns_find(struct em_nvmf_subsys *s, uint32_t nsid)
{
	if (nsid == 0 || nsid > s->nn)
		return NULL;
	return s->ns[nsid - 1];
}

int em_nvmf_ctrl_create(struct em_nvmf_subsys *s, const char *hostnqn,
			const uint8_t hostid[16], uint32_t kato_ms, struct em_nvmf_ctrl **out)
{
	struct em_nvmf_ctrl *c;
	uint16_t id;

	/* Controller IDs 1..0xFFEF, unique among the live ones: the host
	 * rejects a second controller with an ID it already knows. */
	for (unsigned tries = 0;; tries++) {
		if (tries == 0xffef)
			return -EBUSY;
		id = s->next_cntlid;
		s->next_cntlid = id >= 0xffef ? 1 : (uint16_t)(id + 1);
		if (!em_nvmf_ctrl_find(s, id))
			break;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->subsys = s;
	c->cntlid = id;
	strcpy(c->hostnqn, hostnqn);
	memcpy(c->hostid, hostid, 16);
	c->nr_io_queues = s->discovery ? 0 : s->tgt->max_io_queues;
	c->next = s->ctrls;
	s->ctrls = c;
	em_nvmf_ctrl_set_kato(c, kato_ms);
	*out = c;
	return 0;
}

struct em_nvmf_ctrl *em_nvmf_ctrl_find(struct em_nvmf_subsys *s, uint16_t cntlid)
{
	for (struct em_nvmf_ctrl *c = s->ctrls; c; c = c->next)
		if (c->cntlid == cntlid)
			return c;
	return NULL;
}

static void ka_check(void *arg)
{
	struct em_nvmf_ctrl *c = arg;
	uint64_t idle = em_now_ms() - c->last_ka_ms;

	c->ka_timer = NULL;
	if (idle > c->kato_ms) {
		char why[64];
		snprintf(why, sizeof why, "no keep-alive for %llu ms", (unsigned long long)idle);
		em_nvmf_ctrl_fatal(c, why);
		return;
	}
	/* Check again when the current period would run out. */
	em_reactor_timer(c->subsys->tgt->reactor, c->kato_ms - idle + 1, ka_check, c,
			 &c->ka_timer);
}

void em_nvmf_ctrl_set_kato(struct em_nvmf_ctrl *c, uint32_t kato_ms)
{
	struct em_reactor *r = c->subsys->tgt->reactor;

	if (c->ka_timer)
		em_reactor_timer_cancel(r, c->ka_timer);
	c->ka_timer = NULL;
	c->kato_ms = kato_ms;
	c->last_ka_ms = em_now_ms();
	if (kato_ms && r)
		em_reactor_timer(r, kato_ms + 1, ka_check, c, &c->ka_timer);
}

void em_nvmf_ctrl_fatal(struct em_nvmf_ctrl *c, const char *why)
{
	EM_WARN("nvmf", "controller %u of %s (host %s): %s; dropping the association",
		c->cntlid, c->subsys->nqn, c->hostnqn, why);
	c->csts |= EM_CSTS_CFS;
	for (int qid = EM_NVMF_MAX_QID; qid >= 0; qid--)
		if (c->queues[qid])
			c->queues[qid]->ops->disconnect(c->queues[qid]);
}

void em_nvmf_ctrl_destroy(struct em_nvmf_ctrl *c)
{
	struct em_nvmf_subsys *s = c->subsys;
	struct em_nvmf_ctrl **pp;

	for (int qid = 1; qid <= EM_NVMF_MAX_QID; qid++) {
		struct em_nvmf_queue *q = c->queues[qid];
		if (!q)
			continue;
		q->ctrl = NULL;
		q->ops->disconnect(q);
	}
	if (c->ka_timer)
		em_reactor_timer_cancel(s->tgt->reactor, c->ka_timer);
	/* Parked AERs belong to the admin queue that is going away. */
	for (unsigned i = 0; i < c->n_aer; i++)
		em_nvmf_req_complete(c->aer[i], EM_SC_ABORT_SQ_DELETED);
	for (pp = &s->ctrls; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	EM_INFO("nvmf", "controller %u of %s for host %s gone", c->cntlid, s->nqn, c->hostnqn);
	free(c);
}
