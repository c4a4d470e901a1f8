#!/bin/sh
# A recording fake for `docker` and `az`, installed under both names by tests/it/support.rs.
#
# Every call appends one record to $FAKE_LOG: the tool name and each argument, each followed by
# a NUL byte, then a newline. The record is built in a temporary file and appended with one
# write, so fakes running at the same time (parallel checks) never interleave their records. The answer comes from files in $FAKE_DIR named after the tool and
# its first words (docker's global flags skipped), most specific first:
#   <tool>-<w1>-<w2>.*, <tool>-<w1>.*, <tool>.*
# with the suffixes .stdout (printed), .stderr (printed to stderr), .exit (exit code, default 0),
# .sleep (seconds to sleep first, in the foreground so a signal to the group reaches it), and
# .sh (run instead, with the same arguments). With no answer file it prints nothing and exits 0.
# $FAKE_PIDS, when set, gets one line per call with this process's pid.
tool=$(basename "$0")
record=$(mktemp)
{
    printf '%s\0' "$tool"
    for a in "$@"; do printf '%s\0' "$a"; done
    printf '\n'
} > "$record"
cat "$record" >> "${FAKE_LOG:-/dev/null}"
rm -f "$record"
[ -n "${FAKE_PIDS:-}" ] && echo $$ >> "$FAKE_PIDS"

# The first two words that are not docker global flags (or their values).
w1=""; w2=""; skip=""
for a in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$a" in
        --context|-c|--host|-H|--config|--log-level|-l|--tlscacert|--tlscert|--tlskey) skip=1; continue ;;
        -*) continue ;;
    esac
    if [ -z "$w1" ]; then w1=$a; elif [ -z "$w2" ]; then w2=$a; break; fi
done

base=""
for key in "$tool-$w1-$w2" "$tool-$w1" "$tool"; do
    if ls "$FAKE_DIR/$key".* >/dev/null 2>&1; then base="$FAKE_DIR/$key"; break; fi
done
[ -n "$base" ] || exit 0
[ -f "$base.sleep" ] && sleep "$(cat "$base.sleep")"
[ -f "$base.sh" ] && exec sh "$base.sh" "$@"
[ -f "$base.stdout" ] && cat "$base.stdout"
[ -f "$base.stderr" ] && cat "$base.stderr" >&2
[ -f "$base.exit" ] && exit "$(cat "$base.exit")"
exit 0
