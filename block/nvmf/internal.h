/* NVMe-oF target internals shared by the command layer (fabrics, admin,
 * discovery, io, subsys) and the transports.
 *
 * A transport owns queues and request objects. For each received capsule it
 * fills a request's command, calls em_nvmf_req_parse() to decode the data
 * pointer, moves host data in if the command carries any (RDMA READ for a
 * keyed SGL), then calls em_nvmf_req_execute(). Handlers finish with
 * em_nvmf_req_complete(), possibly later from a device completion, which
 * calls the queue's complete() hook to move data out and send the response.
 */
#ifndef EMBER_BLOCK_NVMF_INTERNAL_H
#define EMBER_BLOCK_NVMF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/dev/bdev.h"
#include "block/nvmf/nvmf.h"
#include "block/nvmf/wire.h"

struct em_timer;

#define EM_NVMF_ADMIN_QUEUE_DEPTH 32   /* the host's NVME_AQ_DEPTH */
#define EM_NVMF_MAX_NS 32
#define EM_NVMF_MAX_QID 64
#define EM_NVMF_MAX_AER 4
#define EM_NVMF_NQN_MAX 223            /* NVMF_NQN_SIZE, without the NUL */

enum em_nvmf_xfer {
	EM_XFER_NONE,
	EM_XFER_H2C,   /* host to controller: write-like */
	EM_XFER_C2H,   /* controller to host: read-like */
};

struct em_nvmf_queue;

struct em_nvmf_req {
	struct em_nvme_sqe cmd;
	struct em_nvme_cqe rsp;
	struct em_nvmf_queue *q;

	/* Filled by em_nvmf_req_parse() from the SGL. */
	enum em_nvmf_xfer xfer;
	uint32_t data_len;
	bool keyed;            /* data moves by RDMA READ/WRITE */
	uint64_t sgl_addr;     /* keyed: remote address */
	uint32_t sgl_key;      /* keyed: remote key */
	bool sgl_invalidate;   /* keyed subtype Invalidate */
	void *data;            /* in-capsule data, or the request buffer */

	/* Transport-owned, set before parsing. */
	void *buf;             /* request buffer, aligned for device I/O */
	uint32_t buf_size;
	void *icd;             /* received in-capsule data */
	uint32_t icd_len;

	/* Device I/O state (io.c). */
	struct em_bdev_io bio;
	struct em_nvmf_ns *ns;
	enum em_bdev_op range_op;      /* Write Zeroes / deallocate: */
	uint32_t range_next, range_count; /* range cursor */
	uint64_t range_done;           /* blocks of range range_next already done */
};

struct em_nvmf_queue_ops {
	/* Move C2H data (if any) and send req->rsp. */
	void (*complete)(struct em_nvmf_req *req);
	/* Tear the queue's connection down (keep-alive expiry, controller
	 * going away). The queue must call em_nvmf_queue_detach() soon after. */
	void (*disconnect)(struct em_nvmf_queue *q);
};

struct em_nvmf_queue {
	struct em_nvmf_tgt *tgt;
	const struct em_nvmf_queue_ops *ops;
	struct em_nvmf_ctrl *ctrl;   /* NULL until Connect succeeds */
	uint16_t qid;                /* from the transport's connect, checked by Connect */
	uint16_t size;               /* entries */
	uint16_t sqhd;
};

struct em_nvmf_stats {
	uint64_t read_bytes, write_bytes;
	uint64_t read_cmds, write_cmds;
	uint64_t media_errors;
};

/* What backs a namespace: a block device or a chunk volume, both driven
 * with em_bdev_io descriptors (block/dev/bdev.h contract). */
struct em_nvmf_ns_ops {
	int (*submit)(void *backend, struct em_bdev_io *io);
	/* Waits for outstanding I/O (running callbacks), then frees. */
	void (*close)(void *backend);
};

/* Namespaces live as long as the target, so a device completion arriving
 * after its controller went away still finds its namespace. */
struct em_nvmf_ns {
	uint32_t nsid;
	const struct em_nvmf_ns_ops *ops;
	void *backend;
	struct em_bdev_info info;    /* the backend's geometry and abilities */
	bool dealloc_zeroes;         /* deallocated blocks read as zeroes (DLFEAT) */
	uint32_t block_size;
	uint8_t lbads;               /* log2(block_size) */
	uint64_t nblocks;
	uint8_t nguid[16];
	struct em_nvmf_stats stats;
};

struct em_nvmf_subsys {
	struct em_nvmf_tgt *tgt;
	struct em_nvmf_subsys *next;
	char nqn[EM_NVMF_NQN_MAX + 1];
	char serial[21];
	char model[41];
	bool discovery;
	bool allow_any_host;
	char **hosts;
	size_t n_hosts;
	struct em_nvmf_ns *ns[EM_NVMF_MAX_NS];
	uint32_t nn;
	uint32_t mdts_bytes;         /* max data transfer, from the devices */
	uint16_t next_cntlid;
	struct em_nvmf_ctrl *ctrls;
};

