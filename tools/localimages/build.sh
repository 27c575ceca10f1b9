#!/usr/bin/env bash
# Builds every image the local kind tier runs, here, from Go modules and Debian packages, into the
# local Docker engine, and prints the suite settings that select them (KEY=value lines, the only
# stdout). Nothing is pulled: this machine reaches no registry.
#
#   kind node image  a Debian rootfs laid out as kind's base image (files read from the
#                    sigs.k8s.io/kind module at build time), containerd/runc/CNI from Debian,
#                    Kubernetes from tools/kubebin, and the control-plane images kubeadm asks for
#                    (`kubeadm config images list`) baked in and imported at first boot
#   istiod           pilot-discovery from the pinned istio.io/istio module (tools/istiogen)
#   fixtures         go-httpbin (tools/localimages go.mod), curl (Debian's), Istio's tcp-echo-server
#                    (samples/tcp-echo/src of the pinned istio.io/istio module)
#   capture          Debian's tcpdump, for the wire specs' host-network capture pod (suites/framework/wire)
#
# Each step is cached (LOCALIMAGES_DIR, default ~/.cache/mtls-conformance/localimages) and keyed
# by its inputs (the pins in go.mod files, versions.yaml, the package lists, this script and
# files/): a warm run rebuilds nothing.
# Needs root, Docker and debootstrap (.ci/run installs them).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
GO=${GO:-go}
export GOFLAGS=${GOFLAGS:--buildvcs=false}
# Outside the checkout, like Go's build cache: a fresh clone (CI's) reuses what an earlier one built.
cache=${LOCALIMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mtls-conformance/localimages}
hub=localhost/mtls-conformance
mkdir -p "$cache/bin" "$cache/stamps"

