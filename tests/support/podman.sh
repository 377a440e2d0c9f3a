#!/usr/bin/env bash
# Containers without a Docker engine or a registry: podman runs the olistlake image and serves
# the Docker Engine API that Airflow's DockerOperator speaks. Nothing is pulled: the base image
# is made locally with debootstrap.
#   podman.sh install               podman, runc and debootstrap (apt), the engine settings below,
#                                   and the local base image; idempotent
#   podman.sh build TAG BINARY      the project's Dockerfile with BINARY (an olistlake-multicall
#                                   compiled outside, stripped on the way) on the local base
#   podman.sh service SOCKET        the Docker API on unix://SOCKET, in the foreground until killed
#   podman.sh size TAG              the image's size in bytes
# The engine settings go to /etc/containers/containers.conf.d/olistlake.conf: runc, because crun
# refuses cgroup v1 hybrid mounts ("cgroups in hybrid mode not supported"), and explicit
# ulimits, without which every container fails with "setrlimit RLIMIT_NOFILE: Operation not
# permitted".
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
BASE_IMAGE="${OLISTLAKE_BASE_IMAGE:-localhost/debian:bookworm-slim}"
CONF=/etc/containers/containers.conf.d/olistlake.conf

log() { echo "[podman] $*" >&2; }

install() {
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing podman, runc and debootstrap from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman runc debootstrap >/dev/null
  fi
  if [ ! -f "$CONF" ]; then
    mkdir -p "$(dirname "$CONF")"
    cat >"$CONF" <<'EOF'
# olistlake tests (tests/support/podman.sh): runc instead of crun (cgroup v1 hybrid), explicit
# ulimits (the defaults cannot be set here)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
  fi
  base
}

# The Debian base the Dockerfile starts from, like the official slim image: minbase, no apt
# caches, no documentation.
base() {
  if podman image exists "$BASE_IMAGE"; then
    return
  fi
  local mirror rootfs
  mirror="$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null | grep -m1 -v security || true)"
  mirror="${mirror:-http://deb.debian.org/debian/}"
  rootfs="$(mktemp -d)"
  log "making $BASE_IMAGE with debootstrap from $mirror (about a minute, once)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$rootfs"; exit 1; }
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  tar -C "$rootfs" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

build() {
  local tag="$1" binary="$2" ctx
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' RETURN
  strip -o "$ctx/olistlake-multicall" "$binary"
  podman build -q --format docker --network host -t "$tag" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg BINARY_FROM=prebuilt \
    --build-context bin="$ctx" -f "$ROOT/Dockerfile" "$ROOT" >/dev/null
  # the previous build of the tag, now untagged, and the binary-only stage: not kept
  podman image prune -f >/dev/null
  log "built $tag: $(( $(size "$tag") / 1000000 )) MB"
}

size() {
  podman image inspect --format '{{.Size}}' "$1"
}

case "${1:-}" in
  install) install ;;
  base) base ;;
  build) build "$2" "$3" ;;
  service) exec podman system service --time 0 "unix://$2" ;;
  size) size "$2" ;;
  *) echo "usage: $0 install | build TAG BINARY | service SOCKET | size TAG" >&2; exit 2 ;;
esac
