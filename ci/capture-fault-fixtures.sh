#!/usr/bin/env bash
# Capture what the REAL docker, buildx, az and Rust std print (stdout, stderr, exit code) for each
# outside fault, into tests/fixtures/captured/faults/<case>.<tool>.{stdout,stderr,exitcode}, and
# write that directory's README.md (the command behind each file, the tool versions, and the key
# substring a hint matcher should look for, checked against the captured text).
#
# Needs: root; the engine and registries of ci/engine-up.sh (run it first); the real az of
# ci/az-install.sh; rustc; openssl; unshare (util-linux). Run alone: it uses fixed ports
# (5991-5999 on 127.0.0.1 and ::1) and the fixed work dir /tmp/azdeploy-faults, because ports and
# paths appear in the captured messages; a lock refuses a second concurrent run.
#
# What it starts, and always removes on exit (also when a previous run was killed midway):
#   - ci/fault-stub/registry_stub.py servers (a registry answering a fixed status code),
#   - two simulated Azures (tests/azure-sim/start.py),
#   - a private dockerd + containerd in their own mount namespace, on their own socket, data-root
#     and exec-root under /tmp/azdeploy-faults/engine (the shared dockerd is never stopped),
#   - two small tmpfs mounts (64 KiB, 256 KiB) under /tmp/azdeploy-faults,
#   - images tagged azdeploy-fault/* and 127.0.0.1:59xx/azdeploy-fault/* in the shared engine.
#
# Takes about 2 minutes (the slow docker retries run in parallel).
#
# Usage: bash ci/capture-fault-fixtures.sh [OUT_DIR]   (default tests/fixtures/captured/faults)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/captured/faults}
CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
# shellcheck disable=SC1091
. "$CI_DIR/env"
AZ=${AZDEPLOY_CI_AZ:-$CI_DIR/az-venv/bin/az}
STUB="$ROOT/ci/fault-stub/registry_stub.py"
SIM="$ROOT/tests/azure-sim/start.py"
REG=$AZDEPLOY_CI_REGISTRY            # the password registry (127.0.0.1:5000)
W=/tmp/azdeploy-faults               # fixed: these paths appear in captured messages
ENGINE=$W/engine                     # the private dockerd's sockets, roots, pid file
PSOCK=unix://$ENGINE/docker.sock
PBRIDGE=azdfault0
TLS_HOST=azdeploy-fault-tls.test     # resolves to ::1 only inside our mount namespaces
# Fixed ports (they appear in the messages).
P_REFUSED=5999 P_403=5991 P_429=5992 P_500=5993 P_503=5994 P_403PING=5995 P_PLAIN=5996 P_TLS=5997
IMG=azdeploy-fault/web:1             # the tiny image every push uses (FROM scratch + busybox)

