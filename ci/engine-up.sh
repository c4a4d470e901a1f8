#!/usr/bin/env bash
# Bring up a real Docker engine, buildx, QEMU emulation and a password-protected
# local registry on a bare Debian 12 (bookworm) machine, as root.
#
# Idempotent: on an already set-up machine it only checks (well under a second)
# and repairs what is missing (stopped dockerd or registry, disabled binfmt entry).
# Safe to run concurrently: a lock serialises runs.
#
# Writes the facts tests need to $AZDEPLOY_CI_DIR/env (default /opt/azdeploy-ci/env)
# as shell `export` lines:
#   AZDEPLOY_CI_REGISTRY, AZDEPLOY_CI_REGISTRY_USER, AZDEPLOY_CI_REGISTRY_PASSWORD,
#   AZDEPLOY_CI_REGISTRY_TOKEN (password of the all-zero-GUID user, as ACR tokens use),
#   AZDEPLOY_CI_BUSYBOX_AMD64, AZDEPLOY_CI_BUSYBOX_ARM64,
#   and from ci/python-images.sh (real Python base images, multi-arch, in an anonymous-pull
#   registry on 127.0.0.1:5001; 3 to 9 minutes the first time, see docs/real-python.md):
#   AZDEPLOY_CI_PYTHON_REGISTRY, AZDEPLOY_CI_PYTHON_IMAGE, AZDEPLOY_CI_PYTHON_IMAGE_DIGEST,
#   AZDEPLOY_CI_PYTHON_IMAGE_AMD64, AZDEPLOY_CI_PYTHON_IMAGE_ARM64, AZDEPLOY_CI_PYTHON_VERSION
#
# Environment knobs:
#   AZDEPLOY_CI_DIR            state dir (default /opt/azdeploy-ci)
#   AZDEPLOY_CI_REGISTRY_PORT  registry port on 127.0.0.1 (default 5000)
#
# See docs/engine-recipe.md in the shared docs for the background.
set -euo pipefail

CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
REG_PORT="${AZDEPLOY_CI_REGISTRY_PORT:-5000}"
REG_USER="azdeploy"
REG_PASS="azdeploy-ci-secret"
# ACR access tokens log in as the all-zero GUID; the registry knows that user too, so the
# `az acr login --expose-token` path can be tested against it.
TOKEN_USER="00000000-0000-0000-0000-000000000000"
TOKEN_PASS="azdeploy-ci-acr-token-5f1c"
DOCKERD_LOG=/var/log/azdeploy-dockerd.log
REGISTRY_LOG=/var/log/azdeploy-registry.log
BUILDX_PLUGIN=/usr/libexec/docker/cli-plugins/docker-buildx
BINFMT_DIR=/proc/sys/fs/binfmt_misc
PACKAGES=(docker.io qemu-user-static binfmt-support docker-registry apache2-utils
          busybox-static binutils curl hyperfine
          iproute2 procps)  # the fault suite: a private dockerd's bridge (ip), pkill/ps

export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

