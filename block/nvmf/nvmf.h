/* NVMe over Fabrics target: the public API.
 *
 * A target holds a discovery controller and any number of NVM subsystems,
 * each with namespaces backed by block devices (block/dev/bdev.h) or chunk
 * volumes (block/nvmf/volume.h), and a host NQN allow-list. Transports (today: RDMA, block/nvmf/rdma.h) accept queues
 * and hand received command capsules to the command layer; everything runs on
 * the one reactor the target was created on.
 *
 * Configuration from an INI file: block/nvmf/config.h.
 */
#ifndef EMBER_BLOCK_NVMF_NVMF_H
#define EMBER_BLOCK_NVMF_NVMF_H

#include <stdbool.h>
#include <stdint.h>

#include "block/dev/bdev.h"

struct em_reactor;
struct em_bdev;
struct em_engine;
struct em_volume;
struct em_nvmf_tgt;
struct em_nvmf_subsys;

#define EM_NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

struct em_nvmf_tgt_opts {
	const char *traddr;         /* listen address, reported in the discovery log */
	uint16_t port;              /* 0: 4420 */
	uint32_t max_io_size;       /* bytes per command; 0: 128 KiB */
	uint32_t inline_data_size;  /* in-capsule data bytes on I/O queues; 0: 4096 */
	uint16_t max_queue_depth;   /* I/O queue entries; 0: 128 */
	uint16_t max_io_queues;     /* per controller; 0: 16 */
};

int em_nvmf_tgt_create(struct em_reactor *r, const struct em_nvmf_tgt_opts *opts,
		       struct em_nvmf_tgt **out);
/* Frees subsystems and namespaces (closing their devices). Transports must
 * be shut down first. */
void em_nvmf_tgt_destroy(struct em_nvmf_tgt *t);

struct em_nvmf_subsys_opts {
	const char *nqn;
	const char *serial;   /* up to 20 ASCII characters */
	const char *model;    /* up to 40 ASCII characters */
	bool allow_any_host;
};

int em_nvmf_subsys_add(struct em_nvmf_tgt *t, const struct em_nvmf_subsys_opts *opts,
		       struct em_nvmf_subsys **out);
int em_nvmf_subsys_allow_host(struct em_nvmf_subsys *s, const char *hostnqn);
/* Namespace IDs are given in order from 1. The subsystem takes ownership of
 * the device (closed with the target); it must be attached to the target's
 * reactor already. */
int em_nvmf_ns_add_bdev(struct em_nvmf_subsys *s, struct em_bdev *bdev, uint32_t *nsid);
/* The same for a chunk volume (block/nvmf/volume.h) on the target's reactor:
 * deallocated blocks read as zeroes. */
int em_nvmf_ns_add_volume(struct em_nvmf_subsys *s, struct em_volume *v, uint32_t *nsid);

/* The chunk engine at path, opened on the target's reactor the first time
 * and shared afterwards (also with an engine lent for the same file, see
 * em_nvmf_tgt_from_config_lent()); closed by em_nvmf_tgt_destroy() after
 * every namespace, unless lent. */
int em_nvmf_tgt_engine(struct em_nvmf_tgt *t, const char *path, enum em_bdev_kind kind,
		       struct em_engine **out);

#endif
