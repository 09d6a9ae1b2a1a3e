/* The private stack of a blocking client (client_stack.h). */
#include "net/client_stack.h"

int em_client_stack_create(const char *name, const struct em_net_config *cfg,
			   const struct em_rpc_opts *ro, struct em_reactor **r,
			   struct em_net **net, struct em_rpc **rpc)
{
	int rc = em_reactor_create(name, r);
	if (rc == 0)
		rc = em_net_create(*r, cfg, net);
	if (rc == 0)
		rc = em_rpc_create(*net, ro, rpc);
	return rc;
}

void em_client_stack_release(struct em_reactor *r, struct em_net *net)
{
	/* Let the closed connections finish on their reactor before freeing it. */
	for (int i = 0; r && i < 4; i++)
		em_reactor_run_once(r, 0);
	if (net)
		em_net_destroy(net);
	if (r)
		em_reactor_destroy(r);
}
