//! `docker azdeploy test-local`: run the image for the target platform here (emulated when the
//! engine's architecture differs), wait until it really answers, and report what it costs.
//!
//! The container is published on 127.0.0.1 only and always removed — on success, failure,
//! timeout, Ctrl-C, SIGTERM, the plugin socket closing, or a panic — by a guard that runs
//! `docker rm --force` through the runner's cleanup path; only `--detach` leaves it running.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::checks;
use crate::cli::args::TestLocalArgs;
use crate::config::{HealthPath, Overrides, Platform};
use crate::ctx::Ctx;
use crate::engine::docker::{self, ImageInspect, RunSpec, State};
use crate::engine::emulation;
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;
use crate::sys::http::Http;

/// The label on every container `test-local` starts.
pub const LABEL: &str = "io.azdeploy.test";
/// How many log lines a failure shows.
const LOG_LINES: usize = 50;

/// Removes the container when dropped, unless kept (`--detach`).
struct Container<'a> {
    ctx: &'a Ctx,
    name: String,
    keep: bool,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Ok(base) = self.ctx.docker("remove the test container") {
            let p = self
                .ctx
                .runner
                .cleanup(&docker::remove(base, std::slice::from_ref(&self.name)));
            if p.status.is_some() && !p.success() && !p.stderr.contains("No such container") {
                say!(
                    "warning: could not remove {}: {}",
                    self.name,
                    p.stderr.trim()
                );
            }
        }
    }
}

/// How the wait for health ended, when it did not end healthy.
#[derive(Debug)]
enum Failure {
    Exited(State),
    TimedOut { last: String },
}

/// The backoff between health polls: from 20 ms, ×1.5 per try, capped at 100 ms for the first
/// 30 s (so the cold-start figure is precise) and 500 ms after (slow emulated starts are not
/// hammered).
pub fn next_delay(current: Duration, elapsed: Duration) -> Duration {
    let cap = if elapsed < Duration::from_secs(30) {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    };
    current.mul_f64(1.5).min(cap)
}

/// The fix for a container that exited or never answered.
pub fn diagnose(
    failure_exit: Option<(i64, bool)>,
    logs: &str,
    last: &str,
    host_port: u16,
    container_port: u16,
    path: &str,
) -> String {
    if logs.contains("exec format error") {
        return "the engine cannot run this architecture: emulation is missing; run `docker azdeploy doctor` for the fix here".into();
    }
    if let Some((code, oom)) = failure_exit {
        if code == 132 || logs.contains("Illegal instruction") || logs.contains("SIGILL") {
            return "an instruction the emulator lacks (Rosetta has no AVX): retry with QEMU (turn Rosetta off in Docker Desktop) or use wheels/builds without AVX".into();
        }
        if code == 137 || oom {
            return "killed for memory (exit 137): give Docker more memory, or lower the app's footprint before it meets Azure's --memory limit".into();
        }
        return format!("the app exited with code {code}: read its logs above");
    }
    if let Some(status) = last.strip_prefix("HTTP ") {
        return format!(
            "the app answers {status} on {path}: point --health-path (or health_path in azdeploy.json) at a path that returns 2xx"
        );
    }
    format!(
        "the container runs but nothing answered on 127.0.0.1:{host_port}: make the app listen on 0.0.0.0:{container_port}, \
         not 127.0.0.1 (Streamlit: --server.address=0.0.0.0 --server.port={container_port}), or raise --timeout for a slow start"
    )
}