T0=$(date +%s.%N)
log() { printf '[engine-up %6.1fs] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root"

mkdir -p "$CI_DIR"
# Serialise concurrent runs (two test processes calling this at once). The lock fd
# is closed for the daemons started below (9>&-): a daemon inheriting it would hold
# the lock for its whole life and block every later run.
exec 9>"$CI_DIR/engine-up.flock"
flock -w 300 9 || die "another ci/engine-up.sh holds $CI_DIR/engine-up.flock for over 300 s"

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# A temporary policy-rc.d that forbids service starts during package installs
# (there is no systemd here); only if the machine has none of its own.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
PRIV_APT_DIR=""
cleanup() {
    if [ "$POLICY_RC_OURS" = 1 ]; then rm -f "$POLICY_RC"; fi
    if [ -n "$PRIV_APT_DIR" ]; then rm -rf "$PRIV_APT_DIR"; fi
}
trap cleanup EXIT

ensure_policy_rc() {
    if [ ! -e "$POLICY_RC" ]; then
        printf '#!/bin/sh\n# temporary, written by ci/engine-up.sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
        POLICY_RC_OURS=1
    fi
}

mount_binfmt_misc() {
    if [ ! -e "$BINFMT_DIR/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" || die "cannot mount binfmt_misc on $BINFMT_DIR"
    fi
}

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    # qemu-user-static / binfmt-support register their handlers at install time
    # when binfmt_misc is mounted.
    mount_binfmt_misc || true
    ensure_policy_rc
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null
    if [ "$POLICY_RC_OURS" = 1 ]; then rm -f "$POLICY_RC"; POLICY_RC_OURS=0; fi
    log "packages installed"
fi

# ---------------------------------------------------------------------------
# 2 + 4. buildx (trixie) and busybox-static:arm64 (bookworm), both fetched with
# a private apt state dir so the machine's apt config is left untouched (no
# trixie source, no arm64 foreign architecture added to the system).
# ---------------------------------------------------------------------------
BUSYBOX_AMD64="$CI_DIR/busybox-amd64"
BUSYBOX_ARM64="$CI_DIR/busybox-arm64"

need_buildx=0; need_bb_arm64=0
{ pkg_installed docker-buildx && [ -x "$BUILDX_PLUGIN" ]; } || need_buildx=1
[ -x "$BUSYBOX_ARM64" ] || need_bb_arm64=1

if [ "$need_buildx" = 1 ] || [ "$need_bb_arm64" = 1 ]; then
    MIRROR=$(debian_mirror)
    PRIV_APT_DIR=$(mktemp -d /tmp/azdeploy-apt.XXXXXX)
    mkdir -p "$PRIV_APT_DIR/sources" "$PRIV_APT_DIR/lists/partial" \
             "$PRIV_APT_DIR/cache/archives/partial" "$PRIV_APT_DIR/debs"
    # apt downloads as the unprivileged _apt user: let it write there.
    chmod -R 755 "$PRIV_APT_DIR"
    chown -R _apt:root "$PRIV_APT_DIR/lists" "$PRIV_APT_DIR/cache" "$PRIV_APT_DIR/debs" 2>/dev/null || true
    {
        if [ "$need_buildx" = 1 ]; then
            printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nArchitectures: amd64\nTargets: Packages\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$MIRROR"
        fi
        if [ "$need_bb_arm64" = 1 ]; then
            printf 'Types: deb\nURIs: %s\nSuites: bookworm\nComponents: main\nArchitectures: arm64\nTargets: Packages\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$MIRROR"
        fi
    } >"$PRIV_APT_DIR/sources/azdeploy-ci.sources"
    PRIV_APT=(-o Dir::Etc::SourceList=/dev/null
              -o "Dir::Etc::SourceParts=$PRIV_APT_DIR/sources"
              -o "Dir::State::Lists=$PRIV_APT_DIR/lists"
              -o "Dir::Cache=$PRIV_APT_DIR/cache"
              -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
              -o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
    log "private apt update from $MIRROR (buildx=$need_buildx busybox-arm64=$need_bb_arm64)"
    apt-get "${PRIV_APT[@]}" update -q
    if [ "$need_buildx" = 1 ]; then
        (cd "$PRIV_APT_DIR/debs" && apt-get "${PRIV_APT[@]}" download docker-buildx)
        deb=$(ls "$PRIV_APT_DIR"/debs/docker-buildx_*.deb)
        log "installing $(basename "$deb")"
        dpkg -i "$deb" </dev/null
    fi
    if [ "$need_bb_arm64" = 1 ]; then
        (cd "$PRIV_APT_DIR/debs" && apt-get "${PRIV_APT[@]}" download busybox-static:arm64)
        deb=$(ls "$PRIV_APT_DIR"/debs/busybox-static_*_arm64.deb)
        dpkg-deb -x "$deb" "$PRIV_APT_DIR/bb-arm64"
        bb=$(find "$PRIV_APT_DIR/bb-arm64" -type f -path '*/bin/busybox' | head -n1)
        [ -n "$bb" ] || die "no busybox binary in $(basename "$deb")"
        install -m 0755 "$bb" "$BUSYBOX_ARM64.tmp"
        mv -f "$BUSYBOX_ARM64.tmp" "$BUSYBOX_ARM64"
        log "arm64 busybox from $(basename "$deb") -> $BUSYBOX_ARM64"
    fi
    rm -rf "$PRIV_APT_DIR"; PRIV_APT_DIR=""
fi
[ -x "$BUILDX_PLUGIN" ] || die "$BUILDX_PLUGIN missing after install"
readelf -h "$BUSYBOX_ARM64" | grep -q 'AArch64' || die "$BUSYBOX_ARM64 is not an AArch64 binary"

# amd64 busybox: a copy of the host's static one.
if [ ! -x "$BUSYBOX_AMD64" ] || ! cmp -s /bin/busybox "$BUSYBOX_AMD64"; then
    install -m 0755 /bin/busybox "$BUSYBOX_AMD64.tmp"
    mv -f "$BUSYBOX_AMD64.tmp" "$BUSYBOX_AMD64"
fi
readelf -d "$BUSYBOX_AMD64" 2>/dev/null | grep -q NEEDED && die "$BUSYBOX_AMD64 is not static"

# ---------------------------------------------------------------------------
# 3. QEMU binfmt
# ---------------------------------------------------------------------------
mount_binfmt_misc
if [ "$(cat "$BINFMT_DIR/status")" != enabled ]; then
    log "binfmt_misc globally disabled: enabling"
    echo 1 >"$BINFMT_DIR/status"
fi
if [ ! -e "$BINFMT_DIR/qemu-aarch64" ]; then
    log "registering binfmt handlers (update-binfmts --enable)"
    update-binfmts --enable || true
fi
[ -e "$BINFMT_DIR/qemu-aarch64" ] || die "$BINFMT_DIR/qemu-aarch64 missing after update-binfmts --enable"
if ! head -n1 "$BINFMT_DIR/qemu-aarch64" | grep -qx enabled; then
    log "qemu-aarch64 binfmt entry was disabled: re-enabling"
    echo 1 >"$BINFMT_DIR/qemu-aarch64"
fi
head -n1 "$BINFMT_DIR/qemu-aarch64" | grep -qx enabled || die "qemu-aarch64 binfmt entry not enabled"
BINFMT_FLAGS=$(awk '/^flags:/ {print $2}' "$BINFMT_DIR/qemu-aarch64")
case "$BINFMT_FLAGS" in *F*) ;; *) die "qemu-aarch64 binfmt flags '$BINFMT_FLAGS' lack F (fix-binary), needed for containers";; esac

# ---------------------------------------------------------------------------
# 5. dockerd (on the default socket /var/run/docker.sock)
# ---------------------------------------------------------------------------
engine_up() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# proc_alive (ci/lib.sh) for the pid a pid file names.
pidfile_alive() { # pidfile comm
    [ -s "$1" ] && proc_alive "$(cat "$1" 2>/dev/null)" "$2"
}

start_dockerd() {
    # A stale pid file left by a killed dockerd would stop a new one from starting.
    rm -f /var/run/docker.pid
    # dockerd reuses the containerd named in this pid file if that pid "exists"; a
    # zombie does, so dockerd would wait 15 s for a socket that never comes and exit
    # ("timeout waiting for containerd to start").
    local ctr_pid=/var/run/docker/containerd/containerd.pid
    if [ -e "$ctr_pid" ] && ! pidfile_alive "$ctr_pid" containerd; then
        rm -f "$ctr_pid"
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$CI_DIR/dockerd.pid"
    WAIT_PID=$!
}

if ! engine_up; then
    OWN=0
    if pidfile_alive /var/run/docker.pid dockerd; then
        WAIT_PID=$(cat /var/run/docker.pid)
        log "dockerd (pid $WAIT_PID) runs but does not answer yet; waiting for it"
    else
        start_dockerd; OWN=1
    fi
    for _ in $(seq 1 120); do
        engine_up && break
        if ! proc_alive "$WAIT_PID"; then
            if [ "$OWN" = 0 ]; then
                log "dockerd (pid $WAIT_PID) went away"
                start_dockerd; OWN=1
            else
                tail -n 40 "$DOCKERD_LOG" >&2 || true
                die "dockerd exited during startup (log tail above, full log in $DOCKERD_LOG)"
            fi
        fi
        sleep 0.5
    done
    if ! engine_up; then
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        die "dockerd did not answer within 60 s (log tail above, full log in $DOCKERD_LOG)"
    fi
    log "dockerd is up"
fi
# A second dockerd started with --bridge=none deletes the host's docker0 (dockerd's
# removeDefaultBridgeInterface); the running engine then fails every `docker run` on the default
# network ("could not find bridge docker0"). Put it back as dockerd made it.
if ! ip link show docker0 >/dev/null 2>&1; then
    BRIDGE_NET=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
    BRIDGE_NET=${BRIDGE_NET:-172.17.0.1}
    log "docker0 is gone (another dockerd with --bridge=none?): recreating it as $BRIDGE_NET/16"
    ip link add docker0 type bridge
    ip addr add "$BRIDGE_NET/16" dev docker0
    ip link set docker0 up
fi

# ---------------------------------------------------------------------------
# 6. password-protected registry (distribution 2.8) on 127.0.0.1:$REG_PORT
# ---------------------------------------------------------------------------
REG_DIR="$CI_DIR/registry"
mkdir -p "$REG_DIR/data"
registry_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null || true; }

