/* The storage daemon's side of membership: register, then heartbeat on a
 * timer, and keep the routing cache current from the versions mgmtd
 * announces in its replies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/mgmt/client_int.h"
#include "net/core/log.h"

static void beat(void *arg);

static void arm(struct em_mgmt_client *c)
{
	struct em_mgmt_hb *hb = c->hb;
	if (em_reactor_timer(c->reactor, hb->o.interval_ms, beat, c, &hb->timer) < 0) {
		hb->timer = NULL;
		EM_ERR("mgmt", "cannot arm the heartbeat timer; node %u goes silent", hb->o.node);
	}
}

/* The version in a reply ahead of the cache means routing changed. */
static void note_version(struct em_mgmt_client *c, const void *p, size_t len)
{
	if (len >= 8 && em_get_le64(p) > c->routing.version)
		em_mgmt_refresh(c, NULL, NULL);
}

/* The loop whose call just ended; NULL (and freed) when it was stopped
 * meanwhile. */
static struct em_mgmt_hb *reply_hb(void *arg)
{
	struct em_mgmt_hb *hb = arg;
	hb->in_flight = false;
	if (hb->stopped) {
		free(hb);
		return NULL;
	}
	return hb;
}

static void hb_done(void *arg, int status, const void *p, size_t len)
{
	struct em_mgmt_hb *hb = reply_hb(arg);
	if (!hb)
		return;
	struct em_mgmt_client *c = hb->c;
	if (status == 0 && len >= 12) {
		/* mgmtd saw this node alive no earlier than the send; a reply that
		 * sat in a frozen process's socket must not count as fresh. */
		hb->acked_ms = hb->sent_ms;
		hb->lease_ms = em_get_le32((const uint8_t *)p + 8);
		note_version(c, p, len);
	} else if (status == -ENOENT) {
		/* A new primary without this node (it registered with an older
		 * one whose store write was lost): register again. */
		hb->registered = false;
	} else if (status < 0) {
		EM_WARN("mgmt", "node %u heartbeat: %s", hb->o.node, em_strerror(status));
	}
}

static void reg_done(void *arg, int status, const void *p, size_t len)
{
	struct em_mgmt_hb *hb = reply_hb(arg);
	if (!hb)
		return;
	struct em_mgmt_client *c = hb->c;
	if (status < 0) {
		EM_WARN("mgmt", "registering node %u: %s", hb->o.node, em_strerror(status));
		return;
	}
	hb->registered = true;
	note_version(c, p, len);
	/* Report states right away rather than one interval later. */
	if (hb->timer)
		em_reactor_timer_cancel(c->reactor, hb->timer);
	hb->timer = NULL;
	beat(c);
}

static int send_register(struct em_mgmt_client *c)
{
	struct em_mgmt_hb *hb = c->hb;
	struct em_mgmt_register m = { .node = hb->o.node, .n = hb->o.ntargets };
	memcpy(m.addr, hb->addr, sizeof(m.addr));
	memcpy(m.targets, hb->targets, hb->o.ntargets * sizeof(*m.targets));
	uint8_t buf[16 + EM_NODE_ADDR_MAX + 4 * EM_MGMT_MAX_TARGETS];
	struct em_enc e;
	em_enc_init(&e, buf, sizeof(buf));
	em_mgmt_enc_register(&e, &m);
	return em_mgmt_call(c, EM_MGMT_REGISTER, buf, e.len, reg_done, hb);
}

static int send_heartbeat(struct em_mgmt_client *c)
{
	struct em_mgmt_hb *hb = c->hb;
	struct em_mgmt_heartbeat m = { .node = hb->o.node };
	m.n = hb->o.report(hb->o.arg, m.reports, EM_MGMT_MAX_TARGETS);
	if (m.n > EM_MGMT_MAX_TARGETS)
		return -EINVAL;
	uint8_t buf[8 + 5 * EM_MGMT_MAX_TARGETS];
	struct em_enc e;
	em_enc_init(&e, buf, sizeof(buf));
	em_mgmt_enc_heartbeat(&e, &m);
	hb->sent_ms = em_now_ms();
	return em_mgmt_call(c, EM_MGMT_HEARTBEAT, buf, e.len, hb_done, hb);
}

static void beat(void *arg)
{
	struct em_mgmt_client *c = arg;
	struct em_mgmt_hb *hb = c->hb;
	hb->timer = NULL;
	/* One call at a time: a slow mgmtd gets no pile of stale reports. */
	if (!hb->in_flight) {
		int rc = hb->registered ? send_heartbeat(c) : send_register(c);
		hb->in_flight = rc == 0;
		if (rc < 0)
			EM_WARN("mgmt", "node %u: %s", hb->o.node, em_strerror(rc));
	}
	arm(c);
}

int em_mgmt_heartbeat_start(struct em_mgmt_client *c, const struct em_mgmt_hb_opts *o)
{
	if (c->hb)
		return -EBUSY;
	if (!o->node || !o->addr || strlen(o->addr) >= EM_NODE_ADDR_MAX || !o->report ||
	    o->ntargets > EM_MGMT_MAX_TARGETS)
		return -EINVAL;
	struct em_mgmt_hb *hb = calloc(1, sizeof(*hb));
	if (!hb)
		return -ENOMEM;
	hb->c = c;
	hb->o = *o;
	if (!hb->o.interval_ms)
		hb->o.interval_ms = 1000;
	snprintf(hb->addr, sizeof(hb->addr), "%s", o->addr);
	if (o->ntargets)
		memcpy(hb->targets, o->targets, o->ntargets * sizeof(*o->targets));
	hb->o.addr = hb->addr;
	hb->o.targets = hb->targets;
	c->hb = hb;
	beat(c);
	return 0;
}

void em_mgmt_heartbeat_stop(struct em_mgmt_client *c)
{
	struct em_mgmt_hb *hb = c->hb;
	if (!hb)
		return;
	if (hb->timer)
		em_reactor_timer_cancel(c->reactor, hb->timer);
	c->hb = NULL;
	/* A call still in flight frees the loop when it ends. */
	if (hb->in_flight)
		hb->stopped = true;
	else
		free(hb);
}

uint64_t em_mgmt_heartbeat_acked_ms(const struct em_mgmt_client *c)
{
	return c->hb ? c->hb->acked_ms : 0;
}

uint64_t em_mgmt_heartbeat_lease_ms(const struct em_mgmt_client *c)
{
	return c->hb ? c->hb->lease_ms : 0;
}
