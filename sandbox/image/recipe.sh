#!/usr/bin/env bash
# The sandbox root filesystem: Debian 12 minbase plus python3, nothing else.
# Called by scripts/bootstrap.sh as: recipe.sh ROOTFS MIRROR. The image tag is a hash of this file and of
# channel.c (lib/config.ts), so any change to either builds a new image.
set -euo pipefail
rootfs=$1 mirror=$2
here=$(dirname "$0")

debootstrap --variant=minbase --include=python3,busybox-static bookworm "$rootfs" "$mirror"

# The step channel, the sandbox's main process: static, so it needs nothing from the image.
gcc -static -O2 -Wall -o "$rootfs/usr/local/bin/mission-channel" "$here/channel.c"

# Every step is a fresh `sh -c`. Under gVisor's ptrace platform each system call costs tens of microseconds,
# and a static shell skips the dynamic loader's dozens of them: busybox's ash is /bin/sh (a third faster per
# step than dash). bash stays available for scripts that want it.
ln -sf busybox "$rootfs/usr/bin/sh"

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
