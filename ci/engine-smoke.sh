#!/usr/bin/env bash
# End-to-end smoke check of what ci/engine-up.sh set up, with rough timings:
#   amd64 busybox-httpd image (--load), run + curl + stats; arm64 image with a RUN
#   step under QEMU; the same build with the binfmt entry disabled fails with
#   "exec format error" (entry always restored); login + --push to the local
#   registry + imagetools inspect; push without login fails with
#   "no basic auth credentials".
# Run as root, alone (it toggles the machine-wide qemu-aarch64 binfmt entry).
# Everything it creates carries the name prefix azdeploy-smoke-$$ and is removed.
set -euo pipefail

CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
# shellcheck disable=SC1091
. "$CI_DIR/env"
REG=$AZDEPLOY_CI_REGISTRY
BINFMT=/proc/sys/fs/binfmt_misc/qemu-aarch64
P="azdeploy-smoke-$$"
WORK=$(mktemp -d /tmp/azdeploy-smoke.XXXXXX)
export DOCKER_CONFIG="$WORK/cfg"
mkdir -p "$DOCKER_CONFIG" "$WORK/empty-cfg" "$WORK/amd64/www" "$WORK/arm64"

cleanup() {
    echo 1 >"$BINFMT" 2>/dev/null || true
    docker rm -f "$P-web" >/dev/null 2>&1 || true
    docker image rm -f "$P-web:amd64" "$P-arm:arm64" "$REG/$P/web:1" "$REG/$P/web:nologin" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

FAILS=0
now() { date +%s.%N; }
step() { # name cmd...   runs cmd, prints its time
    local name=$1 s rc=0
    shift
    s=$(now)
    "$@" || rc=$?
    printf '%-58s %6.2fs  %s\n' "$name" "$(awk -v a="$s" -v b="$(now)" 'BEGIN{print b-a}')" \
        "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")"
    [ "$rc" = 0 ] || FAILS=$((FAILS + 1))
    return 0
}

cp "$AZDEPLOY_CI_BUSYBOX_AMD64" "$WORK/amd64/busybox"
cp "$AZDEPLOY_CI_BUSYBOX_ARM64" "$WORK/arm64/busybox"
echo "hello from $P" >"$WORK/amd64/www/index.html"
cat >"$WORK/amd64/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY www /www
EXPOSE 8501
ENTRYPOINT ["/bin/busybox","httpd","-f","-p","8501","-h","/www"]
EOF
cat >"$WORK/arm64/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","uname","-m"]
ENTRYPOINT ["/bin/busybox"]
CMD ["uname","-m"]
EOF
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

build_amd64() { docker buildx build -q --platform linux/amd64 --load -t "$P-web:amd64" "$WORK/amd64" >/dev/null; }
run_web() { docker run -d --name "$P-web" -p "127.0.0.1:$PORT:8501" "$P-web:amd64" >/dev/null; }
curl_web() {
    for _ in $(seq 1 40); do
        [ "$(curl -s "http://127.0.0.1:$PORT/" 2>/dev/null)" = "hello from $P" ] && return 0
        sleep 0.1
    done
    return 1
}
stats_web() { docker stats --no-stream --format '{{.MemUsage}}' "$P-web" | grep -q B; }
rm_web() { docker rm -f "$P-web" >/dev/null; }
build_arm64() { docker buildx build -q --no-cache --platform linux/arm64 --load -t "$P-arm:arm64" "$WORK/arm64" >/dev/null; }
run_arm64() { [ "$(docker run --rm --platform linux/arm64 "$P-arm:arm64")" = aarch64 ]; }
build_arm64_no_binfmt() {
    local rc=0
    echo 0 >"$BINFMT"
    docker buildx build --no-cache --platform linux/arm64 --load "$WORK/arm64" >/dev/null 2>"$WORK/execfmt.err" || rc=$?
    echo 1 >"$BINFMT"
    [ "$rc" != 0 ] && grep -q 'exec format error' "$WORK/execfmt.err"
}
login() { printf '%s\n' "$AZDEPLOY_CI_REGISTRY_PASSWORD" | docker login "$REG" -u "$AZDEPLOY_CI_REGISTRY_USER" --password-stdin >/dev/null 2>&1; }
push() { docker buildx build -q --platform linux/amd64 --provenance=false --push -t "$REG/$P/web:1" "$WORK/amd64" >/dev/null; }
inspect_raw() { docker buildx imagetools inspect --raw "$REG/$P/web:1" | grep -q '"schemaVersion": 2'; }
push_nologin() {
    local rc=0
    DOCKER_CONFIG="$WORK/empty-cfg" docker buildx build --platform linux/amd64 --provenance=false --push \
        -t "$REG/$P/web:nologin" "$WORK/amd64" >/dev/null 2>"$WORK/nologin.err" || rc=$?
    [ "$rc" != 0 ] && grep -q 'no basic auth credentials' "$WORK/nologin.err"
}

step "buildx build --platform linux/amd64 --load (busybox httpd)" build_amd64
step "docker run -d -p 127.0.0.1:$PORT:8501" run_web
step "curl the container until it answers" curl_web
step "docker stats --no-stream" stats_web
step "docker rm -f" rm_web
step "buildx build --platform linux/arm64 --load, RUN under QEMU" build_arm64
step "docker run arm64 image: uname -m = aarch64" run_arm64
step "binfmt off: arm64 RUN build fails with exec format error" build_arm64_no_binfmt
step "docker login $REG --password-stdin" login
step "buildx build --provenance=false --push" push
step "buildx imagetools inspect --raw" inspect_raw
step "push without login fails: no basic auth credentials" push_nologin
[ "$(head -n1 "$BINFMT")" = enabled ] || { echo "binfmt entry not restored"; FAILS=$((FAILS + 1)); }
echo "smoke: $FAILS failed"
[ "$FAILS" = 0 ]
