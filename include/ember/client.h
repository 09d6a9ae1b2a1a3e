/* Ember's native client API: file I/O without FUSE, through rings of
 * requests on registered memory, in the manner of 3FS's USRBIO.
 *
 *   em_client_open        one session with the cluster (mgmtd, metadata,
 *                         a pool of I/O threads)
 *   em_client_file_open   a file by path, as the calling process's uid/gid
 *   em_iov_register       register a memory region once; every I/O buffer
 *                         must lie inside one
 *   em_ring_create        a ring of up to `entries` requests in flight
 *   em_ring_prep          queue a read or write of (file, offset, length,
 *                         pointer); returns the slot
 *   em_ring_submit        hand the queued requests to the I/O threads
 *   em_ring_wait          reap completions
 *
 * Requests are split into chunk pieces that run in parallel on the chains;
 * buffers go to the transport as they are (no copy in the client): over
 * RDMA the storage servers read and write them directly. A write completes
 * when every replica committed it. Reads past the end of file are short,
 * holes read as zeros. One thread may prep and submit while another waits;
 * use one ring per submitting thread. All functions return 0 (or a count)
 * or a negative errno.
 */
#ifndef EMBER_CLIENT_H
#define EMBER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct em_client_opts {
	const char *mgmtd;        /* "tcp://IP:PORT[,URL...]" of mgmtd */
	const char *meta;         /* ember-meta URLs, comma-separated */
	const char *secret_file;  /* the cluster secret */
	unsigned io_threads;      /* pieces in flight at once; 0: 8 */
	uint32_t timeout_ms;      /* per piece, retries included; 0: 60 s */
};

struct em_client;
struct em_client_file;
struct em_iov;
struct em_ring;

int em_client_open(const struct em_client_opts *o, struct em_client **out);
/* Every file, ring and region must be gone. */
void em_client_close(struct em_client *c);

/* open(2) of an absolute path in the file system (symlinks are not
 * followed). flags: O_RDONLY/O_WRONLY/O_RDWR, O_CREAT, O_EXCL, O_TRUNC. */
int em_client_file_open(struct em_client *c, const char *path, int flags, mode_t mode,
			struct em_client_file **out);
/* Publishes the length and ends the write session. */
int em_client_file_close(struct em_client_file *f);
/* The size as this client knows it. */
uint64_t em_client_file_size(struct em_client_file *f);

int em_iov_register(struct em_client *c, void *base, size_t len, struct em_iov **out);
void em_iov_deregister(struct em_iov *iov);

int em_ring_create(struct em_client *c, unsigned entries, struct em_ring **out);
/* Waits for requests still in flight. */
void em_ring_destroy(struct em_ring *r);

/* Returns the slot (>= 0), -EBUSY when entries requests are queued or in
 * flight, -EINVAL when [ptr, ptr + len) is not inside iov or len is 0. */
int em_ring_prep(struct em_ring *r, struct em_iov *iov, bool write, struct em_client_file *f,
		 uint64_t off, void *ptr, size_t len, void *userdata);
/* Returns how many requests it handed over. */
int em_ring_submit(struct em_ring *r);

struct em_cqe {
	int64_t result;           /* bytes, or a negative errno */
	void *userdata;
	int index;                /* the slot em_ring_prep returned */
};

/* Waits until at least min completions are ready (or timeout_ms passed;
 * -1: no limit), then returns up to max of them. */
int em_ring_wait(struct em_ring *r, struct em_cqe *cqes, unsigned max, unsigned min,
		 int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
