#include "net/vdev.h"

#include <pthread.h>
#include <rdma/rdma_cma.h>

#include "net/core/log.h"

static struct em_vdev devs[EM_VDEV_MAX];
static int n_devs;
static struct ibv_context **keep;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_all(void)
{
	int n = 0;
	struct ibv_context **list = rdma_get_devices(&n);
	if (!list)
		return;
	for (int i = 0; i < n && n_devs < EM_VDEV_MAX; i++) {
		struct em_vdev *d = &devs[n_devs];
		if (ibv_query_device(list[i], &d->attr)) {
			EM_WARN("verbs", "%s: query_device failed, skipped",
				ibv_get_device_name(list[i]->device));
			continue;
		}
		d->pd = ibv_alloc_pd(list[i]);
		if (!d->pd) {
			EM_WARN("verbs", "%s: alloc_pd failed, skipped",
				ibv_get_device_name(list[i]->device));
			continue;
		}
		d->ctx = list[i];
		d->index = n_devs++;
		EM_DEBUG("verbs", "device %d: %s", d->index, ibv_get_device_name(d->ctx->device));
	}
	/* The list is kept, not passed to rdma_free_devices: holding it keeps
	 * librdmacm's device references, and the PDs need the contexts for the
	 * lifetime of the process. */
	keep = list;
}

int em_vdev_count(void)
{
	pthread_once(&once, open_all);
	return n_devs;
}

struct em_vdev *em_vdev_get(int index)
{
	return index >= 0 && index < em_vdev_count() ? &devs[index] : NULL;
}

struct em_vdev *em_vdev_by_ctx(const struct ibv_context *ctx)
{
	for (int i = 0; i < em_vdev_count(); i++)
		if (devs[i].ctx == ctx)
			return &devs[i];
	return NULL;
}