log() { echo "localimages: $*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
hash_str() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# Pins, each read from its one owner.
versions_mk=$(cd "$repo_root" && "$GO" run ./tools/conformance versions --make)
pin() { sed -n "s/^$1 ?= //p" <<<"$versions_mk"; }
istio_version=$(pin ISTIO_SOURCE_VERSION)
istio_module=$(pin ISTIO_SOURCE_MODULE)
httpbin_pin=$(pin HTTPBIN_IMAGE)
kind_version=$(pin KIND_VERSION)
module_dir() { (cd "$1" && "$GO" mod download -json "$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
kind_dir=$(module_dir "$repo_root" "sigs.k8s.io/kind@$kind_version")
istio_dir=$(module_dir "$repo_root/tools/istiogen" "$istio_module")
[[ -d $kind_dir/images/base/files && -d $istio_dir/manifests/charts ]] || {
	echo "localimages: cannot find kind's base files or Istio's charts in the module cache" >&2
	exit 1
}

# image_current NAME KEY: the image exists and was built from inputs KEY.
image_current() {
	local id
	id=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null) || return 1
	[[ -f $cache/stamps/${1//[\/:]/_} && $(<"$cache/stamps/${1//[\/:]/_}") == "$2 $id" ]]
}
image_stamp() { echo "$2 $(docker image inspect -f '{{.Id}}' "$1")" >"$cache/stamps/${1//[\/:]/_}"; }

# docker_import NAME DIR [--change ...]: a one-layer image from DIR (no Dockerfile, no registry).
docker_import() {
	local name=$1 dir=$2
	shift 2
	tar -C "$dir" --numeric-owner -c . | docker import "$@" - "$name" >/dev/null
}

# ---- Debian root filesystems --------------------------------------------------------------------
# The node: kind's base image package list (images/base/Dockerfile) less what only rootless,
# NFS/iSCSI or fuse need, plus containerd, runc and the CNI plugins from Debian.
node_packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins
# The slim base of kube-proxy (iptables, conntrack) and of the curl fixture.
slim_packages=ca-certificates,curl,iptables,conntrack,procps
# The wire capture pod's image: tcpdump (and the shell, kill and cat the capture engine runs).
capture_packages=tcpdump,procps
rootfs() { # NAME PACKAGES -> path of the tar
	local key
	key=$(hash_str "$2 $(hash_of "$here/rootfs.sh")")
	if [[ ! -f $cache/$1-$key.tar ]]; then
		log "debootstrap $1 (Debian bookworm: $2)"
		"$here/rootfs.sh" "$1-$key" "$cache" "$2"
		find "$cache" -maxdepth 1 -name "$1-*.tar" ! -name "$1-$key.tar" -delete
	fi
	echo "$cache/$1-$key.tar"
}

# ---- Go binaries ---------------------------------------------------------------------------------
kube_dir=$(GO=$GO "$repo_root/tools/kubebin/build.sh" node)
kube_version=$("$kube_dir/kube-apiserver" --version | awk '{print $2}')

gobin=$cache/bin
tools_key=$(hash_of "$here/go.mod" "$here/go.sum" "$here"/cmd/*/*.go "$here/build.sh")
if [[ ! -f $cache/stamps/tools || $(<"$cache/stamps/tools") != "$tools_key" ]]; then
	log "building coredns, go-httpbin and pause"
	(cd "$here" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$gobin/" \
		github.com/coredns/coredns github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin ./cmd/pause)
	echo "$tools_key" >"$cache/stamps/tools"
fi
coredns_version=$(cd "$here" && "$GO" list -m -f '{{.Version}}' github.com/coredns/coredns)
httpbin_version=$(cd "$here" && "$GO" list -m -f '{{.Version}}' github.com/mccutchen/go-httpbin/v2)
tcp_echo_pin=$(pin TCP_ECHO_IMAGE)
[[ ${httpbin_pin##*:} == "$httpbin_version" ]] || {
	echo "localimages: versions.yaml pins $httpbin_pin but tools/localimages builds go-httpbin $httpbin_version" >&2
	exit 1
}

# istiod as Istio's release build makes it (common/scripts/gobuild.sh, report_build_info.sh).
istio_commit=${istio_module##*-}
istiod_key=$(hash_of "$repo_root/tools/istiogen/go.mod" "$repo_root/tools/istiogen/go.sum" "$here/build.sh")
if [[ ! -f $cache/stamps/istiod || $(<"$cache/stamps/istiod") != "$istiod_key" ]]; then
	log "building pilot-discovery $istio_version from $istio_module"
	v=istio.io/istio/pkg/version
	(cd "$repo_root/tools/istiogen" && CGO_ENABLED=0 "$GO" build -trimpath -tags vtprotobuf,disable_pgv \
		-ldflags "-s -w -X $v.buildVersion=$istio_version -X $v.buildGitRevision=$istio_commit -X $v.buildTag=$istio_version -X $v.buildHub=$hub" \
		-o "$gobin/" istio.io/istio/pilot/cmd/pilot-discovery)
	echo "$istiod_key" >"$cache/stamps/istiod"
fi
# Istio's TCP echo sample (samples/tcp-echo/src/main.go, which its Dockerfile builds into
# tcp-echo-server), from the same pinned module.
if [[ ! -f $cache/stamps/tcp-echo || $(<"$cache/stamps/tcp-echo") != "$istiod_key" ]]; then
	log "building tcp-echo from $istio_module samples/tcp-echo/src"
	(cd "$repo_root/tools/istiogen" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" \
		-o "$gobin/tcp-echo" istio.io/istio/samples/tcp-echo/src)
	echo "$istiod_key" >"$cache/stamps/tcp-echo"
fi

# ---- images --------------------------------------------------------------------------------------
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# binary_image NAME KEYFILES... -- DEST=SRC... -- CHANGES...: a scratch image holding static binaries.
scratch_image() {
	local name=$1 dest=$2 src=$3
	shift 3
	local key
	key=$(hash_str "$(hash_of "$src" "$here/build.sh") $*")
	image_current "$name" "$key" && return
	log "image $name"
	local dir=$work/${name//[\/:]/_}
	mkdir -p "$dir/$(dirname "$dest")" "$dir/tmp" "$dir/etc"
	chmod 1777 "$dir/tmp"
	cp "$src" "$dir/$dest"
	echo 'root:x:0:0:root:/root:/sbin/nologin' >"$dir/etc/passwd"
	echo 'root:x:0:' >"$dir/etc/group"
	local changes=(--change "$path_env")
	for c in "$@"; do changes+=(--change "$c"); done
	docker_import "$name" "$dir" "${changes[@]}"
	image_stamp "$name" "$key"
}

# rootfs_image REPO PACKAGE TAR CMD: the Debian root filesystem TAR imported as an image running
# CMD, named $hub/REPO and tagged with the upstream part of PACKAGE's Debian version in TAR; prints
# the name. awk reads to the end: an early exit would kill tar with SIGPIPE (exit 141 under pipefail).
rootfs_image() {
	local repo=$1 package=$2 rootfs_tar=$3 cmd=$4 version name key
	version=$(tar -xOf "$rootfs_tar" ./var/lib/dpkg/status | awk -v pkg="$package" '/^Package: /{p = ($2 == pkg)} p && /^Version:/{print $2; p = 0}')
	name=$hub/$repo:${version%%-*}
	key=$(hash_of "$rootfs_tar" "$here/build.sh")
	if ! image_current "$name" "$key"; then
		log "image $name"
		docker import --change "$path_env" --change "$cmd" "$rootfs_tar" "$name" >/dev/null
		image_stamp "$name" "$key"
	fi
	echo "$name"
}

# The images kubeadm asks for, under the names it asks for.
mapfile -t wanted < <("$kube_dir/kubeadm" config images list --kubernetes-version "$kube_version")
slim_tar=$(rootfs slim-rootfs "$slim_packages")
control_plane=()
for ref in "${wanted[@]}"; do
	case $ref in
	*/kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:*)
		b=${ref##*/}
		b=${b%%:*}
		scratch_image "$ref" "usr/local/bin/$b" "$kube_dir/$b"
		;;
	*/etcd:*) scratch_image "$ref" usr/local/bin/etcd "$kube_dir/etcd" ;;
	*/coredns:*)
		[[ ${ref##*:} == "$coredns_version" ]] || {
			echo "localimages: kubeadm asks for $ref but tools/localimages pins CoreDNS $coredns_version" >&2
			exit 1
		}
		scratch_image "$ref" coredns "$gobin/coredns" 'ENTRYPOINT ["/coredns"]'
		;;
	*/pause:*) scratch_image "$ref" pause "$gobin/pause" 'ENTRYPOINT ["/pause"]' ;;
	*/kube-proxy:*)
		key=$(hash_of "$slim_tar" "$kube_dir/kube-proxy" "$here/files/iptables-wrapper" "$here/build.sh")
		if ! image_current "$ref" "$key"; then
			log "image $ref"
			dir=$work/kube-proxy
			mkdir -p "$dir"
			tar -C "$dir" -xf "$slim_tar"
			install -m 0755 "$kube_dir/kube-proxy" "$dir/usr/local/bin/kube-proxy"
			for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
				rm -f "$dir/usr/sbin/$t"
				install -m 0755 "$here/files/iptables-wrapper" "$dir/usr/sbin/$t"
			done
			docker_import "$ref" "$dir" --change "$path_env"
			image_stamp "$ref" "$key"
		fi
		;;
	*)
		echo "localimages: kubeadm asks for $ref, which this script does not know how to build" >&2
		exit 1
		;;
	esac
	control_plane+=("$ref")
done

# istiod, laid out as pilot/docker/Dockerfile.pilot lays it out: the istio-proxy user (1337), CA
# certificates, a writable /tmp.
istiod_image=$hub/pilot:$istio_version
key=$(hash_of "$gobin/pilot-discovery" "$here/build.sh")
if ! image_current "$istiod_image" "$key"; then
	log "image $istiod_image"
	dir=$work/pilot
	mkdir -p "$dir/usr/local/bin" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/var/lib/istio" "$dir/home/istio-proxy"
	install -m 0755 "$gobin/pilot-discovery" "$dir/usr/local/bin/pilot-discovery"
	tar -xOf "$slim_tar" ./etc/ssl/certs/ca-certificates.crt >"$dir/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nistio-proxy:x:1337:1337:istio-proxy:/home/istio-proxy:/sbin/nologin\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nistio-proxy:x:1337:\n' >"$dir/etc/group"
	chmod 1777 "$dir/tmp"
	chown 1337:1337 "$dir/var/lib/istio" "$dir/home/istio-proxy"
	docker_import "$istiod_image" "$dir" --change "$path_env" --change 'USER 1337:1337' \
		--change 'ENTRYPOINT ["/usr/local/bin/pilot-discovery"]'
	image_stamp "$istiod_image" "$key"
fi

# Fixtures: go-httpbin as its upstream image runs it (CMD /bin/go-httpbin), curl from Debian.
httpbin_image=$hub/go-httpbin:$httpbin_version
scratch_image "$httpbin_image" bin/go-httpbin "$gobin/go-httpbin" 'CMD ["/bin/go-httpbin"]' 'EXPOSE 8080'
curl_image=$(rootfs_image curl curl "$slim_tar" 'CMD ["/usr/bin/curl"]')

# Istio's tcp-echo-server as its Dockerfile lays it out (/bin/tcp-echo, ENTRYPOINT, CMD 9000 hello),
# tagged as versions.yaml pins it.
tcp_echo_image=$hub/tcp-echo-server:${tcp_echo_pin##*:}
scratch_image "$tcp_echo_image" bin/tcp-echo "$gobin/tcp-echo" 'ENTRYPOINT ["/bin/tcp-echo"]' 'CMD ["9000", "hello"]' 'EXPOSE 9000'
# The capture image: Debian's tcpdump on a minimal rootfs, tagged with tcpdump's version.
capture_tar=$(rootfs capture-rootfs "$capture_packages")
capture_image=$(rootfs_image tcpdump tcpdump "$capture_tar" 'CMD ["/bin/sleep", "infinity"]')

# ---- the kind node image -------------------------------------------------------------------------
node_image=$hub/kind-node:$kube_version
node_tar=$(rootfs node-rootfs "$node_packages")
cp_ids=$(docker image inspect -f '{{.Id}}' "${control_plane[@]}" | tr '\n' ' ')
key=$(hash_str "$(hash_of "$node_tar" "$kube_dir/.inputs-node.sha256" "$here/build.sh" "$here"/files/*) $cp_ids $kind_version")
if ! image_current "$node_image" "$key"; then
	log "image $node_image"
	root=$work/node
	mkdir -p "$root"
	tar -C "$root" -xf "$node_tar"
	base=$kind_dir/images/base/files
	# As kind's images/base/Dockerfile lays out its base image (COPY steps, then the RUN steps).
	install -m 0755 "$base"/usr/local/bin/* "$root/usr/local/bin/"
	mkdir -p "$root/kind/bin" "$root/etc/containerd" "$root/etc/default" "$root/etc/sysctl.d" \
		"$root/etc/systemd/system/kubelet.service.d" "$root/etc/kubernetes/manifests"
	install -m 0644 "$base"/kind/README.txt "$root/kind/"
	install -m 0755 "$base"/kind/bin/* "$root/kind/bin/"
	install -m 0644 "$base"/etc/crictl.yaml "$root/etc/"
	install -m 0644 "$base"/etc/default/* "$root/etc/default/"
	install -m 0644 "$base"/etc/sysctl.d/* "$root/etc/sysctl.d/"
	install -m 0644 "$base"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"
	for unit in kubelet.service kubelet.slice undo-mount-hacks.service containerd.service; do
		install -m 0644 "$base/etc/systemd/system/$unit" "$root/etc/systemd/system/"
	done
	# Debian's containerd lives in /usr/bin, kind's in /usr/local/bin.
	sed -i 's#/usr/local/bin/containerd#/usr/bin/containerd#' "$root/etc/systemd/system/containerd.service"
	# kind's containerd config, less the fuse-overlayfs proxy plugin (rootless only; not installed),
	# with the sandbox image kubeadm names and the CNI plugins where Debian's package puts them.
	pause_ref=$(printf '%s\n' "${control_plane[@]}" | grep '/pause:')
	sed -e '/^\[proxy_plugins\]/,/^$/d' -e "s#sandbox_image = .*#sandbox_image = \"$pause_ref\"#" \
		"$base/etc/containerd/config.toml" >"$root/etc/containerd/config.toml"
	grep -q 'proxy_plugins\|fuse-overlayfs' "$root/etc/containerd/config.toml" && {
		echo "localimages: kind's containerd config changed shape: fuse-overlayfs still named" >&2
		exit 1
	}
	printf '\n[plugins."io.containerd.grpc.v1.cri".cni]\n  bin_dir = "/usr/lib/cni"\n  conf_dir = "/etc/cni/net.d"\n' >>"$root/etc/containerd/config.toml"
	mkdir -p "$root/etc/cni/net.d"
	install -m 0644 "$here/files/10-ptp.conflist" "$root/etc/cni/net.d/"
	chroot "$root" ctr oci spec |
		jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
		jq 'del(.process.rlimits)' >"$root/etc/containerd/cri-base.json"
	find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
	rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
		"$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
		"$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
	echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
	# Kubernetes where kind's node image build puts it (pkg/build/nodeimage), and its version.
	for b in kubelet kubeadm kubectl; do install -m 0755 "$kube_dir/$b" "$root/usr/bin/$b"; done
	echo "$kube_version" >"$root/kind/version"
	# The control-plane images, imported at first boot before kubelet starts.
	mkdir -p "$root/kind/images"
	docker save "${control_plane[@]}" -o "$root/kind/images/control-plane.tar"
	install -m 0644 "$here/files/import-images.service" "$root/etc/systemd/system/"
	# The CAP_SYS_RESOURCE runc wrapper; containerd uses it only when the local tier's kind config
	# patch says so (privileged pods such as kube-proxy fail without it on these VMs).
	install -m 0755 "$here/files/runc-nosysres" "$root/usr/local/sbin/runc-nosysres"
	chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service import-images.service >/dev/null 2>&1
	chroot "$root" systemctl mask systemd-binfmt.service >/dev/null 2>&1
	docker_import "$node_image-rootfs" "$root" --change 'ENV container=docker' \
		--change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'
	# docker import takes no STOPSIGNAL; a one-line build adds kind's (systemd halts on SIGRTMIN+3).
	printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$node_image-rootfs" | DOCKER_BUILDKIT=0 docker build -q -t "$node_image" - >/dev/null
	docker rmi "$node_image-rootfs" >/dev/null
	image_stamp "$node_image" "$key"
fi

cat <<EOF
NODE_IMAGE=$node_image
ISTIO_VERSION=$istio_version
ISTIO_CHARTS=$istio_dir/manifests/charts
ISTIO_HUB=$hub
ISTIO_TAG=$istio_version
HTTPBIN_IMAGE=$httpbin_image
CURL_IMAGE=$curl_image
TCP_ECHO_IMAGE=$tcp_echo_image
CAPTURE_IMAGE=$capture_image
EOF
