/* ember-target's body: configuration, reactors, engines, listeners and an
 * orderly shutdown, so that the program's main stays a few lines and tests
 * can drive the same code.
 *
 * Configuration (INI, see docs/target.md and docs/nvmf.md):
 *   [server]   listen = tcp://IP:PORT, rdma://IP:PORT (comma-separated)
 *              secret_file = PATH, reactors = N, queue_depth = N
 *   [target.NAME]  path = PATH, id = N, backend = auto|nvme|uring|aio
 *   [net]      the transport options of net/conn.h
 *   [nvmf], [subsystem.NAME]  the NVMe-oF target (block/nvmf/config.h);
 *              namespace = target:NAME is a chunk volume on [target.NAME]
 *   [metrics]  the Prometheus endpoint (net/metrics_http.h)
 * Either service may be left out: no [server] listen, no chunk service; no
 * [nvmf] listen, no NVMe-oF target.
 *
 * Reactor 0 runs the network and RPC; the NVMe-oF target runs on the last
 * reactor together with the engines its chunk volumes use; other targets
 * are spread round-robin over all reactors (with one reactor, everything
 * shares it).
 */
#ifndef EMBER_BLOCK_SERVICE_DAEMON_H
#define EMBER_BLOCK_SERVICE_DAEMON_H

#include <stddef.h>

#include "net/core/config.h"

struct em_td;

/* Every option of the file, for --help-config. */
const struct em_cfg_option *em_td_config_schema(void);

/* Loads the config, reads the secret, opens (recovers) every target,
 * listens and starts the reactor threads. On failure logs why (naming the
 * file, target and remedy) and returns a negative errno. */
int em_td_start(const char *config_path, struct em_td **out);
/* Any thread, idempotent: disconnect the NVMe-oF hosts and wait for their
 * I/O, stop accepting, answer every chunk request in flight, close the
 * engines (checkpointing them), stop the reactors. */
void em_td_stop(struct em_td *d);
/* Waits for the stop to finish and frees everything. */
void em_td_wait(struct em_td *d);

#endif
