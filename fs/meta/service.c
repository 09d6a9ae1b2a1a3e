/* ember-meta's methods: decode on the RPC reactor, run em_meta_* on a worker
 * reactor, reply from the RPC reactor (service.h says why). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/meta/proto.h"
#include "fs/meta/service.h"
#include "net/core/log.h"

#define DEFAULT_WORKERS 4
#define ATTR_SIZE 92 /* em_meta_enc_attr's bytes */

struct worker {
	struct em_reactor *r;
	pthread_t th;
	bool started;
};

struct em_meta_service {
	struct em_meta *meta;
	struct em_reactor *home; /* the RPC reactor: replies are sent there */
	struct worker *w;
	unsigned nw, next;
};

/* One request on its way through a worker. */
struct job {
	struct em_meta_service *s;
	struct em_rpc_req *req;
	uint16_t method;
	int status;
	uint8_t *rsp;
	size_t rsp_len;
	struct em_meta_req r;
};

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Buffer sizes for answers that carry bytes. */
static size_t bytes_cap(const struct job *j)
{
	switch (j->method) {
	case EM_META_READLINK:
		return min_sz(j->r.max, EM_META_SYMLINK_MAX + 1);
	case EM_META_GETXATTR:
		return min_sz(j->r.max, EM_META_XATTR_SIZE_MAX);
	default:
		return min_sz(j->r.max, EM_META_XATTR_LIST_MAX);
	}
}

static int run_bytes(struct job *j, struct em_enc *e)
{
	struct em_meta *m = j->s->meta;
	const struct em_meta_req *r = &j->r;
	size_t cap = bytes_cap(j);
	/* One spare byte: readlink NUL-terminates inside its buffer. */
	char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	int rc;
	size_t sent;
	if (j->method == EM_META_READLINK) {
		rc = em_meta_readlink(m, &r->cred, r->ino, buf, cap);
		sent = rc < 0 || cap == 0 ? 0 : min_sz((size_t)rc, cap - 1);
	} else {
		rc = j->method == EM_META_GETXATTR
			     ? em_meta_getxattr(m, &r->cred, r->ino, r->name, buf, cap)
			     : em_meta_listxattr(m, &r->cred, r->ino, buf, cap);
		sent = rc < 0 || cap == 0 ? 0 : (size_t)rc;
	}
	if (rc >= 0)
		em_meta_enc_bytes_rsp(e, (uint32_t)rc, buf, (uint32_t)sent);
	free(buf);
	return rc < 0 ? rc : 0;
}

