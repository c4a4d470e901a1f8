#!/usr/bin/env bash
# Real Python base images for the engine tests, laid out like the official python:3.11-slim,
# for linux/amd64 and linux/arm64, published as ONE multi-architecture tag (an index with an
# amd64 and an arm64 child) in an anonymous-pull registry on 127.0.0.1:$AZDEPLOY_CI_PYTHON_REGISTRY_PORT
# (default 5001), like a public image on Docker Hub. Nothing can be pulled from a public
# registry here, so the images are made from Debian bookworm packages:
#
#   debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates (+ libpython3.11-dev,
#     python3-wheel-whl, netbase: see INCLUDE) [--arch=arm64]
#   + `python3 -m venv /usr/local` (python, python3, pip in /usr/local/bin as in python:3.X-slim)
#   + Debian's slim dpkg/apt settings (no docs, man pages or locales; apt cache cleaned)
#   -> rootfs tarball, cached under $AZDEPLOY_CI_DIR/python/
#   -> `FROM scratch` + `ADD rootfs.tar /` + this machine's CA bundle, built with
#      `docker buildx build --platform linux/ARCH --load` (labels the architecture right;
#      `docker import --platform` does not on engine 20.10)
#   -> pushed per arch, joined with `docker buildx imagetools create` into the multi-arch tag.
#
# The images carry this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt) at
# /usr/local/share/azdeploy-ci/ca-bundle.crt with PIP_CERT, SSL_CERT_FILE and REQUESTS_CA_BUNDLE
# pointing at it: TLS to PyPI from a container passes only with it. Test-only images.
#
# The public registry is read-only (anonymous pull, every push refused); the script pushes
# through a temporary writable registry on the same storage that lives only while it pushes.
#
# Idempotent: the first time about 3 minutes on an idle machine, 6 to 9 on a busy one (the arm64
# debootstrap runs its second stage under QEMU); under a second when everything is in place. Any change to the
# recipe (this script's rootfs steps, the Dockerfile, the CA bundle) rebuilds; a lost registry
# or lost local tags are restored from what is left. Run as root after ci/engine-up.sh has the
# engine up (engine-up.sh calls it). Logs go to stderr; stdout is only the `export` lines that
# engine-up.sh puts in $AZDEPLOY_CI_DIR/env:
#   AZDEPLOY_CI_PYTHON_REGISTRY        127.0.0.1:5001 (anonymous pull, read-only)
#   AZDEPLOY_CI_PYTHON_IMAGE           127.0.0.1:5001/azdeploy-ci/python:3.11-slim (multi-arch)
#   AZDEPLOY_CI_PYTHON_IMAGE_DIGEST    sha256:… of that index
#   AZDEPLOY_CI_PYTHON_IMAGE_AMD64     …:3.11-slim-amd64 (one-arch tag, also present locally)
#   AZDEPLOY_CI_PYTHON_IMAGE_ARM64     …:3.11-slim-arm64 (one-arch tag, also present locally)
#   AZDEPLOY_CI_PYTHON_VERSION         3.11 (the images' Python, for --python-version)
#
# Usage: bash ci/python-images.sh          build / check, print the env lines
#        bash ci/python-images.sh --stop   stop the public registry it started
# Knobs: AZDEPLOY_CI_DIR (default /opt/azdeploy-ci), AZDEPLOY_CI_PYTHON_REGISTRY_PORT (default 5001).
# See docs/real-python.md.
set -euo pipefail

CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
PUB_PORT="${AZDEPLOY_CI_PYTHON_REGISTRY_PORT:-5001}"
PUB="127.0.0.1:$PUB_PORT"
PY_DIR="$CI_DIR/python"
PUB_DIR="$CI_DIR/registry-public"
PUB_PIDFILE="$CI_DIR/registry-public.pid"
PUB_LOG=/var/log/azdeploy-registry-public.log
SUITE=bookworm
PY_MINOR=3.11
REPO=azdeploy-ci/python
TAG="$PY_MINOR-slim"
ARCHES=(amd64 arm64)
# Beyond python3 + venv + ca-certificates, what python:3.X-slim has too:
#  libpython3.X-dev   the headers (Python.h), so a requirement without a wheel compiles with just
#                     build-essential, as on the official image;
#  python3-wheel-whl  `wheel` next to pip and setuptools (pip 23.0 builds a setup.py-only sdist
#                     such as netifaces with `setup.py bdist_wheel`, which needs it);
#  netbase            /etc/services and /etc/protocols (the official image installs it).
INCLUDE="python3,python3-venv,ca-certificates,libpython$PY_MINOR-dev,python3-wheel-whl,netbase"
HOST_CA=/etc/ssl/certs/ca-certificates.crt
IMAGE_CA=/usr/local/share/azdeploy-ci/ca-bundle.crt
RECIPE_LABEL=org.azdeploy.ci.recipe

export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

