/* The RDMA devices of this process, opened once and shared by every reactor.
 *
 * Each device gets one protection domain, so a buffer registered once is
 * usable by the queue pairs of every reactor. The contexts are librdmacm's
 * (rdma_get_devices), which are the ones rdma_cm_id->verbs points at. A host
 * without RDMA devices simply has none: TCP keeps working.
 */
#ifndef EMBER_NET_VDEV_H
#define EMBER_NET_VDEV_H

#include <infiniband/verbs.h>

#define EM_VDEV_MAX 4

struct em_vdev {
	int index;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_device_attr attr;
};

/* Opens the devices on first use. Returns how many there are (0..EM_VDEV_MAX). */
int em_vdev_count(void);
struct em_vdev *em_vdev_get(int index);
/* The device behind an rdma_cm id's verbs context, or NULL. */
struct em_vdev *em_vdev_by_ctx(const struct ibv_context *ctx);

#endif