log() { printf '[capture-faults] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (tmpfs mounts, a private dockerd)"
for t in docker rustc openssl unshare python3 curl mountpoint; do
    command -v "$t" >/dev/null || die "$t not found"
done
[ -x "$AZ" ] || die "az not found at $AZ (run ci/az-install.sh)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the shared engine does not answer: run ci/engine-up.sh"
[ "$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$REG/v2/")" = 401 ] || die "registry $REG does not answer 401: run ci/engine-up.sh"

exec 8>/tmp/azdeploy-faults.lock
flock -n 8 || die "another capture-fault-fixtures.sh runs (lock /tmp/azdeploy-faults.lock)"

# ---------------------------------------------------------------------------------------------
# cleanup: everything this script starts, by pid file / exact path; also run first, for the
# leftovers of a run that was killed.
# ---------------------------------------------------------------------------------------------
alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && ! { sed 's/^.*) //' "/proc/$1/stat" | grep -q '^[ZX]'; } 2>/dev/null; }
# kill_pidfile FILE NEEDLE: kill the pid in FILE if its command line contains NEEDLE.
kill_pidfile() {
    local pid
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    if alive "$pid" && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$2"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}
# Processes whose command line names our private engine's paths (containerd, shims), and the
# processes under them (container processes): by pid.
kill_engine_leftovers() {
    local pids="" p c
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$ENGINE/"; then pids="$pids $p"; fi
    done
    for p in $pids; do
        for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill -9 "$c" 2>/dev/null || true; done
    done
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    # The container processes recorded before the engine was killed (see engine_gone).
    if [ -s "$ENGINE/descendants" ]; then
        while read -r p cmd; do
            if alive "$p" && [ "$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)" = "$cmd" ]; then kill -9 "$p" 2>/dev/null || true; fi
        done <"$ENGINE/descendants"
    fi
}
cleanup() {
    set +e
    local f
    for f in "$W"/pids/*.pid; do [ -e "$f" ] && kill_pidfile "$f" registry_stub.py; done
    for f in "$W"/sim "$W"/simslow; do
        [ -d "$f" ] && python3 "$SIM" stop --state "$f" >/dev/null 2>&1
    done
    kill_pidfile "$ENGINE/dockerd.pid" "$ENGINE/"
    kill_engine_leftovers
    for f in "$W/full" "$W/full-az"; do mountpoint -q "$f" && umount "$f"; done
    ip link show "$PBRIDGE" >/dev/null 2>&1 && ip link del "$PBRIDGE"
    # The one image pushed to the real registry (for the 404 cases): delete its manifest.
    local dg
    dg=$(curl -s -I -m 5 -u "$AZDEPLOY_CI_REGISTRY_USER:$AZDEPLOY_CI_REGISTRY_PASSWORD" \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REG/v2/azdeploy-fault/web/manifests/1" | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}' | tr -d '\r')
    [ -n "$dg" ] && curl -s -o /dev/null -m 5 -X DELETE -u "$AZDEPLOY_CI_REGISTRY_USER:$AZDEPLOY_CI_REGISTRY_PASSWORD" \
        "http://$REG/v2/azdeploy-fault/web/manifests/$dg"
    docker image ls --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
        grep -E '(^|/)azdeploy-fault/' | xargs -r docker image rm -f >/dev/null 2>&1
    # Only our own dir; the engine's overlay mounts lived in its private mount namespace.
    rm -rf "$W"
    set -e
}
trap cleanup EXIT
cleanup
mkdir -p "$W/pids" "$OUT"
# az-timeout.* takes 20 minutes: only an AZDEPLOY_FAULTS_LONG=1 run replaces it.
LONG=${AZDEPLOY_FAULTS_LONG:-0}
find "$OUT" -maxdepth 1 -type f \( -name '*.stdout' -o -name '*.stderr' -o -name '*.exitcode' -o -name '*.rust-status' \) \
    \( "$([ "$LONG" = 1 ] && echo -true || echo -not)" -name 'az-timeout.*' \) -delete
MANIFEST=$W/manifest
: >"$MANIFEST"

# ---------------------------------------------------------------------------------------------
# capture helpers
# ---------------------------------------------------------------------------------------------
SIM_PORTS=()
# normalize FILE...: only what changes from run to run (see README "Normalisation").
normalize() {
    local f sp
    for f in "$@"; do
        sed -i -E \
            -e 's/time="[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"/time="<time>"/g' \
            -e "s/'[0-9]{2}\/[0-9]{2}\/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}'/'<utc-time>'/g" \
            -e 's/^(#[0-9]+ .*) [0-9]+\.[0-9]+s( done)?$/\1 <t>s\2/' \
            -e 's/^(#[0-9]+) [0-9]+\.[0-9]{3} /\1 <t> /' \
            -e 's/^(#[0-9]+ transferring (context|dockerfile): )[0-9.]+[kMG]?B/\1<n>B/' \
            -e 's/sha256:[0-9a-f]{64}/sha256:<id>/g' \
            -e 's#(/[^ /:"]*\.(json|tar))[0-9]{5,}#\1<random>#g' \
            "$f"
        for sp in "${SIM_PORTS[@]}"; do
            sed -i -E -e "s/127\.0\.0\.1:$sp([^0-9]|$)/127.0.0.1:<sim-port>\1/g" -e "s/port=$sp([^0-9]|$)/port=<sim-port>\1/g" "$f"
        done
    done
}
# cap CASE TOOL 'shown command' 'key substring' 'hint' -- cmd...
#   => OUT/CASE.TOOL.{stdout,stderr,exitcode}; the manifest row feeds the README and the key check.
cap() {
    local case=$1 tool=$2 shown=$3 key=$4 hint=$5 rc=0
    shift 6
    local base="$OUT/$case.$tool"
    "$@" >"$base.stdout" 2>"$base.stderr" </dev/null || rc=$?
    printf '%s\n' "$rc" >"$base.exitcode"
    normalize "$base.stdout" "$base.stderr"
    case $tool in buildx-build* | buildx-metadata-file) python3 "$ROOT/ci/fault-stub/buildkit_norm.py" "$base.stderr" ;; esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$shown" "$key" "$hint" >>"$MANIFEST"
    log "$case.$tool: exit $rc"
}
port_free() { ! (echo >"/dev/tcp/$1/$2") 2>/dev/null; }
# stub PORT BIND STATUS [extra args]: a registry_stub.py answering STATUS, listening on BIND:PORT.
stub() {
    local port=$1 bind=$2 status=$3
    shift 3
    port_free "$bind" "$port" || die "port $port on $bind is taken; free it or change P_* in this script"
    python3 "$STUB" --bind "$bind" --port "$port" --port-file "$W/pids/stub-$port.port" --status "$status" "$@" \
        2>>"$W/stub-$port.log" 9>&- 8>&- &
    echo $! >"$W/pids/stub-$port.pid"
    for _ in $(seq 1 40); do [ -s "$W/pids/stub-$port.port" ] && return 0; sleep 0.1; done
    die "stub on $bind:$port did not start (log: $W/stub-$port.log)"
}
# in_ns CMD...: run CMD with our /etc/hosts (TLS_HOST -> ::1) bound in a private mount namespace.
in_ns() { unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" "$@"; }
# az with a simulator's environment: azenv STATE [VAR=value | -VAR ...] -- az args...
# (-VAR leaves VAR out of the simulator's environment.)
azenv() {
    local state=$1
    shift
    local vars=() drop="^$"
    while [ "$1" != -- ]; do
        case $1 in -*) drop="$drop|^${1#-}=" ;; *) vars+=("$1") ;; esac
        shift
    done
    shift
    env $(grep -Ev "$drop" "$state/env.list") "${vars[@]}" "$AZ" "$@"
}
sim_start() { # STATE SCENARIO
    python3 "$SIM" --state "$1" --scenario "$2" >"$1.json" 9>&- 8>&-
    python3 -c 'import json,sys; [print(f"{k}={v}") for k,v in json.load(open(sys.argv[1]))["env"].items()]' "$1.json" >"$1/env.list"
    SIM_PORTS+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$1.json")")
}
scenario() { python3 "$SIM" scenario --state "$W/sim" "$1" >/dev/null; }

# ---------------------------------------------------------------------------------------------
# setup: the image, certificates, helper binaries, docker configs
# ---------------------------------------------------------------------------------------------
log "setup"
export DOCKER_CONFIG=$W/cfg-login          # logged in to $REG
CFG_EMPTY=$W/cfg-empty                     # logged in nowhere
CFG_STALE=$W/cfg-stale                     # holds a wrong password for $REG (an expired token)
mkdir -p "$DOCKER_CONFIG" "$CFG_EMPTY" "$CFG_STALE" "$W/ctx" "$W/ctx-slow" "$W/bin"
printf '%s\n' "$AZDEPLOY_CI_REGISTRY_PASSWORD" |
    docker login "$REG" -u "$AZDEPLOY_CI_REGISTRY_USER" --password-stdin >/dev/null 2>&1 || die "docker login $REG failed"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf '%s:expired-token' "$AZDEPLOY_CI_REGISTRY_USER" | base64)" >"$CFG_STALE/config.json"
# cp -p and COPY into / (no directory made): the layer, so its id in the push output, is then the
# same every run (a file's mtime and a created /bin's are part of the layer).
cp -p "$AZDEPLOY_CI_BUSYBOX_AMD64" "$W/ctx/busybox"
printf 'FROM scratch\nCOPY busybox /busybox\nENTRYPOINT ["/busybox"]\n' >"$W/ctx/Dockerfile"
cp -p "$AZDEPLOY_CI_BUSYBOX_AMD64" "$W/ctx-slow/busybox"
printf 'FROM scratch\nCOPY busybox /busybox\nRUN ["/busybox","sh","-c","echo building; sleep 30; echo built"]\n' >"$W/ctx-slow/Dockerfile"
docker buildx build -q --platform linux/amd64 --load -t "$IMG" "$W/ctx" >/dev/null
# Prime the build cache so the --push builds below print the same (CACHED) steps every run.
docker buildx build -q --platform linux/amd64 --load -t "$IMG" "$W/ctx" >/dev/null
# A CA nobody trusts, and a server certificate from it for $TLS_HOST.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=azdeploy fault CA" \
    -keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$TLS_HOST" -keyout "$W/tls.key" -out "$W/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$TLS_HOST" >"$W/tls.ext"
openssl x509 -req -in "$W/tls.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 30 \
    -extfile "$W/tls.ext" -out "$W/tls.pem" 2>/dev/null
printf '127.0.0.1 localhost\n::1 %s\n' "$TLS_HOST" >"$W/hosts"
rustc --edition 2021 -O -o "$W/bin/diskfull" "$ROOT/ci/fault-stub/diskfull.rs"
rustc --edition 2021 -O -o "$W/bin/sigrun" "$ROOT/ci/fault-stub/sigrun.rs"

# The private engine (for the TLS cases and for "engine gone"): its own mount namespace (so
# $TLS_HOST resolves to ::1, which dockerd does not treat as an insecure localhost registry),
# socket, data-root, exec-root, and its own bridge; no iptables (nothing else on the host
# network changes). Never --bridge=none: dockerd then deletes the host's docker0, which the
# running engine needs for every container on its default network.
mkdir -p "$ENGINE"
ip link add "$PBRIDGE" type bridge
ip addr add 172.31.252.1/24 dev "$PBRIDGE"
ip link set "$PBRIDGE" up
cat >"$ENGINE/run.sh" <<EOF
mount --bind $W/hosts /etc/hosts
exec dockerd --data-root $ENGINE/data --exec-root $ENGINE/exec --pidfile $ENGINE/dockerd.pid \\
    -H $PSOCK --bridge=$PBRIDGE --iptables=false --ip6tables=false
EOF
unshare -m sh "$ENGINE/run.sh" >"$ENGINE/dockerd.log" 2>&1 </dev/null 9>&- 8>&- &
for _ in $(seq 1 120); do docker -H "$PSOCK" version >/dev/null 2>&1 && break; sleep 0.5; done
docker -H "$PSOCK" version >/dev/null 2>&1 || { tail -20 "$ENGINE/dockerd.log" >&2; die "private dockerd did not start"; }
docker save "$IMG" | docker -H "$PSOCK" load -q >/dev/null

# Registry stubs (ci/fault-stub/registry_stub.py): /v2/ answers 200, everything else the status.
stub $P_403 127.0.0.1 403
stub $P_429 127.0.0.1 429
stub $P_500 127.0.0.1 500
stub $P_503 127.0.0.1 503
stub $P_403PING 127.0.0.1 403 --ping 403
stub $P_PLAIN ::1 200
stub $P_TLS ::1 200 --tls "$W/tls.pem" "$W/tls.key"
port_free 127.0.0.1 $P_REFUSED || die "port $P_REFUSED must have nothing listening"

# The simulated Azure, its config dir warmed (token and metadata cached) by one good call.
sim_start "$W/sim" healthy
azenv "$W/sim" -- containerapp show -n simapp -g rg-sim -o none
azenv "$W/sim" -- acr show -n simacr -o none
SIMPORT=${SIM_PORTS[0]}
# Config dirs whose ARM endpoint points elsewhere (AAD still the simulator, token cached).
arm_elsewhere() { # NAME HOST:PORT
    cp -r "$W/sim/azure-config" "$W/azcfg-$1"
    sed -i "s#^endpoint_resource_manager = .*#endpoint_resource_manager = https://$2/#" "$W/azcfg-$1/clouds.config"
}
arm_elsewhere refused 127.0.0.1:$P_REFUSED
arm_elsewhere nohost nosuchhost.invalid:5000

# ---------------------------------------------------------------------------------------------
# registry faults, one function per target registry; slow ones (docker retries) in parallel
# ---------------------------------------------------------------------------------------------
# registry_set CASE REGISTRY KEY HINT [which...]: docker push/pull/login, buildx build --push,
# imagetools inspect against REGISTRY. `which` limits the tools (default all).
registry_set() {
    local case=$1 r=$2 key=$3 hint=$4
    shift 4
    local which=" ${*:-push pull login buildx imagetools} "
    docker tag "$IMG" "$r/azdeploy-fault/web:1"
    [[ $which == *" push "* ]] && cap "$case" docker-push "docker push $r/azdeploy-fault/web:1" "$key" "$hint" -- \
        docker push "$r/azdeploy-fault/web:1"
    [[ $which == *" pull "* ]] && cap "$case" docker-pull "docker pull $r/azdeploy-fault/web:1" "$key" "$hint" -- \
        docker pull "$r/azdeploy-fault/web:1"
    [[ $which == *" login "* ]] && cap "$case" docker-login "echo secret | docker login $r -u azdeploy --password-stdin" "$key" "$hint" -- \
        sh -c 'echo secret | DOCKER_CONFIG="$1" docker login "$2" -u azdeploy --password-stdin' sh "$W/cfg-throwaway-$case" "$r"
    [[ $which == *" buildx "* ]] && cap "$case" buildx-build-push "docker buildx build --platform linux/amd64 --provenance=false --push -t $r/azdeploy-fault/web:2 CTX" "$key" "$hint" -- \
        docker buildx build --platform linux/amd64 --provenance=false --push -t "$r/azdeploy-fault/web:2" "$W/ctx"
    [[ $which == *" imagetools "* ]] && cap "$case" imagetools-inspect "docker buildx imagetools inspect $r/azdeploy-fault/web:1" "$key" "$hint" -- \
        docker buildx imagetools inspect "$r/azdeploy-fault/web:1"
    return 0
}

H_NET="the registry cannot be reached: check its name and port (and a VPN or proxy), then retry"
log "1. connection refused; 2. no such host"
registry_set conn-refused "127.0.0.1:$P_REFUSED" "connect: connection refused" \
    "nothing listens at the registry's address: check the registry name and port, or start the local registry"
registry_set no-such-host nosuchhost.invalid:5000 "no such host" \
    "the registry's host name does not resolve: check the registry name (ACR: <name>.azurecr.io) and your DNS/VPN"

log "5, 7. 403 / 500 / 503 push (docker retries for ~50 s: in parallel), 429"
H_403="the registry refused this identity (403): check it has push/pull rights on this repository (ACR: the AcrPush role), or the registry's firewall allows this network"
H_429="the registry is rate-limiting requests (429): wait a minute and retry"
H_5XX="the registry had a server error (5xx); docker already retried: retry later, or check the registry's status"
registry_set forbidden "127.0.0.1:$P_403" "denied" "$H_403" push buildx &
j1=$!
registry_set server-error-500 "127.0.0.1:$P_500" "received unexpected HTTP status: 500" "$H_5XX" push buildx &
j2=$!
registry_set unavailable-503 "127.0.0.1:$P_503" "received unexpected HTTP status: 503" "$H_5XX" push buildx &
j3=$!
registry_set forbidden "127.0.0.1:$P_403" "denied" "$H_403" pull
cap forbidden imagetools-inspect "docker buildx imagetools inspect 127.0.0.1:$P_403/azdeploy-fault/web:1" \
    "403 Forbidden" "$H_403" -- docker buildx imagetools inspect "127.0.0.1:$P_403/azdeploy-fault/web:1"
registry_set forbidden-login "127.0.0.1:$P_403PING" "failed with status: 403 Forbidden" "$H_403" login
registry_set too-many-requests "127.0.0.1:$P_429" "toomanyrequests" "$H_429" push pull buildx
cap too-many-requests imagetools-inspect "docker buildx imagetools inspect 127.0.0.1:$P_429/azdeploy-fault/web:1" \
    "429 Too Many Requests" "$H_429" -- docker buildx imagetools inspect "127.0.0.1:$P_429/azdeploy-fault/web:1"
registry_set server-error-500 "127.0.0.1:$P_500" "received unexpected HTTP status: 500" "$H_5XX" pull
cap server-error-500 imagetools-inspect "docker buildx imagetools inspect 127.0.0.1:$P_500/azdeploy-fault/web:1" \
    "500 Internal Server Error" "$H_5XX" -- docker buildx imagetools inspect "127.0.0.1:$P_500/azdeploy-fault/web:1"
registry_set unavailable-503 "127.0.0.1:$P_503" "received unexpected HTTP status: 503" "$H_5XX" pull
cap unavailable-503 imagetools-inspect "docker buildx imagetools inspect 127.0.0.1:$P_503/azdeploy-fault/web:1" \
    "503 Service Unavailable" "$H_5XX" -- docker buildx imagetools inspect "127.0.0.1:$P_503/azdeploy-fault/web:1"

log "4. 401 (real registry $REG)"
H_LOGIN="log in to the registry first: \`docker login <registry>\`, or for ACR \`az acr login --name <acr>\`"
H_STALE="the saved registry login was refused (expired ACR token or changed password): log in again (\`az acr login --name <acr>\` or \`docker login <registry>\`)"
docker tag "$IMG" "$REG/azdeploy-fault/web:1"
for pair in "not-logged-in|$CFG_EMPTY|no basic auth credentials|$H_LOGIN" "stale-credentials|$CFG_STALE|unauthorized: authentication required|$H_STALE"; do
    IFS='|' read -r c cfg key hint <<<"$pair"
    cap "$c" docker-push "DOCKER_CONFIG=<$c> docker push $REG/azdeploy-fault/web:1" "$key" "$hint" -- \
        env DOCKER_CONFIG="$cfg" docker push "$REG/azdeploy-fault/web:1"
    cap "$c" docker-pull "DOCKER_CONFIG=<$c> docker pull $REG/azdeploy-fault/web:1" "$key" "$hint" -- \
        env DOCKER_CONFIG="$cfg" docker pull "$REG/azdeploy-fault/web:1"
    cap "$c" buildx-build-push "DOCKER_CONFIG=<$c> docker buildx build --platform linux/amd64 --provenance=false --push -t $REG/azdeploy-fault/web:2 CTX" "$key" "$hint" -- \
        env DOCKER_CONFIG="$cfg" docker buildx build --platform linux/amd64 --provenance=false --push -t "$REG/azdeploy-fault/web:2" "$W/ctx"
done
# imagetools prints its own texts for 401 (no docker daemon in between).
cap not-logged-in imagetools-inspect "DOCKER_CONFIG=<not-logged-in> docker buildx imagetools inspect $REG/azdeploy-fault/web:1" \
    "no basic auth credentials" "$H_LOGIN" -- env DOCKER_CONFIG="$CFG_EMPTY" docker buildx imagetools inspect "$REG/azdeploy-fault/web:1"
cap stale-credentials imagetools-inspect "DOCKER_CONFIG=<stale-credentials> docker buildx imagetools inspect $REG/azdeploy-fault/web:1" \
    "401 Unauthorized" "$H_STALE" -- env DOCKER_CONFIG="$CFG_STALE" docker buildx imagetools inspect "$REG/azdeploy-fault/web:1"
cap wrong-password docker-login "echo wrong | docker login $REG -u $AZDEPLOY_CI_REGISTRY_USER --password-stdin" \
    "failed with status: 401 Unauthorized" "the registry refused the user name or password: check them (ACR: \`az acr login --name <acr>\` logs in for you)" -- \
    sh -c 'echo wrong | DOCKER_CONFIG="$1" docker login "$2" -u "$3" --password-stdin' sh "$W/cfg-throwaway-wrong" "$REG" "$AZDEPLOY_CI_REGISTRY_USER"

log "6. 404 (real registry $REG, logged in)"
docker push -q "$REG/azdeploy-fault/web:1" >/dev/null   # the repository exists; the tag below does not
H_404="the registry has no such image: check the repository and tag (\`az acr repository show-tags --name <acr> --repository <repo>\`), or push it first"
cap not-found-tag docker-pull "docker pull $REG/azdeploy-fault/web:no-such-tag" "manifest unknown" "$H_404" -- \
    docker pull "$REG/azdeploy-fault/web:no-such-tag"
cap not-found-tag imagetools-inspect "docker buildx imagetools inspect $REG/azdeploy-fault/web:no-such-tag" ": not found" "$H_404" -- \
    docker buildx imagetools inspect "$REG/azdeploy-fault/web:no-such-tag"
cap not-found-tag imagetools-inspect-raw "docker buildx imagetools inspect --raw $REG/azdeploy-fault/web:no-such-tag" ": not found" "$H_404" -- \
    docker buildx imagetools inspect --raw "$REG/azdeploy-fault/web:no-such-tag"
cap not-found-repo docker-pull "docker pull $REG/azdeploy-fault/no-such-repo:1" "manifest unknown" "$H_404" -- \
    docker pull "$REG/azdeploy-fault/no-such-repo:1"
cap not-found-repo imagetools-inspect "docker buildx imagetools inspect $REG/azdeploy-fault/no-such-repo:1" ": not found" "$H_404" -- \
    docker buildx imagetools inspect "$REG/azdeploy-fault/no-such-repo:1"
cap not-found-repo-anonymous docker-pull "docker pull $AZDEPLOY_CI_PYTHON_REGISTRY/azdeploy-fault/no-such-repo:1" "manifest unknown" "$H_404" -- \
    docker pull "$AZDEPLOY_CI_PYTHON_REGISTRY/azdeploy-fault/no-such-repo:1"

log "3. TLS (private engine, $TLS_HOST -> ::1)"
H_PLAIN="the registry speaks plain HTTP where docker expects HTTPS: use its HTTPS address, or list it in dockerd's \"insecure-registries\" (local registries only)"
H_TLS="the registry's certificate is not trusted (a proxy that intercepts TLS, or a self-signed registry): add its CA to the system's trusted certificates (and /etc/docker/certs.d/<registry>/ca.crt), then restart Docker"
tls_set() { # CASE PORT KEY KEY_IMAGETOOLS HINT
    local case=$1 r=$TLS_HOST:$2 key=$3 keyi=$4 hint=$5
    docker -H "$PSOCK" tag "$IMG" "$r/azdeploy-fault/web:1"
    cap "$case" docker-push "docker -H PRIVATE push $r/azdeploy-fault/web:1" "$key" "$hint" -- \
        docker -H "$PSOCK" push "$r/azdeploy-fault/web:1"
    cap "$case" docker-pull "docker -H PRIVATE pull $r/azdeploy-fault/web:1" "$key" "$hint" -- \
        docker -H "$PSOCK" pull "$r/azdeploy-fault/web:1"
    cap "$case" docker-login "echo secret | docker -H PRIVATE login $r -u azdeploy --password-stdin" "$key" "$hint" -- \
        sh -c 'echo secret | DOCKER_CONFIG="$1" docker -H "$2" login "$3" -u azdeploy --password-stdin' sh "$W/cfg-throwaway-$case" "$PSOCK" "$r"
    cap "$case" buildx-build-push "docker -H PRIVATE buildx build --platform linux/amd64 --provenance=false --push -t $r/azdeploy-fault/web:2 CTX" "$key" "$hint" -- \
        docker -H "$PSOCK" buildx build --platform linux/amd64 --provenance=false --push -t "$r/azdeploy-fault/web:2" "$W/ctx"
    cap "$case" imagetools-inspect "docker buildx imagetools inspect $r/azdeploy-fault/web:1   (in a mount namespace whose /etc/hosts maps $TLS_HOST to ::1)" "$keyi" "$hint" -- \
        in_ns docker buildx imagetools inspect "$r/azdeploy-fault/web:1"
}
tls_set tls-plain-http $P_PLAIN "first record does not look like a TLS handshake" "first record does not look like a TLS handshake" "$H_PLAIN"
tls_set tls-untrusted $P_TLS "x509: certificate signed by unknown authority" "x509: certificate signed by unknown authority" "$H_TLS"

wait $j1 $j2 $j3

# ---------------------------------------------------------------------------------------------
# az faults (the simulated Azure)
# ---------------------------------------------------------------------------------------------
log "7. az: throttled, server-error; 1-3: ARM unreachable; 4: 401; 6: 404"
H_AZ429="Azure Resource Manager is throttling this subscription (429) and az gave up after its retries: wait a minute and retry"
H_AZ500="Azure Resource Manager answered a server error (500) and az gave up after its retries: retry later (https://status.azure.com)"
H_AZNET="Azure cannot be reached from this machine: check the network, VPN or proxy (HTTPS_PROXY), then retry"
H_AZTLS="az does not trust the certificate Azure answered with (a proxy that intercepts TLS?): point REQUESTS_CA_BUNDLE at a bundle that includes its CA"
az_pair() { # CASE KEY_CONTAINERAPP KEY_ACR HINT [VAR=value...]: az containerapp show + az acr show
    local case=$1 k1=$2 k2=$3 hint=$4
    shift 4
    cap "$case" az-containerapp-show "az containerapp show -n simapp -g rg-sim $*" "$k1" "$hint" -- \
        azenv "$W/sim" "$@" -- containerapp show -n simapp -g rg-sim
    cap "$case" az-acr-show "az acr show -n simacr $*" "$k2" "$hint" -- \
        azenv "$W/sim" "$@" -- acr show -n simacr
}
scenario '{"name": "throttled", "count": 1000}'
az_pair throttled "(TooManyRequests)" "(TooManyRequests)" "$H_AZ429"
scenario '{"name": "server-error", "count": 1000}'
az_pair server-error "(InternalServerError)" "(InternalServerError)" "$H_AZ500"
scenario healthy
az_pair conn-refused "[Errno 111] Connection refused" "[Errno 111] Connection refused" "$H_AZNET" AZURE_CONFIG_DIR="$W/azcfg-refused"
az_pair no-such-host "Failed to resolve 'nosuchhost.invalid'" "Failed to resolve 'nosuchhost.invalid'" "$H_AZNET" AZURE_CONFIG_DIR="$W/azcfg-nohost"
az_pair tls-untrusted "CERTIFICATE_VERIFY_FAILED" "CERTIFICATE_VERIFY_FAILED" "$H_AZTLS" -REQUESTS_CA_BUNDLE -SSL_CERT_FILE
scenario token-expired
az_pair token-expired "(ExpiredAuthenticationToken)" "(ExpiredAuthenticationToken)" \
    "the Azure sign-in has expired: run \`az login\` again"
scenario app-missing
cap app-missing az-containerapp-show "az containerapp show -n simapp -g rg-sim" "(ResourceNotFound)" \
    "check the app name (\`az containerapp list --resource-group <rg> --output table\`), then set azure.app or --app" -- \
    azenv "$W/sim" -- containerapp show -n simapp -g rg-sim

log "10. az hung and stopped by a signal (scenario slow, 600 s a request)"
scenario '{"name": "slow", "delay_ms": 600000}'
for sig in INT TERM KILL; do
    s=$(printf '%s' "$sig" | tr 'A-Z' 'a-z')
    base="$OUT/az-killed-sig$s.az-containerapp-show"
    case $sig in
        INT) key='exit status: 1' hint='az was interrupted (Ctrl-C) and exits 1 without a word: say so yourself; an update may or may not have been sent, so check `docker azdeploy status`' ;;
        TERM) key='signal: 15 (SIGTERM)' hint='az was stopped (timed out or killed): check the deployment with `docker azdeploy status`, then retry' ;;
        KILL) key='signal: 9 (SIGKILL)' hint='az was killed: check the deployment with `docker azdeploy status`, then retry' ;;
    esac
    # sigrun writes az's own stdout/stderr to the fixture files and its report (the ExitStatus a
    # Rust caller gets) to .rust-status.
    rc=0
    "$W/bin/sigrun" "$sig" 3 "$base.stdout" "$base.stderr" -- \
        env $(cat "$W/sim/env.list") "$AZ" containerapp show -n simapp -g rg-sim >"$base.rust-status" || rc=$?
    echo "$rc" >"$base.exitcode"
    normalize "$base.stdout" "$base.stderr"
    printf '%s\t%s\t%s\t%s\t%s\n' "az-killed-sig$s" az-containerapp-show \
        "az containerapp show -n simapp -g rg-sim   (hung: scenario slow, 600 s a request; SIG$sig after 3 s by ci/fault-stub/sigrun.rs, whose report is .rust-status)" \
        "$key" "$hint" >>"$MANIFEST"
    log "az-killed-sig$s: exit $rc"
done
H_AZHUNG="Azure did not answer within az's own limit (300 s a try, 4 tries): retry later; if it keeps happening, check https://status.azure.com"
SHOWN_TIMEOUT="az acr show -n simacr   (hung ARM: scenario slow, 1500 s a request; az gives up after 4 x 300 s, ~20 min; only with AZDEPLOY_FAULTS_LONG=1)"
if [ "$LONG" = 1 ]; then
    log "10. az's own timeout (~20 min)"
    scenario '{"name": "slow", "delay_ms": 1500000}'
    cap az-timeout az-acr-show "$SHOWN_TIMEOUT" "Read timed out. (read timeout=300)" "$H_AZHUNG" -- azenv "$W/sim" -- acr show -n simacr
elif [ -e "$OUT/az-timeout.az-acr-show.exitcode" ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' az-timeout az-acr-show "$SHOWN_TIMEOUT" "Read timed out. (read timeout=300)" "$H_AZHUNG" >>"$MANIFEST"
fi
scenario logged-out
az_pair logged-out "Please run 'az login'" "Please run 'az login'" "run \`az login\` (and \`az account set --subscription <id>\`), then try again"
scenario healthy

# ---------------------------------------------------------------------------------------------
# 8. disk full
# ---------------------------------------------------------------------------------------------
log "8. disk full (tmpfs 64 KiB)"
H_FULL="the disk is full: free some space (\`docker system df\` shows what Docker holds; \`docker builder prune\`, \`docker image prune\`), then retry"
mkdir -p "$W/full" "$W/full-az"
mount -t tmpfs -o size=64k azdeploy-fault-full "$W/full"
cap disk-full rust-std-fs "ci/fault-stub/diskfull.rs $W/full   (std::fs::write, then the state writer's steps, on the then-full tmpfs)" \
    "No space left on device (os error 28)" "$H_FULL" -- "$W/bin/diskfull" "$W/full"
cap disk-full docker-save "docker save -o $W/full/img.tar $IMG" "no space left on device" "$H_FULL" -- \
    docker save -o "$W/full/img.tar" "$IMG"
cap disk-full buildx-metadata-file "docker buildx build --platform linux/amd64 --load -t $IMG --metadata-file $W/full/meta.json CTX" \
    "no space left on device" "$H_FULL" -- \
    docker buildx build --platform linux/amd64 --load -t "$IMG" --metadata-file "$W/full/meta.json" "$W/ctx"
cap disk-full docker-login "DOCKER_CONFIG=$W/full/docker echo PASSWORD | docker login $REG -u $AZDEPLOY_CI_REGISTRY_USER --password-stdin" \
    "Error saving credentials" "$H_FULL" -- \
    sh -c 'printf "%s\n" "$AZDEPLOY_CI_REGISTRY_PASSWORD" | DOCKER_CONFIG="$1" docker login "$2" -u "$AZDEPLOY_CI_REGISTRY_USER" --password-stdin' sh "$W/full/docker" "$REG"
# az with its config dir (warmed: token cached) on a full tmpfs.
mount -t tmpfs -o size=256k azdeploy-fault-full-az "$W/full-az"
cp -r "$W/sim/azure-config" "$W/full-az/azure-config"
head -c 1048576 /dev/zero >"$W/full-az/filler" 2>/dev/null || true
cap disk-full az-containerapp-show "AZURE_CONFIG_DIR=<on a full tmpfs> az containerapp show -n simapp -g rg-sim --query name" \
    "[Errno 28] No space left on device" "$H_FULL" -- \
    azenv "$W/sim" AZURE_CONFIG_DIR="$W/full-az/azure-config" -- containerapp show -n simapp -g rg-sim --query name
cap disk-full az-acr-login "AZURE_CONFIG_DIR=<on a full tmpfs> az acr login -n simacr --expose-token" \
    "[Errno 28] No space left on device" "$H_FULL" -- \
    azenv "$W/sim" AZURE_CONFIG_DIR="$W/full-az/azure-config" -- acr login -n simacr --expose-token
umount "$W/full" "$W/full-az"

# ---------------------------------------------------------------------------------------------
# 9. engine gone mid-run (the private dockerd, SIGKILL)
# ---------------------------------------------------------------------------------------------
log "9. engine gone mid-run (private dockerd killed)"
H_GONE="the Docker engine stopped while this ran: start it again (Docker Desktop, \`colima start\`, or \`dockerd\`), check with \`docker version\`, then retry"
H_DOWN="start the Docker engine (Docker Desktop, \`colima start\`, or \`dockerd\`), then check it with \`docker version\`"
D=(docker -H "$PSOCK")
"${D[@]}" run -d --name azdeploy-fault-logsrc --network none "$IMG" sh -c 'echo line1; sleep 30' >/dev/null
G=$W/gone
mkdir -p "$G"
bg() { # NAME CMD...: run in the background, outputs in $G/NAME.{stdout,stderr,exitcode}
    local n=$1
    shift
    ( rc=0; "$@" >"$G/$n.stdout" 2>"$G/$n.stderr" </dev/null || rc=$?; echo "$rc" >"$G/$n.exitcode" ) &
}
docker -H "$PSOCK" tag "$IMG" "127.0.0.1:$P_500/azdeploy-fault/web:gone"
bg docker-run "${D[@]}" run --rm --network none "$IMG" sh -c 'echo started; sleep 30'
bg docker-logs-follow "${D[@]}" logs -f azdeploy-fault-logsrc
bg buildx-build "${D[@]}" buildx build --platform linux/amd64 --network none --no-cache "$W/ctx-slow"
# Wait until each is under way (first output seen), at most 30 s; the push last, killed right
# after its first "Retrying in 4 seconds" so that its output is the same every run.
for _ in $(seq 1 120); do
    grep -q started "$G/docker-run.stdout" 2>/dev/null && grep -q line1 "$G/docker-logs-follow.stdout" 2>/dev/null &&
        grep -q building "$G/buildx-build.stderr" 2>/dev/null && break
    sleep 0.25
done
bg docker-push "${D[@]}" push "127.0.0.1:$P_500/azdeploy-fault/web:gone"
for _ in $(seq 1 200); do grep -q 'Retrying in 4 seconds' "$G/docker-push.stdout" 2>/dev/null && break; sleep 0.05; done
DPID=$(cat "$ENGINE/dockerd.pid")
# Record everything under dockerd (containerd, shims, container and build processes) for cleanup.
desc() { local c; for c in $(ps -o pid= --ppid "$1"); do echo "$c $(tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null)"; desc "$c"; done; }
desc "$DPID" >"$ENGINE/descendants" || true
kill -9 "$DPID"
wait_gone=0
for _ in $(seq 1 120); do
    [ -e "$G/docker-run.exitcode" ] && [ -e "$G/docker-logs-follow.exitcode" ] && [ -e "$G/buildx-build.exitcode" ] && [ -e "$G/docker-push.exitcode" ] && { wait_gone=1; break; }
    sleep 0.25
done
[ "$wait_gone" = 1 ] || log "WARNING: a command did not end within 30 s of the engine's death"
for n in docker-run docker-logs-follow buildx-build docker-push; do
    for x in stdout stderr exitcode; do cp "$G/$n.$x" "$OUT/engine-gone.$n.$x" 2>/dev/null || : >"$OUT/engine-gone.$n.$x"; done
    normalize "$OUT/engine-gone.$n.stdout" "$OUT/engine-gone.$n.stderr"
done
python3 "$ROOT/ci/fault-stub/buildkit_norm.py" "$OUT/engine-gone.buildx-build.stderr"
KEYS_GONE=("docker-run|error waiting for container: unexpected EOF|docker -H PRIVATE run --rm --network none $IMG sh -c 'echo started; sleep 30'"
    "docker-logs-follow|unexpected EOF|docker -H PRIVATE logs -f azdeploy-fault-logsrc   (container printing line1 then sleeping)"
    "buildx-build|error reading from server: EOF|docker -H PRIVATE buildx build --platform linux/amd64 --network none --no-cache CTX-SLOW   (a RUN step sleeping 30 s)"
    "docker-push|unexpected EOF|docker -H PRIVATE push 127.0.0.1:$P_500/azdeploy-fault/web:gone   (mid-retry against the 500 stub)")
for e in "${KEYS_GONE[@]}"; do
    IFS='|' read -r n key shown <<<"$e"
    printf '%s\t%s\t%s\t%s\t%s\n' engine-gone "$n" "$shown   (dockerd killed with SIGKILL once it was under way)" "$key" "$H_GONE" >>"$MANIFEST"
done
# After: the socket file is left behind (connection refused), then removed (no such file).
cap engine-gone-stale-socket docker-ps "docker -H $PSOCK ps   (dockerd killed, its socket file left)" \
    "Is the docker daemon running?" "$H_DOWN" -- docker -H "$PSOCK" ps
cap engine-gone-stale-socket buildx-build "docker -H $PSOCK buildx build --platform linux/amd64 CTX   (dockerd killed, its socket file left)" \
    "Cannot connect to the Docker daemon" "$H_DOWN" -- docker -H "$PSOCK" buildx build --platform linux/amd64 "$W/ctx"
kill_engine_leftovers
rm -f "$ENGINE/docker.sock"
cap engine-gone-no-socket docker-ps "docker -H $PSOCK ps   (socket file removed)" \
    "Is the docker daemon running?" "$H_DOWN" -- docker -H "$PSOCK" ps

# ---------------------------------------------------------------------------------------------
# README + key check
# ---------------------------------------------------------------------------------------------
log "README"
VERSIONS=$(cat <<EOF
- docker client $(docker version --format '{{.Client.Version}}'), dockerd $(docker version --format '{{.Server.Version}}') (Debian docker.io; the private engine is the same binary)
- $(docker buildx version)
- azure-cli $("$AZ" version --query '"azure-cli"' -o tsv 2>/dev/null)
- docker-registry (distribution) $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null)
- $(rustc --version)
- $(python3 --version) (registry_stub.py), $(openssl version | cut -d' ' -f1-2)
- kernel: $(uname -sr) ($(dmesg 2>/dev/null | grep -qi gvisor && echo gVisor || (grep -qi runsc /etc/hosts && echo 'gVisor (runsc)' || echo Linux)))
EOF
)
python3 - "$OUT" "$MANIFEST" "$W" "$VERSIONS" <<'PY'
import os, sys, collections
out, manifest, work, versions = sys.argv[1:5]
rows = sorted(l.rstrip("\n").split("\t") for l in open(manifest) if l.strip())
text = {}
for case, tool, shown, key, hint in rows:
    b = os.path.join(out, f"{case}.{tool}")
    text[(case, tool)] = "".join(open(b + x, errors="replace").read() for x in (".stdout", ".stderr", ".rust-status") if os.path.exists(b + x))
missing = [f"{c}.{t}: key {k!r}" for c, t, _, k, _ in rows if k not in text[(c, t)]]
if missing:
    sys.exit("key substring not in the captured output:\n  " + "\n  ".join(missing))
# Which other cases' outputs a key also matches (a matcher must order its needles, or combine).
fault_of = lambda c: c
also = {}
for c, t, _, k, _ in rows:
    others = sorted({c2 for (c2, t2), s in text.items() if c2 != c and k in s})
    also[(c, t)] = others
rc = lambda c, t: open(os.path.join(out, f"{c}.{t}.exitcode")).read().strip()
def md(s):
    return s.replace("|", "\\|")
lines = []
w = lines.append
w("# Captured outside faults")
w("")
w("What the real tools print for each outside fault, exact bytes (see Normalisation), captured by")
w("`ci/capture-fault-fixtures.sh` on a Debian 12 machine set up by `ci/engine-up.sh` and `ci/az-install.sh`.")
w("Files: `<case>.<tool>.stdout`, `.stderr`, `.exitcode` (the exit code as the shell reports it: a")
w("child stopped by signal N is 128+N). For hint matching, a test feeds the stdout and stderr; the")
w("key substring below is present in that text (the script checks it on every capture).")
w("")
w("Tool versions:")
w(versions)
w("")
w("## Key substrings and hints")
w("")
w("| case | tool | exit | key substring | also found in | suggested hint |")
w("| --- | --- | --- | --- | --- | --- |")
for c, t, _, k, h in rows:
    w(f"| `{c}` | `{t}` | {rc(c, t)} | `{md(k)}` | {', '.join('`'+o+'`' for o in also[(c, t)]) or '—'} | {md(h)} |")
w("")
w("## Commands")
w("")
w("`CTX` is a build context with a static busybox and the Dockerfile `FROM scratch` / `COPY busybox /busybox` /")
w("`ENTRYPOINT [\"/busybox\"]` (`CTX-SLOW` adds `RUN [\"/busybox\",\"sh\",\"-c\",\"echo building; sleep 30; echo built\"]`);")
w("`PRIVATE` is the script's private dockerd (`unix:///tmp/azdeploy-faults/engine/docker.sock`, in a mount")
w("namespace whose /etc/hosts maps `azdeploy-fault-tls.test` to `::1`). Every docker command runs with a")
w("private `DOCKER_CONFIG` logged in to 127.0.0.1:5000, unless the command says otherwise. Every az command")
w("runs against `tests/azure-sim/start.py` (its env: private `AZURE_CONFIG_DIR`, `REQUESTS_CA_BUNDLE`)")
w("with the scenario named by the case, after one good call cached a token.")
w("")
w("| case | tool | command |")
w("| --- | --- | --- |")
for c, t, s, _, _ in rows:
    w(f"| `{c}` | `{t}` | `{md(s)}` |")
w("")
open(os.path.join(work, "README.generated.md"), "w").write("\n".join(lines))
PY
# The hand-written part (servers, normalisation, findings) is kept in the script's folder and
# appended, so a re-run regenerates the whole README.
cat "$W/README.generated.md" "$ROOT/ci/fault-stub/README-notes.md" >"$OUT/README.md"
log "captured $(wc -l <"$MANIFEST") cases into $OUT"
