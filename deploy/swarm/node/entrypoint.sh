#!/bin/sh
# dockerd in a lab node. Its API is on the usual socket and, when /run/lab is mounted from the host, on
# /run/lab/docker.sock as well, so the host's docker CLI can drive the node with DOCKER_HOST (the lab
# deploys the stack that way: the CLI reads secrets and configs from the repository's files).
# LAB_REGISTRY (host:port) is the lab's own registry, plain HTTP on the lab network.
set -eu
# A node that was killed (the node-loss test, a power cut) left its PID files: dockerd refuses to
# start over them.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
hosts="-H unix:///var/run/docker.sock"
[ -d /run/lab ] && hosts="$hosts -H unix:///run/lab/docker.sock"
registry=""
[ -n "${LAB_REGISTRY:-}" ] && registry="--insecure-registry ${LAB_REGISTRY}"
# shellcheck disable=SC2086  # word splitting of the option lists is intended
exec dockerd $hosts $registry --storage-driver=overlay2 --log-level=warn "$@"
