//! An existing container app's Azure settings against the image and what was measured here:
//! the ingress (on, external, targeting the port the app listens on, a transport that keeps
//! websockets), session affinity for a multi-replica Streamlit app, memory and CPU against the
//! local peak, a way to pull from the image's registry, and the replicas. Each finding is a
//! [`Check`] and, where az can change it, the [`Fix`]. `deploy` runs them before every update
//! (a failure stops it there) and `doctor --azure` shows them.
//!
//! May import: `checks`, `azure`, `python::app`,
//! `image::reference`, `project`, `ctx`, `config`, `report`.

use super::Check;
use crate::azure::az;
use crate::azure::fix::Fix;
use crate::azure::model::App;
use crate::azure::provision;
use crate::azure::spec::{self, mib, FLOOR, HEADROOM};
use crate::config::{Settings, Source};
use crate::ctx::Ctx;
use crate::image::reference::ImageRef;
use crate::project::state::{self, LastPush, LastTest};
use crate::python::app::{detect, AppFiles};
use crate::report::error::Error;

/// What the app should look like, from the settings and the local test.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The `port` setting.
    pub port: u16,
    pub streamlit: bool,
    /// The local test of the image being deployed, if there was one.
    pub tested: Option<LastTest>,
    /// The host of the image being deployed (`myacr.azurecr.io`).
    pub image_server: Option<String>,
    /// The replica settings, when set rather than defaults.
    pub replicas: Option<(u32, u32)>,
}

impl Expect {
    /// For deploying `image`: the settings, the app's files here, and the local test when it
    /// tested this very image (the one the last push pinned).
    pub fn for_image(ctx: &Ctx, settings: &Settings, image: &ImageRef) -> Expect {
        let pinned = image.to_string();
        let pushed = state::load::<LastPush>(&ctx.cwd).filter(|p| p.pinned == pinned);
        let tested = state::load::<LastTest>(&ctx.cwd).filter(|t| {
            pushed
                .as_ref()
                .and_then(|p| p.image_id.as_deref())
                .is_some_and(|id| t.passed(id))
        });
        let set = |s: &Source| *s != Source::Default;
        Expect {
            port: settings.port.value.0,
            streamlit: detect(&AppFiles::read(&ctx.cwd)).streamlit.is_some(),
            image_server: image.host.clone().filter(|h| {
                h.ends_with(".azurecr.io") || pushed.as_ref().is_some_and(|p| p.registry == *h)
            }),
            tested,
            replicas: (set(&settings.min_replicas.source) || set(&settings.max_replicas.source))
                .then_some((settings.min_replicas.value.0, settings.max_replicas.value.0)),
        }
    }
}

/// The configured app read with az and its findings, for `doctor`: nothing when no app is
/// configured; one finding when it does not exist yet or cannot be read (the `az` checks say
/// why). Judged against the image the last push pinned, else the one the app runs.
pub fn for_doctor(ctx: &Ctx, settings: &Settings) -> Result<Vec<Finding>, Error> {
    let Ok(t) = settings.app_target() else {
        return Ok(Vec::new());
    };
    let Ok(base) = ctx.az("read the container app") else {
        return Ok(Vec::new());
    };
    let app = match provision::look::<App>(ctx, az::app_show(base, t.app, t.rg)) {
        Ok(Some(app)) => app,
        Ok(None) => {
            return Ok(vec![finding(
                Check::warn(
                    "container app",
                    format!("{} does not exist in {} yet", t.app, t.rg),
                    "`docker azdeploy deploy` creates it (and what it needs) after `push`",
                ),
                None,
            )])
        }
        Err(e @ Error::Cancelled(_)) => return Err(e),
        Err(e) => {
            return Ok(vec![finding(
                Check::fail(
                    "container app",
                    e.to_string().lines().next().unwrap_or_default(),
                    e.hint().unwrap_or_default(),
                ),
                None,
            )])
        }
    };
    let image = state::load::<LastPush>(&ctx.cwd)
        .map(|p| p.pinned)
        .or_else(|| app.image().map(str::to_string))
        .and_then(|i| i.parse::<ImageRef>().ok());
    let expect = match &image {
        Some(i) => Expect::for_image(ctx, settings, i),
        None => Expect {
            port: settings.port.value.0,
            ..Default::default()
        },
    };
    Ok(findings(&app, &expect))
}

/// The most memory seen locally: the peak sampled during the first run, or after it if higher.
pub fn local_peak(t: &LastTest) -> Option<u64> {
    t.peak_memory_bytes.max(t.memory_bytes)
}

/// One finding, and what `--fix` would do about it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: Check,
    pub fix: Option<Fix>,
}