# htpasswd (bcrypt is required by distribution); rewritten only when missing or wrong.
if [ ! -s "$REG_DIR/htpasswd" ] ||
    ! htpasswd -vb "$REG_DIR/htpasswd" "$REG_USER" "$REG_PASS" >/dev/null 2>&1 ||
    ! htpasswd -vb "$REG_DIR/htpasswd" "$TOKEN_USER" "$TOKEN_PASS" >/dev/null 2>&1; then
    { htpasswd -Bbn "$REG_USER" "$REG_PASS"; htpasswd -Bbn "$TOKEN_USER" "$TOKEN_PASS"; } |
        grep -v '^$' >"$REG_DIR/htpasswd"
    # The registry reads the file at start: restart a running one.
    if pidfile_alive "$CI_DIR/registry.pid" docker-registry; then
        log "users changed; restarting the registry"
        kill "$(cat "$CI_DIR/registry.pid")" || true
        for _ in $(seq 1 20); do [ "$(registry_code)" = 401 ] || break; sleep 0.25; done
    fi
fi
cat >"$REG_DIR/config.yml.new" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$REG_PORT
  secret: azdeploy-ci-not-a-secret
auth:
  htpasswd:
    realm: azdeploy-ci
    path: $REG_DIR/htpasswd
EOF
mv -f "$REG_DIR/config.yml.new" "$REG_DIR/config.yml"