static int run_readdir(struct job *j, struct em_enc *e)
{
	const struct em_meta_req *r = &j->r;
	size_t max = min_sz(r->max, EM_META_READDIR_MAX), n = 0;
	bool eof = false;
	struct em_meta_dirent *ents = malloc((max + 1) * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	int rc = em_meta_readdir(j->s->meta, &r->cred, r->ino, r->name, ents, max, &n, &eof);
	if (rc == 0)
		em_meta_enc_readdir_rsp(e, ents, n, eof);
	free(ents);
	return rc;
}

static int run_gc_list(struct job *j, struct em_enc *e)
{
	if (j->r.cred.uid != 0)
		return -EPERM;
	size_t max = min_sz(j->r.max, EM_META_GC_LIST_MAX), n = 0;
	struct em_meta_gc_entry *ents = malloc((max + 1) * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	int rc = em_meta_gc_list(j->s->meta, ents, max, &n);
	if (rc == 0)
		em_meta_enc_gc_list_rsp(e, ents, n);
	free(ents);
	return rc;
}

/* Ends with the answer in e; returns the operation's status. */
static int run(struct job *j, struct em_enc *e)
{
	struct em_meta *m = j->s->meta;
	const struct em_meta_req *r = &j->r;
	const struct em_meta_cred *cr = &r->cred;
	struct em_meta_attr a;
	struct em_meta_open_res o;
	struct em_meta_statfs sf;
	int rc;
	switch (j->method) {
	case EM_META_LOOKUP:
		rc = em_meta_lookup(m, cr, r->ino, r->name, &a);
		break;
	case EM_META_GETATTR:
		rc = em_meta_getattr(m, cr, r->ino, &a);
		break;
	case EM_META_SETATTR:
		rc = em_meta_setattr(m, cr, r->ino, &r->sa, &a);
		break;
	case EM_META_MKDIR:
		rc = em_meta_mkdir(m, cr, r->ino, r->name, r->mode, &a);
		break;
	case EM_META_SYMLINK:
		rc = em_meta_symlink(m, cr, r->ino, r->name, r->name2, &a);
		break;
	case EM_META_MKNOD:
		rc = em_meta_mknod(m, cr, r->ino, r->name, r->mode, r->rdev, &a);
		break;
	case EM_META_LINK:
		rc = em_meta_link(m, cr, r->ino, r->ino2, r->name, &a);
		break;
	case EM_META_CREATE:
	case EM_META_OPEN:
		rc = j->method == EM_META_CREATE
			     ? em_meta_create(m, cr, r->ino, r->name, r->mode,
					      em_meta_flags_from_wire(r->flags), r->client, &o)
			     : em_meta_open(m, cr, r->ino, em_meta_flags_from_wire(r->flags),
					    r->client, &o);
		if (rc == 0)
			em_meta_enc_open_rsp(e, &o);
		return rc;
	case EM_META_CLOSE:
		return em_meta_close(m, cr, r->ino, r->session, r->length, r->flags);
	case EM_META_SET_LENGTH:
		return em_meta_set_length(m, cr, r->ino, r->session, r->length, r->flags);
	case EM_META_UNLINK:
		return em_meta_unlink(m, cr, r->ino, r->name);
	case EM_META_RMDIR:
		return em_meta_rmdir(m, cr, r->ino, r->name);
	case EM_META_RENAME:
		return em_meta_rename(m, cr, r->ino, r->name, r->ino2, r->name2, r->flags);
	case EM_META_READLINK:
	case EM_META_GETXATTR:
	case EM_META_LISTXATTR:
		return run_bytes(j, e);
	case EM_META_READDIR:
		return run_readdir(j, e);
	case EM_META_STATFS:
		rc = em_meta_statfs(m, cr, &sf);
		if (rc == 0)
			em_meta_enc_statfs_rsp(e, &sf);
		return rc;
	case EM_META_SETXATTR:
		return em_meta_setxattr(m, cr, r->ino, r->name, r->value, r->vlen, (int)r->flags);
	case EM_META_REMOVEXATTR:
		return em_meta_removexattr(m, cr, r->ino, r->name);
	case EM_META_GC_LIST:
		return run_gc_list(j, e);
	case EM_META_GC_DONE:
		return cr->uid == 0 ? em_meta_gc_done(m, r->ino) : -EPERM;
	case EM_META_LOCK: {
		struct em_meta_lock_range cf = { 0 };
		rc = em_meta_lock(m, cr, r->ino, &r->lock, &cf);
		if (rc == 0)
			em_meta_enc_lock_rsp(e, &cf);
		return rc;
	}
	case EM_META_RENEW: {
		uint32_t lease = 0;
		rc = em_meta_renew(m, r->client, &lease);
		if (rc == 0)
			em_enc_u32(e, lease);
		return rc;
	}
	default:
		return -ENOSYS;
	}
	/* The attr-returning methods. */
	if (rc == 0)
		em_meta_enc_attr_rsp(e, &a);
	return rc;
}

static size_t rsp_cap(const struct job *j)
{
	switch (j->method) {
	case EM_META_READLINK:
	case EM_META_GETXATTR:
	case EM_META_LISTXATTR:
		return 8 + bytes_cap(j);
	case EM_META_READDIR:
		return 5 + EM_META_READDIR_MAX * (16 + EM_META_NAME_MAX);
	case EM_META_GC_LIST:
		return 4 + EM_META_GC_LIST_MAX * (16 + 28);
	default:
		return ATTR_SIZE + 16;
	}
}

static void reply(void *arg)
{
	struct job *j = arg;
	em_rpc_reply(j->req, j->status, j->rsp, j->rsp_len);
	free(j->rsp);
	free(j);
}

static void work(void *arg)
{
	struct job *j = arg;
	uint64_t deadline = em_rpc_req_deadline(j->req);
	size_t cap = rsp_cap(j);
	struct em_enc e;
	j->rsp = malloc(cap);
	if (!j->rsp) {
		j->status = -ENOMEM;
	} else if (deadline && em_now_ms() > deadline) {
		/* The caller has given up: doing it now would surprise it later. */
		j->status = -ETIMEDOUT;
	} else {
		em_enc_init(&e, j->rsp, cap);
		j->status = run(j, &e);
		if (j->status == 0 && em_enc_error(&e)) {
			EM_ERR("meta", "method %u: answer exceeds %zu bytes", j->method, cap);
			j->status = -EMSGSIZE;
		}
		j->rsp_len = j->status == 0 ? e.len : 0;
	}
	/* Sending fails only without memory; the request must still be
	 * answered, so wait for some to come back. */
	while (em_reactor_send(j->s->home, reply, j) < 0)
		usleep(1000);
}

static void handle(struct em_rpc_req *req, void *arg)
{
	struct em_meta_service *s = arg;
	struct job *j = malloc(sizeof(*j));
	if (!j) {
		em_rpc_reply(req, -ENOMEM, NULL, 0);
		return;
	}
	*j = (struct job){ .s = s, .req = req, .method = em_rpc_req_method(req) };
	size_t len;
	const void *p = em_rpc_req_payload(req, &len);
	/* value points into the payload, which lives until the reply. */
	int rc = em_meta_dec_req(j->method, p, len, &j->r);
	if (rc == 0)
		rc = em_reactor_send(s->w[s->next++ % s->nw].r, work, j);
	if (rc < 0) {
		em_rpc_reply(req, rc, NULL, 0);
		free(j);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int rc = em_reactor_run(w->r);
	if (rc < 0)
		EM_ERR("meta", "worker reactor: %s", strerror(-rc));
	return NULL;
}

static int start_workers(struct em_meta_service *s)
{
	for (unsigned i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];
		int rc = em_reactor_create("meta-worker", &w->r);
		if (rc < 0)
			return rc;
		rc = -pthread_create(&w->th, NULL, worker_main, w);
		if (rc < 0)
			return rc;
		w->started = true;
	}
	return 0;
}

int em_meta_service_create(struct em_reactor *r, struct em_rpc *rpc,
			   const struct em_meta_service_opts *o, struct em_meta_service **out)
{
	*out = NULL;
	if (!o->meta)
		return -EINVAL;
	struct em_meta_service *s = calloc(1, sizeof(*s));
	unsigned nw = o->workers ? o->workers : DEFAULT_WORKERS;
	if (!s || !(s->w = calloc(nw, sizeof(*s->w)))) {
		free(s);
		return -ENOMEM;
	}
	s->meta = o->meta;
	s->home = r;
	s->nw = nw;
	int rc = start_workers(s);
	for (uint16_t m = EM_META_LOOKUP; rc == 0 && m < EM_META_METHOD_END; m++)
		rc = em_rpc_register(rpc, EM_META_SERVICE, m, handle, s);
	if (rc < 0) {
		em_meta_service_destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

void em_meta_service_destroy(struct em_meta_service *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];
		if (w->started) {
			em_reactor_stop(w->r);
			pthread_join(w->th, NULL);
		}
		if (w->r)
			em_reactor_destroy(w->r);
	}
	free(s->w);
	free(s);
}
