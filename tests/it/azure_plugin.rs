//! The plugin's Azure commands through the **real** docker CLI (`docker azdeploy …`), the
//! **real** az (ci/az-install.sh) and the simulated Azure (tests/azure-sim), with images built
//! on the real engine and pushed through the simulator's login server into the real registry.
//! Each test has its own simulator and sandbox. Skipped without az or an engine unless
//! AZDEPLOY_E2E=1 (or AZDEPLOY_AZURE_SIM=1 for the az part).
//!
//! Where a test shows the plugin doing something other than what README.md promises, it asserts
//! the promise and is `#[ignore]`d with the reason; its sibling asserts everything else.

use std::io::Read;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

use crate::azsim::{AzureSim, APP, REGISTRY, RG};
use crate::engine::{busybox, unique, Images};
use crate::support::*;

/// The image the seeded app runs before anything is deployed.
const QUICKSTART: &str = "mcr.microsoft.com/k8se/quickstart:latest";
const HTTPD: &str = "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n\
                     ENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"8501\"]\n";
const TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";
/// The subscription `wrong-subscription` puts in az's profile (tests/azure-sim/start.py).
const OTHER_SUBSCRIPTION: &str = "9d2e4c6a-1b3f-4a5d-8e7c-6f0a2b4d6e81";

/// One simulated Azure, one sandbox whose `work/` is a project deploying `simapp` from the
/// registry `simacr`, and the local tags the test made (removed on drop).
struct Azure {
    sim: AzureSim,
    s: Sandbox,
    /// The image name (unique per test): `<name>:<tag>` locally, `<login server>/<name>:<tag>`
    /// in the registry.
    name: String,
    images: Images,
}

impl Azure {
    /// `None` (the test skips) without a real az or engine, unless CI requires them.
    fn start(test: &str, scenario: &str) -> Option<Azure> {
        Self::start_with(test, scenario, None)
    }

    fn start_with(test: &str, scenario: &str, world: Option<&str>) -> Option<Azure> {
        if !AzureSim::available(test)
            || !needs(
                test,
                &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
            )
        {
            return None;
        }
        let sim = AzureSim::start_with(scenario, world);
        let s = Sandbox::new();
        std::fs::copy(busybox("amd64"), s.path("work/busybox")).unwrap();
        s.write("work/Dockerfile", HTTPD);
        let name = unique("azsim-plugin");
        let config = json!({"image": name, "azure": {"registry": REGISTRY, "resource_group": RG, "app": APP}});
        s.write("work/azdeploy.json", &config.to_string());
        Some(Azure {
            sim,
            s,
            name,
            images: Images(Vec::new()),
        })
    }

    /// The real docker CLI with our plugin, the simulator's environment and the real az.
    fn docker(&self) -> std::process::Command {
        let mut c = self.s.real_docker_std();
        c.envs(self.sim.env())
            .env("AZDEPLOY_AZ", self.sim.az())
            .env("AZDEPLOY_POLL_INTERVAL_MS", "100");
        c
    }

    /// `docker [globals] azdeploy ARGS`.
    fn run_with(&self, globals: &[&str], args: &[&str]) -> Output {
        self.docker()
            .args(globals)
            .arg("azdeploy")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&[], args)
    }

    /// `docker azdeploy build -t <name>:<tag>` of the project's Dockerfile (a static busybox
    /// httpd, linux/amd64); the local tags go when the test ends.
    fn build(&mut self, tag: &str) -> String {
        let image = format!("{}:{tag}", self.name);
        self.images.0.push(image.clone());
        self.images.0.push(format!("{}:latest", self.name));
        // push leaves the registry's tag here too.
        self.images
            .0
            .push(format!("{}/{image}", self.sim.login_server()));
        let out = self.run(&["build", "-t", &image]);
        assert!(out.status.success(), "build: {}", stderr_of(&out));
        image
    }

    /// Where `push` puts `<name>:<tag>` (and the local tag it makes for it, removed on drop).
    fn pushed_ref(&mut self, tag: &str) -> String {
        let r = format!("{}/{}:{tag}", self.sim.login_server(), self.name);
        self.images.0.push(r.clone());
        r
    }

    /// `docker azdeploy push` of the last build: the pinned reference it printed.
    fn push(&mut self, tag: &str) -> String {
        self.pushed_ref(tag);
        let out = self.run(&["push"]);
        assert!(out.status.success(), "push: {}", stderr_of(&out));
        stdout_of(&out).trim().to_string()
    }

    /// Build and push `<name>:t1`: the pinned reference.
    fn build_and_push(&mut self) -> String {
        self.build("t1");
        self.push("t1")
    }

    /// The digest the registry serves for `reference`, read with the real docker through the
    /// login server (the sandbox's docker config must hold a login to it).
    fn registry_digest(&self, reference: &str) -> String {
        let raw = self
            .docker()
            .args(["buildx", "imagetools", "inspect", "--raw", reference])
            .output()
            .unwrap();
        assert!(raw.status.success(), "{}", stderr_of(&raw));
        let tmp = self.s.path("manifest.json");
        std::fs::write(&tmp, &raw.stdout).unwrap();
        let sum = std::process::Command::new("sha256sum")
            .arg(&tmp)
            .output()
            .unwrap();
        format!(
            "sha256:{}",
            stdout_of(&sum).split_whitespace().next().unwrap()
        )
    }

    /// `.azdeploy/history.json`, oldest first (empty when there is none).
    fn history(&self) -> Vec<Value> {
        let text = read(&self.s.path("work/.azdeploy/history.json"));
        if text.is_empty() {
            return Vec::new();
        }
        serde_json::from_str(&text).unwrap()
    }

    /// The requests that change something in Azure (ARM writes; reads, tokens and the log
    /// streams are not changes).
    fn writes(&self) -> Vec<String> {
        self.sim
            .requests()
            .iter()
            .filter(|r| r["tags"].as_array().unwrap().iter().any(|t| t == "arm"))
            .filter(|r| {
                let m = r["method"].as_str().unwrap();
                let p = r["path"].as_str().unwrap();
                m == "PATCH"
                    || m == "PUT"
                    || m == "DELETE"
                    || (m == "POST" && !p.ends_with("/getAuthToken"))
            })
            .map(request_line)
            .collect()
    }

    /// What the simulator holds for the app: image, latest revisions, revision names.
    fn app_summary(&self) -> (String, String, String, Vec<String>) {
        let app = self.sim.app(APP);
        let s = |k: &str| app[k].as_str().unwrap_or_default().to_string();
        let revisions = app["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        (
            s("image"),
            s("latestRevisionName"),
            s("latestReadyRevisionName"),
            revisions,
        )
    }

    fn url(&self) -> String {
        format!("https://{}", self.sim.app(APP)["fqdn"].as_str().unwrap())
    }

    fn az_path(&self) -> String {
        self.sim.az().display().to_string()
    }
}

