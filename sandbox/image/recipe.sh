#!/usr/bin/env bash
# The sandbox root filesystem: Debian 12 minbase plus python3, nothing else.
# Called by scripts/bootstrap.sh as: recipe.sh ROOTFS MIRROR. The image tag is a hash of this file,
# so any change here builds a new image.
set -euo pipefail
rootfs=$1 mirror=$2

debootstrap --variant=minbase --include=python3,busybox bookworm "$rootfs" "$mirror"

# This gVisor build rejects the statx flags of coreutils 9 (`ls FILE` and `stat` fail with EINVAL);
# busybox's ls and stat use plain stat and work, so they come first on PATH.
for tool in ls stat; do ln -s /bin/busybox "$rootfs/usr/local/bin/$tool"; done

# The unprivileged user every step runs as, and the mount point of the per-sandbox tmpfs.
echo 'agent:x:1000:1000:agent:/workspace:/bin/sh' >> "$rootfs/etc/passwd"
echo 'agent:x:1000:' >> "$rootfs/etc/group"
mkdir -p "$rootfs/workspace"

# Nothing in a sandbox installs packages: drop the package caches and documentation.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
