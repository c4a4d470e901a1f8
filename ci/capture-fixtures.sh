#!/usr/bin/env bash
# Capture real outputs of docker / buildx / the registry / binfmt into
# tests/fixtures/captured/ (exact bytes, one file per output) and write its README.md
# listing the command behind each file.
#
# Needs the engine set up by ci/engine-up.sh (run first). Run as root, alone: it
# briefly disables the qemu-aarch64 binfmt entry (always restored on exit), which
# affects every emulated build on the machine.
#
# Usage: bash ci/capture-fixtures.sh [OUT_DIR]   (default tests/fixtures/captured)
set -euo pipefail
# shellcheck source=ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/captured}
CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
# shellcheck disable=SC1091
. "$CI_DIR/env"
REG=$AZDEPLOY_CI_REGISTRY
BINFMT=/proc/sys/fs/binfmt_misc/qemu-aarch64
DEAD_SOCK=unix:///tmp/nonexistent.sock

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/azdeploy-capture.XXXXXX)
MANIFEST="$WORK/manifest"
: >"$MANIFEST"
PY_PID=""
NOTAG_ID=""
TAG="azdeploy-capture-$$"
cleanup() {
    echo 1 >"$BINFMT" 2>/dev/null || true
    if [ -n "$PY_PID" ]; then kill "$PY_PID" 2>/dev/null || true; fi
    docker rm -f "$TAG-web" "$TAG-web2" "$TAG-conflict" "$TAG-conflict2" >/dev/null 2>&1 || true
    docker image rm -f "$TAG-web:amd64" "$TAG-arm:arm64" "$REG/azdeploy-capture/web:noprov" \
        "$REG/azdeploy-capture/web:prov" "$REG/azdeploy-capture/web:nologin" >/dev/null 2>&1 || true
    # the untagged image of the no -t build (refused by docker if something else tags it)
    if [ -n "$NOTAG_ID" ]; then docker image rm "$NOTAG_ID" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Private DOCKER_CONFIG dirs: one logged in to the registry, one empty.
export DOCKER_CONFIG="$WORK/cfg-login"
CFG_EMPTY="$WORK/cfg-empty"
mkdir -p "$DOCKER_CONFIG" "$CFG_EMPTY"

# note FILE 'command as shown in the README' ['remark']

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- build contexts ---------------------------------------------------------
mkdir -p "$WORK/amd64/www" "$WORK/arm64"
cp "$AZDEPLOY_CI_BUSYBOX_AMD64" "$WORK/amd64/busybox"
cp "$AZDEPLOY_CI_BUSYBOX_ARM64" "$WORK/arm64/busybox"
echo 'hello from azdeploy ci' >"$WORK/amd64/www/index.html"
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
cp "$WORK/amd64/Dockerfile" "$OUT/Dockerfile.amd64-httpd"
cp "$WORK/arm64/Dockerfile" "$OUT/Dockerfile.arm64-run"
note Dockerfile.amd64-httpd "(input) the amd64 web image: busybox-static amd64 + www/index.html" "not an output: the build context used below (AMD64_CTX)"
note Dockerfile.arm64-run "(input) the arm64 image with a RUN step: busybox-static arm64" "not an output: the build context used below (ARM64_CTX)"

# --- version / info -----------------------------------------------------------
out docker-version.json "docker version --format '{{json .}}'" "engine up" -- \
    docker version --format '{{json .}}'
cap docker-version-dead-socket "docker -H $DEAD_SOCK version" "engine down (nothing listens on the socket)" -- \
    docker -H "$DEAD_SOCK" version
cap docker-version-engine-down "docker -H $DEAD_SOCK version --format '{{json .}}'" "engine down; Server is null" -- \
    docker -H "$DEAD_SOCK" version --format '{{json .}}'
out docker-info-plugins.json "docker info --format '{{json .ClientInfo.Plugins}}'" "" -- \
    docker info --format '{{json .ClientInfo.Plugins}}'
out docker-info.json "docker info --format '{{json .}}'" "engine up, whole info" -- \
    docker info --format '{{json .}}'

# --- buildx metadata ----------------------------------------------------------------
out buildx-version.txt "docker buildx version" "" -- docker buildx version
out buildx-inspect.txt "docker buildx inspect" "binfmt enabled" -- docker buildx inspect
out buildx-ls.txt "docker buildx ls" "" -- docker buildx ls
out buildx-ls.jsonl "docker buildx ls --format json" "buildx 0.13.1 supports it; note it prints the default builder twice (two identical lines)" -- \
    docker buildx ls --format json
cap buildx-ls-dead-socket "DOCKER_HOST=$DEAD_SOCK docker buildx ls" "engine down: exit 0, status error" -- \
    env DOCKER_HOST="$DEAD_SOCK" docker buildx ls

# --- builds -------------------------------------------------------------------------
cap buildx-build-load-amd64 "docker buildx build --no-cache --platform linux/amd64 --load -t $TAG-web:amd64 --metadata-file buildx-metadata-load.json AMD64_CTX" "build output (progress plain since not a tty)" -- \
    docker buildx build --no-cache --platform linux/amd64 --load -t "$TAG-web:amd64" \
        --metadata-file "$OUT/buildx-metadata-load.json" "$WORK/amd64"
note buildx-metadata-load.json "(--metadata-file of the command above)" "metadata of a --load build, docker driver"
cap buildx-build-load-amd64-notag "docker buildx build --platform linux/amd64 --load --metadata-file buildx-metadata-load-notag.json AMD64_CTX" "same build, no -t (steps CACHED)" -- \
    docker buildx build --platform linux/amd64 --load \
        --metadata-file "$OUT/buildx-metadata-load-notag.json" "$WORK/amd64"
note buildx-metadata-load-notag.json "(--metadata-file of the command above)" "no -t: containerimage.digest is the image ID and there is no containerimage.config.digest"
NOTAG_ID=$(sed -n 's/.*"containerimage.digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$OUT/buildx-metadata-load-notag.json")
cap buildx-build-load-arm64 "docker buildx build --no-cache --platform linux/arm64 --load -t $TAG-arm:arm64 --metadata-file buildx-metadata-load-arm64.json ARM64_CTX" "RUN step under QEMU; the RUN prints aarch64" -- \
    docker buildx build --no-cache --platform linux/arm64 --load -t "$TAG-arm:arm64" \
        --metadata-file "$OUT/buildx-metadata-load-arm64.json" "$WORK/arm64"
note buildx-metadata-load-arm64.json "(--metadata-file of the command above)" "metadata of an emulated --load build"
cap buildx-build-dead-socket "DOCKER_HOST=$DEAD_SOCK docker buildx build --platform linux/amd64 --load AMD64_CTX" "engine down" -- \
    env DOCKER_HOST="$DEAD_SOCK" docker buildx build --platform linux/amd64 --load "$WORK/amd64"
cap buildx-build-dead-socket-H "docker -H $DEAD_SOCK buildx build --platform linux/amd64 --load AMD64_CTX" "engine down, via the global -H flag" -- \
    docker -H "$DEAD_SOCK" buildx build --platform linux/amd64 --load "$WORK/amd64"

# --- image inspect -----------------------------------------------------------------
out image-inspect-amd64.json "docker image inspect $TAG-web:amd64" "" -- docker image inspect "$TAG-web:amd64"
out image-inspect-arm64.json "docker image inspect $TAG-arm:arm64" "" -- docker image inspect "$TAG-arm:arm64"
out image-inspect-amd64.format-json.json "docker image inspect --format '{{json .}}' $TAG-web:amd64" "" -- \
    docker image inspect --format '{{json .}}' "$TAG-web:amd64"
out image-inspect-arm64.format-json.json "docker image inspect --format '{{json .}}' $TAG-arm:arm64" "" -- \
    docker image inspect --format '{{json .}}' "$TAG-arm:arm64"
out image-inspect-platform.txt "docker image inspect --format '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' $TAG-web:amd64 $TAG-arm:arm64" "one line per image" -- \
    docker image inspect --format '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "$TAG-web:amd64" "$TAG-arm:arm64"
cap image-inspect-missing "docker image inspect azdeploy-capture-no-such-image:latest" "image does not exist" -- \
    docker image inspect azdeploy-capture-no-such-image:latest

# --- run / stats ----------------------------------------------------------------------
PORT=$(free_port)
docker run -d --name "$TAG-web" -p "127.0.0.1:$PORT:8501" "$TAG-web:amd64" >/dev/null
for _ in $(seq 1 40); do curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.25; done
out http-get-index.txt "curl -s http://127.0.0.1:PORT/ (container published with -p 127.0.0.1:PORT:8501)" "busybox httpd answers" -- \
    curl -s "http://127.0.0.1:$PORT/"
out docker-stats.jsonl "docker stats --no-stream --format '{{json .}}' $TAG-web" "" -- \
    docker stats --no-stream --format '{{json .}}' "$TAG-web"
out docker-stats.txt "docker stats --no-stream $TAG-web" "table" -- docker stats --no-stream "$TAG-web"
cap docker-stats-missing "docker stats --no-stream --format '{{json .}}' azdeploy-capture-no-such-container" "container does not exist" -- \
    docker stats --no-stream --format '{{json .}}' azdeploy-capture-no-such-container
# Port taken by another container.
cap docker-run-port-taken-by-container "docker run -d --name $TAG-web2 -p 127.0.0.1:$PORT:8501 $TAG-web:amd64" "port $PORT already published by the first container" -- \
    docker run -d --name "$TAG-web2" -p "127.0.0.1:$PORT:8501" "$TAG-web:amd64"
# Port taken by a non-docker process, on 127.0.0.1 and on all interfaces.
PORT2=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$PORT2" >/dev/null 2>&1 &
PY_PID=$!
for _ in $(seq 1 40); do curl -s -o /dev/null "http://127.0.0.1:$PORT2/" && break; sleep 0.25; done
cap docker-run-port-taken "docker run -d --name $TAG-conflict -p 127.0.0.1:$PORT2:8501 $TAG-web:amd64" "python3 -m http.server --bind 127.0.0.1 $PORT2 holds the port" -- \
    docker run -d --name "$TAG-conflict" -p "127.0.0.1:$PORT2:8501" "$TAG-web:amd64"
cap docker-run-port-taken-all-interfaces "docker run -d --name $TAG-conflict2 -p $PORT2:8501 $TAG-web:amd64" "same python server on 127.0.0.1:$PORT2, container publishes on 0.0.0.0" -- \
    docker run -d --name "$TAG-conflict2" -p "$PORT2:8501" "$TAG-web:amd64"
out docker-ps-after-port-taken.txt "docker ps -a --filter name=$TAG-conflict --format '{{.Names}} {{.Status}}'" "what a failed run leaves behind" -- \
    docker ps -a --filter "name=$TAG-conflict" --format '{{.Names}} {{.Status}}'
kill "$PY_PID"; PY_PID=""
cap docker-run-arm64-uname "docker run --rm $TAG-arm:arm64" "emulated run, no --platform: stdout aarch64, stderr platform warning" -- \
    docker run --rm "$TAG-arm:arm64"

# --- binfmt ---------------------------------------------------------------------------
out binfmt-qemu-aarch64-enabled.txt "cat $BINFMT" "entry enabled" -- cat "$BINFMT"
echo 0 >"$BINFMT"
out binfmt-qemu-aarch64-disabled.txt "echo 0 > $BINFMT; cat $BINFMT" "entry disabled" -- cat "$BINFMT"
cap buildx-build-exec-format-error "docker buildx build --no-cache --platform linux/arm64 --load ARM64_CTX  (with the binfmt entry disabled)" "the RUN step fails" -- \
    docker buildx build --no-cache --platform linux/arm64 --load "$WORK/arm64"
out buildx-inspect-binfmt-disabled.txt "docker buildx inspect  (with the binfmt entry disabled)" "still lists linux/arm64" -- docker buildx inspect
echo 1 >"$BINFMT"

# --- registry -------------------------------------------------------------------------
# shellcheck disable=SC2016 # expanded by the inner sh, from the exported env
cap docker-login "echo PASSWORD | docker login $REG -u $AZDEPLOY_CI_REGISTRY_USER --password-stdin" "DOCKER_CONFIG is a fresh temp dir" -- \
    sh -c 'printf "%s\n" "$AZDEPLOY_CI_REGISTRY_PASSWORD" | docker login "$AZDEPLOY_CI_REGISTRY" -u "$AZDEPLOY_CI_REGISTRY_USER" --password-stdin'
# shellcheck disable=SC2016
cap docker-login-wrong-password "echo wrong | docker login $REG -u $AZDEPLOY_CI_REGISTRY_USER --password-stdin" "" -- \
    env DOCKER_CONFIG="$CFG_EMPTY" sh -c 'echo wrong | docker login "$AZDEPLOY_CI_REGISTRY" -u "$AZDEPLOY_CI_REGISTRY_USER" --password-stdin'
cap buildx-build-push-noprov "docker buildx build --platform linux/amd64 --provenance=false --push -t $REG/azdeploy-capture/web:noprov --metadata-file buildx-metadata-push.json AMD64_CTX" "logged in" -- \
    docker buildx build --platform linux/amd64 --provenance=false --push -t "$REG/azdeploy-capture/web:noprov" \
        --metadata-file "$OUT/buildx-metadata-push.json" "$WORK/amd64"
note buildx-metadata-push.json "(--metadata-file of the command above)" "metadata of a --push build, docker driver"
cap buildx-build-push-prov "docker buildx build --platform linux/amd64 --push -t $REG/azdeploy-capture/web:prov --metadata-file buildx-metadata-push-prov.json AMD64_CTX" "logged in, WITHOUT --provenance=false" -- \
    docker buildx build --platform linux/amd64 --push -t "$REG/azdeploy-capture/web:prov" \
        --metadata-file "$OUT/buildx-metadata-push-prov.json" "$WORK/amd64"
note buildx-metadata-push-prov.json "(--metadata-file of the command above)" "metadata of a --push build without --provenance=false"
out imagetools-inspect-raw-noprov.json "docker buildx imagetools inspect --raw $REG/azdeploy-capture/web:noprov" "" -- \
    docker buildx imagetools inspect --raw "$REG/azdeploy-capture/web:noprov"
out imagetools-inspect-raw-prov.json "docker buildx imagetools inspect --raw $REG/azdeploy-capture/web:prov" "built without --provenance=false" -- \
    docker buildx imagetools inspect --raw "$REG/azdeploy-capture/web:prov"
out imagetools-inspect-noprov.txt "docker buildx imagetools inspect $REG/azdeploy-capture/web:noprov" "text form" -- \
    docker buildx imagetools inspect "$REG/azdeploy-capture/web:noprov"
out imagetools-inspect-json-single.json "docker buildx imagetools inspect --format '{{json .}}' $REG/azdeploy-capture/web:noprov" "the manifest's descriptor and the image config" -- \
    docker buildx imagetools inspect --format '{{json .}}' "$REG/azdeploy-capture/web:noprov"
# A two-platform index from the amd64 push and the arm64 image pushed beside it.
docker tag "$TAG-arm:arm64" "$REG/azdeploy-capture/arm:arm64" >/dev/null
docker push -q "$REG/azdeploy-capture/arm:arm64" >/dev/null
docker buildx imagetools create -t "$REG/azdeploy-capture/web:multi" \
    "$REG/azdeploy-capture/web:noprov" "$REG/azdeploy-capture/arm:arm64" >/dev/null 2>&1
docker image rm "$REG/azdeploy-capture/arm:arm64" >/dev/null
out imagetools-inspect-json-index.json "docker buildx imagetools inspect --format '{{json .}}' $REG/azdeploy-capture/web:multi" "an index of linux/amd64 and linux/arm64 (imagetools create)" -- \
    docker buildx imagetools inspect --format '{{json .}}' "$REG/azdeploy-capture/web:multi"
out imagetools-inspect-raw-index.json "docker buildx imagetools inspect --raw $REG/azdeploy-capture/web:multi" "the same index, raw" -- \
    docker buildx imagetools inspect --raw "$REG/azdeploy-capture/web:multi"
cap imagetools-inspect-raw-nologin "DOCKER_CONFIG=<empty dir> docker buildx imagetools inspect --raw $REG/azdeploy-capture/web:noprov" "not logged in" -- \
    env DOCKER_CONFIG="$CFG_EMPTY" docker buildx imagetools inspect --raw "$REG/azdeploy-capture/web:noprov"
cap buildx-build-push-nologin "DOCKER_CONFIG=<empty dir> docker buildx build --platform linux/amd64 --provenance=false --push -t $REG/azdeploy-capture/web:nologin AMD64_CTX" "not logged in" -- \
    env DOCKER_CONFIG="$CFG_EMPTY" docker buildx build --platform linux/amd64 --provenance=false --push \
        -t "$REG/azdeploy-capture/web:nologin" "$WORK/amd64"

# --- README -----------------------------------------------------------------------------
{
    cat <<EOF
# Captured tool outputs

Real outputs, exact bytes, captured by \`ci/capture-fixtures.sh\` on a Debian 12 machine
set up by \`ci/engine-up.sh\`: docker client $(docker version --format '{{.Client.Version}}'),
dockerd $(docker version --format '{{.Server.Version}}') (Debian docker.io), $(docker buildx version),
docker-registry $(dpkg-query -W -f='${Version}' docker-registry), qemu-user-static $(dpkg-query -W -f='${Version}' qemu-user-static).
Captured $(date -u +%Y-%m-%dT%H:%MZ) (machine clock).

Conventions:
- \`X.stdout\`, \`X.stderr\`, \`X.exitcode\` are the three outputs of one command.
- Image IDs, digests, container IDs, build refs, ports and times change on every capture.
- \`AMD64_CTX\` / \`ARM64_CTX\` are temp build contexts holding the Dockerfiles
  \`Dockerfile.amd64-httpd\` / \`Dockerfile.arm64-run\` shown here, a static busybox
  (\`$AZDEPLOY_CI_BUSYBOX_AMD64\` / \`$AZDEPLOY_CI_BUSYBOX_ARM64\`) and, for amd64, \`www/index.html\`.
- Every command ran with \`DOCKER_CONFIG\` set to a private temp dir (logged in to the
  registry after \`docker-login\`); "<empty dir>" is a second, empty one. \`PASSWORD\`
  is \`AZDEPLOY_CI_REGISTRY_PASSWORD\` from \`/opt/azdeploy-ci/env\`.
- The registry is distribution $(dpkg-query -W -f='${Version}' docker-registry) with htpasswd auth at $REG.

What these outputs show (facts a parser or a hint must not get wrong):
- \`buildx ls --format json\` is supported by this buildx (0.13.1) and prints one JSON object
  per line, but it prints the default builder **twice** (two identical lines).
- \`--metadata-file\` with the \`docker\` driver (dockerd 20.10, BuildKit v0.8): a \`--load\`
  build writes only \`buildx.build.ref\` and \`containerimage.digest\`, and there
  \`containerimage.digest\` is the image ID (the config digest), tagged or not. A \`--push\`
  build adds \`containerimage.config.digest\` (the image ID) and then \`containerimage.digest\` is
  the pushed manifest's digest. No \`image.name\` and no \`containerimage.descriptor\`.
- Without \`--provenance=false\` the docker driver still pushes a plain single-platform
  \`application/vnd.docker.distribution.manifest.v2+json\` (no index, no attestation manifest):
  the two \`imagetools-inspect-raw-*.json\` are identical. An index with an attestation child
  would need BuildKit >= 0.11 (a docker-container builder, whose image cannot be pulled here,
  or a newer engine); this engine's BuildKit v0.8 makes none.
- \`docker image inspect\` of the arm64 image built here has no \`Variant\` field: its platform
  is \`linux/arm64\`, not \`linux/arm64/v8\`.
- With the binfmt entry disabled, \`docker buildx inspect\` still lists \`linux/arm64\`; only a
  \`RUN\` step shows the failure (\`exec format error\` inside the BuildKit log, exit 1).
- \`docker run -d\` whose port is taken prints the new container's ID on stdout, then fails
  with exit 125 and leaves the container in state \`Created\` (see \`docker-ps-after-port-taken.txt\`).
  Taken by another container: \`port is already allocated\`; by any other process:
  \`Error starting userland proxy: listen tcp4 ...: bind: address already in use\`.
- Against a dead engine \`docker version\` exits 1 but still prints the client part on stdout
  (\`"Server":null\` in JSON); \`buildx ls\` exits **0** with status \`error\`; \`buildx build\`
  exits 1 with \`ERROR: Cannot connect to the Docker daemon at ...\`. \`-H\` and \`DOCKER_HOST\`
  give the same.
- The client's \`ApiVersion\` is \`1.41\` (negotiated down to the 20.10 engine) when the engine
  answers and \`1.50\` when it does not.

| file | command | what |
| --- | --- | --- |
EOF
    sort -t"$(printf '\t')" -k1,1 "$MANIFEST" | awk -F'\t' '{ gsub(/\|/, "\\|", $2); printf "| `%s` | `%s` | %s |\n", $1, $2, $3 }'
} >"$OUT/README.md"
echo "captured $(wc -l <"$MANIFEST") files into $OUT"
