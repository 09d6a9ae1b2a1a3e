#!/bin/bash
# Keep-alive enforcement of ember-target's NVMe-oF target, run inside the vm-run guest:
#   tests/vm/vm-run -- tests/vm/nvmf-kato.sh BUILD/tools/ember-target BUILD/tests/vm/nvmf_kato_probe
# nvmf_kato_probe is a minimal NVMe-oF/RDMA host: one association keeps
# sending keep-alives and must stay, one goes silent and must be dropped
# within KATO + a margin.
set -uo pipefail

BIN=$(realpath "${1:?usage: nvmf-kato.sh EMBER_TARGET NVMF_KATO_PROBE}")
PROBE=$(realpath "${2:?usage: nvmf-kato.sh EMBER_TARGET NVMF_KATO_PROBE}")
NQN=nqn.2024-01.io.ember:vm-kato
HOST=nqn.2024-01.io.ember:kato-probe
KATO=2000
MARGIN=2000
work=$(mktemp -d)
. "$(dirname "$0")/nvmf-lib.sh"
trap 'stop_target; grep -E "keep-alive|dropping|warn" "$work/target.log" | tail -n 10' EXIT

cat >"$work/target.ini" <<INI
[nvmf]
listen = 192.0.2.1
[subsystem.kato]
nqn = $NQN
allowed_hosts = $HOST
namespace = /dev/ng0n1
INI

check "target starts" start_target || finish
check "probe: keep-alives keep the association, silence loses it (KATO $KATO ms)" \
	timeout 60 "$PROBE" 192.0.2.1 4420 "$NQN" "$HOST" "$KATO" "$MARGIN"
check "target logged the keep-alive expiry" grep -q "no keep-alive for" "$work/target.log"
check "target still alive" kill -0 "$pid"
finish
