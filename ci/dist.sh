#!/usr/bin/env bash
# Release archives of docker-azdeploy for macOS and Linux, all built on one Linux machine.
#
#   ci/dist.sh [--out DIR] [--base-url URL] [TARGET…]
#       Builds (cargo, release, --locked) every target, or those named, checks each binary and
#       writes into DIR (default dist/):
#         docker-azdeploy-<version>-<target>.tar.gz   the binary, README.md and LICENSE
#         docker-azdeploy-<version>-<target>.tar.gz.sha256
#         docker-azdeploy.rb   a Homebrew formula with URLs under --base-url (only with all targets)
#         install.sh           ./install.sh with this version set, for `curl … | sh`
#         checksums.txt        sha256 of all of the above
#   ci/dist.sh --package BINARY TARGET OUTDIR
#       Packages one binary exactly as a release does (the archive and its .sha256) and nothing
#       else: tests/it/install.rs uses it, so the install test sees a release's very layout.
#
# Targets: aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-linux-musl
# aarch64-unknown-linux-musl. The version is Cargo.toml's; --base-url defaults to the GitHub
# release of that version for the repository in Cargo.toml.
#
# Checks: the Linux binaries run (`docker-cli-plugin-metadata` must print this version; arm64
# under QEMU user emulation); the macOS ones are checked by their headers (ci/inspect-binary.py:
# arch, only libSystem, a valid ad-hoc signature on arm64).
#
# Reproducible: the same commit and toolchains give the same bytes. Archive entries are sorted,
# owned by 0:0, dated from the commit (SOURCE_DATE_EPOCH), gzip stores no name or time, and
# rustc sees no build machine's paths (ci/rustc-remap). RUSTFLAGS and wrappers from the
# environment are ignored. ci/dist-repro.sh builds twice and compares.
#
# Installs what it needs, idempotently: rustup targets and zig (ci/cross-env.sh), and
# qemu-user-static from Debian when no QEMU is there. Needs GNU tar, gzip and python3.
set -euo pipefail

