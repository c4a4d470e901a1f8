# shellcheck shell=bash
# Shell functions shared by the ci/ scripts (sourced; defines functions only). The sourcing
# script defines `die MESSAGE` before calling them.

# The Debian mirror apt uses here (debootstrap and apt need the same one).
debian_mirror() {
    local uri=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit} }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
    echo "${uri%/}"
}

# Alive = the pid exists, runs the expected program (when named) and is not a zombie. On these
# machines PID 1 is not a real init: a killed daemon can stay <defunct> with its name still in
# /proc/PID/comm, and a stale pid file can point at one.
proc_alive() { # pid [comm]
    local pid=$1 st
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    if [ -n "${2:-}" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ]; then return 1; fi
    st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Fixture capture (ci/capture-*.sh): files in $OUT, one manifest line each in $MANIFEST.
note() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$MANIFEST"; }
# cap BASE 'shown command' 'remark' -- cmd...   => BASE.stdout, BASE.stderr, BASE.exitcode
cap() {
    local base=$1 shown=$2 remark=$3 rc=0
    shift 4
    "$@" >"$OUT/$base.stdout" 2>"$OUT/$base.stderr" || rc=$?
    printf '%s\n' "$rc" >"$OUT/$base.exitcode"
    note "$base.stdout" "$shown" "stdout; $remark"
    note "$base.stderr" "$shown" "stderr"
    note "$base.exitcode" "$shown" "exit code"
}
# out FILE 'shown command' 'remark' -- cmd...      => stdout only (must exit 0)
out() {
    local f=$1 shown=$2 remark=$3
    shift 4
    "$@" >"$OUT/$f"
    note "$f" "$shown" "$remark"
}