pub fn run(ctx: &Ctx, args: &TestLocalArgs) -> Result<(), Error> {
    if args.stop {
        return stop_all(ctx);
    }
    let settings = ctx.settings(&Overrides {
        platform: args.platform.clone(),
        health_path: args.health_path.clone(),
        health_timeout: args.timeout,
        ..Default::default()
    })?;
    // The container's port is published on the engine's host: only a local engine's is ours.
    let endpoint = ctx
        .runner
        .probe(&docker::endpoint(ctx.docker("find the engine's endpoint")?))?;
    if let Some(host) =
        docker::parse_endpoint(&endpoint.stdout).filter(|h| !docker::is_local_endpoint(h))
    {
        return Err(Error::failed(
            format!("the engine at {host} is not on this machine: test-local could not reach the port it publishes"),
            "run test-local against a local engine (e.g. `docker --context default azdeploy test-local`)",
        ));
    }
    let target = settings.platform.value.clone();
    let image = match &args.image {
        Some(i) => {
            i.parse::<crate::image::reference::ImageRef>()
                .map_err(|e| Error::usage(e, "name a local image: NAME[:TAG], e.g. shop:1.2"))?;
            i.clone()
        }
        None => state::field(ctx, state::LAST_BUILD, "image")
            .unwrap_or_else(|| format!("{}:latest", settings.image.value)),
    };
    if let Some(f) = &args.env_file {
        if !ctx.cwd.join(f).is_file() {
            return Err(Error::usage(
                format!("--env-file {f} is not a readable file; nothing was started"),
                "pass a file of KEY=VALUE lines, as `docker run --env-file` takes",
            ));
        }
    }

    // The image must exist here and be for the target: an arm64 image on an amd64 target is
    // exactly the bug this tool exists to catch.
    let inspect: ImageInspect = ctx
        .runner
        .query_json(&docker::image_inspect(ctx.docker("inspect the image to test")?, &image).hint(
            "build it first: `docker azdeploy build` (or name an image: `docker azdeploy test-local IMAGE`)",
        ))?;
    if !docker::platform_matches(&inspect.platform(), &target) {
        return Err(Error::failed(
            format!(
                "{image} is {}, not {target}: Azure would fail to start it (`exec format error`); refusing to run it",
                inspect.platform()
            ),
            format!("rebuild it for {target}: `docker azdeploy build`"),
        ));
    }
    if !args.no_preflight {
        checks::preflight(
            ctx,
            &target,
            None,
            settings.registry.value.as_ref().map(|r| r.0.as_str()),
            None,
            settings.port.value.0,
        )?;
    }
    let (_, server) = checks::engine(ctx)?;
    let emulated = server.as_ref().is_some_and(|s| s.arch != target.arch);
    let emulator = if emulated {
        Some(emulator_name(ctx, &target))
    } else {
        None
    };
    if !target.is_azure() {
        say!("note: {target} is not what Azure will run: Container Apps runs linux/amd64 only, so this tests the image for local use, not for Azure");
    }
    match &emulator {
        Some((e, detail)) => say!(
            "Running {image} ({target}) emulated by {e}{detail}: expect a slower start than on Azure"
        ),
        None => say!("Running {image} ({target}) natively"),
    }
    let emulator = emulator.map(|(e, _)| e);

    let container_port = settings.port.value.0;
    let host_port = match args.port {
        Some(0) => None,
        Some(p) => Some(p),
        None => Some(container_port),
    };
    if let Some(p) = host_port {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", p)) {
            return Err(Error::failed(
                format!("port {p} on 127.0.0.1 is already in use ({e}); nothing was started"),
                format!("stop what listens on {p}, or pick another port: --port 0 (any free one) or --port N"),
            ));
        }
    }
    let id = format!(
        "{}-{:x}",
        std::process::id(),
        clock::now_millis() & 0xffffff
    );
    let name = format!("azdeploy-test-{id}");
    let spec = RunSpec {
        image: image.clone(),
        platform: target.clone(),
        name: name.clone(),
        label: (LABEL.into(), id.clone()),
        host_port,
        container_port,
        env: args.env.clone(),
        env_file: args.env_file.clone(),
    };
    let mut guard = Container {
        ctx,
        name: name.clone(),
        keep: false,
    };
    let run = docker::run_detached(ctx.docker("start the test container")?, &spec);
    let run = run.hint("if the port is taken, pick another with --port 0 or --port N; `docker azdeploy test-local --stop` removes old test containers");
    ctx.runner.run(&run)?;
    let run_returned = SystemTime::now();
    if ctx.runner.dry_run {
        return Ok(());
    }
    let host_port = match host_port {
        Some(p) => p,
        None => published_port(ctx, &name, container_port)?,
    };
    let path = match &settings.health_path.value {
        Some(HealthPath(p)) => p.clone(),
        None if inspect.runs_streamlit()
            || crate::cmd::init::detect(&crate::cmd::init::AppFiles::read(&ctx.cwd))
                .streamlit
                .is_some() =>
        {
            "/_stcore/health".into()
        }
        None => "/".into(),
    };
    let base_url = format!("http://127.0.0.1:{host_port}");
    let url = format!("{base_url}{path}");
    let timeout = Duration::from_secs(settings.health_timeout.value.0);
    let http = Http::new(Duration::from_secs(2));

    let started = state(ctx, &name)?.and_then(|s| humantime::parse_rfc3339(&s.started_at).ok());
    let healthy_at = match wait_healthy(ctx, &http, &url, &name, timeout)? {
        Ok(t) => t,
        Err(failure) => {
            let f = Failed {
                name: &name,
                url: &url,
                path: &path,
                host_port,
                container_port,
                timeout,
            };
            return Err(f.report(ctx, &failure)?);
        }
    };
    let cold_start = match started.and_then(|s| healthy_at.0.duration_since(s).ok()) {
        // The engine's start time is the truth, when its clock agrees with ours.
        Some(d)
            if d <= healthy_at
                .0
                .duration_since(run_returned)
                .unwrap_or_default()
                + Duration::from_secs(5) =>
        {
            d
        }
        _ => healthy_at
            .0
            .duration_since(run_returned)
            .unwrap_or_default(),
    };
    let ttfb = http.get(&format!("{base_url}/")).ok().map(|a| a.ttfb);
    let stats: Option<docker::Stats> = ctx
        .runner
        .probe(&docker::stats(
            ctx.docker("read the container's memory and CPU")?,
            &name,
        ))?
        .stdout
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok());
    let report = json!({
        "healthy": true,
        "image": image,
        "image_id": inspect.id,
        "platform": target.to_string(),
        "emulated": emulated,
        "emulator": emulator,
        "url": base_url,
        "health_url": url,
        "cold_start_ms": cold_start.as_millis() as u64,
        "ttfb_ms": ttfb.map(|t| t.as_millis() as u64),
        "memory_bytes": stats.as_ref().and_then(|s| s.memory_bytes()),
        "cpu_percent": stats.as_ref().and_then(|s| s.cpu_percent()),
        "image_size_bytes": inspect.size,
        "mode": if args.check { "check" } else if args.detach { "detach" } else { "interactive" },
        "tested_at": clock::now_millis() / 1000,
    });
    say!("{}", render(&report));
    state::write(ctx, state::LAST_TEST, &report)?;
    if args.json {
        output::stdout_json(&report)?;
    }
    if args.check {
        return Ok(());
    }
    if args.detach {
        guard.keep = true;
        say!(
            "{name} keeps running on {base_url}; stop it with `docker azdeploy test-local --stop`"
        );
        return Ok(());
    }
    say!("Streaming its logs; Ctrl-C stops and removes it.");
    ctx.runner.stream(&docker::logs_follow(
        ctx.docker("follow the container's logs")?,
        &name,
    ))?;
    // The logs ended without a Ctrl-C: the container stopped by itself.
    let code = state(ctx, &name)?.map(|s| s.exit_code).unwrap_or(-1);
    Err(Error::failed(
        format!("{name} stopped by itself (exit code {code})"),
        "read its logs above",
    ))
}

