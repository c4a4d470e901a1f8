//! `docker azdeploy status`: what runs in Azure (revisions and their states), whether it is the
//! image pushed and tested from here, and Azure's CPU, memory, restarts and requests next to
//! the figures `test-local` measured.
//!
//! Azure has no cold-start metric. What is shown instead is labelled for what it is: the time
//! `deploy` measured from `az containerapp update` to a healthy revision.

use serde_json::{json, Value};

use crate::azure::az;
use crate::azure::model::{App, MetricsResponse, Revision};
use crate::cli::args::StatusArgs;
use crate::config::AppTarget;
use crate::ctx::Ctx;
use crate::project::state::{self, Deployment, History, LastPush, LastTest};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

const MIB: f64 = 1024.0 * 1024.0;
/// az has no timeout of its own when the network hangs.
const AZ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result<(), Error> {
    let settings = ctx.settings(&args.target.overrides())?;
    let t = settings.app_target()?;
    let (app, revisions) = read_app(ctx, &t)?;
    let window = args.since.as_secs();
    let mut notes: Vec<String> = Vec::new();
    let metrics = match app.id.as_deref() {
        Some(id) => metrics(ctx, id, window, &mut notes)?,
        None => {
            notes.push("no metrics: `az containerapp show` gave no resource id".into());
            None
        }
    };
    let local = Local {
        test: state::load(&ctx.cwd),
        push: state::load(&ctx.cwd),
        history: History::load(&ctx.cwd).unwrap_or_default(),
    };
    let report = build_report(
        t.app,
        &app,
        &revisions,
        metrics.as_ref(),
        &local,
        window,
        notes,
    );
    if args.json {
        return output::stdout_json(&report);
    }
    output::stdout_line(&render(&report, ctx.color()))
}

/// The app and its revisions; each az call costs about a second of start-up, so the two reads
/// run side by side.
fn read_app(ctx: &Ctx, t: &AppTarget) -> Result<(App, Vec<Revision>), Error> {
    let (app, revisions) = std::thread::scope(|s| {
        let a = s.spawn(|| -> Result<App, Error> {
            ctx.runner.query_json(&az::app_show(
                ctx.az("read the container app")?,
                t.app,
                t.rg,
            ))
        });
        let r = s.spawn(|| -> Result<Vec<Revision>, Error> {
            ctx.runner.query_json(&az::revision_list(
                ctx.az("list the app's revisions")?,
                t.app,
                t.rg,
            ))
        });
        (
            a.join().expect("status thread"),
            r.join().expect("status thread"),
        )
    });
    Ok((app?, revisions?))
}

/// Azure's metrics over the last `window` seconds; missing ones are a note, not a failure.
fn metrics(
    ctx: &Ctx,
    id: &str,
    window: u64,
    notes: &mut Vec<String>,
) -> Result<Option<MetricsResponse>, Error> {
    let now = clock::now_secs();
    let (start, end) = (
        clock::rfc3339(now.saturating_sub(window)),
        clock::rfc3339(now),
    );
    let cmd =
        az::metrics_list(ctx.az("read the app's metrics")?, id, &start, &end).timeout(AZ_TIMEOUT);
    let p = ctx.runner.probe(&cmd)?;
    Ok(match serde_json::from_str::<MetricsResponse>(&p.stdout) {
        Ok(m) if p.success() => Some(m),
        _ => {
            notes.push(format!(
                "no metrics: {}",
                crate::checks::first_line(&p.stderr)
            ));
            None
        }
    })
}

/// What this project knows locally.
pub struct Local {
    pub test: Option<LastTest>,
    pub push: Option<LastPush>,
    pub history: Vec<Deployment>,
}

fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, d)| d)
}

