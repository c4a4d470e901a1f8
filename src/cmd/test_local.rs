//! `docker azdeploy test-local`: run the image for the target platform here (emulated when the
//! engine's architecture differs), wait until it really answers, and report what it costs.
//! The container is published on 127.0.0.1 only and always removed, unless `--detach`.

use std::time::{Duration, SystemTime};

use crate::checks::preflight::{self, Preflight};
use crate::cli::args::TestLocalArgs;
use crate::config::{HealthPath, Overrides, Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::container::{self, Container, Waited};
use crate::engine::docker::{self, ImageInspect, RunSpec, State};
use crate::image::reference::ImageRef;
use crate::process::plan::Plan;
use crate::project::state::{self, LastBuild, LastTest};
use crate::python::app::{detect, AppFiles};
use crate::python::streamlit::{self, FirstRun, Verdict};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;
use crate::sys::http::Http;

/// How many log lines a failure shows.
const LOG_LINES: usize = 50;

/// Where the container answers.
struct Endpoint {
    /// Streamlit answers health before it has run the app's script: a first render is asked for.
    streamlit: bool,
    host_port: u16,
    container_port: u16,
    path: String,
    base_url: String,
    url: String,
}

pub fn run(ctx: &Ctx, args: &TestLocalArgs) -> Result<(), Error> {
    if args.stop {
        return stop_all(ctx, args.all);
    }
    let settings = ctx.settings(&Overrides {
        platform: args.platform.clone(),
        health_path: args.health_path.clone(),
        health_timeout: args.timeout,
        ..Default::default()
    })?;
    refuse_remote_engine(ctx)?;
    let target = settings.platform.value.clone();
    let image = image_to_test(ctx, args, &settings)?;
    let inspect = inspect_for(ctx, &image, &target)?;
    let emulator = emulator_for(ctx, &target)?;
    let spec = run_spec(args, &settings, &image, &target, ctx.cwd.as_str())?;
    let shows =
        vec![docker::run_detached(ctx.docker("start the test container")?, &spec).to_string()];
    Plan::new()
        .when(!args.no_preflight, |p| {
            p.query("run the preflight", |_: &mut ()| {
                let registry = settings.registry.value.as_ref().map(|r| r.0.as_str());
                preflight::preflight(
                    ctx,
                    &Preflight {
                        target: &target,
                        builder: None,
                        registry,
                        dockerfile: None,
                        port: settings.port.value.0,
                        runs_target: true,
                    },
                )
            })
        })
        .step(
            "start the container and wait until it is healthy",
            shows,
            |_| {
                container::sweep(ctx)?;
                say_how_it_runs(&image, &target, emulator.as_deref());
                let c = Container::start(ctx, &spec)?;
                test(ctx, args, &settings, c, &inspect, emulator.as_deref())
            },
        )
        .execute(&ctx.runner, &mut ())
}

/// The container's port is published on the engine's host: only a local engine's is ours.
fn refuse_remote_engine(ctx: &Ctx) -> Result<(), Error> {
    let endpoint = ctx
        .runner
        .probe(&docker::endpoint(ctx.docker("find the engine's endpoint")?))?;
    match docker::parse_endpoint(&endpoint.stdout).filter(|h| !docker::is_local_endpoint(h)) {
        Some(host) => Err(Error::failed(
            format!("the engine at {host} is not on this machine: test-local could not reach the port it publishes"),
            "run test-local against a local engine (e.g. `docker --context default azdeploy test-local`)",
        )),
        None => Ok(()),
    }
}

fn image_to_test(ctx: &Ctx, args: &TestLocalArgs, settings: &Settings) -> Result<String, Error> {
    let image = match &args.image {
        Some(i) => {
            i.parse::<ImageRef>()
                .map_err(|e| Error::usage(e, "name a local image: NAME[:TAG], e.g. shop:1.2"))?;
            i.clone()
        }
        None => state::load::<LastBuild>(&ctx.cwd)
            .map(|b| b.image)
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
    Ok(image)
}

/// The image must exist here and be for the target: an arm64 image on an amd64 target is
/// exactly the bug this tool exists to catch.
fn inspect_for(ctx: &Ctx, image: &str, target: &Platform) -> Result<ImageInspect, Error> {
    let inspect: ImageInspect = ctx
        .runner
        .query_json(&docker::image_inspect(ctx.docker("inspect the image to test")?, image).hint(
            "build it first: `docker azdeploy build` (or name an image: `docker azdeploy test-local IMAGE`)",
        ))?;
    if !docker::platform_matches(&inspect.platform(), target) {
        return Err(Error::failed(
            format!(
                "{image} is {}, not {target}: Azure would fail to start it (`exec format error`); refusing to run it",
                inspect.platform()
            ),
            format!("rebuild it for {target}: `docker azdeploy build`"),
        ));
    }
    Ok(inspect)
}

/// Which emulator runs `target` here (`QEMU` or `Rosetta`); `None` when native.
fn emulator_for(ctx: &Ctx, target: &Platform) -> Result<Option<String>, Error> {
    let (_, server) = crate::checks::engine::engine(ctx)?;
    if server.is_none_or(|s| s.arch == target.arch) {
        return Ok(None);
    }
    let f = crate::checks::emulation::host_facts(ctx, target);
    Ok(Some(match (&f.desktop, target.arch.as_str()) {
        (Some(d), "amd64") if f.apple_silicon && d.rosetta == Some(true) => {
            "Rosetta (Docker Desktop setting)".into()
        }
        _ => match &f.binfmt {
            Some(b) => format!("QEMU ({})", b.interpreter),
            None => "QEMU".into(),
        },
    }))
}

fn say_how_it_runs(image: &str, target: &Platform, emulator: Option<&str>) {
    if !target.is_azure() {
        say!("note: {target} is not what Azure will run: Container Apps runs linux/amd64 only, so this tests the image for local use, not for Azure");
    }
    match emulator {
        Some(e) => {
            say!("Running {image} ({target}) emulated by {e}: expect a slower start than on Azure")
        }
        None => say!("Running {image} ({target}) natively"),
    }
}

fn run_spec(
    args: &TestLocalArgs,
    settings: &Settings,
    image: &str,
    target: &Platform,
    project: &str,
) -> Result<RunSpec, Error> {
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
    Ok(RunSpec {
        image: image.to_string(),
        platform: target.clone(),
        name: format!("azdeploy-test-{id}"),
        labels: container::labels(&id, project, args.detach),
        host_port,
        container_port,
        env: args.env.clone(),
        env_file: args.env_file.clone(),
    })
}

/// The container runs: wait for health, measure, report; then check, detach or follow.
fn test(
    ctx: &Ctx,
    args: &TestLocalArgs,
    settings: &Settings,
    mut c: Container,
    inspect: &ImageInspect,
    emulator: Option<&str>,
) -> Result<(), Error> {
    let e = endpoint(ctx, settings, &c, inspect)?;
    let timeout = Duration::from_secs(settings.health_timeout.value.0);
    let http = Http::new(Duration::from_secs(2));
    let started = c.started_at()?;
    let healthy_at = match c.wait_healthy(&http, &e.url, timeout)? {
        Waited::Healthy(t) => t,
        Waited::Exited(s) => return Err(failed(&c, &e, &Failure::Exited(s), timeout)?),
        Waited::TimedOut { last } => {
            return Err(failed(&c, &e, &Failure::TimedOut { last }, timeout)?)
        }
    };
    let first = if e.streamlit {
        Some(first_render(ctx, &c, &e, timeout)?)
    } else {
        None
    };
    let report = measure(
        args,
        &c,
        &e,
        inspect,
        emulator,
        (started, healthy_at),
        first,
    )?;
    say!("{}", render(&report));
    state::save(&ctx.cwd, &report)?;
    if args.json {
        output::stdout_json(&serde_json::to_value(&report).expect("the report serialises"))?;
    }
    if args.check {
        return Ok(());
    }
    if args.detach {
        c.keep();
        say!(
            "{} keeps running on {}; stop it with `docker azdeploy test-local --stop`",
            c.name,
            e.base_url
        );
        return Ok(());
    }
    say!("Streaming its logs; Ctrl-C stops and removes it.");
    ctx.runner.stream(
        &docker::logs_follow(ctx.docker("follow the container's logs")?, &c.name).unbounded(),
    )?;
    // The logs ended without a Ctrl-C: the container stopped by itself.
    let code = c.state()?.map(|s| s.exit_code).unwrap_or(-1);
    Err(Error::failed(
        format!("{} stopped by itself (exit code {code})", c.name),
        "read its logs above",
    ))
}

/// The published port (docker's pick for `--port 0`) and the health URL.
fn endpoint(
    ctx: &Ctx,
    settings: &Settings,
    c: &Container,
    inspect: &ImageInspect,
) -> Result<Endpoint, Error> {
    let container_port = settings.port.value.0;
    let streamlit =
        inspect.runs_streamlit() || detect(&AppFiles::read(&ctx.cwd)).streamlit.is_some();
    let path = match &settings.health_path.value {
        Some(HealthPath(p)) => p.clone(),
        None if streamlit => "/_stcore/health".into(),
        None => "/".into(),
    };
    let host_port = match c.published_port(container_port)? {
        Ok(p) => p,
        Err(stopped) => {
            let e = Endpoint {
                streamlit,
                host_port: 0,
                container_port,
                path: "/".into(),
                base_url: String::new(),
                url: "its port".into(),
            };
            return Err(failed(c, &e, &Failure::Exited(stopped), Duration::ZERO)?);
        }
    };
    let base_url = format!("http://127.0.0.1:{host_port}");
    Ok(Endpoint {
        streamlit,
        host_port,
        container_port,
        url: format!("{base_url}{path}"),
        path,
        base_url,
    })
}

/// The figures of a healthy run: cold start (the engine's start time when its clock agrees with
/// ours), first byte of `/`, memory, CPU, image size. `times`: (started, healthy).
fn measure(
    args: &TestLocalArgs,
    c: &Container,
    e: &Endpoint,
    inspect: &ImageInspect,
    emulator: Option<&str>,
    times: (Option<SystemTime>, SystemTime),
    first: Option<FirstRender>,
) -> Result<LastTest, Error> {
    let (started, healthy_at) = times;
    // The engine's start time is the truth, when its clock agrees with ours.
    let since_start = |at: SystemTime| {
        let since_run = at.duration_since(c.run_returned).unwrap_or_default();
        match started.and_then(|s| at.duration_since(s).ok()) {
            Some(d) if d <= since_run + Duration::from_secs(5) => d,
            _ => since_run,
        }
    };
    let health = since_start(healthy_at);
    let rendered = first.as_ref().map(|f| since_start(f.finished_at));
    let cold_start = rendered.unwrap_or(health);
    let http = Http::new(Duration::from_secs(2));
    let ttfb = http.get(&format!("{}/", e.base_url)).ok().map(|a| a.ttfb);
    let stats = c.stats()?;
    Ok(LastTest {
        healthy: true,
        image: c.image.clone(),
        image_id: inspect.id.clone(),
        platform: inspect.platform(),
        emulated: emulator.is_some(),
        emulator: emulator.map(|e| e.split(' ').next().unwrap_or(e).to_string()),
        url: e.base_url.clone(),
        health_url: e.url.clone(),
        port: Some(e.container_port),
        cold_start_ms: cold_start.as_millis() as u64,
        health_ms: Some(health.as_millis() as u64),
        first_render_ms: rendered.map(|d| d.as_millis() as u64),
        script_run_ms: first.as_ref().map(|f| f.run.as_millis() as u64),
        streamlit_version: first.as_ref().and_then(|f| f.version.clone()),
        peak_memory_bytes: first.as_ref().and_then(|f| f.peak_memory),
        peak_cpu_percent: first.as_ref().and_then(|f| f.peak_cpu),
        ttfb_ms: ttfb.map(|t| t.as_millis() as u64),
        memory_bytes: stats.as_ref().and_then(|s| s.memory_bytes()),
        cpu_percent: stats.as_ref().and_then(|s| s.cpu_percent()),
        image_size_bytes: inspect.size,
        mode: if args.check {
            "check"
        } else if args.detach {
            "detach"
        } else {
            "interactive"
        }
        .into(),
        tested_at: clock::now_secs(),
    })
}

/// A Streamlit app's first render: when it finished, how long the script run took, and the
/// container's peak memory and CPU while it ran.
struct FirstRender {
    finished_at: SystemTime,
    run: Duration,
    version: Option<String>,
    peak_memory: Option<u64>,
    peak_cpu: Option<f64>,
}

/// Opens a session the way a browser does and waits for the first script run, sampling the
/// container's memory and CPU meanwhile; an exception, a compile error or a run that does not
/// end is a failure with its traceback and fix.
fn first_render(
    ctx: &Ctx,
    c: &Container,
    e: &Endpoint,
    timeout: Duration,
) -> Result<FirstRender, Error> {
    let done = std::sync::atomic::AtomicBool::new(false);
    let (result, peaks) = std::thread::scope(|s| {
        let sampler = s.spawn(|| peak_stats(c, &done));
        let result = streamlit::first_run(&e.base_url, timeout, ctx.runner.cancel());
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (result, sampler.join().unwrap_or_default())
    });
    let finished_at = SystemTime::now();
    let first = match result? {
        Ok(first) => first,
        Err(why) => {
            return Err(Error::failed(
                format!("{} answers health, but no Streamlit session could be opened at {}/_stcore/stream: {why}", c.name, e.base_url),
                "the first render needs Streamlit's websocket (Streamlit 1.30 or newer, no server.baseUrlPath); run with --health-path to test another app",
            ))
        }
    };
    let version = first.run.streamlit_version.clone();
    if first.verdict.is_some() && !first.closes.is_empty() {
        say!(
            "note: {} session(s) ended before the first run did ({}); another ran it, as a browser reconnects (the first run's time counts from the first)",
            first.closes.len(),
            first.closes.join("; ")
        );
    }
    match first.verdict {
        Some(Verdict::Finished { shown }) => {
            if shown > 0 {
                say!("note: the first run showed {shown} exception(s) the app itself displayed");
            }
            Ok(FirstRender {
                finished_at,
                run: first.elapsed,
                version,
                peak_memory: peaks.0,
                peak_cpu: peaks.1,
            })
        }
        Some(Verdict::Raised(x)) => Err(Error::failed(
            format!(
                "{} is healthy, but the app's script raised on its first run: {}: {}\n  {}",
                c.name,
                x.r#type,
                x.message.lines().next().unwrap_or(""),
                x.traceback().replace('\n', "\n  ")
            ),
            streamlit::hint_for(&x),
        )),
        Some(Verdict::CompileError(x)) => Err(Error::failed(
            format!(
                "{} is healthy, but the app's script does not compile:\n  {}",
                c.name,
                x.map(|x| x.traceback())
                    .unwrap_or_else(|| "(no text)".into())
                    .replace('\n', "\n  ")
            ),
            "fix the script's syntax, then build again",
        )),
        None => Err(unfinished(c, e, &first, timeout)?),
    }
}

/// The error for a first run that did not end: the container died (its exit says why), the
/// session closed, or the time ran out.
fn unfinished(
    c: &Container,
    e: &Endpoint,
    first: &FirstRun,
    timeout: Duration,
) -> Result<Error, Error> {
    if let Some(s) = c.state()?.filter(|s| !s.running) {
        return failed(c, e, &Failure::Exited(s), timeout);
    }
    let (why, hint) = if first.closed {
        (
            format!(
                "{} session(s) closed before the first run finished ({}; {})",
                first.closes.len(),
                first.closes.join("; "),
                first.run.progress()
            ),
            "read the container's log above; `docker azdeploy test-local` (without --check) streams it"
                .to_string(),
        )
    } else {
        (
            format!(
                "the first run did not finish within {} s ({}{})",
                timeout.as_secs(),
                first.run.progress(),
                match first.closes.len() {
                    0 => String::new(),
                    n => format!("; {n} session(s) closed first: {}", first.closes.join("; ")),
                }
            ),
            "a script that blocks, loops or calls sys.exit() never finishes its run; raise --timeout for a slow first run (a model load)".to_string(),
        )
    };
    let mut message = format!("{} is healthy, but {why}", c.name);
    push_log_tail(&mut message, &c.logs_tail(LOG_LINES)?);
    Ok(Error::failed(message, hint))
}

/// Appends the container's last log lines to an error's message.
fn push_log_tail(message: &mut String, logs: &str) {
    let lines: Vec<&str> = logs.lines().collect();
    let blank = |l: &&str| l.trim().is_empty();
    let start = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !blank(l))
        .map_or(start, |i| i + 1);
    message.push_str(&format!("\n  last {LOG_LINES} log lines:"));
    for l in &lines[start..end] {
        message.push_str(&format!("\n    {l}"));
    }
}

/// The container's highest memory and CPU while `done` is false.
fn peak_stats(c: &Container, done: &std::sync::atomic::AtomicBool) -> (Option<u64>, Option<f64>) {
    let (mut mem, mut cpu): (Option<u64>, Option<f64>) = (None, None);
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        if let Ok(Some(s)) = c.stats() {
            mem = mem.max(s.memory_bytes());
            cpu = match (cpu, s.cpu_percent()) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    (mem, cpu)
}

/// How the wait for health ended, when it did not end healthy.
enum Failure {
    Exited(State),
    TimedOut { last: String },
}

/// The error for a failed wait: what happened, the last log lines, and the fix.
fn failed(
    c: &Container,
    e: &Endpoint,
    failure: &Failure,
    timeout: Duration,
) -> Result<Error, Error> {
    let logs = c.logs_tail(LOG_LINES)?;
    let (exit, last) = match failure {
        Failure::Exited(s) => (Some((s.exit_code, s.oom_killed)), ""),
        Failure::TimedOut { last } => (None, last.as_str()),
    };
    let mut message = match failure {
        Failure::Exited(s) => format!(
            "{} exited with code {}{}{} before answering on {}",
            c.name,
            s.exit_code,
            if s.oom_killed { " (OOM-killed)" } else { "" },
            s.error
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            e.url
        ),
        Failure::TimedOut { last } => format!(
            "{} did not answer 2xx within {} s (last: {last})",
            e.url,
            timeout.as_secs()
        ),
    };
    push_log_tail(&mut message, &logs);
    let hint = diagnose(exit, &logs, last, e.host_port, e.container_port, &e.path);
    Ok(Error::failed(message, hint))
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

/// The report as a small table for people.
pub fn render(r: &LastTest) -> String {
    let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / 1_048_576.0));
    let how = match &r.emulator {
        Some(e) => format!("{} (emulated by {e})", r.platform),
        None => format!("{} (native)", r.platform),
    };
    let dash = || "-".to_string();
    let cold = match r.first_render_ms {
        Some(_) => "container start to first render finished",
        None => "container start to first healthy answer",
    };
    let mut rows = vec![
        vec!["url".to_string(), r.url.clone()],
        vec!["platform".into(), how],
        vec![
            "cold start".into(),
            format!("{} ms ({cold})", r.cold_start_ms),
        ],
    ];
    if let (Some(health), Some(run)) = (r.health_ms, r.script_run_ms) {
        let version = r.streamlit_version.as_deref().unwrap_or("?");
        rows.push(vec![
            "health".into(),
            format!("{health} ms (container start to health answer)"),
        ]);
        rows.push(vec![
            "first run".into(),
            format!("{run} ms (the app's script, once a session asked; Streamlit {version})"),
        ]);
    }
    let first_byte = r.ttfb_ms.map(|t| format!("{t} ms (GET /)"));
    rows.push(vec!["first byte".into(), first_byte.unwrap_or_else(dash)]);
    let memory = match (mib(r.memory_bytes), mib(r.peak_memory_bytes)) {
        (Some(m), Some(p)) => format!("{m} after the first run, {p} peak during it"),
        (Some(m), None) => m,
        _ => dash(),
    };
    rows.push(vec!["memory".into(), memory]);
    let pct = |c: Option<f64>| c.map(|c| format!("{c:.1} %"));
    let cpu = match (pct(r.cpu_percent), pct(r.peak_cpu_percent)) {
        (Some(c), Some(p)) => format!("{c} after the first run, {p} peak during it"),
        (Some(c), None) => c,
        _ => dash(),
    };
    rows.push(vec!["cpu".into(), cpu]);
    rows.push(vec![
        "image size".into(),
        mib(r.image_size_bytes).unwrap_or_else(dash),
    ]);
    let table = output::table(&rows);
    let mut out = format!("healthy: {}", r.image);
    for l in table.lines() {
        out.push_str("\n  ");
        out.push_str(l);
    }
    out
}

/// `--stop`: removes this project's test containers (every one with `--all`).
fn stop_all(ctx: &Ctx, all: bool) -> Result<(), Error> {
    let project = (!all).then_some(ctx.cwd.as_str());
    let whose = if all { "" } else { " started from here" };
    match container::remove_all(ctx, project)? {
        0 => say!("no test containers{whose} to remove"),
        n => say!("removed {n} test container(s){whose}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = LastTest {
            image: "shop:1".into(),
            url: "http://127.0.0.1:8501".into(),
            platform: "linux/amd64".into(),
            emulator: Some("QEMU".into()),
            cold_start_ms: 1234,
            ttfb_ms: Some(5),
            memory_bytes: Some(1_572_864),
            cpu_percent: Some(0.25),
            image_size_bytes: Some(2_097_152),
            ..Default::default()
        };
        assert_eq!(
            render(&r),
            "healthy: shop:1\n\
             \x20 url         http://127.0.0.1:8501\n\
             \x20 platform    linux/amd64 (emulated by QEMU)\n\
             \x20 cold start  1234 ms (container start to first healthy answer)\n\
             \x20 first byte  5 ms (GET /)\n\
             \x20 memory      1.5 MiB\n\
             \x20 cpu         0.2 %\n\
             \x20 image size  2.0 MiB"
        );
        let streamlit = LastTest {
            cold_start_ms: 2470,
            health_ms: Some(740),
            first_render_ms: Some(2470),
            script_run_ms: Some(1590),
            streamlit_version: Some("1.40.0".into()),
            peak_memory_bytes: Some(3_145_728),
            peak_cpu_percent: Some(98.5),
            ..r
        };
        let t = render(&streamlit);
        for line in [
            "cold start  2470 ms (container start to first render finished)",
            "health      740 ms (container start to health answer)",
            "first run   1590 ms (the app's script, once a session asked; Streamlit 1.40.0)",
            "memory      1.5 MiB after the first run, 3.0 MiB peak during it",
            "cpu         0.2 % after the first run, 98.5 % peak during it",
        ] {
            assert!(t.contains(line), "{line:?} in\n{t}");
        }
        assert!(t.lines().all(|l| l.len() <= 100), "{t}");
    }
}