/// `METHOD /path status` of one logged request.
fn request_line(r: &Value) -> String {
    format!(
        "{} {} {}",
        r["method"].as_str().unwrap(),
        r["path"].as_str().unwrap(),
        r["status"]
    )
}

/// Every request the simulator answered, as `METHOD /path status`.
fn requests(sim: &AzureSim) -> Vec<String> {
    sim.requests().iter().map(request_line).collect()
}

/// The `error:` line and the lines after it up to the `hint:` line.
fn error_block(stderr: &str) -> Vec<&str> {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error: line in {stderr}"));
    lines[start..]
        .iter()
        .take_while(|l| !l.starts_with("hint: "))
        .copied()
        .collect()
}

fn hint_line(stderr: &str) -> Option<&str> {
    stderr.lines().find(|l| l.starts_with("hint: "))
}

/// Every process below `root` (children, grandchildren, …).
fn descendants(root: u32) -> Vec<(i32, String)> {
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = read(&e.path().join("stat"));
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
            continue;
        };
        let ppid: i32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        procs.push((pid, ppid, cmdline));
    }
    let mut out = Vec::new();
    let mut frontier = vec![root as i32];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, cmd) in &procs {
            if *ppid == p {
                out.push((*pid, cmd.clone()));
                frontier.push(*pid);
            }
        }
    }
    out
}

/// The az process (`python -m azure.cli …` running `words`) below `root`, once it exists.
fn az_below(root: u32, words: &str) -> Option<i32> {
    let mut found = None;
    wait_for(30, || {
        found = descendants(root)
            .into_iter()
            .find(|(_, cmd)| cmd.contains("azure.cli") && cmd.contains(words))
            .map(|(pid, _)| pid);
        found.is_some()
    });
    found
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: signalling a process this test started (or one of its children).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid}");
}

// ---------------------------------------------------------------------------------------------
// push
// ---------------------------------------------------------------------------------------------

