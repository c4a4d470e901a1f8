# shellcheck shell=bash
# Sourced by ci/dist.sh and ci/check-macos.sh: installs what cross builds from Linux need, each
# step idempotent, and exports the environment cargo and cc-rs read.
#
#   cross_setup TARGET…   rustup's standard library for each target, zig (PyPI `ziglang`,
#                         pinned) for the targets' C code (ring) and linking, and the env vars
#
# Tools live in $AZDEPLOY_TOOLS_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/docker-azdeploy),
# kept between runs and shared by checkouts; the shims live in the checkout's target dir.
# Facts behind this (shared docs, shipping-binaries.md): Debian's clang has no macOS headers,
# zig does; Rust's std asks for -liconv, which an empty libiconv.a satisfies; zig's linker gives
# arm64 Mach-O an ad-hoc signature, which Apple Silicon requires.

ZIGLANG_VERSION=0.17.1
CROSS_TOOLS_DIR=${AZDEPLOY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-azdeploy}
CROSS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }
die() {
    say "error: $1"
    if [ -n "${2:-}" ]; then say "hint: $2"; fi
    exit 1
}

# The zig target for a Rust target triple (empty when zig is not used for it).
cross_zig_target() {
    case $1 in
        aarch64-apple-darwin) echo aarch64-macos ;;
        x86_64-apple-darwin) echo x86_64-macos ;;
        x86_64-unknown-linux-musl) echo x86_64-linux-musl ;;
        aarch64-unknown-linux-musl) echo aarch64-linux-musl ;;
        *) echo "" ;;
    esac
}

cross_rustup_targets() {
    command -v rustup >/dev/null 2>&1 ||
        die "rustup not found: the cross targets' standard libraries come from rustup" \
            "install Rust with rustup (https://rustup.rs), then run this again"
    local installed missing=() t
    installed=$(rustup target list --installed)
    for t in "$@"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing the Rust standard library for ${missing[*]} (rustup)…"
        rustup target add "${missing[@]}" >&2 ||
            die "rustup target add ${missing[*]} failed (see above)" \
                "check that rustup's server is reachable, then run this again"
    fi
}

# Sets AZDEPLOY_ZIG to a zig of ZIGLANG_VERSION, installing it from PyPI when missing.
# zig's cache (the macOS and musl C libraries it builds once) lives beside it.
cross_zig() {
    local dir="$CROSS_TOOLS_DIR/ziglang-$ZIGLANG_VERSION"
    AZDEPLOY_ZIG="$dir/ziglang/zig"
    export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$CROSS_TOOLS_DIR/zig-cache}"
    if [ -x "$AZDEPLOY_ZIG" ]; then
        export AZDEPLOY_ZIG
        return
    fi
    command -v python3 >/dev/null 2>&1 ||
        die "python3 not found: zig is installed from PyPI (ziglang) with pip" \
            "install python3 with pip (Debian: apt-get install python3-pip), then run this again"
    say "installing zig $ZIGLANG_VERSION (PyPI ziglang) into $dir…"
    mkdir -p "$CROSS_TOOLS_DIR"
    local tmp
    tmp=$(mktemp -d "$CROSS_TOOLS_DIR/.ziglang.XXXXXX")
    if ! python3 -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
        --only-binary=:all: --target "$tmp" "ziglang==$ZIGLANG_VERSION" >&2; then
        rm -rf "$tmp"
        die "pip could not install ziglang==$ZIGLANG_VERSION (see above)" \
            "check that PyPI is reachable and python3 has pip (python3 -m pip --version)"
    fi
    # Another run may have finished first; either copy is the same.
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
    [ -x "$AZDEPLOY_ZIG" ] || die "no zig binary at $AZDEPLOY_ZIG after installing ziglang" \
        "remove $dir and run this again"
    export AZDEPLOY_ZIG
}

# Writes the shims and exports CC_*, AR_* and CARGO_TARGET_*_LINKER for each target, and
# SDKROOT. It sets no rustflags: cargo hashes rustflags into file names, and zig signs the
# macOS binary with its file name, so a machine's paths there would change the release's bytes.
cross_env() {
    local shims="${CARGO_TARGET_DIR:-$CROSS_REPO/target}/cross-shims"
    local stubs="$CROSS_TOOLS_DIR/macos-stubs"
    mkdir -p "$shims"
    if [ ! -f "$stubs/libiconv.a" ]; then
        mkdir -p "$stubs/MacOSX.sdk"
        "$AZDEPLOY_ZIG" ar rc "$stubs/.libiconv.a.$$"
        mv -f "$stubs/.libiconv.a.$$" "$stubs/libiconv.a"
    fi
    # rustc asks xcrun for the SDK when SDKROOT is unset, and warns that it is missing.
    export SDKROOT="$stubs/MacOSX.sdk"
    local t zt lower upper cc ar
    for t in "$@"; do
        zt=$(cross_zig_target "$t")
        [ -n "$zt" ] || die "no cross setup for target $t" "use one of the targets ci/dist.sh --help lists"
        lower=${t//-/_}
        upper=${lower^^}
        cc="$shims/$t-cc"
        ar="$shims/$t-ar"
        printf '#!/bin/sh\nAZDEPLOY_ZIG=%q AZDEPLOY_MACOS_STUBS=%q exec %q %q "$@"\n' \
            "$AZDEPLOY_ZIG" "$stubs" "$CROSS_REPO/ci/zigcc" "$zt" >"$cc.$$"
        printf '#!/bin/sh\nAZDEPLOY_ZIG=%q exec %q --ar "$@"\n' "$AZDEPLOY_ZIG" "$CROSS_REPO/ci/zigcc" >"$ar.$$"
        chmod 0755 "$cc.$$" "$ar.$$"
        mv -f "$cc.$$" "$cc"
        mv -f "$ar.$$" "$ar"
        export "CC_$lower=$cc" "AR_$lower=$ar" "CARGO_TARGET_${upper}_LINKER=$cc"
    done
}

cross_setup() {
    cross_rustup_targets "$@"
    cross_zig
    cross_env "$@"
}
