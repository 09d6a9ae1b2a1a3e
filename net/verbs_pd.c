#include "net/verbs_pd.h"

#include <errno.h>
#include <string.h>

int em_vpd_parse(const void *p, size_t len, bool request, uint32_t msg_buf, struct em_vpd *out)
{
	if (!p || len < sizeof(*out))
		return -EPROTO;
	memcpy(out, p, sizeof(*out));
	if (out->magic != EM_VPD_MAGIC || out->version != EM_VPD_VERSION || out->recv_depth < 2)
		return -EPROTO;
	if (request && (out->npaths < 1 || out->npaths > EM_VPD_MAX_PATHS ||
			out->path >= out->npaths || out->msg_buf != msg_buf))
		return -EPROTO;
	return 0;
}