ALL_TARGETS=(aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
NAME=docker-azdeploy
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=ci/cross-env.sh
. "$REPO/ci/cross-env.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; }

# Temporary files and directories to remove on any exit.
CLEANUP=()
cleanup() { if [ ${#CLEANUP[@]} -gt 0 ]; then rm -rf -- "${CLEANUP[@]}"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo_field() { sed -n "s/^$1 *= *\"\(.*\)\"\$/\1/p" "$REPO/Cargo.toml" | head -n 1; }
VERSION=$(cargo_field version)
[ -n "$VERSION" ] || die "no version in $REPO/Cargo.toml" "check its [package] section"

# The commit's date, so that archives of the same commit carry the same dates.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null) ||
        die "cannot read the commit date from git in $REPO" \
            "run this in a git checkout, or set SOURCE_DATE_EPOCH"
fi
export SOURCE_DATE_EPOCH

find_tar() {
    local t
    for t in tar gtar; do
        if command -v "$t" >/dev/null 2>&1 && "$t" --version 2>/dev/null | grep -q 'GNU tar'; then
            echo "$t"
            return
        fi
    done
    die "GNU tar not found (reproducible archives need its --sort and --mtime)" \
        "install GNU tar (Debian: apt-get install tar; macOS: brew install gnu-tar)"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$1"; else shasum -a 256 -- "$1"; fi
}

# package BINARY TARGET OUTDIR: OUTDIR/docker-azdeploy-<version>-<target>.tar.gz and .sha256.
package() {
    local bin=$1 target=$2 outdir=$3 tar stem work
    tar=$(find_tar)
    [ -f "$bin" ] || die "no binary at $bin" "build it first (cargo build --release --target $target)"
    for f in README.md LICENSE; do
        [ -f "$REPO/$f" ] || die "$REPO/$f is missing; every archive carries it" "restore it from git"
    done
    mkdir -p "$outdir"
    stem="$NAME-$VERSION-$target"
    work=$(mktemp -d "${TMPDIR:-/tmp}/azdeploy-package.XXXXXX")
    CLEANUP+=("$work" "$outdir/.$stem.tar.gz.part")
    mkdir "$work/$stem"
    cp -- "$bin" "$work/$stem/$NAME"
    cp -- "$REPO/README.md" "$REPO/LICENSE" "$work/$stem/"
    chmod 0755 "$work/$stem" "$work/$stem/$NAME"
    chmod 0644 "$work/$stem/README.md" "$work/$stem/LICENSE"
    (cd "$work" && LC_ALL=C "$tar" --create --file=- --format=ustar --sort=name \
        --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
        --no-acls --no-xattrs -- "$stem") | gzip -n >"$outdir/.$stem.tar.gz.part"
    mv -f "$outdir/.$stem.tar.gz.part" "$outdir/$stem.tar.gz"
    (cd "$outdir" && sha256_of "$stem.tar.gz" >".$stem.tar.gz.sha256.part" &&
        mv -f ".$stem.tar.gz.sha256.part" "$stem.tar.gz.sha256")
    rm -rf -- "$work"
}

if [ "${1:-}" = --package ]; then
    [ $# -eq 4 ] || die "--package takes BINARY TARGET OUTDIR" "run ci/dist.sh --help"
    package "$2" "$3" "$4"
    say "packaged $4/$NAME-$VERSION-$3.tar.gz"
    exit 0
fi

OUT="$REPO/dist"
BASE_URL=""
TARGETS=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) OUT=${2:?--out needs a directory}; shift ;;
        --out=*) OUT=${1#*=} ;;
        --base-url) BASE_URL=${2:?--base-url needs a URL}; shift ;;
        --base-url=*) BASE_URL=${1#*=} ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option: $1" "run ci/dist.sh --help" ;;
        *)
            [[ " ${ALL_TARGETS[*]} " == *" $1 "* ]] ||
                die "unknown target: $1" "use some of: ${ALL_TARGETS[*]}"
            TARGETS+=("$1")
            ;;
    esac
    shift
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REPOSITORY=$(cargo_field repository)
BASE_URL=${BASE_URL:-$REPOSITORY/releases/download/v$VERSION}
BASE_URL=${BASE_URL%/}

T0=$SECONDS
phase() { say "[dist $((SECONDS - T0))s] $*"; }

for tool in gzip python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found" "install it, then run ci/dist.sh again"
done
find_tar >/dev/null
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    say "warning: the work tree has uncommitted changes: these archives are not the commit's"
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

# The command that runs a binary for TARGET here (empty: run it directly).
runner_for() {
    local want=${1%%-*} host q
    host=$(uname -m)
    [ "$host" = arm64 ] && host=aarch64
    if [ "$want" = "$host" ]; then echo ""; return; fi
    for q in "qemu-$want-static" "qemu-$want"; do
        if command -v "$q" >/dev/null 2>&1; then command -v "$q"; return; fi
    done
    die "no QEMU user emulator for $want: the $want Linux binary must run before it ships" \
        "install it (Debian: apt-get install qemu-user-static), then run ci/dist.sh again"
}

need_qemu=""
host_arch=$(uname -m)
for t in "${TARGETS[@]}"; do
    case $t in
        *-linux-*)
            arch=${t%%-*}
            if [ "$arch" != "${host_arch/arm64/aarch64}" ] && ! command -v "qemu-$arch-static" >/dev/null 2>&1 &&
                ! command -v "qemu-$arch" >/dev/null 2>&1; then
                need_qemu=1
            fi
            ;;
    esac
done
if [ -n "$need_qemu" ] && command -v apt-get >/dev/null 2>&1; then
    phase "installing qemu-user-static (Debian) to run the other CPU's Linux binary…"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >&2 ||
        { as_root apt-get update -qq >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >&2; } ||
        die "apt-get could not install qemu-user-static (see above)" \
            "install a QEMU user emulator for ${TARGETS[*]}, then run ci/dist.sh again"
fi

phase "toolchains for ${TARGETS[*]}"
cross_setup "${TARGETS[@]}"
say "  $(rustc -V), zig $("$AZDEPLOY_ZIG" version)"

# What the binaries must not depend on: the caller's rustflags and wrappers, and paths.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
export CARGO_ENCODED_RUSTFLAGS="" # set and empty: cargo then reads no rustflags from config
export RUSTC_WRAPPER="$REPO/ci/rustc-remap"
export AZDEPLOY_REMAP_CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" AZDEPLOY_REMAP_SOURCE="$REPO"
export AZDEPLOY_REMAP_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"

phase "building $NAME $VERSION (release) for ${TARGETS[*]}"
build_start=$SECONDS
target_args=()
for t in "${TARGETS[@]}"; do target_args+=(--target "$t"); done
# Without SOURCE_DATE_EPOCH: only the archives use it, and ring's build script reruns whenever
# it changes, which would rebuild ring and everything above it after every commit.
(cd "$REPO" && env -u SOURCE_DATE_EPOCH cargo build --release --locked "${target_args[@]}") ||
    die "cargo build failed (see above)" \
        "run ci/dist.sh with a single target to narrow it down, e.g. ci/dist.sh ${TARGETS[0]}"
build_secs=$((SECONDS - build_start))
target_dir=${CARGO_TARGET_DIR:-$REPO/target}

stage=$(mktemp -d "$OUT/.dist.XXXXXX")
CLEANUP+=("$stage")
summary=()
for t in "${TARGETS[@]}"; do
    bin="$target_dir/$t/release/$NAME"
    headers=$(python3 "$REPO/ci/inspect-binary.py" "$t" "$bin") || die "$t: the binary fails its header checks (above)" \
        "see ci/inspect-binary.py for what each check means"
    ran="by headers"
    case $t in
        *-linux-*)
            runner=$(runner_for "$t")
            run=("$bin")
            if [ -n "$runner" ]; then run=("$runner" "$bin"); fi
            meta=$("${run[@]}" docker-cli-plugin-metadata) ||
                die "$t: \`${runner:+$runner }$bin docker-cli-plugin-metadata\` failed" \
                    "run it by hand to see why; for another CPU check binfmt_misc or QEMU"
            python3 -c 'import json,sys; v=json.loads(sys.argv[1])["Version"]; sys.exit(v != sys.argv[2])' \
                "$meta" "$VERSION" || die "$t: metadata says $meta, expected Version $VERSION" \
                "rebuild from a clean target dir"
            ran="ran${runner:+ under $(basename "$runner")}: metadata Version $VERSION"
            ;;
    esac
    package "$bin" "$t" "$stage"
    summary+=("$(printf '%-28s %6s KiB  %s; %s' "$t" "$(($(wc -c <"$stage/$NAME-$VERSION-$t.tar.gz") / 1024))" "$headers" "$ran")")
