/* libFuzzer: every decoder of chunk-target bytes read from a device. The
 * first input byte picks the decoder; all must reject garbage cleanly. */
#include <stdint.h>
#include <string.h>

#include "block/chunk/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0];
	data++;
	size--;
	switch (which % 4) {
	case 0: {
		struct em_superblock sb;
		em_sb_decode(data, size, &sb);
		break;
	}
	case 1: {
		struct em_log_rec r;
		em_rec_decode(data, size, &r);
		break;
	}
	case 2: {
		/* Log pages are always read whole: pad short inputs. */
		static uint8_t page[EM_PAGE];
		memset(page, 0, sizeof(page));
		memcpy(page, data, size < EM_PAGE ? size : EM_PAGE);
		struct em_log_page_hdr h;
		if (em_log_page_check(page, EM_PAGE, 1, 0, &h) == 0) {
			for (unsigned i = 0; i < h.nrec; i++) {
				struct em_log_rec r;
				em_rec_decode(page + EM_LOG_HDR + i * EM_REC_SIZE, EM_REC_SIZE, &r);
			}
		}
		break;
	}
	default: {
		struct em_ckpt_hdr h;
		if (size >= EM_CKPT_HDR)
			(void)em_ckpt_peek_count(data);
		if (em_ckpt_check(data, size, 0, &h) == 0) {
			for (uint64_t i = 0; i < h.count; i++) {
				struct em_log_rec r;
				em_rec_decode(data + EM_CKPT_HDR + i * EM_REC_SIZE, EM_REC_SIZE, &r);
			}
		}
		break;
	}
	}
	return 0;
}
