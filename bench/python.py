#!/usr/bin/env python3
"""The real Streamlit sample (tests/apps/streamlit) built and run natively and for the foreign
platform, side by side in one run, on this machine's real engine.

Builds: the usual Dockerfile (pip in the target's stage) and the one `init --dockerfile` writes
(pip on $BUILDPLATFORM fetching the target's wheels), each for linux/amd64 (native here) and
linux/arm64 (QEMU here: the mirror of an Apple Silicon Mac building amd64), with an empty build
cache each time (`docker builder prune -af` and `--no-cache`). Then `test-local --check` of the
no-emulation images, native and emulated: health, first render, memory after the first run.

Writes the "Real Python" section of docs/benchmarks.md (between its markers) and
bench/python-results.json (the lint quotes the measured pip penalty from it). Numbers, never
assertions.

Usage: ci/engine-up.sh && cargo build --release --locked && python3 bench/python.py [--rounds N]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "target" / "release" / "docker-azdeploy"
BEGIN = "<!-- python.py: begin -->"
END = "<!-- python.py: end -->"

USUAL = """ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 8501
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
"""


def ci_env():
    facts = {}
    path = Path(os.environ.get("AZDEPLOY_CI_DIR", "/opt/azdeploy-ci")) / "env"
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            facts[k] = v.strip("'\"")
    return facts


RETRIED = []


def timed(cmd, env, cwd, retry=False):
    """Runs cmd, timed. With retry, a failure (PyPI unreachable for a moment) is run once more
    and noted in the results; the failed attempt's time is not counted."""
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    dt = time.monotonic() - t
    if p.returncode != 0 and retry:
        RETRIED.append(" ".join(cmd))
        print(f"failed once, running again: {p.stderr[-500:]}", file=sys.stderr)
        subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
        return timed(cmd, env, cwd)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return dt, p


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt_s(s):
    if s["n"] == 1:
        return f"{s['median']:.1f} s"
    return f"{s['median']:.1f} s ({s['min']:.1f}–{s['max']:.1f})"


