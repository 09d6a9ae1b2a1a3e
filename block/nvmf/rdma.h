/* NVMe-oF RDMA transport: rdma_cm listener and queue pairs.
 *
 * Listens on the target's address and port. Each accepted rdma_cm
 * connection is one NVMe queue (admin or I/O, from the connect private
 * data): receives are pre-posted for every queue entry, capsules are
 * executed as they arrive, host write data is pulled with RDMA READ, read
 * data pushed with RDMA WRITE followed by the response SEND in the same
 * post. Completions are event driven through a completion channel per
 * queue, so an idle target sleeps and never competes with soft-RoCE for CPU.
 */
#ifndef EMBER_BLOCK_NVMF_RDMA_H
#define EMBER_BLOCK_NVMF_RDMA_H

struct em_nvmf_tgt;
struct em_nvmf_rdma;

/* Starts listening on the target's traddr/port, on the target's reactor. */
int em_nvmf_rdma_create(struct em_nvmf_tgt *t, struct em_nvmf_rdma **out);
/* The graceful stop, on the reactor thread with the reactor running: stops
 * listening and disconnects every queue, so hosts see their associations
 * end; done(arg) runs (possibly before this returns) once every queue is
 * freed, its requests' device I/O finished. A queue whose disconnect is not
 * confirmed within 5 s is dropped then. */
void em_nvmf_rdma_shutdown(struct em_nvmf_rdma *rt, void (*done)(void *arg), void *arg);
/* Stops listening and tears every queue down at once: call after
 * em_nvmf_rdma_shutdown() finished, or with the reactor stopped (device I/O
 * still in flight is then abandoned). */
void em_nvmf_rdma_destroy(struct em_nvmf_rdma *rt);

#endif
