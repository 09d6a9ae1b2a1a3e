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
 *   namespace = target:NAME     a chunk volume on ember-target's [target.NAME]
 *
 * Programs that host more than the target concatenate em_nvmf_config_schema
 * with their own options. */
#ifndef EMBER_BLOCK_NVMF_CONFIG_H
#define EMBER_BLOCK_NVMF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "net/core/config.h"

struct em_engine;
struct em_reactor;
struct em_nvmf_tgt;

/* Ends with EM_CFG_END. */
extern const struct em_cfg_option em_nvmf_config_schema[];

/* Creates the target with every configured subsystem; namespaces' devices
 * are opened and attached to r. On failure err holds one line naming the
 * section and the problem. */
int em_nvmf_tgt_from_config(const struct em_config *cfg, struct em_reactor *r,
			    struct em_nvmf_tgt **out, char *err, size_t errlen);

/* A chunk engine the hosting program opened itself (ember-target's
 * [target.NAME]) and lends the target, so one device is never opened twice:
 * `namespace = target:NAME` is a chunk volume on it, a `chunk:PATH` on the
 * same file uses it too, and a device namespace on that file is refused.
 * An engine a namespace uses must be open on the target's reactor (the
 * share-nothing rule: the volumes call it from there; see
 * em_nvmf_config_uses_engine()); the program closes it after
 * em_nvmf_tgt_destroy(). */
struct em_nvmf_lent_engine {
	const char *name;
	const char *path;
	struct em_engine *engine;
};

/* em_nvmf_tgt_from_config() with engines lent by the hosting program. */
int em_nvmf_tgt_from_config_lent(const struct em_config *cfg, struct em_reactor *r,
				 const struct em_nvmf_lent_engine *lent, size_t n_lent,
				 struct em_nvmf_tgt **out, char *err, size_t errlen);

/* The file asks for a target: [nvmf] listen set or a [subsystem.NAME]. */
bool em_nvmf_config_enabled(const struct em_config *cfg);
/* Some namespace of the file is a chunk volume on the engine named name at
 * path (target:NAME, or chunk: on the same file): the hosting program opens
 * that engine on the reactor it will run the target on. */
bool em_nvmf_config_uses_engine(const struct em_config *cfg, const char *name, const char *path);

#endif
