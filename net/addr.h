/* Endpoint addresses: "tcp://IP:PORT" and "rdma://IP:PORT", IPv4 or
 * bracketed IPv6 ("tcp://[::1]:9000"). Numeric only: name resolution blocks,
 * and a reactor must never block. */
#ifndef EMBER_NET_ADDR_H
#define EMBER_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

enum em_transport_kind {
	EM_TRANSPORT_TCP = 1,
	EM_TRANSPORT_RDMA = 2,
};

struct em_addr {
	enum em_transport_kind kind;
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Returns 0 or -EINVAL for anything malformed (scheme, address, port). */
int em_addr_parse(const char *url, struct em_addr *out);
/* "tcp://1.2.3.4:5"; truncates to cap. Returns out. */
char *em_addr_format(const struct em_addr *a, char *out, size_t cap);
/* Port in host order (the bound one, for a listener given port 0). */
int em_addr_port(const struct em_addr *a);

#endif