fn finding(check: Check, fix: Option<Fix>) -> Finding {
    Finding { check, fix }
}

/// Every finding for `app`, in a stable order.
pub fn findings(app: &App, e: &Expect) -> Vec<Finding> {
    let mut out = ingress(app, e);
    out.push(memory(app, e));
    out.extend(cpu(app, e));
    out.push(registry(app, e));
    out.push(replicas(app, e));
    out
}

fn ingress(app: &App, e: &Expect) -> Vec<Finding> {
    let Some(ingress) = app.ingress() else {
        return vec![finding(
            Check::fail(
                "ingress",
                "ingress is off: nothing can reach the app",
                "docker azdeploy deploy --fix turns on external ingress on the app's port",
            ),
            Some(Fix::EnableIngress(e.port)),
        )];
    };
    let mut out = vec![if ingress.external == Some(false) {
        finding(
            Check::warn(
                "ingress",
                "internal: only apps in the same environment reach it",
                "--fix makes it external, if users should reach it",
            ),
            Some(Fix::External),
        )
    } else {
        finding(Check::ok("ingress", "external"), None)
    }];
    out.push(target_port(ingress.target_port, e));
    let transport = ingress
        .transport
        .as_deref()
        .unwrap_or("auto")
        .to_ascii_lowercase();
    out.push(match transport.as_str() {
        "auto" | "http" => finding(Check::ok("transport", transport), None),
        t if e.streamlit => finding(
            Check::fail(
                "transport",
                format!("{t}: Streamlit's websocket needs an HTTP/1.1 upgrade"),
                "--fix sets the transport to auto",
            ),
            Some(Fix::Transport),
        ),
        t => finding(
            Check::warn(
                "transport",
                format!("{t}: HTTP/1.1 clients and websockets cannot connect"),
                "--fix sets the transport to auto",
            ),
            Some(Fix::Transport),
        ),
    });
    out.push(sticky(app, e));
    out
}

fn target_port(target: Option<u32>, e: &Expect) -> Finding {
    let tested = e.tested.as_ref().and_then(|t| t.port);
    let heard = match tested {
        Some(p) => format!("; it answered on {p} in test-local"),
        None => String::new(),
    };
    match target {
        Some(t) if t == u32::from(e.port) => finding(
            Check::ok("target port", format!("{t} (the port setting{heard})")),
            None,
        ),
        t => finding(
            Check::fail(
                "target port",
                format!(
                    "ingress sends traffic to {}, but the app listens on {}{heard}",
                    t.map_or("no port".to_string(), |t| t.to_string()),
                    e.port
                ),
                format!("--fix sets the target port to {}; or set port in azdeploy.json if the app really listens elsewhere", e.port),
            ),
            Some(Fix::TargetPort(e.port)),
        ),
    }
}

fn sticky(app: &App, e: &Expect) -> Finding {
    if !e.streamlit {
        return finding(Check::skip("sticky sessions", "not a Streamlit app"), None);
    }
    let max = app.scale().and_then(|s| s.max_replicas).unwrap_or(10);
    let affinity = app
        .ingress()
        .and_then(|i| i.sticky_sessions.as_ref())
        .and_then(|s| s.affinity.as_deref())
        .unwrap_or("none");
    match (affinity.eq_ignore_ascii_case("sticky"), max) {
        (true, _) => finding(Check::ok("sticky sessions", "sticky"), None),
        (false, 1) => finding(Check::ok("sticky sessions", "one replica at most: not needed"), None),
        (false, max) => finding(
            Check::fail(
                "sticky sessions",
                format!("off with up to {max} replicas: a Streamlit session's websocket and uploads can land on another replica (components fail, uploads answer 400)"),
                "--fix sets session affinity to sticky",
            ),
            Some(Fix::Sticky),
        ),
    }
}

fn memory(app: &App, e: &Expect) -> Finding {
    let limit = app
        .resources()
        .and_then(|r| r.memory.as_deref())
        .and_then(spec::parse_memory);
    let peak = e.tested.as_ref().and_then(local_peak);
    let (Some(limit), Some(peak)) = (limit, peak) else {
        return finding(
            Check::skip(
                "memory",
                match limit {
                    Some(l) => format!("limit {}; no local measurement of this image", mib(l)),
                    None => "no limit in the app's answer".into(),
                },
            ),
            None,
        );
    };
    let (size, why) = spec::size_for(Some(peak));
    let ratio = limit as f64 / peak as f64;
    let detail = format!(
        "limit {}, local peak {} ({ratio:.1}×)",
        mib(limit),
        mib(peak)
    );
    if ratio < FLOOR {
        finding(
            Check::fail(
                "memory",
                format!("{detail}: too small, the first session alone nearly fills it"),
                format!("--fix sets {} ({why})", size.label()),
            ),
            Some(Fix::Size(size)),
        )
    } else if ratio < HEADROOM {
        finding(
            Check::warn(
                "memory",
                format!("{detail}: little room for more sessions"),
                format!("--fix sets {} ({why})", size.label()),
            ),
            Some(Fix::Size(size)),
        )
    } else {
        finding(Check::ok("memory", detail), None)
    }
}

