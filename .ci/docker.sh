#!/usr/bin/env bash
# CI only (.ci/run calls it when CI=true): a Docker engine for the local kind tier on this
# workplace's machines (Debian 12 VM, root, no registry), as ../shared/tools/docker-here.sh does.
# Installs docker.io, jq and debootstrap from Debian, makes the CAP_SYS_RESOURCE-dropping runc
# wrapper (tools/localimages/files/runc-nosysres: the VM's bounding set lacks the capability, so
# plain runc fails every privileged container) Docker's default runtime, and starts dockerd.
# `make` never runs this: a user's Docker configuration is theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${CI:-} == true ]] || { echo ".ci/docker.sh changes Docker's configuration: CI only (CI=true)" >&2; exit 2; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v jq >/dev/null || need+=(jq)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

wrapper=/usr/local/sbin/runc-nosysres
install -m 0755 tools/localimages/files/runc-nosysres "$wrapper"
mkdir -p /etc/docker
want='{"runtimes":{"nosysres":{"path":"'"$wrapper"'"}},"default-runtime":"nosysres"}'
if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$want" ]; then
  echo "$want" > /etc/docker/daemon.json
  if pid=$(pgrep -x dockerd); then kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done; fi
fi
if ! docker info >/dev/null 2>&1; then
  (dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
docker info --format 'docker {{.ServerVersion}}, runtime {{.DefaultRuntime}}, cgroup {{.CgroupVersion}} ({{.CgroupDriver}})'
