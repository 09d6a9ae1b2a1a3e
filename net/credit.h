/* Credit-based flow control for message sends over RDMA.
 *
 * Each side posts `depth` receive buffers and the peer starts with that many
 * credits: one SEND costs one credit, so a receiver never runs out of buffers
 * and the NIC never has to wait for one (no RNR retries). The receiver hands
 * credits back as it re-posts buffers, piggybacked on its own SENDs (in the
 * immediate data) or, when it has nothing to say, in an empty credit update.
 *
 * One credit is held in reserve for those updates: data may not take the last
 * credit, so two peers that both ran dry can always tell each other they have
 * room again, and a credit update never needs a credit it does not have.
 */
#ifndef EMBER_NET_CREDIT_H
#define EMBER_NET_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

struct em_credits {
	uint32_t avail;     /* sends we may still post */
	uint32_t to_return; /* buffers we re-posted that the peer does not know about */
	uint32_t depth;     /* the peer's receive depth */
};

static inline void em_credits_init(struct em_credits *c, uint32_t peer_depth)
{
	c->avail = peer_depth;
	c->to_return = 0;
	c->depth = peer_depth;
}

/* A data message may be sent: at least one credit beyond the reserve. */
static inline bool em_credits_can_send(const struct em_credits *c)
{
	return c->avail >= 2;
}

/* Takes the credit for a send and returns the credits to piggyback on it. */
static inline uint32_t em_credits_take(struct em_credits *c)
{
	uint32_t back = c->to_return;
	c->avail--;
	c->to_return = 0;
	return back;
}

/* The peer returned n credits. Returns false when that would exceed what we
 * were ever given: a protocol violation. */
static inline bool em_credits_returned(struct em_credits *c, uint32_t n)
{
	if (n > c->depth - c->avail)
		return false;
	c->avail += n;
	return true;
}

/* We consumed and re-posted one receive buffer. */
static inline void em_credits_reposted(struct em_credits *c)
{
	c->to_return++;
}

/* An explicit update is due: half our buffers are owed back, and the reserve
 * credit is there to carry it. */
static inline bool em_credits_update_due(const struct em_credits *c, uint32_t own_depth)
{
	return c->to_return >= (own_depth + 1) / 2 && c->avail >= 1;
}

#endif