/// Which emulator runs `target` here ("Rosetta" or "QEMU"), and a detail for people.
/// The host port docker picked for `--port 0`. The mapping can lag `docker run -d` on a busy
/// engine, so this retries for a moment; a container that already stopped has no ports, and
/// then the error says why it stopped.
fn published_port(ctx: &Ctx, name: &str, container_port: u16) -> Result<u16, Error> {
    let cmd = docker::port(ctx.docker("read the published port")?, name, container_port);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = ctx.runner.query(&cmd);
        if let Some(p) = answer.as_ref().ok().and_then(|out| docker::parse_port(out)) {
            return Ok(p);
        }
        match state(ctx, name)? {
            Some(st) if !st.running => {
                let f = Failed {
                    name,
                    url: "its port",
                    path: "/",
                    host_port: 0,
                    container_port,
                    timeout: Duration::ZERO,
                };
                return Err(f.report(ctx, &Failure::Exited(st))?);
            }
            _ if Instant::now() < deadline => {
                ctx.runner.cancel().sleep(Duration::from_millis(50))?
            }
            _ => {
                return Err(match answer {
                    Err(e) => e,
                    Ok(out) => Error::failed(
                        format!("docker published no 127.0.0.1 port for {name}: {out}"),
                        "run with --port N",
                    ),
                })
            }
        }
    }
}

/// What a failed wait needs to explain itself.
struct Failed<'a> {
    name: &'a str,
    url: &'a str,
    path: &'a str,
    host_port: u16,
    container_port: u16,
    timeout: Duration,
}

