#!/usr/bin/env bash
# Capture real outputs around real Python into tests/fixtures/captured/python/ (exact bytes, one
# file per output) and write its README.md listing the command behind each file: pip's answers
# about a requirement with no wheel, the multi-arch base image's index, the Dockerfiles
# `init --dockerfile` writes for the sample apps, a Streamlit app's first session (ok and
# broken), the server log of the broken one, pip in a container without the CA, a push to the
# read-only public registry, a container's health state after its HEALTHCHECK ran.
#
# Needs ci/engine-up.sh done (root) and the plugin built (target/debug/docker-azdeploy or
# AZDEPLOY_PLUGIN). Native (amd64) only, about 2 minutes: it builds the Streamlit samples once.
# Everything it creates is named azdeploy-pycapture-<pid>… and removed on exit.
#
# Usage: bash ci/capture-python-fixtures.sh [OUT_DIR]   (default tests/fixtures/captured/python)
set -euo pipefail
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/captured/python}
APPS="$ROOT/tests/apps"
CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
PLUGIN="${AZDEPLOY_PLUGIN:-$ROOT/target/debug/docker-azdeploy}"
# shellcheck disable=SC1091
. "$CI_DIR/env"
[ -n "${AZDEPLOY_CI_PYTHON_IMAGE:-}" ] || { echo "no AZDEPLOY_CI_PYTHON_IMAGE in $CI_DIR/env; run ci/engine-up.sh" >&2; exit 1; }
[ -x "$PLUGIN" ] || { echo "$PLUGIN missing; run cargo build" >&2; exit 1; }
BASE=$AZDEPLOY_CI_PYTHON_IMAGE