if [ "$(registry_code)" != 401 ]; then
    code=$(registry_code)
    if [ "$code" != 000 ] && [ -n "$code" ]; then
        die "something else answers on 127.0.0.1:$REG_PORT (HTTP $code); set AZDEPLOY_CI_REGISTRY_PORT"
    fi
    if pidfile_alive "$CI_DIR/registry.pid" docker-registry; then
        log "registry (pid $(cat "$CI_DIR/registry.pid")) runs but does not answer; restarting it"
        kill "$(cat "$CI_DIR/registry.pid")" || true
        sleep 0.5
    fi
    log "starting docker-registry on 127.0.0.1:$REG_PORT (log: $REGISTRY_LOG)"
    setsid nohup docker-registry serve "$REG_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$CI_DIR/registry.pid"
    for _ in $(seq 1 60); do
        [ "$(registry_code)" = 401 ] && break
        if ! proc_alive "$(cat "$CI_DIR/registry.pid")"; then
            tail -n 20 "$REGISTRY_LOG" >&2 || true
            die "docker-registry exited during startup"
        fi
        sleep 0.25
    done
    [ "$(registry_code)" = 401 ] || { tail -n 20 "$REGISTRY_LOG" >&2 || true; die "registry did not answer 401 within 15 s"; }
    log "registry is up"
fi

# ---------------------------------------------------------------------------
# 6b. real Python base images (its own lock, log lines on stderr, export lines on stdout)
# ---------------------------------------------------------------------------
PYTHON_ENV=$(bash "$(dirname "${BASH_SOURCE[0]}")/python-images.sh" 9>&-) ||
    die "ci/python-images.sh failed (its log is above)"

# ---------------------------------------------------------------------------
# 7. facts for tests
# ---------------------------------------------------------------------------
cat >"$CI_DIR/env.new" <<EOF
# written by ci/engine-up.sh; source it: . $CI_DIR/env
export AZDEPLOY_CI_REGISTRY=127.0.0.1:$REG_PORT
export AZDEPLOY_CI_REGISTRY_USER=$REG_USER
export AZDEPLOY_CI_REGISTRY_PASSWORD=$REG_PASS
export AZDEPLOY_CI_REGISTRY_TOKEN=$TOKEN_PASS
export AZDEPLOY_CI_BUSYBOX_AMD64=$BUSYBOX_AMD64
export AZDEPLOY_CI_BUSYBOX_ARM64=$BUSYBOX_ARM64
$PYTHON_ENV
EOF
mv -f "$CI_DIR/env.new" "$CI_DIR/env"

server_version=$(docker version --format '{{.Server.Version}}')
buildx_version=$(docker buildx version)
log "ready"
cat <<EOF
engine-up: docker server $server_version (client $(docker version --format '{{.Client.Version}}'))
engine-up: buildx       $buildx_version
engine-up: binfmt       qemu-aarch64 $(head -n1 "$BINFMT_DIR/qemu-aarch64"), flags $BINFMT_FLAGS
engine-up: registry     http://127.0.0.1:$REG_PORT (user $REG_USER), data in $REG_DIR/data
engine-up: env file     $CI_DIR/env
EOF
