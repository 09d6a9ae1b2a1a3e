/* ember-target's body: configuration, reactors, engines, listeners and an
 * orderly shutdown, so that the program's main stays a few lines and tests
 * can drive the same code.
 *
 * Configuration (INI, see docs/target.md):
 *   [server]   listen = tcp://IP:PORT, rdma://IP:PORT (comma-separated)
 *              secret_file = PATH, reactors = N, queue_depth = N
 *   [target.NAME]  path = PATH, id = N, backend = auto|nvme|uring|aio
 *   [net]      the transport options of net/conn.h
 *
 * Reactor 0 runs the network and RPC; targets are spread round-robin over
 * all reactors (with one reactor, everything shares it).
 */
#ifndef EMBER_BLOCK_SERVICE_DAEMON_H
#define EMBER_BLOCK_SERVICE_DAEMON_H

#include <stddef.h>

struct em_td;

/* Loads the config, reads the secret, opens (recovers) every target,
 * listens and starts the reactor threads. On failure logs why (naming the
 * file, target and remedy) and returns a negative errno. */
int em_td_start(const char *config_path, struct em_td **out);
/* Any thread, idempotent: stop accepting, answer every request in flight,
 * close the engines (checkpointing them), stop the reactors. */
void em_td_stop(struct em_td *d);
/* Waits for the stop to finish and frees everything. */
void em_td_wait(struct em_td *d);

#endif
