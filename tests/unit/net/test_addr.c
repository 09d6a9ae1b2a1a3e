#include <errno.h>

#include "net/addr.h"
#include "tap.h"

int main(void)
{
	struct em_addr a;
	char s[80];
	is_int(em_addr_parse("tcp://127.0.0.1:9000", &a), 0, "tcp v4");
	ok(a.kind == EM_TRANSPORT_TCP && em_addr_port(&a) == 9000, "kind and port");
	is_str(em_addr_format(&a, s, sizeof(s)), "tcp://127.0.0.1:9000", "formats back");
	is_int(em_addr_parse("rdma://192.0.2.1:0", &a), 0, "rdma, port 0");
	ok(a.kind == EM_TRANSPORT_RDMA, "rdma kind");
	is_int(em_addr_parse("tcp://[::1]:80", &a), 0, "v6");
	is_str(em_addr_format(&a, s, sizeof(s)), "tcp://[::1]:80", "v6 formats back");
	const char *bad[] = { "", "tcp://", "udp://1.2.3.4:5", "tcp://1.2.3.4", "tcp://1.2.3.4:",
			      "tcp://1.2.3.4:65536", "tcp://1.2.3.4:-1", "tcp://1.2.3.4:9x",
			      "tcp://host.example:80", "tcp://[::1:80", "tcp://[::1]80",
			      "tcp://:80", "rdma://1.2.3.4.5:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(em_addr_parse(bad[i], &a), -EINVAL, bad[i]);
	return tap_done();
}