fn cpu(app: &App, e: &Expect) -> Option<Finding> {
    let limit = app.resources()?.cpu?;
    let peak = e.tested.as_ref()?.peak_cpu_percent? / 100.0;
    let detail = format!("limit {limit} CPU, local peak {peak:.2} cores during the first run");
    // A start that briefly wants more than the limit is only slowed a little.
    Some(if peak > limit * 1.5 {
        let enough = spec::size_with_cpu(peak);
        finding(
            Check::warn(
                "cpu",
                format!("{detail}: starts will be throttled"),
                format!(
                    "if start time matters more than cost: az containerapp update --cpu {} --memory {}",
                    enough.cpu(),
                    enough.memory()
                ),
            ),
            None,
        )
    } else {
        finding(Check::ok("cpu", detail), None)
    })
}

fn registry(app: &App, e: &Expect) -> Finding {
    let Some(server) = &e.image_server else {
        return finding(
            Check::skip(
                "registry access",
                "the image is not in an ACR or the registry pushed to from here: not checked",
            ),
            None,
        );
    };
    let configured = app.registries().iter().find(|r| {
        r.server
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(server))
    });
    match configured {
        Some(r) if r.can_pull() => finding(
            Check::ok(
                "registry access",
                match r.identity.as_deref().filter(|i| !i.is_empty()) {
                    Some(i) => format!("{server} with identity {}", short_id(i)),
                    None => format!("{server} with a user name and secret"),
                },
            ),
            None,
        ),
        _ => finding(
            Check::fail(
                "registry access",
                format!("the app has no way to pull from {server}: the new revision would fail to pull the image"),
                "--fix attaches a pull identity with AcrPull on the registry",
            ),
            Some(Fix::Registry(server.clone())),
        ),
    }
}

