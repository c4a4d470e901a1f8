#!/usr/bin/env python3
"""Makes a captured `docker buildx build --progress plain` stderr stable from run to run, for
ci/capture-fault-fixtures.sh:  buildkit_norm.py FILE  (rewritten in place).

BuildKit prints its steps ("vertexes", `#N ...` lines) in an order, with progress updates and
timings, that change between two runs of the same build. The fault is in the failing step and in
the lines after the progress. So:
  - the `#0 building with ...` line is kept;
  - the other steps' lines are replaced by ONE marker line (REMOVED below);
  - the failing step's lines are kept, in order, its number replaced by `<n>` (the failing step:
    the one with a `#N ERROR` line, else the last step printed, e.g. a RUN cut short);
  - every line that is not a step line (the `------` / ` > ...` / `ERROR: ...` summary) is kept;
  - a blank line right before the summary's `------` (or before another blank) is dropped;
  - a time before `done` is dropped, `DONE 0.1s` becomes `DONE <t>s`, and a `#N 0.123 ` log prefix
    becomes `#<n> <t> `;
  - progress updates of one item (`#N pushing layer X 1.2s`, as many as time allowed) are folded
    into the item's final line (`#<n> pushing layer X done`), or into one line while it never ended.
A file without step lines is left as it is.
"""
import re
import sys

REMOVED = "<buildkit: the other steps' lines removed here (their order and timings vary between runs)>"
STEP = re.compile(r"^#(\d+)(?: |$)")

path = sys.argv[1]
lines = open(path, encoding="utf-8", errors="surrogateescape").read().split("\n")
lines = [l for l in lines if l != REMOVED]  # idempotent
steps = [(i, STEP.match(l)) for i, l in enumerate(lines)]
ids = [m.group(1) for _, m in steps if m]
if ids:
    failing = {m.group(1) for i, m in steps if m and lines[i].startswith(f"#{m.group(1)} ERROR")}
    if not failing:
        failing = {ids[-1]}
    out = []
    removed = False
    for i, l in enumerate(lines):
        m = STEP.match(l)
        if m and m.group(1) == "0":
            out.append(l)
        elif m and m.group(1) in failing:
            if not removed:
                out += [REMOVED, ""]
                removed = True
            l = "#<n>" + l[len(m.group(0)) - (1 if m.group(0).endswith(" ") else 0):]
            l = re.sub(r"^#<n> [0-9]+\.[0-9]{3} ", "#<n> <t> ", l)
            out.append(l)
        elif m or (not removed and l == ""):
            continue  # another step's line, or a blank line between steps
        else:
            if not removed:
                out += [REMOVED, ""]
                removed = True
            out.append(l)
    # A blank line before the summary's `------` depends on what followed the failing step.
    out = [l for j, l in enumerate(out) if not (l == "" and j + 1 < len(out) and out[j + 1] in ("", "------"))]
    out = [re.sub(r"( [0-9]+\.[0-9]+s| <t>s)? done$", " done", l) for l in out]
    out = [re.sub(r" DONE [0-9]+\.[0-9]+s$", " DONE <t>s", l) for l in out]
    # Progress updates of one item (`#N pushing layer X 1.2s`, printed as often as time allows):
    # dropped; the item's first line and its `... done` line stay, and the first only when
    # the `done` line does not follow it directly (how many updates BuildKit printed is timing).
    out = [re.sub(r" ([0-9]+\.[0-9]+s|<t>s)$", "", l) if l.startswith("#<n> ") else l for l in out]
    dedup = []
    for l in out:
        if dedup and l.startswith("#<n> ") and dedup[-1] == l:
            continue
        if dedup and l.startswith("#<n> ") and l == dedup[-1] + " done":
            dedup[-1] = l
            continue
        dedup.append(l)
    out = dedup
    open(path, "w", encoding="utf-8", errors="surrogateescape").write("\n".join(out))
