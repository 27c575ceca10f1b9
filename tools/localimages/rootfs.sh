#!/usr/bin/env bash
# rootfs.sh NAME DIR PACKAGES: a Debian bookworm root filesystem (debootstrap --variant=minbase)
# with PACKAGES (comma-separated), written as DIR/NAME.tar. Used by build.sh for the kind node and
# the slim images (kube-proxy, curl). Needs root and debootstrap.
set -euo pipefail
name=$1 out_dir=$2 packages=$3
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d "$out_dir/.rootfs-$name.XXXXXX")
trap 'umount -R "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || {
	tail -20 "$work/log" >&2
	echo "rootfs.sh: debootstrap of $name failed (log above)" >&2
	exit 1
}
# Slim the tree: package caches and docs are not needed in an image.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
	"$work/root/usr/share/doc" "$work/root/usr/share/man" "$work/root/usr/share/locale"
tar -C "$work/root" --numeric-owner -cf "$work/$name.tar" .
mv "$work/$name.tar" "$out_dir/$name.tar"
