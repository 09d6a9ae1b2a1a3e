/* flood HOST PORT N: connects to an Ember TCP listener and, without any
 * handshake, sends N READ_REQ frames for memory it was never granted (the
 * frame layout of docs/protocol.md), reading whatever comes back meanwhile.
 * The daemon closes such a connection at its first bulk frame; the flood
 * then connects again and goes on, so all N reach it. Prints how many it
 * sent, on how many connections, and how many bytes came back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: flood HOST PORT N\n");
		return 2;
	}
	long n = atol(argv[3]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "flood: bad address %s\n", argv[1]);
		return 2;
	}
	int fd = -1;
	long conns = 0;
	/* 256 frames per write: type 2 READ_REQ, version 1, 4 KiB at 0x1000, rkey 0. */
	static uint8_t batch[256 * 32], in[1 << 16];
	for (int i = 0; i < 256; i++) {
		uint8_t *f = batch + 32 * i;
		f[0] = 2;
		f[1] = 1;
		put32(f + 4, 4096);
		put64(f + 8, (uint64_t)i + 1);
		put64(f + 16, 0x1000);
	}
	long sent = 0;
	size_t off = 0;
	unsigned long long back = 0;
	while (sent < n) {
		if (fd < 0) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
				perror("flood: connect");
				return 1;
			}
			conns++;
			off = 0;
		}
		struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
		bool gone = poll(&p, 1, 5000) <= 0;
		if (!gone && (p.revents & POLLIN)) {
			ssize_t r = read(fd, in, sizeof(in));
			if (r <= 0)
				gone = true; /* closed on us */
			else
				back += (unsigned long long)r;
		}
		if (!gone && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, batch + off, sizeof(batch) - off, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN) {
				gone = true;
			} else if (w > 0) {
				off += (size_t)w;
				sent += (long)(off / 32) - (long)((off - (size_t)w) / 32);
				if (off == sizeof(batch))
					off = 0;
			}
		}
		if (gone || (p.revents & (POLLERR | POLLHUP))) {
			close(fd);
			fd = -1;
		}
	}
	printf("sent %ld frames on %ld connections, %llu bytes came back\n", sent, conns, back);
	if (fd >= 0)
		close(fd);
	return 0;
}
