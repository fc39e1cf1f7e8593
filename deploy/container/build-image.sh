#!/usr/bin/env bash
# Builds the node image from deploy/container/Dockerfile with podman, on a base image made here
# from Debian packages (no registry needed), and caches both between runs.
#
#   deploy/container/build-image.sh [--jar node/target/halley-node.jar] [--build-dir target/container]
#                                   [--tag localhost/halley-node:dev] [--base IMAGE]
#
# --base IMAGE: build on that image instead (e.g. docker.io/library/eclipse-temurin:17-jre where a
# registry is reachable); without it the base is localhost/halley-base:<hash>, made by mmdebstrap
# (Debian minbase + openjdk-17-jre-headless, the mirror and release read from this machine's apt
# sources) and `podman import`. The base's rootfs tarball is kept in the build directory and the
# image in podman's storage; either one is reused when the hash (mirror, release, packages)
# matches. Needs root (or rootless podman), podman, runc and mmdebstrap; prints the image name as
# its last line. Exits non-zero with a message when anything fails: the tests that use the image
# fail with it, they never skip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

jar="$root/node/target/halley-node.jar"
build_dir="$root/target/container"
tag="localhost/halley-node:dev"
base=""
while (($#)); do
  case "$1" in
    --jar) jar="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    *) echo "build-image.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

fail() { echo "build-image.sh: $*" >&2; exit 1; }
command -v podman >/dev/null || fail "podman is not installed (apt-get install podman runc uidmap slirp4netns fuse-overlayfs)"
[ -f "$jar" ] || fail "no node jar at $jar (build it: ./mvnw -pl node -am package -DskipTests)"
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"

# Podman on this kind of host: runc (crun fails on hybrid cgroups) and the host's open-files cap.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="$build_dir/containers.conf"
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=1048576
  cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
fi

if [ -z "$base" ]; then
  command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (apt-get install mmdebstrap)"
  # The Debian mirror this machine uses (deb822 sources first, then the one-line format).
  mirror=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  [ -n "$mirror" ] || fail "cannot find a Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [ -n "$suite" ] || fail "cannot read VERSION_CODENAME from /etc/os-release"
  packages="openjdk-17-jre-headless"
  key="$(printf '%s\n' "$mirror" "$suite" "$packages" "v1" | sha256sum | cut -c1-12)"
  base="localhost/halley-base:$suite-$key"
  if ! podman image exists "$base"; then
    rootfs="$build_dir/base-rootfs-$key.tar"
    if [ ! -s "$rootfs" ]; then
      echo "build-image.sh: making the base rootfs with mmdebstrap ($suite from $mirror) ..." >&2
      mmdebstrap --variant=minbase --include="$packages" --format=tar \
        --aptopt='Acquire::Retries "3"' \
        "$suite" "$rootfs.part" "deb $mirror $suite main" >"$build_dir/mmdebstrap.log" 2>&1 \
        || { tail -n 30 "$build_dir/mmdebstrap.log" >&2; fail "mmdebstrap failed (log: $build_dir/mmdebstrap.log)"; }
      mv "$rootfs.part" "$rootfs"
    fi
    echo "build-image.sh: importing $base ..." >&2
    podman import --change 'CMD ["/bin/bash"]' "$rootfs" "$base" >/dev/null \
      || fail "podman import of $rootfs failed"
  fi
fi

# The build context: the jar alone (the Dockerfile is passed with -f).
context="$build_dir/context"
mkdir -p "$context"
cp -p "$jar" "$context/halley-node.jar"
echo "build-image.sh: building $tag on $base ..." >&2
podman build -q --build-arg BASE_IMAGE="$base" -f "$here/Dockerfile" -t "$tag" "$context" >&2 \
  || fail "podman build failed"
echo "$tag"
