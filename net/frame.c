#include "net/frame.h"

#include <errno.h>
#include <string.h>

#include "ember/errors.h"
#include "net/core/crc32c.h"
#include "net/serde.h"

static void put_hdr(const struct em_frame_hdr *h, uint8_t *p)
{
	memset(p, 0, EM_FRAME_HDR);
	em_put_le32(p, EM_FRAME_MAGIC);
	p[4] = EM_FRAME_VERSION;
	p[5] = h->flags;
	em_put_le16(p + 6, h->service);
	em_put_le16(p + 8, h->method);
	em_put_le32(p + 12, h->timeout_ms);
	em_put_le64(p + 16, h->id);
	em_put_le32(p + 24, (uint32_t)h->status);
	em_put_le32(p + 28, h->len);
}

void em_frame_encode(const struct em_frame_hdr *h, const void *payload, uint8_t out[EM_FRAME_HDR])
{
	put_hdr(h, out);
	uint32_t crc = em_crc32c(0, out, EM_FRAME_HDR);
	crc = em_crc32c(crc, payload, h->len);
	em_put_le32(out + 32, crc);
}

int em_frame_decode(const void *msg, size_t len, struct em_frame_hdr *out, const void **payload)
{
	const uint8_t *p = msg;
	if (len < EM_FRAME_HDR || em_get_le32(p) != EM_FRAME_MAGIC)
		return -EBADMSG;
	if (p[4] != EM_FRAME_VERSION)
		return -EM_EPROTO_VERSION;
	out->flags = p[5];
	out->service = em_get_le16(p + 6);
	out->method = em_get_le16(p + 8);
	out->timeout_ms = em_get_le32(p + 12);
	out->id = em_get_le64(p + 16);
	out->status = (int32_t)em_get_le32(p + 24);
	out->len = em_get_le32(p + 28);
	if ((out->flags & ~EM_FRAME_RESPONSE) || em_get_le16(p + 10) || em_get_le32(p + 36) ||
	    out->len != len - EM_FRAME_HDR)
		return -EBADMSG;

	uint8_t hdr[EM_FRAME_HDR];
	memcpy(hdr, p, EM_FRAME_HDR);
	memset(hdr + 32, 0, 4);
	uint32_t crc = em_crc32c(0, hdr, EM_FRAME_HDR);
	crc = em_crc32c(crc, p + EM_FRAME_HDR, out->len);
	if (crc != em_get_le32(p + 32))
		return -EM_ECHECKSUM;
	*payload = p + EM_FRAME_HDR;
	return 0;
}