mkdir -p "$OUT"
ID="azdeploy-pycapture-$$"
WORK=$(mktemp -d "/tmp/$ID.XXXXXX")
MANIFEST="$WORK/manifest"
: >"$MANIFEST"
export DOCKER_CONFIG="$WORK/docker-config"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$PLUGIN" "$DOCKER_CONFIG/cli-plugins/docker-azdeploy"
cleanup() {
    docker rm -f "$ID-ok" "$ID-broken" >/dev/null 2>&1 || true
    docker image rm -f "$ID-ok:amd64" "$ID-broken:amd64" "$AZDEPLOY_CI_PYTHON_REGISTRY/$ID/push:1" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

# --- pip: a requirement with no wheel (host pip, the real PyPI) ---------------------------
PIPDL=(python3 -m pip download --no-deps --disable-pip-version-check -d "$WORK/dl" --only-binary=:all:
       --python-version 3.11 --implementation cp --abi cp311)
for plat in manylinux2014_aarch64 manylinux2014_x86_64; do
    cap "pip-download-netifaces-$plat-cp311" \
        "pip download --no-deps --only-binary=:all: --platform $plat --python-version 3.11 --implementation cp --abi cp311 netifaces==0.11.0" \
        "no wheel: pip finds no version" -- "${PIPDL[@]}" --platform "$plat" netifaces==0.11.0
done
cap pip-download-streamlit-manylinux2014_aarch64-cp311 \
    "pip download --no-deps --only-binary=:all: --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 streamlit==1.40.0 pandas==2.2.3" \
    "both have wheels" -- "${PIPDL[@]}" --platform manylinux2014_aarch64 streamlit==1.40.0 pandas==2.2.3

# --- the base image ------------------------------------------------------------------------
out imagetools-inspect-raw-python-index.json "docker buildx imagetools inspect --raw \$AZDEPLOY_CI_PYTHON_IMAGE" \
    "the multi-arch index (a docker manifest list, amd64 + arm64)" -- docker buildx imagetools inspect --raw "$BASE"
out imagetools-inspect-python-index.txt "docker buildx imagetools inspect \$AZDEPLOY_CI_PYTHON_IMAGE" "" -- \
    docker buildx imagetools inspect "$BASE"
for arch in amd64 arm64; do
    ref_var="AZDEPLOY_CI_PYTHON_IMAGE_${arch^^}"
    out "image-config-python-$arch.json" \
        "docker image inspect --format '{{json .Config}}' \$$ref_var" "Env, Cmd, Labels of the base" -- \
        docker image inspect --format '{{json .Config}}' "${!ref_var}"
done
cap pip-in-container-without-ca \
    "docker run --rm \$AZDEPLOY_CI_PYTHON_IMAGE_AMD64 sh -c 'unset PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE; pip download --no-deps -d /tmp six==1.16.0'" \
    "TLS to PyPI fails without this machine's CA" -- \
    docker run --rm "$AZDEPLOY_CI_PYTHON_IMAGE_AMD64" sh -c 'unset PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE; pip --default-timeout 20 --retries 1 download --no-deps -d /tmp six==1.16.0'
cap pip-in-container-with-ca \
    "docker run --rm \$AZDEPLOY_CI_PYTHON_IMAGE_AMD64 pip download --no-deps -d /tmp six==1.16.0" "" -- \
    docker run --rm "$AZDEPLOY_CI_PYTHON_IMAGE_AMD64" pip download --no-deps -d /tmp six==1.16.0
docker tag "$AZDEPLOY_CI_PYTHON_IMAGE_AMD64" "$AZDEPLOY_CI_PYTHON_REGISTRY/$ID/push:1"
cap docker-push-public-readonly "docker push \$AZDEPLOY_CI_PYTHON_REGISTRY/<name>:1" \
    "the anonymous-pull registry refuses every push (HTTP 405)" -- docker push "$AZDEPLOY_CI_PYTHON_REGISTRY/$ID/push:1"
sed -i "s/$ID/<name>/g" "$OUT/docker-push-public-readonly.stdout" "$OUT/docker-push-public-readonly.stderr"

# --- init --dockerfile on the sample apps ----------------------------------------------------
for app in streamlit streamlit-broken flask compiled; do
    cp -r "$APPS/$app" "$WORK/$app"
    cap "init-dockerfile-$app" "cd tests/apps/$app (a copy) && docker azdeploy init --dockerfile" "" -- \
        sh -c "cd '$WORK/$app' && docker azdeploy init --dockerfile"
    sed -i "s|$WORK|<tmp>|g" "$OUT/init-dockerfile-$app.stdout" "$OUT/init-dockerfile-$app.stderr"
    cp "$WORK/$app/Dockerfile" "$OUT/Dockerfile.$app"
    note "Dockerfile.$app" "the Dockerfile init --dockerfile wrote for tests/apps/$app" ""
done

# --- a Streamlit app's first session, ok and broken -----------------------------------------
for pair in streamlit:ok streamlit-broken:broken; do
    app=${pair%%:*} kind=${pair#*:}
    c="$ID-$kind"
    img="$ID-$kind:amd64"
    docker buildx build --platform linux/amd64 --load -q -t "$img" --build-arg "PYTHON_IMAGE=$BASE" "$WORK/$app" >/dev/null
    docker run -d --name "$c" -p 127.0.0.1:0:8501 "$img" >/dev/null
    port=$(docker port "$c" 8501/tcp | head -n1 | sed 's/.*://')
    wait_http "http://127.0.0.1:$port/_stcore/health" || { docker logs "$c" >&2; exit 1; }
    out "health-$app.txt" "curl http://127.0.0.1:PORT/_stcore/health" "before any session: the script has not run" -- \
        curl -s "http://127.0.0.1:$port/_stcore/health"
    cap "first-session-$app" "docker exec -i CONTAINER python - 8501 120 < tests/apps/first_session.py" \
        "the script's first run (ms vary)" -- sh -c "docker exec -i '$c' python - 8501 120 <'$APPS/first_session.py'"
done
sleep 1
out docker-logs-streamlit-broken.txt "docker logs CONTAINER (tests/apps/streamlit-broken after its first session)" \
    "stdout+stderr merged; Streamlit logs 'Uncaught app exception'" -- sh -c "docker logs '$ID-broken' 2>&1"
# The HEALTHCHECK's first probe runs 30 s (its --interval) after the start.
for _ in $(seq 1 90); do
    [ "$(docker inspect --format '{{.State.Health.Status}}' "$ID-broken")" = healthy ] && break
    sleep 1
done
out docker-inspect-health-streamlit-broken.json "docker inspect --format '{{json .State.Health}}' CONTAINER" \
    "the broken app is 'healthy' (times vary)" -- docker inspect --format '{{json .State.Health}}' "$ID-broken"

# Per-run temp paths and names out of every captured file.
cut -f1 "$MANIFEST" | while read -r f; do sed -i -e "s|$WORK|<tmp>|g" -e "s|$ID|<name>|g" "$OUT/$f"; done

# --- README --------------------------------------------------------------------------------
{
    cat <<EOF
# Captured real outputs around real Python

Written by \`ci/capture-python-fixtures.sh\` on $(date -u +%Y-%m-%d) against the engine of
\`ci/engine-up.sh\` and the base image of \`ci/python-images.sh\` (\`$BASE\`,
$AZDEPLOY_CI_PYTHON_IMAGE_DIGEST): Debian bookworm's Python $(docker run --rm "$AZDEPLOY_CI_PYTHON_IMAGE_AMD64" python -c 'import platform; print(platform.python_version())'),
pip $(docker run --rm "$AZDEPLOY_CI_PYTHON_IMAGE_AMD64" pip --version | cut -d' ' -f2); host pip $(python3 -m pip --version | cut -d' ' -f2).
Exact bytes; temp paths replaced by \`<tmp>\` and per-run names by \`<name>\`. See docs/real-python.md.

| file | command | note |
|---|---|---|
EOF
    awk -F'\t' '{ printf "| `%s` | `%s` | %s |\n", $1, $2, $3 }' "$MANIFEST"
} >"$OUT/README.md"
echo "captured $(wc -l <"$MANIFEST") files into $OUT"
