#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int em_addr_parse(const char *url, struct em_addr *out)
{
	memset(out, 0, sizeof(*out));
	const char *rest;
	if (strncmp(url, "tcp://", 6) == 0) {
		out->kind = EM_TRANSPORT_TCP;
		rest = url + 6;
	} else if (strncmp(url, "rdma://", 7) == 0) {
		out->kind = EM_TRANSPORT_RDMA;
		rest = url + 7;
	} else {
		return -EINVAL;
	}

	char host[INET6_ADDRSTRLEN];
	const char *colon;
	bool v6 = rest[0] == '[';
	if (v6) {
		const char *close = strchr(rest, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
		rest++;
	} else {
		colon = strrchr(rest, ':');
		if (!colon)
			return -EINVAL;
	}
	size_t hlen = (size_t)((v6 ? colon - 1 : colon) - rest);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, rest, hlen);
	host[hlen] = '\0';

	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || port < 0 || port > 65535)
		return -EINVAL;

	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*s4);
	}
	return 0;
}

char *em_addr_format(const struct em_addr *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const char *scheme = a->kind == EM_TRANSPORT_RDMA ? "rdma" : "tcp";
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "%s://[%s]:%d", scheme, host, em_addr_port(a));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s://%s:%d", scheme, host, em_addr_port(a));
	}
	return out;
}

int em_addr_port(const struct em_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}
