/* Inside the metadata client: one call's state, shared by the core
 * (client.c: reactor, sending, retries, waiting) and the operations
 * (client_ops.c: arguments in, results out). */
#ifndef EMBER_FS_META_CLIENT_INT_H
#define EMBER_FS_META_CLIENT_INT_H

#include "fs/meta/client.h"
#include "fs/meta/proto.h"

/* How a successful answer is delivered to the caller. */
enum em_meta_out {
	EM_META_OUT_NONE,
	EM_META_OUT_ATTR,     /* out: struct em_meta_attr (may be NULL) */
	EM_META_OUT_OPEN,     /* out: struct em_meta_open_res */
	EM_META_OUT_BYTES,    /* out: cap bytes; status is the full length */
	EM_META_OUT_READLINK, /* the same, NUL-terminated within cap */
	EM_META_OUT_READDIR,  /* ents[max], *n, *eof; pages until full or eof */
	EM_META_OUT_STATFS,   /* out: struct em_meta_statfs */
	EM_META_OUT_GC,       /* gc[max], *n */
	EM_META_OUT_U32,      /* out: uint32_t */
	EM_META_OUT_LOCK,     /* out: struct em_meta_lock_range (may be NULL) */
};

struct em_meta_call {
	struct em_meta_client *c;
	uint16_t method;
	enum em_meta_out kind;
	void *out;
	size_t cap;
	struct em_meta_dirent *ents;
	struct em_meta_gc_entry *gc;
	size_t max, got, *n;
	bool *eof;
	em_meta_done_fn cb;
	void *arg;
	int err; /* the first argument that does not fit: submit fails with it */
	unsigned srv, tries;
	uint8_t *buf;
	size_t len;
	struct em_meta_req req;
};

/* A call for method with the caller's credentials (NULL: root); NULL when
 * out of memory. */
struct em_meta_call *em_meta_call_new(struct em_meta_client *c, uint16_t method,
				      const struct em_meta_cred *cr, enum em_meta_out kind,
				      em_meta_done_fn cb, void *arg);
/* Encodes k->req and sends it from the client's reactor. Returns 0 (the
 * callback follows) or a negative errno (k is freed, no callback), k->err
 * among them. Paged outputs (*n, *eof) start empty once it is sent. A call
 * made with em_meta_sync as its callback is a synchronous form's: submit
 * waits for it and returns its status instead, or -EDEADLK on the client's
 * reactor thread, where waiting would never end. */
int em_meta_call_submit(struct em_meta_call *k);
/* Frees a call that was never submitted and returns err. */
int em_meta_call_abort(struct em_meta_call *k, int err);

/* What a synchronous form passes as its _async form's callback (with a NULL
 * arg): it marks the call for waiting, and submit supplies the waiter. */
void em_meta_sync(void *arg, int status);

#endif
