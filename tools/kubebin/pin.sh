#!/usr/bin/env bash
# Re-pins this module to a Kubernetes release: requires k8s.io/kubernetes@$KUBE_VERSION and the etcd
# server that release pins, and replaces every staging module with its v0.X.Y release, reading the
# staging list from k8s.io/kubernetes's own go.mod. Run by a maintainer when bumping Kubernetes;
# build.sh only builds what go.mod/go.sum pin.
#   usage: tools/kubebin/pin.sh v1.37.2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
GO=${GO:-go}

kube_version=${1:?usage: pin.sh v1.X.Y}
if [[ ! $kube_version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
	echo "pin.sh: $kube_version is not a Kubernetes release version v1.X.Y" >&2
	exit 2
fi
# Staging modules are tagged v0.X.Y for Kubernetes v1.X.Y (k8s.io/kubernetes staging/README.md).
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

kube_gomod=$("$GO" mod download -json "k8s.io/kubernetes@${kube_version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f $kube_gomod ]] || { echo "pin.sh: cannot locate the go.mod of k8s.io/kubernetes@${kube_version}" >&2; exit 1; }

# The etcd server k8s.io/kubernetes itself requires (it matches hack/lib/etcd.sh ETCD_VERSION).
etcd_version=$("$GO" mod edit -json "$kube_gomod" | "$GO" run ./internal/kubegomod require go.etcd.io/etcd/server/v3)

mapfile -t replace_flags < <("$GO" mod edit -json "$kube_gomod" | "$GO" run ./internal/kubegomod replaces "$staging_version")
"$GO" mod edit "${replace_flags[@]}"
"$GO" get "k8s.io/kubernetes@${kube_version}" "go.etcd.io/etcd/server/v3@${etcd_version}"
"$GO" mod tidy
echo "pinned k8s.io/kubernetes ${kube_version} (staging ${staging_version}), etcd ${etcd_version}"
