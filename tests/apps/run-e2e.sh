#!/usr/bin/env bash
# Build and run the sample apps end to end with the Dockerfile `docker azdeploy init --dockerfile`
# writes and the multi-arch Python base from ci/python-images.sh, on linux/amd64 (native) and
# linux/arm64 (QEMU), and print one measured line per app and platform:
#   init's decision, build time (--no-cache), image size, docker run -> health, the first run of
#   a Streamlit script (tests/apps/first_session.py) or the answer of `/`, memory, the
#   HEALTHCHECK command run in the container.
#
# Usage: bash tests/apps/run-e2e.sh [-p PLATFORMS] [-k] [APP...]
#   APP        streamlit streamlit-broken flask compiled (default: all four)
#   -p         comma-separated platforms (default linux/amd64,linux/arm64)
#   -k         keep the images (printed at the end); default: removed
# Needs: ci/engine-up.sh done (root), the plugin built (target/debug/docker-azdeploy, or
# AZDEPLOY_PLUGIN=path). Everything it creates is named azdeploy-pyapps-<pid>-… and labelled
# azdeploy.test=pyapps-<pid>; it removes it on exit, failure included. Logs: $WORK (printed).
# Emulated builds use QEMU's aarch64 binfmt entry: do not run it while a test toggles that entry.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
APPS_DIR="$ROOT/tests/apps"
CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"
PLUGIN="${AZDEPLOY_PLUGIN:-$ROOT/target/debug/docker-azdeploy}"
PLATFORMS=linux/amd64,linux/arm64
KEEP=0
while getopts p:k o; do
    case $o in
        p) PLATFORMS=$OPTARG ;;
        k) KEEP=1 ;;
        *) echo "usage: $0 [-p PLATFORMS] [-k] [APP...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
APPS=("$@")
[ "${#APPS[@]}" -gt 0 ] || APPS=(streamlit streamlit-broken flask compiled)

