/* NVMe-oF target configuration: the INI schema and the builder that turns a
 * loaded file into a running target's subsystems and namespaces.
 *
 *   [nvmf]
 *   listen = 192.0.2.1          address to listen on (also in the discovery log)
 *   port = 4420
 *   [subsystem.NAME]
 *   nqn = nqn.2024-01.io.ember:NAME
 *   serial = ...                model = ...
 *   allowed_hosts = NQN[,NQN...]   or  allow_any_host = true
 *   namespace = /dev/ng0n1[,PATH...]  (NSIDs 1, 2, ... in order)
 *   namespace = chunk:ENGINE_PATH  a chunk volume: volume_size = ..., chunk_size = 1M
 *
 * Programs that host more than the target concatenate em_nvmf_config_schema
 * with their own options. */
#ifndef EMBER_BLOCK_NVMF_CONFIG_H
#define EMBER_BLOCK_NVMF_CONFIG_H

#include <stddef.h>

#include "net/core/config.h"

struct em_reactor;
struct em_nvmf_tgt;

/* Ends with EM_CFG_END. */
extern const struct em_cfg_option em_nvmf_config_schema[];

/* Creates the target with every configured subsystem; namespaces' devices
 * are opened and attached to r. On failure err holds one line naming the
 * section and the problem. */
int em_nvmf_tgt_from_config(const struct em_config *cfg, struct em_reactor *r,
			    struct em_nvmf_tgt **out, char *err, size_t errlen);

#endif