impl Failed<'_> {
    /// The error for `failure`: what happened, the last log lines, and the fix.
    fn report(&self, ctx: &Ctx, failure: &Failure) -> Result<Error, Error> {
        let logs = ctx
            .runner
            .probe(&docker::logs_tail(
                ctx.docker("read the container's logs")?,
                self.name,
                LOG_LINES,
            ))
            .map(|p| format!("{}{}", p.stdout, p.stderr))?;
        let (exit, last) = match failure {
            Failure::Exited(s) => (Some((s.exit_code, s.oom_killed)), ""),
            Failure::TimedOut { last } => (None, last.as_str()),
        };
        let mut message = match failure {
            Failure::Exited(s) => format!(
                "{} exited with code {}{}{} before answering on {}",
                self.name,
                s.exit_code,
                if s.oom_killed { " (OOM-killed)" } else { "" },
                s.error
                    .as_deref()
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                self.url
            ),
            Failure::TimedOut { last } => format!(
                "{} did not answer 2xx within {} s (last: {last})",
                self.url,
                self.timeout.as_secs()
            ),
        };
        message.push_str(&format!("\n  last {LOG_LINES} log lines:"));
        for l in logs.lines() {
            message.push_str(&format!("\n    {l}"));
        }
        let hint = diagnose(
            exit,
            &logs,
            last,
            self.host_port,
            self.container_port,
            self.path,
        );
        Ok(Error::failed(message, hint))
    }
}

fn emulator_name(ctx: &Ctx, target: &Platform) -> (String, String) {
    let f = emulation::host_facts(
        std::env::consts::OS,
        std::env::consts::ARCH,
        &ctx.host_root(),
        ctx.home(),
        target,
    );
    match (&f.desktop, target.arch.as_str()) {
        (Some(d), "amd64") if f.apple_silicon && d.rosetta == Some(true) => {
            ("Rosetta".into(), " (Docker Desktop setting)".into())
        }
        _ => match &f.binfmt {
            Some(b) => ("QEMU".into(), format!(" ({})", b.interpreter)),
            None => ("QEMU".into(), String::new()),
        },
    }
}

fn state(ctx: &Ctx, name: &str) -> Result<Option<State>, Error> {
    let p = ctx.runner.probe(&docker::container_state(
        ctx.docker("read the container's state")?,
        name,
    ))?;
    Ok(serde_json::from_str(p.stdout.trim()).ok())
}

