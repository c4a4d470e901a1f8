#!/bin/sh
# Builds docker-azdeploy and installs it as a Docker CLI plugin.
#
#   ./install.sh              build (release) and install into ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
#   ./install.sh --uninstall  remove it again
#
# Works on macOS and Linux with a POSIX sh, cargo (https://rustup.rs) and the docker CLI.
set -eu

name=docker-azdeploy
dest_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
dest="$dest_dir/$name"
here=$(cd "$(dirname "$0")" && pwd)

say() { printf '%s\n' "$*" >&2; }
fail() { say "error: $1"; [ -n "${2:-}" ] && say "hint: $2"; exit 1; }

case "${1:-}" in
    --uninstall)
        if [ -e "$dest" ] || [ -L "$dest" ]; then
            rm -f "$dest"
            say "removed $dest"
        else
            say "nothing to remove: $dest does not exist"
        fi
        exit 0
        ;;
    "") ;;
    -h|--help)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *) fail "unknown option: $1" "run ./install.sh --help" ;;
esac

command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found" "install Rust from https://rustup.rs, then run ./install.sh again"

say "building $name (release)…"
(cd "$here" && cargo build --release --locked --quiet) ||
    fail "cargo build failed (see above)" "run 'cargo build --release --locked' in $here to see the whole error"

mkdir -p "$dest_dir"
# Copy to a temporary name, then rename: a running docker never sees half a binary.
cp "$here/target/release/$name" "$dest.tmp.$$"
chmod 0755 "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
say "installed $dest"

if ! command -v docker >/dev/null 2>&1; then
    say "warning: the docker CLI is not on PATH, so 'docker azdeploy' cannot run yet"
    say "hint: install Docker Desktop (macOS) or the docker CLI, then run 'docker azdeploy version'"
    exit 0
fi
docker azdeploy version ||
    fail "'docker azdeploy version' did not answer" "check that $dest_dir is the docker CLI's plugin directory (see 'docker info')"
