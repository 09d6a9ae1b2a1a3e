/* ember-storage's body: configuration, the reactor, the chunk engines,
 * the chunk service (inspection, resync listing) and the chain service,
 * registration and heartbeats with mgmtd, and an orderly stop.
 *
 * Configuration (INI, docs/chain.md):
 *   [storage]  node = N, listen = tcp://IP:PORT[,...], advertise = URL,
 *              mgmtd = URL[,URL...], secret_file = PATH,
 *              heartbeat_interval, forward_timeout, queue_depth
 *   [target.NAME]  path = PATH, id = N, backend = auto|nvme|uring|aio
 *   [net]      the transport options of net/conn.h
 *   [metrics]  the Prometheus endpoint of net/metrics_http.h
 *
 * One reactor runs everything (network, engines, chains); see
 * docs/chain.md for what more reactors would take.
 */
#ifndef EMBER_FS_CHAIN_DAEMON_H
#define EMBER_FS_CHAIN_DAEMON_H

#include "net/core/config.h"

/* Loads config, opens every target, listens, waits until mgmtd no longer
 * shows any of our targets serving or syncing (a restarted daemon must not
 * rejoin without a resync, as in 3FS), starts heartbeats, prints
 * "ember-storage: ready URL" on stdout, then serves until SIGTERM or
 * SIGINT. Returns 0 after an orderly stop, or a negative errno (logged). */
int em_storage_run(const char *config_path);

/* Every option ember-storage reads, for --help-config and docs. */
const struct em_cfg_option *em_storage_schema(void);

#endif