die() { echo "run-e2e: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

[ -r "$CI_DIR/env" ] || die "$CI_DIR/env missing; run ci/engine-up.sh"
# shellcheck disable=SC1091
. "$CI_DIR/env"
[ -n "${AZDEPLOY_CI_PYTHON_IMAGE:-}" ] || die "AZDEPLOY_CI_PYTHON_IMAGE not in $CI_DIR/env; run ci/engine-up.sh"
[ -x "$PLUGIN" ] || die "$PLUGIN missing; run cargo build (or set AZDEPLOY_PLUGIN)"
for a in "${APPS[@]}"; do [ -d "$APPS_DIR/$a" ] || die "no app $APPS_DIR/$a"; done

ID="azdeploy-pyapps-$$"
WORK=$(mktemp -d "/tmp/$ID.XXXXXX")
export DOCKER_CONFIG="$WORK/docker-config"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$PLUGIN" "$DOCKER_CONFIG/cli-plugins/docker-azdeploy"
IMAGES=()
cleanup() {
    local c
    for c in $(docker ps -aq --filter "label=azdeploy.test=pyapps-$$" 2>/dev/null); do docker rm -f "$c" >/dev/null 2>&1 || true; done
    if [ "$KEEP" = 0 ]; then
        for c in "${IMAGES[@]}"; do docker image rm "$c" >/dev/null 2>&1 || true; done
    fi
    echo "run-e2e: logs kept in $WORK" >&2
    rm -rf "$DOCKER_CONFIG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_http URL SECS: polls every 0.05 s until 2xx; prints nothing, fails on timeout
wait_http() {
    local end
    end=$(awk -v a="$(now)" -v s="$2" 'BEGIN{print a+s}')
    while awk -v a="$(now)" -v e="$end" 'BEGIN{exit !(a<e)}'; do
        curl -sf -m 2 -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

printf 'run-e2e: base %s (%s), plugin %s, logs in %s\n' "$AZDEPLOY_CI_PYTHON_IMAGE" \
    "${AZDEPLOY_CI_PYTHON_IMAGE_DIGEST:-?}" "$PLUGIN" "$WORK" >&2
printf '| app | platform | init decided | build --no-cache | image size | run -> health | first run / GET / | memory | HEALTHCHECK cmd |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
FAILED=0
for app in "${APPS[@]}"; do
    dir="$WORK/$app"
    cp -r "$APPS_DIR/$app" "$dir"
    init_line=$( (cd "$dir"; docker azdeploy init --dockerfile 2>&1) | grep '^wrote Dockerfile' || true)
    [ -f "$dir/Dockerfile" ] || die "init --dockerfile wrote no Dockerfile for $app: $init_line"
    decided=$(sed -n 's/^wrote Dockerfile (\(.*\)) and .dockerignore$/\1/p' <<<"$init_line")
    health=$(jq -r .health_path "$dir/azdeploy.json")
    port=$(jq -r .port "$dir/azdeploy.json")
    IFS=, read -ra plats <<<"$PLATFORMS"
    for plat in "${plats[@]}"; do
        arch=${plat#linux/}
        tag="$ID-$app:$arch"
        IMAGES+=("$tag")
        t=$(now)
        if ! docker buildx build --platform "$plat" --no-cache --load --progress=plain -t "$tag" \
            --build-arg "PYTHON_IMAGE=$AZDEPLOY_CI_PYTHON_IMAGE" "$dir" >"$WORK/build-$app-$arch.log" 2>&1; then
            printf '| %s | %s | %s | FAILED after %ss (%s) | | | | | |\n' "$app" "$plat" "$decided" "$(since "$t")" "$WORK/build-$app-$arch.log"
            tail -n 15 "$WORK/build-$app-$arch.log" >&2
            FAILED=$((FAILED + 1))
            continue
        fi
        build_s=$(since "$t")
        size=$(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')
        got=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$tag")
        [ "$got" = "$plat" ] || { echo "run-e2e: $tag is $got, not $plat" >&2; FAILED=$((FAILED + 1)); }
        c="$ID-$app-$arch"
        t=$(now)
        docker run -d --name "$c" --label "azdeploy.test=pyapps-$$" --platform "$plat" \
            -p "127.0.0.1:0:$port" "$tag" >/dev/null
        hport=$(docker port "$c" "$port/tcp" | head -n1 | sed 's/.*://')
        if wait_http "http://127.0.0.1:$hport$health" 180; then
            health_s="$(since "$t") s"
        else
            health_s="NOT HEALTHY in 180 s"
            FAILED=$((FAILED + 1))
        fi
        case $app in
            streamlit*)
                t=$(now)
                fs=$(docker exec -i "$c" python - "$port" 180 <"$APPS_DIR/first_session.py" 2>&1) || true
                printf '%s\n' "$fs" >"$WORK/first-session-$app-$arch.json"
                first="$(jq -r '"\(if .ok then "ran ok" else "RAISED " + ([.exceptions[]?.type] | join(",")) end) in \(.ms) ms"' <<<"$fs" 2>/dev/null || echo "?: $fs") ($(since "$t") s with exec)"
                ;;
            *)
                first="GET / $(curl -s -o "$WORK/get-$app-$arch.out" -w '%{http_code}' "http://127.0.0.1:$hport/"): $(head -c 60 "$WORK/get-$app-$arch.out" | tr '\n' ' ')"
                ;;
        esac
        mem=$(docker stats --no-stream --format '{{.MemUsage}}' "$c" | cut -d/ -f1 | tr -d ' ')
        mapfile -t hc_args < <(docker inspect --format '{{json .Config.Healthcheck.Test}}' "$c" | jq -r '.[1:][]')
        if [ "${#hc_args[@]}" -gt 0 ] && docker exec "$c" "${hc_args[@]}" >/dev/null 2>&1; then hc_res=passes; else hc_res="FAILS"; fi
        docker logs "$c" >"$WORK/logs-$app-$arch.txt" 2>&1 || true
        docker rm -f "$c" >/dev/null
        printf '| %s | %s | %s | %ss | %s | %s | %s | %s | %s |\n' "$app" "$plat" "$decided" "$build_s" "$size" "$health_s" "$first" "$mem" "$hc_res"
    done
done
if [ "$KEEP" = 1 ]; then echo "run-e2e: kept images: ${IMAGES[*]}" >&2; fi
[ "$FAILED" = 0 ] || die "$FAILED check(s) failed (see the table and $WORK)"
