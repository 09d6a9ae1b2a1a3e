#include "net/mr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>

#include "ember/errors.h"
#include "net/core/log.h"
#include "net/vdev.h"

struct em_mr {
	uint8_t *addr;
	size_t len;
	unsigned access;
	uint32_t rkey;
	struct ibv_mr *vmr[EM_VDEV_MAX];
	struct em_mr *next;
};

/* The process-wide region table, read on every TCP grant. Registration is
 * rare, so a list under a reader-writer lock is enough. */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct em_mr *regions;

static uint32_t fresh_key(void)
{
	uint32_t k = 0;
	/* Unpredictable keys, so a peer cannot guess its way into a region. */
	while (k == 0)
		if (getrandom(&k, sizeof(k), 0) != sizeof(k))
			k = (uint32_t)random();
	return k;
}

int em_mr_reg(void *addr, size_t len, unsigned access, struct em_mr **out)
{
	if (!addr || len == 0)
		return -EINVAL;
	struct em_mr *mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	mr->addr = addr;
	mr->len = len;
	mr->access = access;

	int flags = IBV_ACCESS_LOCAL_WRITE;
	if (access & EM_ACCESS_REMOTE_READ)
		flags |= IBV_ACCESS_REMOTE_READ;
	if (access & EM_ACCESS_REMOTE_WRITE)
		flags |= IBV_ACCESS_REMOTE_WRITE;
	for (int i = 0; i < em_vdev_count(); i++) {
		mr->vmr[i] = ibv_reg_mr(em_vdev_get(i)->pd, addr, len, flags);
		if (!mr->vmr[i]) {
			int e = errno ? -errno : -ENOMEM;
			EM_ERR("mr", "ibv_reg_mr(%zu bytes): %s", len, em_strerror(e));
			em_mr_dereg(mr);
			return e;
		}
	}
	/* With RDMA the NIC's rkey is the key, so one descriptor serves both
	 * transports. */
	mr->rkey = mr->vmr[0] ? mr->vmr[0]->rkey : fresh_key();

	pthread_rwlock_wrlock(&lock);
	mr->next = regions;
	regions = mr;
	pthread_rwlock_unlock(&lock);
	*out = mr;
	return 0;
}

void em_mr_dereg(struct em_mr *mr)
{
	if (!mr)
		return;
	pthread_rwlock_wrlock(&lock);
	for (struct em_mr **pp = &regions; *pp; pp = &(*pp)->next) {
		if (*pp == mr) {
			*pp = mr->next;
			break;
		}
	}
	pthread_rwlock_unlock(&lock);
	for (int i = 0; i < EM_VDEV_MAX; i++)
		if (mr->vmr[i])
			ibv_dereg_mr(mr->vmr[i]);
	free(mr);
}

void *em_mr_addr(const struct em_mr *mr)
{
	return mr->addr;
}

size_t em_mr_len(const struct em_mr *mr)
{
	return mr->len;
}

uint32_t em_mr_rkey(const struct em_mr *mr)
{
	return mr->rkey;
}

uint32_t em_mr_lkey(const struct em_mr *mr, int dev)
{
	return dev >= 0 && dev < EM_VDEV_MAX && mr->vmr[dev] ? mr->vmr[dev]->lkey : 0;
}

static int covers(uintptr_t base, size_t blen, uintptr_t p, size_t len)
{
	return p >= base && p - base <= blen && len <= blen - (p - base);
}

int em_mr_contains(const struct em_mr *mr, const void *p, size_t len)
{
	return covers((uintptr_t)mr->addr, mr->len, (uintptr_t)p, len);
}

int em_mr_desc(const struct em_mr *mr, const void *p, size_t len, struct em_buf_desc *out)
{
	if (len > UINT32_MAX || !em_mr_contains(mr, p, len))
		return -ERANGE;
	out->addr = (uint64_t)(uintptr_t)p;
	out->len = (uint32_t)len;
	out->rkey = mr->rkey;
	return 0;
}

int em_mr_check(const struct em_buf_desc *d, unsigned access)
{
	int rc = -EACCES;
	pthread_rwlock_rdlock(&lock);
	for (struct em_mr *mr = regions; mr; mr = mr->next) {
		if (mr->rkey == d->rkey && (mr->access & access) == access &&
		    covers((uintptr_t)mr->addr, mr->len, (uintptr_t)d->addr, d->len)) {
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&lock);
	return rc;
}