/// The whole report, as JSON (the `--json` shape; `render` draws it for people).
pub fn build_report(
    app_name: &str,
    app: &App,
    revisions: &[Revision],
    metrics: Option<&MetricsResponse>,
    local: &Local,
    window_secs: u64,
    mut notes: Vec<String>,
) -> Value {
    let azure = azure_figures(metrics, &mut notes);
    let local_figures = local.test.as_ref().map(|t| {
        json!({
            "cpu_cores": t.cpu_percent.map(|p| p / 100.0),
            "memory_mib": t.memory_bytes.map(|b| b as f64 / MIB),
            "cold_start_ms": t.cold_start_ms,
            "first_render_ms": t.first_render_ms,
            "emulator": t.emulator,
            "image": t.image,
        })
    });
    let last_deploy = local
        .history
        .iter()
        .rev()
        .find(|r| r.app == app_name && r.healthy() && r.seconds_to_healthy.is_some());
    let readings = readings(&azure, local_figures.as_ref());
    json!({
        "url": app.fqdn().map(|f| format!("https://{f}")),
        "latest_revision": app.latest_revision(),
        "revisions": revisions.iter().map(revision_json).collect::<Vec<_>>(),
        "image": image_comparison(app, local),
        "window_seconds": window_secs,
        "azure": azure,
        "local": local_figures,
        "deploy_to_healthy_seconds": last_deploy.and_then(|r| r.seconds_to_healthy),
        "first_request_ms": last_deploy.and_then(|r| r.smoke_first_request_ms),
        "readings": readings,
        "notes": notes,
    })
}

/// The deployed image against the last push from here, and whether that passed test-local.
fn image_comparison(app: &App, local: &Local) -> Value {
    let deployed = app.image().unwrap_or_default().to_string();
    let pushed = local.push.as_ref().map(|p| p.pinned.as_str());
    let deployed_is_pushed =
        pushed.map(|p| digest_of(p).is_some() && digest_of(p) == digest_of(&deployed));
    let tested = match (&local.push, &local.test) {
        (Some(p), Some(t)) => Some(t.passed(p.image_id.as_deref().unwrap_or_default())),
        _ => None,
    };
    let summary = match (deployed_is_pushed, tested) {
        (None, _) => "nothing was pushed from here, so the deployed image cannot be compared",
        (Some(false), _) => "DIFFERENT from the last push from here: someone deployed another image",
        (Some(true), Some(true)) => "the same digest as the last push from here, and that image passed test-local here",
        (Some(true), _) => "the same digest as the last push from here, but that image did not pass test-local here",
    };
    json!({
        "deployed": deployed,
        "last_pushed": pushed,
        "deployed_is_last_pushed": deployed_is_pushed,
        "last_pushed_passed_test_local": tested,
        "summary": summary,
    })
}

/// Azure's figures over the window; a metric without data is a note.
fn azure_figures(metrics: Option<&MetricsResponse>, notes: &mut Vec<String>) -> Value {
    let summary = |name: &str| metrics.and_then(|m| m.summary(name));
    let cpu = summary("UsageNanoCores");
    let mem = summary("WorkingSetBytes");
    let restarts = summary("RestartCount");
    let requests = summary("Requests");
    let replicas = summary("Replicas");
    if metrics.is_some() {
        for (name, s) in [
            ("CPU", cpu),
            ("memory", mem),
            ("restarts", restarts),
            ("requests", requests),
            ("replicas", replicas),
        ] {
            if s.is_none() {
                notes.push(format!("no data for {name} in the window"));
            }
        }
    }
    json!({
        "cpu_cores_avg": cpu.and_then(|s| s.average).map(|v| v / 1e9),
        "cpu_cores_max": cpu.and_then(|s| s.maximum).map(|v| v / 1e9),
        "memory_mib_avg": mem.and_then(|s| s.average).map(|v| v / MIB),
        "memory_mib_max": mem.and_then(|s| s.maximum).map(|v| v / MIB),
        "restarts": restarts.and_then(|s| s.total),
        "requests": requests.and_then(|s| s.total),
        "replicas_max": replicas.and_then(|s| s.maximum),
    })
}

fn revision_json(r: &Revision) -> Value {
    let p = r.properties.as_ref();
    json!({
        "name": r.name,
        "active": p.and_then(|p| p.active),
        "traffic_weight": p.and_then(|p| p.traffic_weight),
        "replicas": p.and_then(|p| p.replicas),
        "provisioning_state": p.and_then(|p| p.provisioning_state.clone()),
        "health_state": p.and_then(|p| p.health_state.clone()),
        "running_state": p.and_then(|p| p.running_state.clone()),
        "created": p.and_then(|p| p.created_time.clone()),
        "image": r.image(),
    })
}

