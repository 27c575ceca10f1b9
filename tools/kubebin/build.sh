#!/usr/bin/env bash
# Builds real Kubernetes binaries pinned by this module's go.mod into
# <repo>/.cache/kubebin/<kubernetes version>/ and prints that directory (the only stdout line).
#   build.sh [envtest]  kube-apiserver, etcd and kubectl, for KUBEBUILDER_ASSETS
#   build.sh node       those plus kubelet, kubeadm, kube-controller-manager, kube-scheduler and
#                       kube-proxy, for the kind node image (tools/kindnode) It rebuilds only when the binaries are missing or the inputs changed (hash of
# go.mod, go.sum, the mains, the internal/component main they share and this script). Needs only Go and the module proxy: a cold build takes
# minutes on two cores, a rebuild with a warm Go build cache seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
GO=${GO:-go}
cd "$here"

kube_version=$("$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
if [[ ! $kube_version =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
	echo "build.sh: k8s.io/kubernetes version $kube_version in go.mod is not a release vX.Y.Z" >&2
	exit 1
fi
kube_major=${BASH_REMATCH[1]}
kube_minor=${BASH_REMATCH[2]}

out_dir=${KUBEBIN_DIR:-$repo_root/.cache/kubebin/$kube_version}
set_name=${1:-envtest}
case $set_name in
envtest) binaries=(kube-apiserver etcd kubectl) ;;
node) binaries=(kube-apiserver etcd kubectl kubelet kubeadm kube-controller-manager kube-scheduler kube-proxy) ;;
*) echo "build.sh: unknown set $set_name (envtest or node)" >&2; exit 2 ;;
esac
stamp_file=$out_dir/.inputs-$set_name.sha256
inputs_hash=$(cat go.mod go.sum build.sh cmd/*/main.go internal/component/*.go | sha256sum | cut -d' ' -f1)

up_to_date() {
	[[ -f $stamp_file && $(<"$stamp_file") == "$inputs_hash" ]] || return 1
	local b
	for b in "${binaries[@]}"; do [[ -x $out_dir/$b ]] || return 1; done
}
if up_to_date; then
	echo "$out_dir"
	exit 0
fi

# Without these the server reports v0.0.0-master+$Format:%H$, which kubectl's and Helm's version
# checks cannot parse; the keys are the ones Kubernetes' own build sets (hack/lib/version.sh,
# kube::version::ldflags), for both component-base and client-go.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
done

echo "build.sh: building ${binaries[*]} of Kubernetes $kube_version, etcd $("$GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) into $out_dir" >&2
mkdir -p "$out_dir"
staging=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'rm -rf "$staging"' EXIT
# CGO off as in Kubernetes' own static build of kube-apiserver (hack/lib/golang.sh KUBE_STATIC_BINARIES),
# so no C toolchain is needed; -trimpath keeps local paths out of the binaries.
CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$staging/" "${binaries[@]/#/./cmd/}"
# Replace the binaries one rename each, then record the inputs, so a concurrent reader never sees a
# half-written binary and an interrupted build is redone.
rm -f "$stamp_file"
for b in "${binaries[@]}"; do
	mv -f "$staging/$b" "$out_dir/$b"
done
echo "$inputs_hash" >"$stamp_file"
echo "$out_dir"
