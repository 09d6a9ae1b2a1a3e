/* The discovery controller: Identify Controller and the discovery log page
 * (one entry per NVM subsystem the connected host may use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvme/types.h>

#include "block/nvmf/internal.h"

#define LID_DISCOVERY 0x70
#define DISC_ENTRY_SIZE sizeof(struct nvmf_disc_log_entry)

static void fill_entry(struct nvmf_disc_log_entry *e, const struct em_nvmf_tgt *t,
		       const struct em_nvmf_subsys *s)
{
	e->trtype = NVMF_TRTYPE_RDMA;
	e->adrfam = NVMF_ADDR_FAMILY_IP4;
	e->subtype = NVME_NQN_NVME;
	e->treq = NVMF_TREQ_NOT_SPECIFIED;
	e->portid = htole16(1);
	e->cntlid = htole16(0xffff); /* dynamic controller model */
	e->asqsz = htole16(EM_NVMF_ADMIN_QUEUE_DEPTH);
	em_nvmf_copy_padded(e->trsvcid, sizeof e->trsvcid, t->trsvcid);
	em_nvmf_copy_padded(e->traddr, sizeof e->traddr, t->traddr);
	/* NQNs are NUL-terminated, not space-padded. */
	strcpy(e->subnqn, s->nqn);
	e->tsas.rdma.qptype = NVMF_RDMA_QPTYPE_CONNECTED;
	e->tsas.rdma.prtype = NVMF_RDMA_PRTYPE_NOT_SPECIFIED;
	e->tsas.rdma.cms = NVMF_RDMA_CMS_RDMA_CM;
}

/* The log is built whole for each request: the host reads it in pieces
 * (header first, then ranges by offset) and compares the generation counter
 * to detect changes in between. */
static uint16_t discovery_log(struct em_nvmf_req *req)
{
	struct em_nvmf_ctrl *c = req->q->ctrl;
	struct em_nvmf_tgt *t = c->subsys->tgt;
	struct nvmf_discovery_log *log;
	uint64_t n = 0;
	size_t len;
	uint16_t status;

	for (struct em_nvmf_subsys *s = t->subsystems; s; s = s->next)
		if (em_nvmf_host_allowed(s, c->hostnqn))
			n++;
	len = sizeof *log + n * DISC_ENTRY_SIZE;
	log = calloc(1, len);
	if (!log)
		return EM_SC_INTERNAL;
	n = 0;
	for (struct em_nvmf_subsys *s = t->subsystems; s; s = s->next)
		if (em_nvmf_host_allowed(s, c->hostnqn))
			fill_entry(&log->entries[n++], t, s);
	log->genctr = htole64(t->genctr);
	log->numrec = htole64(n);
	log->recfmt = 0;
	status = em_nvmf_copy_log(req, log, len);
	free(log);
	return status;
}

/* A discovery controller identifies only itself (CNS 01h). */
static uint16_t discovery_identify(struct em_nvmf_req *req)
{
	if ((le32toh(req->cmd.cdw10) & 0xff) != 0x01)
		return EM_SC_INVALID_FIELD | EM_NVME_DNR;
	return em_nvmf_identify_ctrl(req);
}

/* ...and has one log page, the discovery log. */
static uint16_t discovery_get_log_page(struct em_nvmf_req *req)
{
	if ((le32toh(req->cmd.cdw10) & 0xff) != LID_DISCOVERY)
		return EM_SC_INVALID_LOG_PAGE | EM_NVME_DNR;
	return discovery_log(req);
}

void em_nvmf_discovery_execute(struct em_nvmf_req *req)
{
	em_nvmf_admin_dispatch(req, discovery_identify, discovery_get_log_page);
}
