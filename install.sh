#!/bin/sh
# Installs docker-azdeploy as a Docker CLI plugin, into ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins.
#
#   ./install.sh              in a checkout with cargo: build (release) and install;
#                             without cargo: download the release binary for this machine
#   ./install.sh --binary     download the release binary even when cargo is here
#   ./install.sh --uninstall  remove the plugin again
#   curl -fsSL https://github.com/docker-azdeploy/docker-azdeploy/releases/latest/download/install.sh | sh
#
# Release binaries: macOS (Apple Silicon, Intel) and Linux (arm64, x86_64). The archive is
# checked against its published sha256 before anything is installed.
#   AZDEPLOY_VERSION      the release to install (default: this checkout's, or the script's own)
#   AZDEPLOY_RELEASE_URL  where the archives are (default: the GitHub release of that version)
# Needs a POSIX sh, tar, curl or wget, and sha256sum or shasum; building needs cargo (https://rustup.rs).
set -eu

name=docker-azdeploy
repository=https://github.com/docker-azdeploy/docker-azdeploy
# Set by ci/dist.sh in the copy attached to a release; empty in the source tree.
stamped_version=""

dest_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
dest="$dest_dir/$name"

say() { printf '%s\n' "$*" >&2; }
fail() {
    say "error: $1"
    if [ -n "${2:-}" ]; then say "hint: $2"; fi
    exit 1
}

usage() {
    cat >&2 <<EOF
Installs docker-azdeploy as a Docker CLI plugin, into $dest_dir.

  ./install.sh              in a checkout with cargo: build (release) and install;
                            without cargo: download the release binary for this machine
  ./install.sh --binary     download the release binary even when cargo is here
  ./install.sh --uninstall  remove the plugin again

Environment: AZDEPLOY_VERSION (release to install), AZDEPLOY_RELEASE_URL (where the
archives are; default $repository/releases/download/v<version>).
EOF
}

# Everything temporary lives in $tmp or is $part; both go on any exit.
tmp=""
part=""
cleanup() {
    if [ -n "$part" ]; then rm -f "$part"; fi
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Removes macOS's quarantine attribute from $1 when it has one (a browser-downloaded archive
# passes it on), so Gatekeeper does not stop the plugin; elsewhere a no-op.
clear_quarantine() {
    if [ "$(uname -s)" = Darwin ] && command -v xattr >/dev/null 2>&1 &&
        xattr -p com.apple.quarantine "$1" >/dev/null 2>&1; then
        xattr -d com.apple.quarantine "$1"
        say "cleared the macOS quarantine attribute of $1"
    fi
}

# Copies $1 to $dest through a temporary name in the same directory: a running docker never
# sees half a binary, and the temporary name (a dotfile) is no plugin candidate.
install_file() {
    mkdir -p "$dest_dir" || fail "cannot create $dest_dir" "check its permissions, or set DOCKER_CONFIG"
    part="$dest_dir/.$name.part.$$"
    cp "$1" "$part"
    chmod 0755 "$part"
    clear_quarantine "$part" # macOS cp copies extended attributes
    mv -f "$part" "$dest"
    part=""
}

check_with_docker() {
    if ! command -v docker >/dev/null 2>&1; then
        say "warning: the docker CLI is not on PATH, so 'docker azdeploy' cannot run yet"
        say "hint: install Docker Desktop (macOS) or the docker CLI, then run 'docker azdeploy version'"
        exit 0
    fi
    answer=$(docker azdeploy version) ||
        fail "'docker azdeploy version' did not answer" \
            "check that $dest_dir is the docker CLI's plugin directory (see 'docker info')"
    printf '%s\n' "$answer"
    first=$(printf '%s\n' "$answer" | head -n 1)
    if [ -n "${1:-}" ] && [ "$first" != "$name $1" ]; then
        say "warning: 'docker azdeploy' runs another copy ($first), not the one just installed"
        say "hint: a directory in cliPluginsExtraDirs of ${DOCKER_CONFIG:-$HOME/.docker}/config.json comes first; 'docker info' shows the plugin's path"
    fi
}

mode=auto
while [ $# -gt 0 ]; do
    case $1 in
        --uninstall) mode=uninstall ;;
        --binary) mode=binary ;;
        -h | --help) usage; exit 0 ;;
        *) fail "unknown option: $1" "run ./install.sh --help" ;;
    esac
    shift
done

if [ "$mode" = uninstall ]; then
    if [ -e "$dest" ] || [ -L "$dest" ]; then
        rm -f "$dest"
        say "removed $dest"
    else
        say "nothing to remove: $dest does not exist"
    fi
    exit 0
fi

# The checkout this script is in, if it is one (not when piped into sh).
here=""
if [ -f "$0" ]; then
    here=$(cd "$(dirname "$0")" && pwd)
    if [ ! -f "$here/src/main.rs" ] || ! grep -q "^name = \"$name\"" "$here/Cargo.toml" 2>/dev/null; then
        here=""
    fi
fi

if [ "$mode" = auto ]; then
    if [ -n "$here" ] && command -v cargo >/dev/null 2>&1; then
        mode=source
    else
        mode=binary
        if [ -n "$here" ]; then
            say "cargo not found: installing the release binary instead of building from source"
        fi
    fi
fi

