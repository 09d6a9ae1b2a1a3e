#include <stdint.h>
#include <stdlib.h>

#include "net/core/crc32c.h"
#include "tap.h"

int main(void)
{
	uint8_t buf[64];

	/* The standard check value (Castagnoli, "123456789"). */
	is_int(em_crc32c(0, "123456789", 9), 0xE3069283u, "check value of \"123456789\"");
	is_int(em_crc32c(0, "", 0), 0, "empty input gives 0");

	/* RFC 3720 (iSCSI) appendix B.4 vectors. */
	memset(buf, 0, 32);
	is_int(em_crc32c(0, buf, 32), 0x8A9136AAu, "32 bytes of zeroes");
	memset(buf, 0xff, 32);
	is_int(em_crc32c(0, buf, 32), 0x62A8AB43u, "32 bytes of 0xff");
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	is_int(em_crc32c(0, buf, 32), 0x46DD794Eu, "32 incrementing bytes");
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	is_int(em_crc32c(0, buf, 32), 0x113FDB5Cu, "32 decrementing bytes");

	/* Chaining over any split equals one pass, including unaligned tails. */
	size_t n = 1 << 20;
	uint8_t *big = malloc(n);
	ok(big != NULL, "allocate 1 MiB");
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	uint32_t whole = em_crc32c(0, big, n);
	int chained_ok = 1;
	for (size_t split = 0; split < 200; split += 7) {
		uint32_t c = em_crc32c(em_crc32c(0, big, split), big + split, n - split);
		chained_ok &= c == whole;
	}
	ok(chained_ok, "chained CRC over many splits equals the one-pass CRC");
	big[n / 2] ^= 1;
	ok(em_crc32c(0, big, n) != whole, "a single flipped bit changes the CRC");
	free(big);
	return tap_done();
}