done

# The formula, from the archives' checksums.
formula_target() { cut -d' ' -f1 "$stage/$NAME-$VERSION-$1.tar.gz.sha256"; }
if [ ${#TARGETS[@]} -eq ${#ALL_TARGETS[@]} ]; then
    desc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ShortDescription"])' "$REPO/plugin-metadata.json")
    rb_block() { # indent target
        printf '%s  url "%s/%s"\n' "$1" "$BASE_URL" "$NAME-$VERSION-$2.tar.gz"
        printf '%s  sha256 "%s"\n' "$1" "$(formula_target "$2")"
    }
    {
        cat <<EOF
# Homebrew formula for docker-azdeploy $VERSION, generated by ci/dist.sh from the release's
# checksums. Homebrew installs formulae from taps; to use this file on its own:
#   brew tap-new --no-git \$USER/local
#   cp docker-azdeploy.rb "\$(brew --repository \$USER/local)/Formula/"
#   brew install \$USER/local/docker-azdeploy
class DockerAzdeploy < Formula
  desc "$desc"
  homepage "$REPOSITORY"
  version "$VERSION"
  license "MIT"

  on_macos do
    on_arm do
$(rb_block "    " aarch64-apple-darwin)
    end
    on_intel do
$(rb_block "    " x86_64-apple-darwin)
    end
  end

  on_linux do
    on_arm do
$(rb_block "    " aarch64-unknown-linux-musl)
    end
    on_intel do
$(rb_block "    " x86_64-unknown-linux-musl)
    end
  end

  def install
    (lib/"docker/cli-plugins").install "docker-azdeploy"
  end

  def caveats
    <<~EOS
      docker-azdeploy is a Docker CLI plugin. It is installed in
        #{HOMEBREW_PREFIX}/lib/docker/cli-plugins
      The docker CLI searches /usr/local/lib/docker/cli-plugins (Intel Macs) but not
      /opt/homebrew (Apple Silicon) or Linuxbrew. There, add the directory to
      "cliPluginsExtraDirs" in ~/.docker/config.json (\$DOCKER_CONFIG/config.json if set),
      next to the keys already in that JSON object:
        "cliPluginsExtraDirs": [
          "#{HOMEBREW_PREFIX}/lib/docker/cli-plugins"
        ]
      Then check with:
        docker azdeploy version
    EOS
  end

  test do
    assert_match(/"Version":\s*"#{version}"/,
      shell_output("#{lib}/docker/cli-plugins/docker-azdeploy docker-cli-plugin-metadata"))
  end
end
EOF
    } >"$stage/$NAME.rb"
else
    say "note: no Homebrew formula: it needs all of ${ALL_TARGETS[*]}"
fi

# install.sh, knowing its release, for `curl -fsSL <release>/install.sh | sh`.
sed "s/^stamped_version=\"\"\$/stamped_version=\"$VERSION\"/" "$REPO/install.sh" >"$stage/install.sh"
grep -q "^stamped_version=\"$VERSION\"\$" "$stage/install.sh" ||
    die "install.sh has no line stamped_version=\"\" to set the version in" "restore that line in install.sh"
chmod 0755 "$stage/install.sh"

(cd "$stage" && for f in *.tar.gz "$NAME.rb" install.sh; do
    if [ -f "$f" ]; then sha256_of "$f"; fi
done | LC_ALL=C sort -k 2 >checksums.txt)

# Replace the previous release files in OUT with these.
rm -f -- "$OUT/$NAME"-*.tar.gz "$OUT/$NAME"-*.tar.gz.sha256 "$OUT/$NAME.rb" "$OUT/install.sh" "$OUT/checksums.txt"
for f in "$stage"/*; do mv -f -- "$f" "$OUT/"; done
rm -rf -- "$stage"

phase "done: $NAME $VERSION in $OUT (build ${build_secs}s, commit date $SOURCE_DATE_EPOCH)"
printf '  %s\n' "${summary[@]}" >&2
say "  checksums.txt:"
sed 's/^/    /' "$OUT/checksums.txt" >&2