if [ "$mode" = source ]; then
    say "building $name (release)…"
    (cd "$here" && cargo build --release --locked --quiet) ||
        fail "cargo build failed (see above)" "run 'cargo build --release --locked' in $here to see the whole error"
    target_dir=${CARGO_TARGET_DIR:-target}
    case $target_dir in /*) ;; *) target_dir="$here/$target_dir" ;; esac
    install_file "$target_dir/release/$name"
    say "installed $dest"
    check_with_docker "$(sed -n 's/^version *= *"\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)"
    exit 0
fi

# ---- binary mode: download, verify, install ----

version=${AZDEPLOY_VERSION:-$stamped_version}
if [ -z "$version" ] && [ -n "$here" ]; then
    version=$(sed -n 's/^version *= *"\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)
fi
version=${version#v}
[ -n "$version" ] ||
    fail "no version to install" "set AZDEPLOY_VERSION to a release listed at $repository/releases"

os=$(uname -s)
cpu=$(uname -m)
if [ "$os" = Darwin ] && [ "$cpu" = x86_64 ] &&
    [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    cpu=arm64 # this shell runs under Rosetta on Apple Silicon: take the native binary
fi
case $os in
    Darwin) os_part=apple-darwin ;;
    Linux) os_part=unknown-linux-musl ;;
    *) os_part="" ;;
esac
case $cpu in
    arm64 | aarch64) cpu_part=aarch64 ;;
    x86_64 | amd64) cpu_part=x86_64 ;;
    *) cpu_part="" ;;
esac
if [ -z "$os_part" ] || [ -z "$cpu_part" ]; then
    fail "no release binary for $os on $cpu (releases cover macOS and Linux on arm64 and x86_64)" \
        "build from source instead: install Rust (https://rustup.rs), then run ./install.sh in a checkout of $repository"
fi
target="$cpu_part-$os_part"

release_url=${AZDEPLOY_RELEASE_URL:-$repository/releases/download/v$version}
release_url=${release_url%/}
stem="$name-$version-$target"
archive="$stem.tar.gz"

if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
    fail "neither sha256sum nor shasum found: the download cannot be verified" \
        "install coreutils (sha256sum) or perl's shasum, then run ./install.sh again"
fi
command -v tar >/dev/null 2>&1 || fail "tar not found" "install tar, then run ./install.sh again"

# download URL FILE; on failure says why and exits (a missing file is named as such).
if command -v curl >/dev/null 2>&1; then
    download() {
        # An https release must not be redirected to plain http.
        case $1 in https://*) redir="=https" ;; *) redir="all" ;; esac
        code=$(curl --silent --show-error --location --proto-redir "$redir" --retry 2 \
            --output "$2" --write-out '%{http_code}' "$1") || code=000
        case $code in
            200) return 0 ;;
            404) fail "no $3 at $1 (HTTP 404)" "check that release $version exists and has a $target archive: $repository/releases (AZDEPLOY_VERSION picks another)" ;;
            000) fail "could not download $1 (see curl's message above)" "check the network connection, or point AZDEPLOY_RELEASE_URL at a reachable copy of the release" ;;
            *) fail "could not download $1 (HTTP $code)" "try again later, or point AZDEPLOY_RELEASE_URL at another copy of the release" ;;
        esac
    }
elif command -v wget >/dev/null 2>&1; then
    download() {
        rc=0
        wget --quiet --output-document="$2" "$1" || rc=$?
        case $rc in
            0) return 0 ;;
            8) fail "no $3 at $1 (the server answered with an error)" "check that release $version exists and has a $target archive: $repository/releases (AZDEPLOY_VERSION picks another)" ;;
            *) fail "could not download $1 (wget exit status $rc)" "check the network connection, or point AZDEPLOY_RELEASE_URL at a reachable copy of the release" ;;
        esac
    }
else
    fail "neither curl nor wget found" "install curl, then run ./install.sh again"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name-install.XXXXXX") ||
    fail "cannot create a temporary directory" "check that ${TMPDIR:-/tmp} is writable, or set TMPDIR"

say "downloading $release_url/$archive"
download "$release_url/$archive" "$tmp/$archive" "release archive for $target"
download "$release_url/$archive.sha256" "$tmp/$archive.sha256" "checksum file for $archive"

expected=$(cut -d ' ' -f 1 "$tmp/$archive.sha256")
actual=$(sha256 "$tmp/$archive")
case $expected in
    *[!0-9a-f]* | "") fail "$archive.sha256 holds no sha256 (got: $(head -c 80 "$tmp/$archive.sha256"))" \
        "check AZDEPLOY_RELEASE_URL: it must point at the directory holding the release's files" ;;
esac
[ "$expected" = "$actual" ] ||
    fail "checksum mismatch for $archive: expected $expected, got $actual; nothing was installed" \
        "download again; if it persists, report it at $repository/issues (the file may have been tampered with)"
say "verified sha256 $actual"

mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" ||
    fail "cannot unpack $archive" "download again; report it at $repository/issues if it persists"
[ -f "$tmp/x/$stem/$name" ] ||
    fail "$archive does not contain $stem/$name" "report it at $repository/issues"
clear_quarantine "$tmp/x/$stem/$name"
"$tmp/x/$stem/$name" docker-cli-plugin-metadata >/dev/null 2>&1 ||
    fail "the downloaded $target binary does not run on this machine; nothing was installed" \
        "report it at $repository/issues with the output of 'uname -a'"

install_file "$tmp/x/$stem/$name"
say "installed $name $version ($target) as $dest"
check_with_docker "$version"