#[test]
fn push_logs_in_through_az_and_prints_the_digest_the_registry_serves() {
    let Some(mut a) = Azure::start(
        "push_logs_in_through_az_and_prints_the_digest_the_registry_serves",
        "healthy",
    ) else {
        return;
    };
    a.build("t1");
    let reference = a.pushed_ref("t1");
    let out = a.run(&["--verbose", "push"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let printed = stdout_of(&out);
    assert_eq!(printed.lines().count(), 1, "stdout is only the reference");
    let (r, digest) = printed.trim().split_once('@').unwrap();
    assert_eq!(r, reference);
    assert_eq!(digest, a.registry_digest(&reference));

    // The real az looked the login server up and logged in by running the real docker login.
    let err = stderr_of(&out);
    let az = a.az_path();
    assert!(
        err.contains(&format!(
            "+ {az} acr show --name {REGISTRY} --output json\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("+ {az} acr login --name {REGISTRY}\n")),
        "{err}"
    );
    let config = read(&a.s.path("docker-config/config.json"));
    assert!(config.contains(&a.sim.login_server()), "{config}");
    let seen = requests(&a.sim);
    for want in [
        "GET /v2/ 401".to_string(),
        "POST /oauth2/exchange 200".to_string(),
        format!("PUT /v2/{}/manifests/t1 201", a.name),
    ] {
        assert!(seen.contains(&want), "{want} not in {seen:#?}");
    }
    // ACR tokens are JWTs: none may show.
    assert!(!printed.contains("eyJ") && !err.contains("eyJ"), "{err}");
    let state: Value =
        serde_json::from_str(&read(&a.s.path("work/.azdeploy/last-push.json"))).unwrap();
    assert_eq!(state["pinned"], printed.trim());
    assert_eq!(state["registry"], a.sim.login_server().as_str());
}

#[test]
fn push_uses_a_token_on_stdin_when_asked_or_when_docker_globals_are_given() {
    let Some(mut a) = Azure::start(
        "push_uses_a_token_on_stdin_when_asked_or_when_docker_globals_are_given",
        "healthy",
    ) else {
        return;
    };
    a.build("t1");
    let server = a.sim.login_server();
    let az = a.az_path();
    let token_login = format!("login {server} --username {TOKEN_USER} --password-stdin <<< ***\n");

    let reference = a.pushed_ref("t1");
    let out = a.run(&["--verbose", "push", "--expose-token"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "+ {az} acr login --name {REGISTRY} --expose-token --output json\n"
        )),
        "{err}"
    );
    assert!(err.contains(&token_login), "{err}");
    assert!(
        !err.contains(&format!("acr login --name {REGISTRY}\n")),
        "az ran docker login itself: {err}"
    );
    let first = stdout_of(&out);
    assert!(
        first.starts_with(&format!("{reference}@sha256:")),
        "{first}"
    );

    // docker's global flags: az would run docker without them, so the token path is forced.
    let config = a.s.path("docker-config");
    let v2 = a.pushed_ref("v2");
    let out = a.run_with(
        &["--config", config.to_str().unwrap()],
        &["--verbose", "push", "--tag", "v2"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err2 = stderr_of(&out);
    assert!(
        err2.contains(&format!(
            "+ {az} acr login --name {REGISTRY} --expose-token --output json\n"
        )),
        "{err2}"
    );
    assert!(
        err2.contains(&format!("--config {} {token_login}", config.display())),
        "{err2}"
    );
    let second = stdout_of(&out);
    let digest = |s: &str| s.trim().split_once('@').unwrap().1.to_string();
    assert!(second.starts_with(&format!("{v2}@sha256:")), "{second}");
    assert_eq!(digest(&second), digest(&first), "the same image");
    for text in [&first, &second, &err, &err2] {
        assert!(!text.contains("eyJ"), "a token leaked: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// deploy
// ---------------------------------------------------------------------------------------------

#[test]
fn deploy_waits_for_the_new_revision_and_prints_the_app_url() {
    let Some(mut a) = Azure::start(
        "deploy_waits_for_the_new_revision_and_prints_the_app_url",
        "healthy",
    ) else {
        return;
    };
    let pinned = a.build_and_push();
    let (_, old, _, _) = a.app_summary();
    let out = a.run(&["deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (image, latest, ready, revisions) = a.app_summary();
    assert_eq!(stdout_of(&out), format!("{}\n", a.url()));
    assert_eq!(image, pinned);
    assert_ne!(latest, old);
    assert_eq!(ready, latest, "the new revision is the ready one");
    assert_eq!(revisions, [old.clone(), latest.clone()]);
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "Deploying {pinned} to {APP} (now running {QUICKSTART})\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{latest} is healthy after ")),
        "{err}"
    );
    let h = a.history();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["app"], APP);
    assert_eq!(h[0]["image"], pinned.as_str());
    assert_eq!(h[0]["revision"], latest.as_str());
    assert_eq!(h[0]["previous_image"], QUICKSTART);
    assert_eq!(h[0]["result"], "healthy");
    assert!(h[0]["seconds_to_healthy"].as_f64().unwrap() > 0.0);
    let writes = a.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].starts_with("PATCH "), "{writes:?}");
    let patch = a
        .sim
        .requests()
        .into_iter()
        .find(|r| {
            r["method"] == "PATCH"
                && r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/containerApps/simapp")
        })
        .unwrap();
    assert_eq!(
        patch["body"]["properties"]["template"]["containers"][0]["image"],
        pinned.as_str()
    );
}

#[test]
fn a_revision_that_fails_to_activate_is_rolled_back_when_asked() {
    let Some(mut a) = Azure::start(
        "a_revision_that_fails_to_activate_is_rolled_back_when_asked",
        "healthy",
    ) else {
        return;
    };
    // A first release, deployed and healthy.
    let first = a.build_and_push();
    let out = a.run(&["deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, original, _, _) = a.app_summary();
    // The next release: other content, so another digest.
    a.s.write(
        "work/Dockerfile",
        &format!("{HTTPD}LABEL azdeploy.test=second\n"),
    );
    a.build("t2");
    let pinned = a.push("t2");
    assert_ne!(pinned, first);
    // Only revisions running the second release fail; the one the rollback makes comes up.
    let digest = pinned.rsplit_once('@').unwrap().1;
    a.sim
        .set_scenario(&json!({"name": "activation-failed", "image": digest}).to_string());
    let out = a.run(&["deploy", "--rollback-on-failure"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let (image, latest, ready, revisions) = a.app_summary();
    // The quickstart's, the first release's, the failed one, the rollback's.
    assert_eq!(revisions.len(), 4, "{revisions:?}");
    let failed = revisions[2].clone();
    assert_eq!(revisions[1], original);
    assert_eq!(image, first, "the previous image runs again");
    assert_eq!(
        (latest.as_str(), ready.as_str()),
        (revisions[3].as_str(), revisions[3].as_str())
    );
    let err = stderr_of(&out);
    assert_eq!(
        error_block(&err),
        [
            format!("error: revision {failed} failed: provisioning Provisioned, health Unhealthy, running ActivationFailed: Activation failed: Deployment Progress Deadline Exceeded. 0/1 replicas ready. The TargetPort 8501 does not match the listening port 80.").as_str(),
            format!("  rolled back to {first}, which is healthy again").as_str(),
        ]
    );
    assert_eq!(
        hint_line(&err),
        Some("hint: read the revision's logs above; `docker azdeploy test-local --check` reproduces most start failures locally")
    );
    // The failed revision's logs, from the real az's log streams.
    assert!(
        err.contains(&format!(
            "--- system log of the app {failed} (last 50 lines) ---\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(r#""RevisionName": "{failed}", "EventSource": "ContainerAppController", "Count": 1, "Type": "Warning""#)),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "--- console log of the revision {failed} (last 50 lines) ---\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(" ModuleNotFoundError: No module named 'streamlit'\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!("Rolling back {APP} to {first}\n")),
        "{err}"
    );
    let h = a.history();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[1]["result"], "rolled back");
    assert_eq!(h[1]["image"], pinned.as_str());
    assert_eq!(h[1]["revision"], failed.as_str());
    let patches: Vec<String> = a.writes();
    assert_eq!(
        patches.len(),
        3,
        "two updates and the rollback: {patches:?}"
    );
}

#[test]
fn a_rollback_to_an_image_the_gate_cannot_read_does_not_happen() {
    let Some(mut a) = Azure::start(
        "a_rollback_to_an_image_the_gate_cannot_read_does_not_happen",
        "healthy",
    ) else {
        return;
    };
    // The app runs Microsoft's quickstart image, which this machine cannot read (no network):
    // going back to it unchecked would send Azure an image nobody saw.
    let pinned = a.build_and_push();
    a.sim
        .set_scenario(&json!({"name": "activation-failed", "image": a.name}).to_string());
    let out = a.run(&["deploy", "--rollback-on-failure"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let block = error_block(&err);
    assert!(block[0].starts_with("error: revision "), "{err}");
    assert!(
        block[1].starts_with(&format!(
            "  not rolled back: the image that ran before, {QUICKSTART}, does not pass the architecture gate (the architecture gate cannot read {QUICKSTART} from its registry"
        )),
        "{err}"
    );
    assert!(!err.contains("Rolling back"), "{err}");
    let (image, _, _, revisions) = a.app_summary();
    assert_eq!(
        image, pinned,
        "the failed image stays; nothing unchecked went"
    );
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(a.writes().len(), 1, "only the update");
    let h = a.history();
    assert_eq!(h[0]["result"], "failed");
}

#[test]
fn deploy_no_wait_returns_at_the_update_with_the_new_revision() {
    let Some(mut a) = Azure::start(
        "deploy_no_wait_returns_at_the_update_with_the_new_revision",
        "healthy",
    ) else {
        return;
    };
    let pinned = a.build_and_push();
    let out = a.run(&["deploy", "--no-wait"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (image, latest, _, _) = a.app_summary();
    assert_eq!(image, pinned);
    assert_eq!(stdout_of(&out), format!("{latest}\n"));
    assert!(
        stderr_of(&out).contains(&format!("{latest} is starting; not waiting (--no-wait)\n")),
        "{}",
        stderr_of(&out)
    );
    // Nobody read the new revision: no wait happened.
    let reads = a
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/revisions/{latest}"))
        })
        .count();
    assert_eq!(reads, 0);
    let h = a.history();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["result"], "not waited (--no-wait)");
    assert_eq!(h[0]["image"], pinned.as_str());
    assert_eq!(h[0]["previous_image"], QUICKSTART);
}

#[test]
fn deploy_no_wait_records_the_revision_it_printed() {
    let Some(mut a) = Azure::start("deploy_no_wait_records_the_revision_it_printed", "healthy")
    else {
        return;
    };
    a.build_and_push();
    let out = a.run(&["deploy", "--no-wait"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, latest, _, _) = a.app_summary();
    assert_eq!(a.history()[0]["revision"], latest.as_str());
}

#[test]
fn deploy_dry_run_reads_but_changes_nothing() {
    let Some(mut a) = Azure::start("deploy_dry_run_reads_but_changes_nothing", "healthy") else {
        return;
    };
    let pinned = a.build_and_push();
    let before = a.app_summary();
    let out = a.run(&["deploy", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "[dry-run] {} containerapp update --name {APP} --resource-group {RG} --image {pinned} --output json\n",
            a.az_path()
        )),
        "{err}"
    );
    // The read happened (the current image is named), the change did not.
    assert!(
        err.contains(&format!("(now running {QUICKSTART})")),
        "{err}"
    );
    assert!(
        !requests(&a.sim)
            .iter()
            .any(|r| r.starts_with("PATCH /subscriptions/")),
        "a PATCH reached Azure"
    );
    assert_eq!(a.writes(), Vec::<String>::new());
    assert_eq!(a.app_summary(), before);
    assert!(!a.s.path("work/.azdeploy/history.json").exists());
}

// ---------------------------------------------------------------------------------------------
// status, logs
// ---------------------------------------------------------------------------------------------

/// `date -u` for `minutes_ago`, to the minute, as Azure Monitor stamps its points.
fn minutes_ago(m: u32) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("-{m} min"), "+%Y-%m-%dT%H:%M:00Z"])
        .output()
        .unwrap();
    stdout_of(&out).trim().to_string()
}

#[test]
fn status_shows_revisions_image_and_azure_metrics_as_a_table_and_as_json() {
    let (t1, t2) = (minutes_ago(5), minutes_ago(4));
    let world = json!({"metrics": {
        "UsageNanoCores": [{"timeStamp": t1, "average": 2e7, "maximum": 9e7}, {"timeStamp": t2, "average": 4e7, "maximum": 6e7}],
        "WorkingSetBytes": [{"timeStamp": t1, "average": 104857600.0, "maximum": 157286400.0}],
        "RestartCount": [{"timeStamp": t1, "total": 2}],
        "Requests": [{"timeStamp": t1, "total": 12}, {"timeStamp": t2, "total": 30}],
        "Replicas": [{"timeStamp": t1, "maximum": 1}],
    }});
    let Some(a) = Azure::start_with(
        "status_shows_revisions_image_and_azure_metrics_as_a_table_and_as_json",
        "healthy",
        Some(&world.to_string()),
    ) else {
        return;
    };
    let (_, rev, _, _) = a.app_summary();
    let out = a.run(&["status"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let expected = format!(
        "url       {url}
revision  {rev} (latest)
  REVISION         ACTIVE  TRAFFIC  REPLICAS  STATE
  {rev}  yes     100      1         Provisioned/Healthy/Running
image     {QUICKSTART}
          nothing was pushed from here, so the deployed image cannot be compared
  last 1h       AZURE                  LOCAL (no test-local yet)
  cpu (cores)   0.030 avg / 0.090 max  -
  memory (MiB)  100.0 avg / 150.0 max  -
  restarts      2                      -
  requests      42                     -
  start         -                      -
! 2 replica restart(s) in the window: check `docker azdeploy logs --system` (probes, OOM kills)
! no local figures: run `docker azdeploy test-local --check` to compare
",
        url = a.url()
    );
    assert_eq!(stdout_of(&out), expected);

    let out = a.run(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["url"], a.url().as_str());
    assert_eq!(j["latest_revision"], rev.as_str());
    assert_eq!(j["revisions"].as_array().unwrap().len(), 1);
    let r = &j["revisions"][0];
    assert_eq!(
        (
            &r["name"],
            &r["active"],
            &r["traffic_weight"],
            &r["replicas"]
        ),
        (&json!(rev), &json!(true), &json!(100), &json!(1))
    );
    assert_eq!(
        (
            &r["provisioning_state"],
            &r["health_state"],
            &r["running_state"]
        ),
        (&json!("Provisioned"), &json!("Healthy"), &json!("Running"))
    );
    assert_eq!(r["image"], QUICKSTART);
    assert_eq!(
        j["azure"],
        json!({"cpu_cores_avg": 0.03, "cpu_cores_max": 0.09, "memory_mib_avg": 100.0, "memory_mib_max": 150.0,
               "replicas_max": 1.0, "requests": 42.0, "restarts": 2.0})
    );
    assert_eq!(j["image"]["deployed"], QUICKSTART);
    assert_eq!(j["image"]["last_pushed"], Value::Null);
    assert_eq!(j["window_seconds"], 3600);
    assert_eq!(j["notes"], json!([]));
    // status only reads.
    assert_eq!(a.writes(), Vec::<String>::new());
}

#[test]
fn a_slow_azure_is_waited_for_and_gives_the_same_status() {
    let Some(a) = Azure::start(
        "a_slow_azure_is_waited_for_and_gives_the_same_status",
        r#"{"name": "slow", "delay_ms": 1500}"#,
    ) else {
        return;
    };
    let (_, rev, _, _) = a.app_summary();
    let t = std::time::Instant::now();
    let out = a.run(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(t.elapsed().as_millis() >= 1500, "{:?}", t.elapsed());
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["latest_revision"], rev.as_str());
    assert_eq!(j["revisions"][0]["running_state"], "Running");
    assert_eq!(j["image"]["deployed"], QUICKSTART);
    assert!(!a.sim.delayed().is_empty(), "nothing was slow");
    assert_eq!(stderr_of(&out), "");
}

#[test]
fn logs_print_the_console_and_the_system_log_through_az() {
    let world = json!({"console_logs": ["hello from the app", "second line"]});
    let Some(a) = Azure::start_with(
        "logs_print_the_console_and_the_system_log_through_az",
        "healthy",
        Some(&world.to_string()),
    ) else {
        return;
    };
    let (_, rev, _, _) = a.app_summary();
    let out = a.run(&["logs"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // `TimeStamp Log` per line (az --format text prints the service's lines as they come).
    let text = stdout_of(&out);
    let logs: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(' ').map(|(_, rest)| rest).unwrap_or(l))
        .collect();
    assert_eq!(logs.len(), 4, "{text}");
    assert_eq!(logs[0], format!("Connecting to the container '{APP}'..."));
    assert!(
        logs[1].starts_with(&format!(
            "Successfully Connected to container: '{APP}' [Revision: '{rev}', Replica: '{rev}-"
        )),
        "{text}"
    );
    assert_eq!(logs[2..], ["hello from the app", "second line"]);
    let out = a.run(&["logs", "--tail", "1"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).ends_with(" second line\n") && stdout_of(&out).lines().count() == 3,
        "{}",
        stdout_of(&out)
    );

    let out = a.run(&["logs", "--system"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let events: Vec<Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{}", stdout_of(&out));
    assert_eq!(events[0]["ContainerAppName"], APP);
    assert_eq!(events[0]["RevisionName"], rev.as_str());
    assert_eq!(events[0]["Reason"], "RevisionReady");
    assert_eq!(a.writes(), Vec::<String>::new());
}

/// A pseudo-terminal: (master, slave).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            // null_mut: `*mut` on macOS, and it coerces to Linux's `*const`.
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: fresh descriptors, owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

/// Collects what `r` yields, in a thread, until it ends (EOF or EIO).
fn collect(mut r: impl Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

fn text_of(seen: &std::sync::Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
}

#[test]
fn logs_follow_on_a_terminal_ends_on_ctrl_c_with_130_and_stops_az() {
    use std::os::unix::process::CommandExt;
    let world = json!({"console_logs": ["hello from the app"]});
    let Some(a) = Azure::start_with(
        "logs_follow_on_a_terminal_ends_on_ctrl_c_with_130_and_stops_az",
        r#"{"name": "healthy", "follow_seconds": 120}"#,
        Some(&world.to_string()),
    ) else {
        return;
    };
    // As in a terminal: stdout is a tty, and Ctrl-C signals the whole foreground group.
    let (master, slave) = pty();
    let mut child = {
        let mut c = a.docker();
        c.args(["azdeploy", "logs", "--follow"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::piped())
            .process_group(0);
        c.spawn().unwrap()
    };
    let seen = collect(master);
    let err_seen = collect(child.stderr.take().unwrap());
    if !wait_for(60, || text_of(&seen).contains(" hello from the app")) {
        let _ = child.kill();
        panic!(
            "the log never came: {}\n{}",
            text_of(&seen),
            text_of(&err_seen)
        );
    }
    let az = az_below(child.id(), "logs show").expect("az runs below docker");
    assert_eq!(text_of(&seen).lines().count(), 3, "{}", text_of(&seen));
    // SAFETY: Ctrl-C to the process group this test started.
    assert_eq!(unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text_of(&err_seen));
    assert!(wait_for(10, || !alive(az)), "az {az} is still running");
    assert!(
        wait_for(5, || text_of(&err_seen).contains("cancelled (interrupt)")),
        "{}",
        text_of(&err_seen)
    );
}

#[test]
fn logs_follow_into_a_pipe_shows_each_line_as_it_comes() {
    let world = json!({"console_logs": ["hello from the app"]});
    let Some(a) = Azure::start_with(
        "logs_follow_into_a_pipe_shows_each_line_as_it_comes",
        r#"{"name": "healthy", "follow_seconds": 120}"#,
        Some(&world.to_string()),
    ) else {
        return;
    };
    let mut child = a
        .docker()
        .args(["azdeploy", "logs", "--follow"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = collect(child.stdout.take().unwrap());
    let came = wait_for(30, || text_of(&seen).contains(" hello from the app\n"));
    signal(child.id() as i32, libc::SIGINT);
    let _ = child.wait();
    assert!(
        came,
        "nothing within 30 s; after the end: {}",
        text_of(&seen)
    );
}

// ---------------------------------------------------------------------------------------------
// rollback
// ---------------------------------------------------------------------------------------------

#[test]
fn rollback_returns_to_the_previous_healthy_image_or_to_a_named_revision() {
    let Some(mut a) = Azure::start(
        "rollback_returns_to_the_previous_healthy_image_or_to_a_named_revision",
        "healthy",
    ) else {
        return;
    };
    let first = a.build_and_push();
    let out = a.run(&["deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, rev_first, _, _) = a.app_summary();
    // A second, different image.
    a.s.write(
        "work/Dockerfile",
        &HTTPD.replace("EXPOSE 8501\n", "ENV RELEASE=2\nEXPOSE 8501\n"),
    );
    a.build("t2");
    let second = a.push("t2");
    assert_ne!(first, second);
    let out = a.run(&["deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, rev_second, _, _) = a.app_summary();

    let out = a.run(&["rollback"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("{}\n", a.url()));
    assert!(
        stderr_of(&out).contains(&format!("Rolling back {APP} from {second} to {first}\n")),
        "{}",
        stderr_of(&out)
    );
    let (image, latest, ready, _) = a.app_summary();
    assert_eq!(image, first);
    assert_eq!(ready, latest);
    assert!(![rev_first.as_str(), rev_second.as_str()].contains(&latest.as_str()));
    let h = a.history();
    let last = h.last().unwrap();
    assert_eq!(last["kind"], "rollback");
    assert_eq!(last["image"], first.as_str());
    assert_eq!(last["previous_image"], second.as_str());
    assert_eq!(last["result"], "healthy");
    assert_eq!(last["revision"], latest.as_str());

    // --to a revision: the image it ran.
    let out = a.run(&["rollback", "--to", &rev_second]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("{}\n", a.url()));
    let (image, _, _, revisions) = a.app_summary();
    assert_eq!(image, second);
    assert_eq!(revisions.len(), 5, "{revisions:?}");
    let h = a.history();
    assert_eq!(h.len(), 4, "{h:?}");
    assert_eq!(h[3]["image"], second.as_str());
    assert_eq!(h[3]["kind"], "rollback");
    assert_eq!(a.writes().len(), 4, "{:?}", a.writes());
}

#[test]
fn rollback_to_a_missing_revision_says_the_revision_is_missing() {
    let Some(a) = Azure::start(
        "rollback_to_a_missing_revision_says_the_revision_is_missing",
        "healthy",
    ) else {
        return;
    };
    let out = a.run(&["rollback", "--to", "simapp--nope123"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(
        error_block(&err)[0],
        "error: failed to read the revision to go back to"
    );
    let hint = hint_line(&err).unwrap_or_default();
    assert!(
        hint.contains("revision") && !hint.contains("check the app name"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// build --remote acr (ACR Tasks)
// ---------------------------------------------------------------------------------------------

#[test]
fn build_remote_acr_streams_the_run_passes_its_exit_on_and_hands_a_pinned_ref_to_deploy() {
    let Some(mut a) = Azure::start(
        "build_remote_acr_streams_the_run_passes_its_exit_on_and_hands_a_pinned_ref_to_deploy",
        "healthy",
    ) else {
        return;
    };
    let server = a.sim.login_server();
    let image = format!("{}:r1", a.name);
    let out = a.run(&["build", "--remote", "acr", "-t", &image]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let runs = a.sim.state()["runs"].clone();
    let run = &runs["ca1"];
    assert_eq!(run["status"], "Succeeded");
    let digest = run["images"][0]["digest"].as_str().unwrap().to_string();
    let pinned = format!("{server}/{image}@{digest}");
    assert_eq!(stdout_of(&out), format!("{pinned}\n"));
    // What az sent: the context, then the run for both tags, linux/amd64.
    let req = &run["request"];
    assert_eq!(
        req["imageNames"],
        json!([image, format!("{}:latest", a.name)])
    );
    assert_eq!(
        req["platform"],
        json!({"os": "linux", "architecture": "amd64"})
    );
    assert!(req["dockerFilePath"]
        .as_str()
        .unwrap()
        .ends_with("_Dockerfile"));
    assert!(req["isPushEnabled"].as_bool().unwrap());
    // The run's log streamed through az: ACR's lines around the real buildx output.
    let err = stderr_of(&out);
    for want in [
        format!("Building {server}/{image} for linux/amd64 in ACR Tasks (native, no emulation)\n"),
        "WARNING: Queued a build with ID: ca1\n".to_string(),
        "Executing step ID: build.".to_string(),
        "#1 [internal] load build definition from ".to_string(),
        format!("Successfully pushed image: {server}/{image}"),
        "Run ID: ca1 was successful after ".to_string(),
        format!("Built and pushed {pinned} (linux/amd64)\n"),
    ] {
        assert!(err.contains(&want), "{want:?} not in {err}");
    }
    // The digest is what ACR holds for the tag.
    let shown = a.sim.az_acr_image(REGISTRY, &image);
    assert_eq!(shown["digest"], digest.as_str());
    let push: Value =
        serde_json::from_str(&read(&a.s.path("work/.azdeploy/last-push.json"))).unwrap();
    assert_eq!(push["pinned"], pinned.as_str());
    assert_eq!(push["platforms"], json!(["linux/amd64"]));

    // A failing build: the run's log says why, az's exit code is passed on, nothing recorded.
    a.s.write(
        "work/Dockerfile",
        &HTTPD.replace(
            "EXPOSE 8501\n",
            "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo compiling; exit 3\"]\nEXPOSE 8501\n",
        ),
    );
    let out = a.run(&["build", "--remote", "acr", "-t", &format!("{}:r2", a.name)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    for want in [
        "compiling",
        "failed to run step ID: build: exit status 1",
        "Run ID: ca2 failed after ",
        ". Error: failed during run, err: exit status 1",
        "ERROR: Run failed\n",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    let block = error_block(&err);
    assert_eq!(block[0], "error: failed to build the image in ACR Tasks");
    assert!(block.contains(&"  exit status: 1"), "{block:?}");
    assert_eq!(
        hint_line(&err),
        Some("hint: read the ACR Tasks log above; `az acr task logs --registry <acr>` shows it again")
    );
    assert_eq!(a.sim.state()["runs"]["ca2"]["status"], "Failed");
    let push: Value =
        serde_json::from_str(&read(&a.s.path("work/.azdeploy/last-push.json"))).unwrap();
    assert_eq!(
        push["pinned"],
        pinned.as_str(),
        "the failed build left nothing"
    );

    // deploy takes the pinned reference. The gate reads the registry's copy with docker, which
    // needs a login `build --remote` never made: deploy makes the one push makes, and runs.
    let out = a.run(&["deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!(
            "{server} wants a login to be read: logging in through az, as push does\n"
        )),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(stdout_of(&out), format!("{}\n", a.url()));
    assert_eq!(a.app_summary().0, pinned);
    // The gate pulled the image to read its program, and removed it again.
    a.images.0.push(format!("{server}/{image}"));
    let local = std::process::Command::new("docker")
        .args(["image", "ls", "--quiet", &format!("{server}/{}", a.name)])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&local), "", "the gate left the pulled image");
}

#[test]
fn build_remote_acr_gates_what_acr_built_and_refuses_another_platform() {
    // An agent that builds linux/arm64 whatever was asked: the gate reads ACR's record.
    let Some(a) = Azure::start(
        "build_remote_acr_gates_what_acr_built_and_refuses_another_platform",
        r#"{"name": "healthy", "acr_build_platform": "linux/arm64"}"#,
    ) else {
        return;
    };
    let out = a.run(&["build", "--remote", "acr", "-t", &format!("{}:r1", a.name)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    assert!(err.contains("Run ID: ca1 was successful after "), "{err}");
    assert_eq!(
        error_block(&err),
        ["error: the image was built for linux/arm64, not linux/amd64: it would fail with `exec format error` on Azure"]
    );
    assert_eq!(
        hint_line(&err),
        Some("hint: check the base images in ./Dockerfile: they must exist for linux/amd64")
    );
    assert!(!a.s.path("work/.azdeploy/last-push.json").exists());
    assert!(!a.s.path("work/.azdeploy/last-build.json").exists());
}

#[test]
fn build_remote_acr_gates_an_index_by_its_children() {
    let Some(a) = Azure::start(
        "build_remote_acr_gates_an_index_by_its_children",
        r#"{"name": "healthy", "acr_index": true}"#,
    ) else {
        return;
    };
    let image = format!("{}:r1", a.name);
    let out = a.run(&["build", "--remote", "acr", "-t", &image]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let shown = a.sim.az_acr_image(REGISTRY, &image);
    let pinned = format!(
        "{}/{image}@{}",
        a.sim.login_server(),
        shown["digest"].as_str().unwrap()
    );
    assert_eq!(stdout_of(&out), format!("{pinned}\n"));
    assert!(
        stderr_of(&out).contains(&format!("Built and pushed {pinned} (linux/amd64)\n")),
        "{}",
        stderr_of(&out)
    );
}

/// Even into a pipe (CI): az's ACR log streamer writes through colorama, which flushes each
/// write, so the run's lines arrive while it runs (unlike `logs --follow`, below).
#[test]
fn build_remote_acr_shows_the_run_log_while_the_run_goes_on() {
    let Some(a) = Azure::start(
        "build_remote_acr_shows_the_run_log_while_the_run_goes_on",
        "healthy",
    ) else {
        return;
    };
    a.s.write(
        "work/Dockerfile",
        &HTTPD.replace(
            "EXPOSE 8501\n",
            "RUN [\"/bin/busybox\", \"sleep\", \"5\"]\nEXPOSE 8501\n",
        ),
    );
    let mut child = a
        .docker()
        .args([
            "azdeploy",
            "build",
            "--remote",
            "acr",
            "-t",
            &format!("{}:r1", a.name),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = collect(child.stderr.take().unwrap());
    let came = wait_for(60, || {
        text_of(&err).contains("Launching container with name: build")
    });
    let status = a.sim.state()["runs"]["ca1"]["status"].clone();
    let done = child.wait().unwrap();
    assert!(came, "{}", text_of(&err));
    assert_eq!(
        status,
        "Running",
        "the log came only after the run: {}",
        text_of(&err)
    );
    assert!(done.success(), "{}", text_of(&err));
}

// ---------------------------------------------------------------------------------------------
// az's failure modes, through the plugin
// ---------------------------------------------------------------------------------------------

/// A pushed image, then `deploy` under `scenario`: the output, and whether Azure is as before.
fn deploy_under(test: &str, scenario: &str) -> Option<(Azure, Output, bool)> {
    let mut a = Azure::start(test, "healthy")?;
    a.build_and_push();
    let before = a.app_summary();
    a.sim.set_scenario(scenario);
    let out = a.run(&["deploy"]);
    let unchanged = a.app_summary() == before;
    Some((a, out, unchanged))
}

/// The exit code, the error block and the az line quoted in it, and no change in Azure.
fn assert_refused(out: &Output, unchanged: bool, error: &str, az_says: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(out));
    assert_eq!(stdout_of(out), "");
    let err = stderr_of(out);
    let block = error_block(&err);
    assert_eq!(block[0], format!("error: {error}"), "{err}");
    assert!(block.contains(&"  exit status: 1"), "{block:?}");
    assert!(
        block.contains(&format!("    {az_says}").as_str()),
        "{az_says:?} not in {block:#?}"
    );
    assert!(unchanged, "Azure changed");
}

#[test]
fn not_logged_in_push_and_deploy_refuse_with_the_login_hint() {
    let Some(mut a) = Azure::start(
        "not_logged_in_push_and_deploy_refuse_with_the_login_hint",
        "healthy",
    ) else {
        return;
    };
    a.build("t1");
    a.sim.set_scenario("logged-out");
    let out = a.run(&["push"]);
    assert_refused(
        &out,
        true,
        "failed to look up the registry",
        "ERROR: Please run 'az login' to setup account.",
    );
    let login_hint =
        "hint: run `az login` (and `az account set --subscription <id>`), then try again";
    assert_eq!(hint_line(&stderr_of(&out)), Some(login_hint));
    assert!(
        !a.sim.requests().iter().any(|r| r["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/v2/{}/", a.name))),
        "something was pushed"
    );

    a.sim.set_scenario("healthy");
    a.push("t1");
    let before = a.app_summary();
    a.sim.set_scenario("logged-out");
    let out = a.run(&["deploy"]);
    assert_refused(
        &out,
        a.app_summary() == before,
        "failed to read the container app",
        "ERROR: Please run 'az login' to setup account.",
    );
    assert_eq!(hint_line(&stderr_of(&out)), Some(login_hint));
    assert_eq!(a.writes(), Vec::<String>::new());
    assert!(a.history().is_empty(), "nothing was deployed");
}

/// A subscription az cannot find is not a missing app: nothing is planned or created.
#[test]
fn a_wrong_subscription_is_said_to_be_one() {
    let Some((a, out, unchanged)) = deploy_under(
        "a_wrong_subscription_is_said_to_be_one",
        "wrong-subscription",
    ) else {
        return;
    };
    assert_refused(
        &out,
        unchanged,
        "failed to read the container app",
        &format!("ERROR: (SubscriptionNotFound) The subscription '{OTHER_SUBSCRIPTION}' could not be found."),
    );
    let err = stderr_of(&out);
    assert!(
        !err.contains(&format!("Container app {APP} does not exist")),
        "{err}"
    );
    assert_eq!(
        hint_line(&err),
        Some("hint: az is signed in to a subscription that does not exist or that you lost access to: check `az account show`, then `az account set --subscription <id>`")
    );
    assert_eq!(a.writes(), Vec::<String>::new());
}

#[test]
fn a_missing_app_is_planned_and_not_created_without_a_yes() {
    let Some((a, out, unchanged)) = deploy_under(
        "a_missing_app_is_planned_and_not_created_without_a_yes",
        "app-missing",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(125), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    assert!(
        err.starts_with(&format!(
            "Container app {APP} does not exist in {RG} yet: looking at what it needs\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("  + create container app {APP}: ")),
        "{err}"
    );
    assert_eq!(
        error_block(&err),
        ["error: Create 3 resources? no answer: stdin is not a terminal, nothing was created"]
    );
    assert_eq!(
        hint_line(&err),
        Some("hint: pass --yes to agree without a question (CI), or run it in a terminal")
    );
    assert!(unchanged);
    assert_eq!(a.writes(), Vec::<String>::new());
}

const SERVER_HINT: &str = "hint: Azure Resource Manager answered a server error (500): retry later (https://status.azure.com)";
const IN_PROGRESS: &str = "ERROR: (ContainerAppOperationInProgress) Cannot modify a container app 'simapp' because there is an operation in progress. Please try again later.";

#[test]
fn an_operation_in_progress_refuses_the_update_and_is_recorded() {
    let Some((a, out, unchanged)) = deploy_under(
        "an_operation_in_progress_refuses_the_update_and_is_recorded",
        "operation-in-progress",
    ) else {
        return;
    };
    assert_refused(
        &out,
        unchanged,
        "failed to update the container app's image",
        IN_PROGRESS,
    );
    let writes = a.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].starts_with("PATCH ") && writes[0].ends_with(" 409"),
        "{writes:?}"
    );
    let h = a.history();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        h[0]["result"],
        "error: failed to update the container app's image"
    );
}

#[test]
fn an_operation_in_progress_gets_a_try_again_hint() {
    let Some((_a, out, _)) = deploy_under(
        "an_operation_in_progress_gets_a_try_again_hint",
        "operation-in-progress",
    ) else {
        return;
    };
    let err = stderr_of(&out);
    let hint = hint_line(&err).unwrap_or_else(|| panic!("no hint: {err}"));
    assert!(hint.contains("try again"), "{hint}");
}

#[test]
fn az_retries_a_throttled_provider_read_itself_but_not_a_containerapp_read() {
    // The provider read goes through the SDK's retry policy: az waits Retry-After and succeeds.
    let Some(a) = Azure::start(
        "az_retries_a_throttled_provider_read_itself_but_not_a_containerapp_read",
        r#"{"name": "throttled", "count": 1, "match": "^GET /subscriptions/[^/]+/providers/Microsoft\\.App$"}"#,
    ) else {
        return;
    };
    let out = a.run(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let statuses: Vec<u64> = a
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/providers/Microsoft.App")
        })
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    // One 429, and the command still succeeded: the az that got it asked again (the log is in
    // order of answers and `status` runs two az calls side by side, so only counts are certain).
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 1,
        "{statuses:?}"
    );

    // containerapp's own reads are raw requests: az fails at once on a 429.
    a.sim.set_scenario(
        r#"{"name": "throttled", "count": 1, "match": "^GET .*/containerApps/simapp$"}"#,
    );
    let out = a.run(&["status"]);
    assert_refused(
        &out,
        true,
        "failed to read the container app",
        "ERROR: (TooManyRequests) Number of 'read' requests for subscription '3b5a1f0e-7c2d-4e8a-9f61-2d4c8b7a9e10' actually exceeded the limit of '12000' for time interval '01:00:00'. Please try again after '1' seconds.",
    );
    let err = stderr_of(&out);
    let hint = hint_line(&err).unwrap_or_else(|| panic!("no hint: {err}"));
    assert!(
        hint.starts_with("hint: Azure Resource Manager is throttling this subscription (429)")
            && hint.contains("wait a minute and retry"),
        "{hint}"
    );
    let throttled = requests(&a.sim)
        .iter()
        .filter(|r| r.ends_with(" 429"))
        .count();
    assert_eq!(throttled, 2, "one for each scenario, none asked again");
}

#[test]
fn a_throttled_containerapp_read_is_not_said_to_be_retried_by_az() {
    let Some(a) = Azure::start(
        "a_throttled_containerapp_read_is_not_said_to_be_retried_by_az",
        r#"{"name": "throttled", "count": 1, "match": "^GET .*/containerApps/simapp$"}"#,
    ) else {
        return;
    };
    let out = a.run(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let hint = hint_line(&err).unwrap_or_else(|| panic!("no hint: {err}"));
    assert!(
        !hint.contains("retries") && !hint.contains("retried"),
        "{hint}"
    );
}

#[test]
fn a_throttled_revision_poll_is_retried_by_the_plugin_and_the_deploy_succeeds() {
    let Some((a, out, _)) = deploy_under(
        "a_throttled_revision_poll_is_retried_by_the_plugin_and_the_deploy_succeeds",
        r#"{"name": "throttled", "count": 1, "match": "^GET .*/containerApps/simapp/revisions/[^/]+$"}"#,
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, latest, ready, _) = a.app_summary();
    assert_eq!(ready, latest);
    assert_eq!(stdout_of(&out), format!("{}\n", a.url()));
    assert!(
        stderr_of(&out).contains(&format!(
            "warning: could not read {latest} (failed to read the new revision's state); trying again\n"
        )),
        "{}",
        stderr_of(&out)
    );
    let throttled: Vec<String> = a
        .sim
        .requests()
        .iter()
        .filter(|r| r["status"] == 429)
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert!(
        throttled[0].ends_with(&format!("/revisions/{latest}")),
        "{throttled:?}"
    );
    assert_eq!(a.history()[0]["result"], "healthy");
}

#[test]
fn a_persistent_server_error_refuses_the_deploy_after_azs_retries() {
    let Some((a, out, unchanged)) = deploy_under(
        "a_persistent_server_error_refuses_the_deploy_after_azs_retries",
        "server-error",
    ) else {
        return;
    };
    assert_refused(
        &out,
        unchanged,
        "failed to read the container app",
        "ERROR: (InternalServerError) Encountered internal server error. Please try again.",
    );
    assert_eq!(hint_line(&stderr_of(&out)), Some(SERVER_HINT));
    // az retried the provider read (SDK policy) before it gave up on the app read.
    let provider_500s = a
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r["status"] == 500
                && r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/providers/Microsoft.App")
        })
        .count();
    assert!(provider_500s >= 2, "{provider_500s}");
    assert_eq!(a.writes(), Vec::<String>::new());
}

#[test]
fn an_expired_token_refuses_the_deploy() {
    let Some((a, out, unchanged)) =
        deploy_under("an_expired_token_refuses_the_deploy", "token-expired")
    else {
        return;
    };
    let err = stderr_of(&out);
    let az_line = err
        .lines()
        .find(|l| l.contains("(ExpiredAuthenticationToken)"))
        .unwrap_or_else(|| panic!("{err}"))
        .trim()
        .to_string();
    assert!(
        az_line
            .starts_with("ERROR: (ExpiredAuthenticationToken) The access token expiry UTC time '")
            && az_line.contains("' is earlier than current UTC time '"),
        "{az_line}"
    );
    assert_refused(
        &out,
        unchanged,
        "failed to read the container app",
        &az_line,
    );
    assert_eq!(
        hint_line(&stderr_of(&out)),
        Some("hint: the Azure sign-in has expired: run `az login` again")
    );
    assert_eq!(a.writes(), Vec::<String>::new());
}

/// `deploy` whose first az call (`containerapp show`) is held by the simulator, and the az
/// process found while it waits inside that call.
fn deploy_with_az_inside_a_slow_read(test: &str) -> Option<(Azure, std::process::Child, i32)> {
    let mut a = Azure::start(test, "healthy")?;
    a.build_and_push();
    a.sim.set_scenario(
        r#"{"name": "slow", "delay_ms": 120000, "match": "^GET .*/containerApps/simapp$"}"#,
    );
    let child = a
        .docker()
        .args(["azdeploy", "deploy"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(60, || !a.sim.delayed().is_empty()),
        "az never asked for the app"
    );
    let az = az_below(child.id(), "containerapp show").expect("az runs below docker");
    Some((a, child, az))
}

#[test]
fn an_az_killed_mid_call_fails_the_deploy_and_changes_nothing() {
    let Some((a, child, az)) = deploy_with_az_inside_a_slow_read(
        "an_az_killed_mid_call_fails_the_deploy_and_changes_nothing",
    ) else {
        return;
    };
    let before = a.app_summary();
    signal(az, libc::SIGKILL);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    let block = error_block(&err);
    assert_eq!(block[0], "error: failed to read the container app", "{err}");
    assert!(
        block.contains(&"  killed by signal 9 (SIGKILL)"),
        "{block:#?}"
    );
    assert_eq!(
        hint_line(&err),
        Some("hint: it was killed from outside (SIGKILL: out of memory, or stopped by hand): run it again; after a deploy or push, `docker azdeploy status` shows what Azure has")
    );
    assert_eq!(a.app_summary(), before);
    assert_eq!(a.writes(), Vec::<String>::new());
    assert!(a.history().is_empty());
}