struct em_nvmf_ctrl {
	struct em_nvmf_subsys *subsys;
	struct em_nvmf_ctrl *next;
	uint16_t cntlid;
	char hostnqn[EM_NVMF_NQN_MAX + 1];
	uint8_t hostid[16];
	uint32_t cc, csts;
	uint32_t aec;
	uint16_t nr_io_queues;       /* granted by Set Features Number of Queues */
	struct em_nvmf_queue *queues[EM_NVMF_MAX_QID + 1];
	struct em_nvmf_req *aer[EM_NVMF_MAX_AER];
	unsigned n_aer;
	uint32_t kato_ms;
	uint64_t last_ka_ms;
	struct em_timer *ka_timer;
};

struct em_nvmf_tgt {
	struct em_reactor *reactor;
	char traddr[64];
	char trsvcid[8];
	uint32_t max_io_size;
	uint32_t inline_data_size;
	uint16_t max_queue_depth;
	uint16_t max_io_queues;
	struct em_nvmf_subsys *discovery;
	struct em_nvmf_subsys *subsystems;   /* NVM subsystems, in creation order */
	uint64_t genctr;                     /* discovery log generation */
	struct em_nvmf_engine *engines;      /* chunk engines opened for volumes */
};

/* A chunk engine shared by the volumes on it, closed after every namespace
 * unless the hosting program lent it (em_nvmf_tgt_lend_engine()). */
struct em_nvmf_engine {
	struct em_nvmf_engine *next;
	char *path;
	char *name;                  /* lent: the [target.NAME] it serves; else NULL */
	struct em_engine *engine;
};

/* --- request flow (fabrics.c) --------------------------------------------- */

/* Decode the data pointer of req->cmd. Returns 0 or an NVMe status. */
uint16_t em_nvmf_req_parse(struct em_nvmf_req *req);
/* Run a parsed request whose host data (if any) is in req->data. */
void em_nvmf_req_execute(struct em_nvmf_req *req);
/* Finish with an NVMe status (0 = success): fills the CQE, calls complete(). */
void em_nvmf_req_complete(struct em_nvmf_req *req, uint16_t status);

/* A transport's queue lost its connection: drop it from its controller. The
 * admin queue takes the controller (and its other queues) down with it. */
void em_nvmf_queue_detach(struct em_nvmf_queue *q);

/* --- command sets ---------------------------------------------------------- */
void em_nvmf_fabrics_execute(struct em_nvmf_req *req);
void em_nvmf_admin_execute(struct em_nvmf_req *req);
void em_nvmf_discovery_execute(struct em_nvmf_req *req);
void em_nvmf_io_execute(struct em_nvmf_req *req);

/* Admin commands common to NVM and discovery controllers (admin.c): the
 * dispatcher runs the shared ones itself and the controller kind's own
 * Identify and Get Log Page handlers (each returns an NVMe status). */
typedef uint16_t (*em_nvmf_admin_fn)(struct em_nvmf_req *req);
void em_nvmf_admin_dispatch(struct em_nvmf_req *req, em_nvmf_admin_fn identify_fn,
			    em_nvmf_admin_fn get_log_page_fn);
uint16_t em_nvmf_identify_ctrl(struct em_nvmf_req *req);

/* Copy a log page image into the request buffer honouring the offset and
 * length asked for; zero-fills past its end. */
uint16_t em_nvmf_copy_log(struct em_nvmf_req *req, const void *log, size_t log_len);

/* --- subsystems and controllers (subsys.c) --------------------------------- */
/* Records an engine the hosting program opened on the target's reactor and
 * closes itself, after the target: `namespace = target:NAME` names it. */
int em_nvmf_tgt_lend_engine(struct em_nvmf_tgt *t, const char *name, const char *path,
			    struct em_engine *e);
/* The engine (opened or lent) on the same file as path, or NULL. */
struct em_nvmf_engine *em_nvmf_tgt_engine_find(struct em_nvmf_tgt *t, const char *path);
/* Two paths name one file or device (symlinks and /dev aliases included). */
bool em_nvmf_same_file(const char *a, const char *b);
struct em_nvmf_subsys *em_nvmf_subsys_find(struct em_nvmf_tgt *t, const char *nqn);
bool em_nvmf_host_allowed(const struct em_nvmf_subsys *s, const char *hostnqn);
struct em_nvmf_ns *em_nvmf_ns_find(struct em_nvmf_subsys *s, uint32_t nsid);
static inline int em_nvmf_ns_submit(struct em_nvmf_ns *ns, struct em_bdev_io *io)
{
	return ns->ops->submit(ns->backend, io);
}
int em_nvmf_ctrl_create(struct em_nvmf_subsys *s, const char *hostnqn,
			const uint8_t hostid[16], uint32_t kato_ms,
			struct em_nvmf_ctrl **out);
struct em_nvmf_ctrl *em_nvmf_ctrl_find(struct em_nvmf_subsys *s, uint16_t cntlid);
/* The admin queue is gone: disconnect the other queues, drop pending AERs. */
void em_nvmf_ctrl_destroy(struct em_nvmf_ctrl *c);
/* (Re)arm keep-alive enforcement after kato_ms changed. */
void em_nvmf_ctrl_set_kato(struct em_nvmf_ctrl *c, uint32_t kato_ms);
/* Fatal controller error: disconnect every queue. */
void em_nvmf_ctrl_fatal(struct em_nvmf_ctrl *c, const char *why);

/* Fixed-width, space-padded ASCII identify fields. */
void em_nvmf_copy_padded(char *dst, size_t n, const char *src);

#endif