/// The last part of a resource id.
fn short_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn replicas(app: &App, e: &Expect) -> Finding {
    let scale = app.scale();
    let min = scale.and_then(|s| s.min_replicas).unwrap_or(0);
    let max = scale.and_then(|s| s.max_replicas).unwrap_or(10);
    let wanted = e.replicas.filter(|w| *w != (min, max));
    let fix = wanted.map(|(min, max)| Fix::Scale { min, max });
    if min == 0 {
        let start = e
            .tested
            .as_ref()
            .map(|t| {
                format!(
                    "measured here: {:.1} s to the first render",
                    t.cold_start_ms as f64 / 1000.0
                )
            })
            .unwrap_or_else(|| "run test-local to measure it".into());
        return finding(
            Check::warn(
                "replicas",
                format!("{min}-{max}: scales to zero, so the first visitor after a quiet spell waits for a cold start ({start})"),
                "set azure.min_replicas to 1 (it costs an idle replica), then deploy --fix",
            ),
            fix.filter(|f| matches!(f, Fix::Scale { min, .. } if *min > 0)),
        );
    }
    match wanted {
        Some((wmin, wmax)) => finding(
            Check::warn(
                "replicas",
                format!("{min}-{max}, but azdeploy.json says {wmin}-{wmax}"),
                "--fix applies the settings",
            ),
            fix,
        ),
        None => finding(Check::ok("replicas", format!("{min}-{max}")), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn app(json: &str) -> App {
        serde_json::from_str(json).unwrap()
    }

    /// The app `az containerapp create --yaml` made from our spec, as az printed it.
    fn created() -> App {
        app(include_str!(
            "../../tests/fixtures/az/containerapp-create.json"
        ))
    }

    fn statuses(f: &[Finding]) -> Vec<(String, Status)> {
        f.iter()
            .map(|f| (f.check.name.clone(), f.check.status))
            .collect()
    }

    fn tested(peak_mib: u64) -> LastTest {
        LastTest {
            healthy: true,
            port: Some(8501),
            peak_memory_bytes: Some(peak_mib << 20),
            peak_cpu_percent: Some(40.0),
            cold_start_ms: 4200,
            ..Default::default()
        }
    }

    fn expect() -> Expect {
        let app = created();
        Expect {
            port: 8501,
            streamlit: true,
            tested: Some(tested(180)),
            image_server: app.registries()[0].server.clone(),
            replicas: None,
        }
    }

    #[test]
    fn the_app_we_create_passes_every_check() {
        let f = findings(&created(), &expect());
        let bad: Vec<_> = f.iter().filter(|f| f.check.status != Status::Ok).collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert_eq!(
            statuses(&f)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [
                "ingress",
                "target port",
                "transport",
                "sticky sessions",
                "memory",
                "cpu",
                "registry access",
                "replicas"
            ]
        );
    }

    #[test]
    fn a_wrong_target_port_fails_with_its_fix() {
        let e = Expect {
            port: 8080,
            ..expect()
        };
        let f = findings(&created(), &e);
        let port = f.iter().find(|f| f.check.name == "target port").unwrap();
        assert_eq!(port.check.status, Status::Fail);
        assert_eq!(
            port.check.detail,
            "ingress sends traffic to 8501, but the app listens on 8080; it answered on 8501 in test-local"
        );
        assert_eq!(port.fix, Some(Fix::TargetPort(8080)));
    }

    #[test]
    fn streamlit_with_replicas_and_no_affinity_fails() {
        let text = include_str!("../../tests/fixtures/az/containerapp-create.json")
            .replace("\"sticky\"", "\"none\"");
        let f = findings(&app(&text), &expect());
        let s = f
            .iter()
            .find(|f| f.check.name == "sticky sessions")
            .unwrap();
        assert_eq!(s.check.status, Status::Fail, "{:?}", s.check);
        assert_eq!(s.fix, Some(Fix::Sticky));
        // Not Streamlit: not asked.
        let f = findings(
            &app(&text),
            &Expect {
                streamlit: false,
                ..expect()
            },
        );
        assert_eq!(
            f.iter()
                .find(|f| f.check.name == "sticky sessions")
                .unwrap()
                .check
                .status,
            Status::Skip
        );
    }

    #[test]
    fn memory_against_the_local_peak() {
        // 1Gi limit: a 900 MiB peak fails, 750 warns, 180 is fine.
        let at = |peak| {
            let f = findings(
                &created(),
                &Expect {
                    tested: Some(tested(peak)),
                    ..expect()
                },
            );
            f.into_iter().find(|f| f.check.name == "memory").unwrap()
        };
        let fail = at(900);
        assert_eq!(fail.check.status, Status::Fail);
        assert_eq!(fail.check.detail, "limit 1024 MiB, local peak 900 MiB (1.1×): too small, the first session alone nearly fills it");
        assert_eq!(fail.fix, Some(Fix::Size(spec::size_for(Some(900 << 20)).0)));
        assert_eq!(at(750).check.status, Status::Warn);
        assert_eq!(at(180).check.status, Status::Ok);
        let none = findings(
            &created(),
            &Expect {
                tested: None,
                ..expect()
            },
        );
        assert_eq!(
            none.iter()
                .find(|f| f.check.name == "memory")
                .unwrap()
                .check
                .status,
            Status::Skip
        );
    }

    #[test]
    fn no_way_to_pull_fails_and_off_ingress_fails() {
        let e = Expect {
            image_server: Some("other.azurecr.io".into()),
            ..expect()
        };
        let f = findings(&created(), &e);
        let r = f
            .iter()
            .find(|f| f.check.name == "registry access")
            .unwrap();
        assert_eq!(r.check.status, Status::Fail);
        assert_eq!(r.fix, Some(Fix::Registry("other.azurecr.io".into())));
        let off =
            app(r#"{"properties": {"configuration": {"ingress": null, "registries": null}}}"#);
        let f = findings(&off, &expect());
        assert_eq!(f[0].check.status, Status::Fail);
        assert_eq!(f[0].fix, Some(Fix::EnableIngress(8501)));
    }

    #[test]
    fn scale_to_zero_warns_with_the_measured_start() {
        let zero = app(
            r#"{"properties": {"configuration": {"ingress": {"external": true, "targetPort": 8501}},
            "template": {"scale": {"minReplicas": 0, "maxReplicas": 1}}}}"#,
        );
        let f = findings(
            &zero,
            &Expect {
                replicas: Some((1, 1)),
                ..expect()
            },
        );
        let r = f.iter().find(|f| f.check.name == "replicas").unwrap();
        assert_eq!(r.check.status, Status::Warn);
        assert!(
            r.check
                .detail
                .contains("measured here: 4.2 s to the first render"),
            "{}",
            r.check.detail
        );
        assert_eq!(r.fix, Some(Fix::Scale { min: 1, max: 1 }));
    }
}
