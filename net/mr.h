/* Memory registration and remote buffer descriptors.
 *
 * A buffer that a peer may read or write one-sidedly is registered once
 * (em_mr_reg) and then described on the wire as {addr, len, rkey}. On RDMA the
 * region is registered with every device's protection domain and the rkey is
 * the NIC's; on TCP the same descriptor works because the transport keeps its
 * own table of regions and checks every access in software.
 *
 * Registration says what a peer could ever do; a grant (em_conn_grant in
 * net/conn.h) says what one peer may do right now, for one request. On TCP a
 * bulk operation outside the connection's grants is refused; the RPC layer
 * grants a call's descriptors when it is sent and revokes them when it ends.
 *
 * Registration is thread-safe; a region must not be deregistered while a
 * transfer uses it.
 */
#ifndef EMBER_NET_MR_H
#define EMBER_NET_MR_H

#include <stddef.h>
#include <stdint.h>

/* What the remote peer may do with a region (bit mask). */
enum {
	EM_ACCESS_REMOTE_READ = 1,
	EM_ACCESS_REMOTE_WRITE = 2,
};

/* A slice of a registered region, as sent to a peer (16 bytes on the wire,
 * see em_enc_desc). */
struct em_buf_desc {
	uint64_t addr;
	uint32_t len;
	uint32_t rkey;
};

struct em_mr;

/* Registers [addr, addr+len). Returns 0, -EINVAL, -ENOMEM, or the verbs
 * error when a present RDMA device refuses the registration. */
int em_mr_reg(void *addr, size_t len, unsigned access, struct em_mr **out);
void em_mr_dereg(struct em_mr *mr);

void *em_mr_addr(const struct em_mr *mr);
size_t em_mr_len(const struct em_mr *mr);
uint32_t em_mr_rkey(const struct em_mr *mr);
/* Local key on RDMA device dev (vdev.h index); 0 without RDMA. */
uint32_t em_mr_lkey(const struct em_mr *mr, int dev);

/* Describes [p, p+len) of mr. Returns 0, or -ERANGE when it is not inside the
 * region or len does not fit 32 bits. */
int em_mr_desc(const struct em_mr *mr, const void *p, size_t len, struct em_buf_desc *out);

/* True when [p, p+len) lies inside mr. */
int em_mr_contains(const struct em_mr *mr, const void *p, size_t len);

/* Checks a descriptor against the registered regions: 0 when a region with
 * this rkey covers it and allows access, else -EACCES. */
int em_mr_check(const struct em_buf_desc *d, unsigned access);

#endif
