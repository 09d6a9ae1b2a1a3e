#include <errno.h>
#include "net/transport.h"
int em_verbs_listen(struct em_net *net, const struct em_addr *a, struct em_listener **out) { return -EPROTONOSUPPORT; }
int em_verbs_connect(struct em_net *net, const struct em_addr *a, struct em_conn **out) { return -EPROTONOSUPPORT; }
int em_verbs_poll(struct em_net *net) { return 0; }
void em_verbs_destroy(struct em_net *net) { }