T0=$(date +%s.%N)
log() { printf '[python-images %6.1fs] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root"

# Stops a process proc_alive (ci/lib.sh) recognises: TERM, then KILL after 10 s.
stop_pid() { # pid comm
    proc_alive "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 40); do proc_alive "$1" "$2" || return 0; sleep 0.25; done
    kill -KILL "$1" 2>/dev/null || true
}

if [ "${1:-}" = --stop ]; then
    if [ -s "$PUB_PIDFILE" ] && proc_alive "$(cat "$PUB_PIDFILE")" docker-registry; then
        log "stopping the public registry (pid $(cat "$PUB_PIDFILE"))"
        stop_pid "$(cat "$PUB_PIDFILE")" docker-registry
    fi
    rm -f "$PUB_PIDFILE"
    exit 0
fi
[ $# -eq 0 ] || die "unknown arguments: $*; usage: $0 [--stop]"

mkdir -p "$PY_DIR" "$PUB_DIR/data"
# Serialise runs. Our own lock (fd 8), beside engine-up.sh's (fd 9, which calls us while
# holding it); daemons started below close both so they never hold a lock for their life.
exec 8>"$CI_DIR/python-images.flock"
flock -w 600 8 || die "another ci/python-images.sh holds $CI_DIR/python-images.flock for over 600 s"

# ---------------------------------------------------------------------------
# cleanup: whatever this run started or half-made goes, on success and failure alike
# ---------------------------------------------------------------------------
TMP_REG_PID=""
TMP_REG_DIR=""
TMP_TAGS=()
TMP_DIRS=()
BG_PIDS=()
# Unmount anything left mounted below a half-made chroot (debootstrap mounts proc and sys
# there and may leave them on failure), then remove it without crossing into other file systems.
safe_rm() {
    local d m
    [ -e "$1" ] || return 0
    d=$(realpath -m "$1")
    case "$d" in "$PY_DIR"/*) ;; *) log "refusing to remove $d (outside $PY_DIR)"; return 1;; esac
    awk -v d="$d/" 'index($2"/", d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$d"
}
# A background job and everything it started (debootstrap, dpkg, chroot), by pid.
kill_tree() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -TERM "$1" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill_tree "$p"; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$TMP_REG_PID" ]; then stop_pid "$TMP_REG_PID" docker-registry; fi
    for p in "${TMP_TAGS[@]}"; do docker image rm "$p" >/dev/null 2>&1 || true; done
    for p in "${TMP_DIRS[@]}"; do safe_rm "$p" || true; done
    if [ -n "$TMP_REG_DIR" ]; then rm -rf "$TMP_REG_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# 0. prerequisites
# ---------------------------------------------------------------------------
timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker engine answers; run ci/engine-up.sh first"
docker buildx version >/dev/null 2>&1 || die "docker buildx missing; run ci/engine-up.sh first"
command -v docker-registry >/dev/null || die "docker-registry missing; run ci/engine-up.sh first"
missing=()
for p in debootstrap jq curl; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get update -q >&2 || die "apt-get update failed; check the Debian mirror"
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2 ||
        die "cannot install ${missing[*]}"
fi
[ -r "$HOST_CA" ] || die "$HOST_CA missing: without it pip in a container cannot reach PyPI"


# ---------------------------------------------------------------------------
# 1. the public (anonymous-pull, read-only) registry on $PUB
# ---------------------------------------------------------------------------
http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }

# registry_config FILE ADDR READONLY(true|false)
registry_config() {
    cat >"$1.new" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $PUB_DIR/data
  delete:
    enabled: false
  maintenance:
    readonly:
      enabled: $3
    uploadpurging:
      enabled: false
http:
  addr: $2
  secret: azdeploy-ci-public-not-a-secret
EOF
    mv -f "$1.new" "$1"
}

# start_registry CONFIG LOG PIDVAR ADDR: starts it and waits for 200 on /v2/
start_registry() {
    local config=$1 logf=$2 addr=$4 pid
    setsid nohup docker-registry serve "$config" >>"$logf" 2>&1 </dev/null 8>&- 9>&- &
    pid=$!
    printf -v "$3" '%s' "$pid"
    for _ in $(seq 1 60); do
        [ "$(http_code "http://$addr/v2/")" = 200 ] && return 0
        if ! proc_alive "$pid"; then
            tail -n 20 "$logf" >&2 || true
            die "docker-registry on $addr exited during startup (log tail above)"
        fi
        sleep 0.25
    done
    tail -n 20 "$logf" >&2 || true
    die "docker-registry on $addr did not answer within 15 s (log: $logf)"
}

registry_config "$PUB_DIR/config.yml" "$PUB" true
code=$(http_code "http://$PUB/v2/")
if [ "$code" != 200 ]; then
    if [ "$code" != 000 ] && [ -n "$code" ]; then
        die "something else answers on $PUB (HTTP $code); set AZDEPLOY_CI_PYTHON_REGISTRY_PORT"
    fi
    if [ -s "$PUB_PIDFILE" ] && proc_alive "$(cat "$PUB_PIDFILE")" docker-registry; then
        log "public registry (pid $(cat "$PUB_PIDFILE")) runs but does not answer; restarting it"
        stop_pid "$(cat "$PUB_PIDFILE")" docker-registry
    fi
    log "starting the public registry on $PUB (anonymous pull, read-only; log: $PUB_LOG)"
    start_registry "$PUB_DIR/config.yml" "$PUB_LOG" PUB_PID "$PUB"
    echo "$PUB_PID" >"$PUB_PIDFILE"
    log "public registry is up"
fi

# ---------------------------------------------------------------------------
# 2. the recipe: any change to it rebuilds
# ---------------------------------------------------------------------------
# Runs inside the fresh debootstrap root (chroot; under QEMU for arm64).
prep_rootfs() { # root
    local r=$1
    # python, python3, pip, pip3 in /usr/local/bin, packages in /usr/local/lib/python3.X/site-packages,
    # as the official python:3.X-slim has them.
    chroot "$r" /usr/bin/python3 -m venv /usr/local
    local whl
    whl=$(cd "$r" && echo usr/share/python-wheels/wheel-*.whl)
    chroot "$r" /usr/local/bin/python -m pip install -q --no-index --no-cache-dir "/$whl"
    # Debian's own slim settings (as debian:bookworm-slim): later apt installs skip docs too,
    # and apt drops its downloaded .debs.
    mkdir -p "$r/etc/dpkg/dpkg.cfg.d" "$r/etc/apt/apt.conf.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' \
        'path-exclude /usr/share/lintian/*' >"$r/etc/dpkg/dpkg.cfg.d/docker-slim"
    printf '%s\n' \
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$r/etc/apt/apt.conf.d/docker-clean"
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/man/* "$r"/usr/share/groff/* \
        "$r"/usr/share/lintian/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
        "$r"/var/lib/apt/lists/* "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* \
        "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old
    # The headers stay; the 25 MB static libpython (which python:3.X-slim does not have) goes.
    find "$r/usr/lib" -name 'libpython3*.a' -delete
    # The standard library's .pyc files stay, as in python:3.X-slim: without them every start
    # as a non-root user compiles the imports again (slow under QEMU).
}

DOCKERFILE=$(cat <<EOF
# Written by ci/python-images.sh: a test-only stand-in for python:$PY_MINOR-slim.
FROM scratch
ADD rootfs.tar /
COPY ca-bundle.crt $IMAGE_CA
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 \\
    PYTHON_VERSION=__PYTHON_VERSION__ \\
    PIP_CERT=$IMAGE_CA \\
    SSL_CERT_FILE=$IMAGE_CA \\
    REQUESTS_CA_BUNDLE=$IMAGE_CA \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
EOF
)
sha() { sha256sum | cut -c1-16; }
ROOTFS_RECIPE=$({ echo "$SUITE $INCLUDE minbase"; declare -f prep_rootfs; } | sha)
CA_SHA=$(sha <"$HOST_CA")
RECIPE=$({ echo "$ROOTFS_RECIPE $CA_SHA"; echo "$DOCKERFILE"; } | sha)

INDEX_REF="$PUB/$REPO:$TAG"
arch_ref() { echo "$PUB/$REPO:$TAG-$1"; }

# ---------------------------------------------------------------------------
# 3. what is already there
# ---------------------------------------------------------------------------
ACCEPT='application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'
reg_get() { curl -sf -m 10 -H "Accept: $ACCEPT" "http://$1/v2/$REPO/$2"; }

# The registry's index is complete and of this recipe: both children, each with our label.
registry_ok() { # addr
    local idx arch d m cfg
    idx=$(reg_get "$1" "manifests/$TAG") || return 1
    for arch in "${ARCHES[@]}"; do
        d=$(jq -r --arg a "$arch" '[.manifests[]? | select(.platform.os=="linux" and .platform.architecture==$a) | .digest][0] // empty' <<<"$idx")
        [ -n "$d" ] || return 1
        m=$(reg_get "$1" "manifests/$d") || return 1
        cfg=$(reg_get "$1" "blobs/$(jq -r .config.digest <<<"$m")") || return 1
        [ "$(jq -r --arg l "$RECIPE_LABEL" '"\(.architecture) \(.config.Labels[$l] // "")"' <<<"$cfg")" = "$arch $RECIPE" ] || return 1
    done
}
# The local one-arch tag exists, has the right architecture and this recipe.
local_ok() { # arch
    [ "$(docker image inspect --format "{{.Os}}/{{.Architecture}} {{index .Config.Labels \"$RECIPE_LABEL\"}}" "$(arch_ref "$1")" 2>/dev/null)" = "linux/$1 $RECIPE" ]
}

emit_env() {
    local digest
    digest=$(curl -sfI -m 10 -H "Accept: $ACCEPT" "http://$PUB/v2/$REPO/manifests/$TAG" |
        tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
    [ -n "$digest" ] || die "cannot read the digest of $INDEX_REF"
    cat <<EOF
export AZDEPLOY_CI_PYTHON_REGISTRY=$PUB
export AZDEPLOY_CI_PYTHON_IMAGE=$INDEX_REF
export AZDEPLOY_CI_PYTHON_IMAGE_DIGEST=$digest
export AZDEPLOY_CI_PYTHON_IMAGE_AMD64=$(arch_ref amd64)
export AZDEPLOY_CI_PYTHON_IMAGE_ARM64=$(arch_ref arm64)
export AZDEPLOY_CI_PYTHON_VERSION=$PY_MINOR
EOF
}

if registry_ok "$PUB"; then
    for arch in "${ARCHES[@]}"; do
        if ! local_ok "$arch"; then
            log "local tag $(arch_ref "$arch") missing or stale: pulling it from $PUB"
            docker pull -q --platform "linux/$arch" "$(arch_ref "$arch")" >&2 ||
                die "docker pull $(arch_ref "$arch") failed"
            local_ok "$arch" || die "$(arch_ref "$arch") pulled from $PUB is not linux/$arch of recipe $RECIPE"
        fi
    done
    log "ready: $INDEX_REF (recipe $RECIPE)"
    emit_env
    exit 0
fi

# ---------------------------------------------------------------------------
# 4. rootfs tarballs (cached; amd64 and arm64 made side by side)
# ---------------------------------------------------------------------------
rootfs_tar() { echo "$PY_DIR/rootfs-$SUITE-$1.tar"; }
rootfs_ok() { [ -s "$(rootfs_tar "$1")" ] && [ "$(cat "$(rootfs_tar "$1").recipe" 2>/dev/null)" = "$ROOTFS_RECIPE" ]; }

make_rootfs() { # arch mirror
    local arch=$1 mirror=$2 root="$PY_DIR/work-$1" tar
    tar=$(rootfs_tar "$arch")
    safe_rm "$root"
    echo "== $(date +%T) debootstrap $arch"
    debootstrap --arch="$arch" --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$mirror"
    echo "== $(date +%T) prep_rootfs"
    prep_rootfs "$root"
    local v
    v=$(chroot "$root" /usr/local/bin/python --version 2>&1)
    case "$v" in "Python $PY_MINOR".*) ;; *) echo "unexpected Python in the $arch rootfs: $v" >&2; return 1;; esac
    chroot "$root" /usr/local/bin/pip --version
    echo "${v#Python }" >"$root/.azdeploy-python-version"
    echo "== $(date +%T) tar"
    rm -f "$tar.tmp"
    tar --numeric-owner -C "$root" -cf "$tar.tmp" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude=./.azdeploy-python-version .
    mv -f "$root/.azdeploy-python-version" "$tar.python-version"
    mv -f "$tar.tmp" "$tar"
    echo "$ROOTFS_RECIPE" >"$tar.recipe"
    safe_rm "$root"
    echo "== $(date +%T) done"
}

need=()
for arch in "${ARCHES[@]}"; do
    if local_ok "$arch"; then continue; fi   # the image is there: the rootfs is not needed
    rootfs_ok "$arch" || need+=("$arch")
done
binfmt_on() { head -n1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null | grep -qx enabled; }
attempt=1
while [ "${#need[@]}" -gt 0 ]; do
    MIRROR=$(debian_mirror)
    if [[ " ${need[*]} " == *" arm64 "* ]] && ! binfmt_on; then
        die "the qemu-aarch64 binfmt entry is missing or disabled; run ci/engine-up.sh (it repairs it)"
    fi
    log "debootstrap $SUITE minbase + $INCLUDE for ${need[*]} from $MIRROR (arm64 runs under QEMU; logs: $PY_DIR/debootstrap-ARCH.log)"
    for arch in "${need[@]}"; do
        TMP_DIRS+=("$PY_DIR/work-$arch")
        make_rootfs "$arch" "$MIRROR" >"$PY_DIR/debootstrap-$arch.log" 2>&1 &
        BG_PIDS+=("$!")
    done
    failed=()
    for i in "${!need[@]}"; do
        if wait "${BG_PIDS[$i]}"; then
            log "rootfs ${need[$i]}: $(du -sh "$(rootfs_tar "${need[$i]}")" | cut -f1), Python $(cat "$(rootfs_tar "${need[$i]}").python-version")"
        else
            failed+=("${need[$i]}")
        fi
    done
    BG_PIDS=()
    [ "${#failed[@]}" -gt 0 ] || break
    emulation_lost=0
    for arch in "${failed[@]}"; do
        # debootstrap's own detailed log lives in the root about to be removed: keep it.
        cp "$PY_DIR/work-$arch/debootstrap/debootstrap.log" "$PY_DIR/debootstrap-$arch.detail.log" 2>/dev/null || true
        log "rootfs $arch failed; last lines of $PY_DIR/debootstrap-$arch.log (details: debootstrap-$arch.detail.log):"
        tail -n 25 "$PY_DIR/debootstrap-$arch.log" >&2 || true
        if grep -q 'Exec format error' "$PY_DIR/debootstrap-$arch.log" "$PY_DIR/debootstrap-$arch.detail.log" 2>/dev/null; then
            emulation_lost=1
        fi
    done
    # 'Exec format error' in the emulated part while the entry is on again: something switched
    # QEMU's binfmt entry off meanwhile (a test that toggles it, on a shared machine). Once more.
    if [ "$emulation_lost" = 1 ] && [ "$attempt" = 1 ] && binfmt_on; then
        log "the qemu-aarch64 binfmt entry was off for a while during the run ('Exec format error'); trying ${failed[*]} once more"
        need=("${failed[@]}")
        attempt=2
        continue
    fi
    if [ "$emulation_lost" = 1 ]; then
        die "the emulated rootfs met 'Exec format error': the qemu-aarch64 binfmt entry was off during the run (now: $(head -n1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>&1)); a test that toggles it may have run meanwhile. Run ci/engine-up.sh again when no such test runs"
    fi
    die "making the rootfs for ${failed[*]} failed (log tail above); check the Debian mirror"
done

# ---------------------------------------------------------------------------
# 5. one image per architecture (FROM scratch, no RUN step: nothing runs under QEMU here)
# ---------------------------------------------------------------------------
for arch in "${ARCHES[@]}"; do
    if local_ok "$arch"; then continue; fi
    ref=$(arch_ref "$arch")
    ctx=$(mktemp -d "$PY_DIR/ctx-$arch.XXXXXX")
    TMP_DIRS+=("$ctx")
    ln "$(rootfs_tar "$arch")" "$ctx/rootfs.tar" 2>/dev/null || cp "$(rootfs_tar "$arch")" "$ctx/rootfs.tar"
    cp "$HOST_CA" "$ctx/ca-bundle.crt"
    pyver=$(cat "$(rootfs_tar "$arch").python-version")
    printf '%s\n' "${DOCKERFILE/__PYTHON_VERSION__/$pyver}" >"$ctx/Dockerfile"
    old_id=$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
    log "building $ref (linux/$arch, Python $pyver)"
    docker buildx build --platform "linux/$arch" --load --progress=plain -t "$ref" \
        --label "$RECIPE_LABEL=$RECIPE" \
        --label "org.opencontainers.image.description=test-only stand-in for python:$PY_MINOR-slim (Debian $SUITE, with this machine's CA bundle)" \
        "$ctx" >"$PY_DIR/build-$arch.log" 2>&1 ||
        { tail -n 25 "$PY_DIR/build-$arch.log" >&2; die "docker buildx build for linux/$arch failed (log tail above, full log $PY_DIR/build-$arch.log)"; }
    safe_rm "$ctx"
    # The image this tag named before (an older recipe) is ours and now untagged: drop it,
    # unless something still uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$ref")" ] &&
        [ "$(docker image inspect --format '{{len .RepoTags}}' "$old_id" 2>/dev/null)" = 0 ]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    local_ok "$arch" || die "$ref is not labelled linux/$arch after the build: $(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$ref" 2>&1)"
    # What a test relies on, checked in the image itself (arm64 under QEMU: ~2 s).
    out=$(docker run --rm --network none --platform "linux/$arch" "$ref" sh -ec \
        'uname -m; for c in python python3 pip useradd; do command -v $c; done; python -c "import ssl, sqlite3, venv, sys; print(sys.prefix)"; pip --version' 2>&1) ||
        die "smoke test of $ref failed: $out"
    want=x86_64; [ "$arch" = arm64 ] && want=aarch64
    [ "$(head -n1 <<<"$out")" = "$want" ] || die "$ref runs as $(head -n1 <<<"$out"), not $want: $out"
    grep -qx /usr/local/bin/pip <<<"$out" || die "$ref has no /usr/local/bin/pip: $out"
    grep -qx /usr/local <<<"$out" || die "$ref's sys.prefix is not /usr/local: $out"
    log "$ref: $(docker image inspect --format '{{.Os}}/{{.Architecture}}, {{.Size}} bytes' "$ref"), $(tail -n1 <<<"$out" | cut -d' ' -f1-2)"
done

# ---------------------------------------------------------------------------
# 6. publish: per-arch manifests + the multi-arch index, through a temporary writable
#    registry on the public one's storage (the public one stays read-only)
# ---------------------------------------------------------------------------
TMP_PORT=""
for p in $(seq 15001 15099); do
    if [ "$(http_code "http://127.0.0.1:$p/")" = 000 ] && ! ss -ltn "sport = :$p" 2>/dev/null | grep -q LISTEN; then
        TMP_PORT=$p; break
    fi
done
[ -n "$TMP_PORT" ] || die "no free port in 15001-15099 for the temporary registry"
TMP_REG_DIR=$(mktemp -d /tmp/azdeploy-pyreg.XXXXXX)
registry_config "$TMP_REG_DIR/config.yml" "127.0.0.1:$TMP_PORT" false
log "publishing through a temporary writable registry on 127.0.0.1:$TMP_PORT"
start_registry "$TMP_REG_DIR/config.yml" "$TMP_REG_DIR/registry.log" TMP_REG_PID "127.0.0.1:$TMP_PORT"
W="127.0.0.1:$TMP_PORT"
for arch in "${ARCHES[@]}"; do
    TMP_TAGS+=("$W/$REPO:$TAG-$arch")
    docker tag "$(arch_ref "$arch")" "$W/$REPO:$TAG-$arch"
    docker push -q "$W/$REPO:$TAG-$arch" >&2 || die "docker push $W/$REPO:$TAG-$arch failed (log $TMP_REG_DIR/registry.log)"
done
docker buildx imagetools create -t "$W/$REPO:$TAG" "$W/$REPO:$TAG-amd64" "$W/$REPO:$TAG-arm64" >&2 ||
    die "docker buildx imagetools create $W/$REPO:$TAG failed"
stop_pid "$TMP_REG_PID" docker-registry; TMP_REG_PID=""
registry_ok "$PUB" || die "$INDEX_REF is not complete in the public registry after the push"
docker buildx imagetools inspect "$INDEX_REF" >&2

# ---------------------------------------------------------------------------
# 7. proof that a build with the docker driver can start FROM the index for both platforms
# ---------------------------------------------------------------------------
for arch in "${ARCHES[@]}"; do
    ctx=$(mktemp -d "$PY_DIR/ctx-from-$arch.XXXXXX")
    TMP_DIRS+=("$ctx")
    # shellcheck disable=SC2016 # the $ are for the Dockerfile
    printf 'ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\nRUN echo "machine=$(python -c "import platform; print(platform.machine())")"\n' >"$ctx/Dockerfile"
    out=$(docker buildx build --platform "linux/$arch" --no-cache --progress=plain --output type=cacheonly --network none \
        --build-arg "PYTHON_IMAGE=$INDEX_REF" "$ctx" 2>&1) ||
        { printf '%s\n' "$out" | tail -n 20 >&2; die "docker buildx build FROM $INDEX_REF for linux/$arch failed (tail above)"; }
    want=x86_64; [ "$arch" = arm64 ] && want=aarch64
    grep -q "machine=$want" <<<"$out" ||
        { printf '%s\n' "$out" | tail -n 20 >&2; die "a linux/$arch build FROM $INDEX_REF did not run on $want (tail above)"; }
    safe_rm "$ctx"
done
log "a linux/amd64 and a linux/arm64 build FROM $INDEX_REF each got their own architecture"
log "ready: $INDEX_REF (recipe $RECIPE)"
emit_env
