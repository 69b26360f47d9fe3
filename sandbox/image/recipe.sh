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

# /bin/sh stays Debian's dash. busybox's static ash starts a step ~2 ms sooner under gVisor's ptrace platform,
# but it runs its own applets in place of GNU coreutils, grep and sed, which agents' commands expect.
# This gVisor build rejects the statx flags of coreutils 9 (`ls FILE` and `stat` fail with EINVAL);
# busybox's ls and stat use plain stat and work, so they come first on PATH (only these two).
for tool in ls stat; do ln -s /bin/busybox "$rootfs/usr/local/bin/$tool"; done

# The unprivileged user every step runs as, and the mount point of the per-sandbox tmpfs.
echo 'agent:x:1000:1000:agent:/workspace:/bin/sh' >> "$rootfs/etc/passwd"
echo 'agent:x:1000:' >> "$rootfs/etc/group"
mkdir -p "$rootfs/workspace"

# Nothing in a sandbox installs packages: drop the package caches and documentation.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
