#include "net/core/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t em_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L works on the raw register: no pre/post inversion, int lengths. */
	uint32_t reg = ~crc;
	const unsigned char *p = buf;

	while (len > 0) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;
		reg = crc32_iscsi((unsigned char *)p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}