def fmt_r(s):
    if s["n"] == 1:
        return f"{s['median']:.2f}"
    return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not PLUGIN.exists():
        sys.exit("build first: cargo build --release --locked")
    ci = ci_env()
    base = ci["AZDEPLOY_CI_PYTHON_IMAGE"]
    work = Path(tempfile.mkdtemp(prefix="azdeploy-bench-py-"))
    tags = []
    try:
        cfg = work / "docker-config"
        (cfg / "cli-plugins").mkdir(parents=True)
        os.symlink(PLUGIN, cfg / "cli-plugins" / "docker-azdeploy")
        buildx = shutil.which("docker-buildx") or "/usr/libexec/docker/cli-plugins/docker-buildx"
        os.symlink(buildx, cfg / "cli-plugins" / "docker-buildx")
        env = dict(os.environ, DOCKER_CONFIG=str(cfg), HOME=str(work), XDG_CACHE_HOME=str(work / "cache"),
                   AZDEPLOY_PYTHON=sys.executable)
        app = work / "app"
        shutil.copytree(ROOT / "tests" / "apps" / "streamlit", app)
        timed(["docker", "azdeploy", "init", "--dockerfile", "--python-version",
               ci.get("AZDEPLOY_CI_PYTHON_VERSION", "3.11")], env, app)
        (app / "Dockerfile.usual").write_text(USUAL)
        variants = [
            ("usual", "linux/amd64", "Dockerfile.usual"),
            ("usual", "linux/arm64", "Dockerfile.usual"),
            ("init", "linux/amd64", "Dockerfile"),
            ("init", "linux/arm64", "Dockerfile"),
        ]
        builds = {v: [] for v in variants}
        for r in range(args.rounds):
            for kind, platform, dockerfile in variants:
                tag = f"azdeploy-bench-py:{kind}-{platform.split('/')[1]}-{os.getpid()}"
                tags.append(tag)
                subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
                subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
                # Plain buildx, the same for every variant: the Dockerfile is what is measured.
                dt, _ = timed(["docker", "buildx", "build", "--platform", platform, "--no-cache",
                               "--provenance=false", "--build-arg", f"PYTHON_IMAGE={base}",
                               "-f", dockerfile, "-t", tag, "--load", "."], env, app, retry=True)
                builds[(kind, platform, dockerfile)].append(dt)
                print(f"round {r + 1}: {kind} {platform}: {dt:.1f} s", file=sys.stderr)
        runs = {"linux/amd64": [], "linux/arm64": []}
        for r in range(args.rounds):
            for platform in runs:
                tag = f"azdeploy-bench-py:init-{platform.split('/')[1]}-{os.getpid()}"
                _, p = timed(["docker", "azdeploy", "test-local", "--check", "--json", "--port", "0",
                              "--platform", platform, "--no-preflight", tag], env, app)
                runs[platform].append(json.loads(p.stdout))
    finally:
        for t in set(tags):
            subprocess.run(["docker", "image", "rm", "-f", t], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    b = {f"{k}-{p.split('/')[1]}": summary(v) for (k, p, _), v in builds.items()}
    ratio = lambda a, c: summary([x / y for x, y in zip(builds[a], builds[c])])
    ua, uf = ("usual", "linux/amd64", "Dockerfile.usual"), ("usual", "linux/arm64", "Dockerfile.usual")
    ia, if_ = ("init", "linux/amd64", "Dockerfile"), ("init", "linux/arm64", "Dockerfile")
    ratios = {
        "usual_foreign_over_native": ratio(uf, ua),
        "init_foreign_over_native": ratio(if_, ia),
        "init_foreign_over_usual_foreign": ratio(if_, uf),
    }
    figures = {}
    for platform, reports in runs.items():
        figures[platform] = {
            k: summary([r[k] / (1 if k.endswith("bytes") else 1000) for r in reports if r.get(k) is not None])
            for k in ("health_ms", "first_render_ms", "cold_start_ms", "memory_bytes", "peak_memory_bytes")
        }
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "base": base,
        "rounds": args.rounds,
        "retried": RETRIED,
    }
    (ROOT / "bench" / "python-results.json").write_text(
        json.dumps({"facts": facts, "builds": b, "ratios": ratios, "test_local": figures}, indent=2) + "\n")

    def mib(s):
        return f"{s['median'] / 1048576:.0f} MiB"

    na, em = figures["linux/amd64"], figures["linux/arm64"]
    lines = [
        BEGIN,
        "## Real Python: the Streamlit sample, native vs foreign, usual vs no-emulation Dockerfile",
        "",
        "Reproduce: `ci/engine-up.sh && cargo build --release --locked && python3 bench/python.py`",
        f"({facts['rounds']} rounds, the four builds interleaved in each; {facts['date']}; {facts['cores']} cores;",
        f"base `{base}`). `tests/apps/streamlit` (streamlit 1.40.0, pandas 2.2.3, from PyPI) built",
        "with plain `docker buildx build --no-cache` after `docker builder prune -af`, for linux/amd64",
        "(native here) and linux/arm64 (QEMU here: the mirror of an Apple Silicon Mac building amd64).",
        "*Usual*: `pip install -r requirements.txt` in the target's own stage. *init*: the Dockerfile",
        "`docker azdeploy init --dockerfile` writes (pip on `$BUILDPLATFORM` fetching the target's wheels).",
        "",
        "| Dockerfile | native (amd64) | foreign (arm64) | foreign/native per round |",
        "|---|---|---|---|",
        f"| usual | {fmt_s(b['usual-amd64'])} | {fmt_s(b['usual-arm64'])} | {fmt_r(ratios['usual_foreign_over_native'])} |",
        f"| `init --dockerfile` | {fmt_s(b['init-amd64'])} | {fmt_s(b['init-arm64'])} | {fmt_r(ratios['init_foreign_over_native'])} |",
        "",
        f"Goal: the foreign build within 1.2× of the native one — measured {ratios['init_foreign_over_native']['median']:.2f}×.",
        f"The foreign build with init's Dockerfile against the usual one: {fmt_r(ratios['init_foreign_over_usual_foreign'])}"
        f" of its time ({1 / ratios['init_foreign_over_usual_foreign']['median']:.1f}× faster).",
        "",
        "`docker azdeploy test-local --check` of the init-built images (the foreign one runs under QEMU):",
        "",
        "| | native | emulated |",
        "|---|---|---|",
        f"| container start → health | {fmt_s(na['health_ms'])} | {fmt_s(em['health_ms'])} |",
        f"| container start → first render finished (cold start) | {fmt_s(na['first_render_ms'])} | {fmt_s(em['first_render_ms'])} |",
        f"| memory after the first run | {mib(na['memory_bytes'])} | {mib(em['memory_bytes'])} |",
        f"| memory peak during the first run | {mib(na['peak_memory_bytes'])} | {mib(em['peak_memory_bytes'])} |",
        "",
        "Health answers before the app's script has run; the first render is what the first visitor",
        "waits for. Emulated figures are this machine's QEMU, not what Azure will show.",
        END,
    ]
    section = "\n".join(lines)
    md = ROOT / "docs" / "benchmarks.md"
    text = md.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