/// Short readings of Azure against the local run.
pub fn readings(azure: &Value, local: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = azure["restarts"].as_f64().filter(|r| *r > 0.0) {
        out.push(format!(
            "{r:.0} replica restart(s) in the window: check `docker azdeploy logs --system` (probes, OOM kills)"
        ));
    }
    let Some(local) = local else {
        out.push("no local figures: run `docker azdeploy test-local --check` to compare".into());
        return out;
    };
    if let (Some(a), Some(l)) = (
        azure["memory_mib_avg"].as_f64(),
        local["memory_mib"].as_f64(),
    ) {
        if l > 0.0 {
            let ratio = a / l;
            if ratio >= 1.5 {
                out.push(format!(
                    "memory in Azure is {ratio:.1}× local: real traffic, or the app grows; \
                     check the max against the app's --memory limit"
                ));
            } else if ratio <= 0.67 {
                out.push(format!(
                    "memory in Azure is {ratio:.1}× local: emulation overhead inflates the local figure"
                ));
            }
        }
    }
    if let (Some(a), Some(l)) = (azure["cpu_cores_avg"].as_f64(), local["cpu_cores"].as_f64()) {
        if l > 0.0 && a / l >= 2.0 {
            out.push(format!(
                "CPU in Azure is {:.1}× the idle local figure: real traffic, or a busy loop",
                a / l
            ));
        }
    }
    out
}