/// Polls until a 2xx (`Ok(Ok(when))`), the container stops, or the timeout.
fn wait_healthy(
    ctx: &Ctx,
    http: &Http,
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<Result<(SystemTime, Instant), Failure>, Error> {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut delay = Duration::from_millis(20);
    let mut last_state = Instant::now();
    let mut last_progress = Instant::now();
    let mut last: String;
    loop {
        ctx.runner.cancel().check()?;
        match http.get(url) {
            Ok(a) if a.ok() => {
                if tty {
                    say_inline!("\r\x1b[K");
                }
                return Ok(Ok((SystemTime::now(), Instant::now())));
            }
            Ok(a) => last = format!("HTTP {}", a.status),
            Err(e) => last = e,
        }
        let elapsed = start.elapsed();
        if last_state.elapsed() >= Duration::from_secs(1) {
            last_state = Instant::now();
            if let Some(s) = state(ctx, name)? {
                if !s.running {
                    if tty {
                        say_inline!("\r\x1b[K");
                    }
                    return Ok(Err(Failure::Exited(s)));
                }
            }
        }
        if elapsed >= timeout {
            if tty {
                say_inline!("\r\x1b[K");
            }
            return Ok(Err(Failure::TimedOut { last }));
        }
        if tty && last_progress.elapsed() >= Duration::from_millis(250) {
            say_inline!("\r\x1b[Kwaiting for {url}: {:.1} s", elapsed.as_secs_f64());
            last_progress = Instant::now();
        } else if !tty && last_progress.elapsed() >= Duration::from_secs(10) {
            say!("waiting for {url}: {:.0} s", elapsed.as_secs_f64());
            last_progress = Instant::now();
        }
        ctx.runner.cancel().sleep(delay)?;
        delay = next_delay(delay, elapsed);
    }
}

/// The report as a small table for people.
pub fn render(r: &serde_json::Value) -> String {
    let mib = |b: &serde_json::Value| {
        b.as_u64()
            .map(|b| format!("{:.1} MiB", b as f64 / 1_048_576.0))
    };
    let ms = |v: &serde_json::Value| v.as_u64().map(|v| format!("{v} ms"));
    let how = match r["emulator"].as_str() {
        Some(e) => format!(
            "{} (emulated by {e})",
            r["platform"].as_str().unwrap_or("?")
        ),
        None => format!("{} (native)", r["platform"].as_str().unwrap_or("?")),
    };
    let rows = vec![
        vec![
            "url".to_string(),
            r["url"].as_str().unwrap_or("?").to_string(),
        ],
        vec!["platform".into(), how],
        vec![
            "cold start".into(),
            ms(&r["cold_start_ms"])
                .map(|s| format!("{s} (container start to first healthy answer)"))
                .unwrap_or_else(|| "-".into()),
        ],
        vec![
            "first byte".into(),
            ms(&r["ttfb_ms"])
                .map(|s| format!("{s} (GET /)"))
                .unwrap_or_else(|| "-".into()),
        ],
        vec![
            "memory".into(),
            mib(&r["memory_bytes"]).unwrap_or_else(|| "-".into()),
        ],
        vec![
            "cpu".into(),
            r["cpu_percent"]
                .as_f64()
                .map(|c| format!("{c:.1} %"))
                .unwrap_or_else(|| "-".into()),
        ],
        vec![
            "image size".into(),
            mib(&r["image_size_bytes"]).unwrap_or_else(|| "-".into()),
        ],
    ];
    let table = output::table(&rows);
    let mut out = format!("healthy: {}", r["image"].as_str().unwrap_or("?"));
    for l in table.lines() {
        out.push_str("\n  ");
        out.push_str(l);
    }
    out
}

/// `--stop`: removes every container with our label.
fn stop_all(ctx: &Ctx) -> Result<(), Error> {
    let ids = ctx.runner.query(&docker::ps_labelled(
        ctx.docker("list the test containers")?,
        LABEL,
    ))?;
    let ids: Vec<String> = ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if ids.is_empty() {
        say!("no test containers to remove");
        return Ok(());
    }
    ctx.runner.run(&docker::remove(
        ctx.docker("remove the test containers")?,
        &ids,
    ))?;
    say!("removed {} test container(s)", ids.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_small_and_caps() {
        let mut d = Duration::from_millis(20);
        let mut seen = vec![];
        for _ in 0..8 {
            d = next_delay(d, Duration::from_secs(1));
            seen.push(d.as_millis());
        }
        assert_eq!(seen, [30, 45, 67, 100, 100, 100, 100, 100]);
        assert_eq!(
            next_delay(Duration::from_millis(400), Duration::from_secs(31)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn diagnoses() {
        let h = diagnose(
            Some((1, false)),
            "exec /bin/busybox: exec format error\n",
            "",
            8501,
            8501,
            "/",
        );
        assert!(h.contains("emulation is missing"), "{h}");
        assert!(diagnose(Some((132, false)), "", "", 1, 1, "/").contains("AVX"));
        assert!(diagnose(
            Some((1, false)),
            "Illegal instruction (core dumped)",
            "",
            1,
            1,
            "/"
        )
        .contains("AVX"));
        assert!(diagnose(Some((137, true)), "", "", 1, 1, "/").contains("memory"));
        assert!(diagnose(Some((3, false)), "boom", "", 1, 1, "/").contains("exited with code 3"));
        let h = diagnose(None, "", "connection refused", 18501, 8501, "/");
        assert!(
            h.contains("0.0.0.0:8501") && h.contains("--server.address=0.0.0.0"),
            "{h}"
        );
        let h = diagnose(None, "", "HTTP 404", 1, 1, "/_stcore/health");
        assert!(h.contains("answers 404 on /_stcore/health"), "{h}");
    }

    #[test]
    fn the_report_reads_well() {
        let r = json!({"image": "shop:1", "url": "http://127.0.0.1:8501", "platform": "linux/amd64",
                       "emulator": "QEMU", "cold_start_ms": 1234, "ttfb_ms": 5, "memory_bytes": 1_572_864,
                       "cpu_percent": 0.25, "image_size_bytes": 2_097_152});
        let t = render(&r);
        assert!(t.starts_with("healthy: shop:1\n  url"), "{t}");
        assert!(t.contains("linux/amd64 (emulated by QEMU)"), "{t}");
        assert!(
            t.contains("1234 ms (container start to first healthy answer)"),
            "{t}"
        );
        assert!(
            t.contains("1.5 MiB") && t.contains("0.2 %") || t.contains("0.3 %"),
            "{t}"
        );
        assert!(t.lines().all(|l| l.len() <= 100), "{t}");
    }
}
