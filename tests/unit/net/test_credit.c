/* Credit accounting: never a send without a buffer behind it, and never a
 * deadlock when both sides run dry. */
#include "net/credit.h"
#include "tap.h"

int main(void)
{
	struct em_credits a, b; /* a sends to b and back; both post 4 buffers */
	em_credits_init(&a, 4);
	em_credits_init(&b, 4);
	int sent = 0;
	while (em_credits_can_send(&a)) {
		em_credits_take(&a);
		sent++;
	}
	is_int(sent, 3, "data uses all credits but the reserve");
	is_int(a.avail, 1, "one credit in reserve");

	/* b consumed and re-posted three buffers; an update is due. */
	for (int i = 0; i < 3; i++)
		em_credits_reposted(&b);
	ok(em_credits_update_due(&b, 4), "update due at half the depth");
	uint32_t back = em_credits_take(&b);
	is_int(back, 3, "update carries three credits");
	ok(!em_credits_update_due(&b, 4), "nothing owed after the update");
	ok(em_credits_returned(&a, back), "a accepts the returned credits");
	is_int(a.avail, 4, "a is whole again");
	/* b's update itself consumed one of a's buffers: a owes one back. */
	em_credits_reposted(&a);
	ok(!em_credits_update_due(&a, 4), "one owed credit does not trigger an update");
	is_int(em_credits_take(&a), 1, "it rides on the next data send");

	ok(!em_credits_returned(&a, 5), "returning more than ever given is refused");
	is_int(a.avail, 3, "refused return changes nothing");

	/* Both dry: the reserve carries the update. */
	struct em_credits c;
	em_credits_init(&c, 2);
	em_credits_take(&c);
	ok(!em_credits_can_send(&c), "no data on the reserve");
	em_credits_reposted(&c);
	ok(em_credits_update_due(&c, 2), "but an update may use it");
	return tap_done();
}