/// The report for people, at most 100 columns; differences marked with `!` (and yellow when
/// `color`).
pub fn render(r: &Value, color: bool) -> String {
    let mark = |s: String| {
        if color {
            format!("\x1b[33m{s}\x1b[0m")
        } else {
            s
        }
    };
    let mut out = format!(
        "url       {}\nrevision  {} (latest)\n",
        r["url"].as_str().unwrap_or("(no ingress)"),
        r["latest_revision"].as_str().unwrap_or("-")
    );
    out.push_str(&render_revisions(r));
    out.push('\n');
    let image = &r["image"];
    let deployed = image["deployed"].as_str().unwrap_or("-");
    out.push_str(&format!("image     {}\n", shorten(deployed, 90)));
    let summary = image["summary"].as_str().unwrap_or("").to_string();
    let summary = if image["deployed_is_last_pushed"] == false {
        mark(format!("! {summary}"))
    } else {
        summary
    };
    out.push_str(&format!("          {summary}\n"));
    out.push_str(&render_figures(r));
    let lines = |key: &str| -> Vec<String> {
        let items = r[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        items.map(str::to_string).collect()
    };
    for reading in lines("readings") {
        let w = output::wrap(&format!("! {reading}"), 100, "  ");
        out.push_str(&format!("\n{}", mark(w)));
    }
    for note in lines("notes") {
        out.push_str(&format!(
            "\n{}",
            output::wrap(&format!("note: {note}"), 100, "  ")
        ));
    }
    out
}

/// The revisions as a table.
fn render_revisions(r: &Value) -> String {
    let mut rows = vec![vec![
        "  REVISION".into(),
        "ACTIVE".into(),
        "TRAFFIC".into(),
        "REPLICAS".into(),
        "STATE".into(),
    ]];
    for v in r["revisions"].as_array().into_iter().flatten() {
        let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
        let n = |k: &str| v[k].as_i64().map_or("-".into(), |n| n.to_string());
        let active = if v["active"] == true { "yes" } else { "no" };
        rows.push(vec![
            format!("  {}", s("name")),
            active.into(),
            n("traffic_weight"),
            n("replicas"),
            format!(
                "{}/{}/{}",
                s("provisioning_state"),
                s("health_state"),
                s("running_state")
            ),
        ]);
    }
    output::table(&rows)
}

/// Azure's figures next to the local test's, as a table.
fn render_figures(r: &Value) -> String {
    let window = r["window_seconds"].as_u64().unwrap_or(0);
    let (az, local) = (&r["azure"], &r["local"]);
    let f = |v: &Value, digits: usize| {
        v.as_f64()
            .map_or("no data".to_string(), |x| format!("{x:.digits$}"))
    };
    let pair = |avg: &Value, max: &Value, digits: usize| match (avg.as_f64(), max.as_f64()) {
        (None, None) => "no data".to_string(),
        _ => format!("{} avg / {} max", f(avg, digits), f(max, digits)),
    };
    let local_title = match local["emulator"].as_str() {
        Some(e) => format!("LOCAL (emulated by {e})"),
        None if local.is_null() => "LOCAL (no test-local yet)".into(),
        None => "LOCAL (native)".into(),
    };
    let lf = |k: &str, d: usize| {
        if local.is_null() {
            "-".to_string()
        } else {
            f(&local[k], d)
        }
    };
    let deploy = r["deploy_to_healthy_seconds"]
        .as_f64()
        .map_or("-".into(), |s| format!("{s:.0} s update→healthy revision"));
    let deploy = match r["first_request_ms"].as_u64() {
        Some(ms) => format!("{deploy}, first request {ms} ms"),
        None => deploy,
    };
    let cold = match (
        local["first_render_ms"].as_u64(),
        local["cold_start_ms"].as_u64(),
    ) {
        (Some(ms), _) => format!("{ms} ms start to first render"),
        (None, Some(ms)) => format!("{ms} ms cold start"),
        _ => "-".into(),
    };
    output::table(&[
        vec![
            format!("  last {}", human_window(window)),
            "AZURE".into(),
            local_title,
        ],
        vec![
            "  cpu (cores)".into(),
            pair(&az["cpu_cores_avg"], &az["cpu_cores_max"], 3),
            lf("cpu_cores", 3),
        ],
        vec![
            "  memory (MiB)".into(),
            pair(&az["memory_mib_avg"], &az["memory_mib_max"], 1),
            lf("memory_mib", 1),
        ],
        vec!["  restarts".into(), f(&az["restarts"], 0), "-".into()],
        vec!["  requests".into(), f(&az["requests"], 0), "-".into()],
        vec!["  start".into(), deploy, cold],
    ])
}

fn human_window(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

/// Keeps a long reference readable in 100 columns: `head…tail`.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max - 13).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_compare_azure_with_local() {
        let az = json!({"memory_mib_avg": 180.0, "cpu_cores_avg": 0.02, "restarts": 2.0});
        let local = json!({"memory_mib": 100.0, "cpu_cores": 0.001});
        let r = readings(&az, Some(&local));
        assert!(
            r.iter().any(|s| s.starts_with("2 replica restart(s)")),
            "{r:?}"
        );
        assert!(
            r.iter()
                .any(|s| s.starts_with("memory in Azure is 1.8× local")),
            "{r:?}"
        );
        assert!(
            r.iter().any(|s| s.starts_with("CPU in Azure is 20.0×")),
            "{r:?}"
        );
        let r = readings(
            &json!({"memory_mib_avg": 50.0}),
            Some(&json!({"memory_mib": 100.0})),
        );
        assert!(r[0].contains("0.5× local: emulation overhead"), "{r:?}");
        assert!(readings(&json!({}), None)[0].starts_with("no local figures"));
    }

    #[test]
    fn wrapping() {
        let w = output::wrap(
            "note: no metrics: ERROR: (AuthorizationFailed) a b c",
            25,
            "  ",
        );
        assert!(w.lines().all(|l| l.chars().count() <= 25), "{w}");
        assert!(w.lines().count() >= 3, "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("  ")), "{w}");
        assert_eq!(output::wrap("short", 100, "  "), "short");
    }

    #[test]
    fn long_references_fit() {
        let s = format!("myacr.azurecr.io/shop:abc@sha256:{}", "a".repeat(64));
        let short = shorten(&s, 90);
        assert_eq!(short.chars().count(), 90);
        assert!(short.ends_with("aaaaaaaaaaaa"));
    }
}
