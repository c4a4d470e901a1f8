//! Azure from zero, end to end: the real Streamlit sample built and tested here, then `push`
//! and `deploy` with the real az against an empty simulated subscription (tests/azure-sim):
//! the plan, `--dry-run`, the creates in order, a healthy app at its URL, a second deploy that
//! changes nothing, and an app whose Azure settings would break it stopped before `update`
//! (then fixed with `--fix`).

use std::process::Output;

use serde_json::Value;

use crate::azsim::AzureSim;
use crate::engine::{unique, Images};
use crate::engine_python::{app, build, check_with, init};
use crate::support::*;

const APP: &str = "zero-app";
const RG: &str = "rg-zero";
const ACR: &str = "zeroacr1";

/// `docker azdeploy ARGS` with the real az against `sim`.
fn azdeploy(s: &Sandbox, sim: &AzureSim, args: &[&str]) -> Output {
    s.real_docker()
        .envs(sim.env())
        .env("AZDEPLOY_AZ", sim.az())
        .env("AZDEPLOY_PYTHON", python())
        .env("AZDEPLOY_POLL_INTERVAL_MS", "50")
        .arg("azdeploy")
        .args(args)
        .output()
        .unwrap()
}

/// The changes (PUT, PATCH, DELETE) the simulator received after the first `from` requests.
fn changes_since(sim: &AzureSim, from: usize) -> Vec<String> {
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| matches!(r["method"].as_str(), Some("PUT" | "PATCH" | "DELETE")))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

fn az_ok(sim: &AzureSim, args: &[&str]) {
    let out = sim.az_command(args).output().unwrap();
    assert!(out.status.success(), "az {args:?}: {}", stderr_of(&out));
}

#[test]
fn from_an_empty_subscription_to_a_healthy_app_then_nothing_to_change() {
    let test = "from_an_empty_subscription_to_a_healthy_app_then_nothing_to_change";
    if !AzureSim::available(test)
        || !needs(test, &[Need::Engine, Need::PythonImages, Need::Registry])
    {
        return;
    }
    let sim = AzureSim::start_with("healthy", Some(r#"{"empty": true}"#));
    let s = app("streamlit");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    s.write(
        "work/azdeploy.json",
        &format!(
            r#"{{"port": 8501, "azure": {{"registry": "{ACR}", "resource_group": "{RG}", "app": "{APP}", "location": "eastus"}}}}"#
        ),
    );
    let name = unique("azdeploy-e2e-zero");
    let tag = format!("{name}:t1");
    // push leaves the registry's tag here too, as `docker push` of a re-tag does.
    let _images = Images(vec![
        tag.clone(),
        format!("{name}:latest"),
        format!("{}/{tag}", sim.login_server()),
    ]);
    let out = build(&s, "linux/amd64", &tag, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // A hungrier app than the sample's default: its peak decides the size Azure gets.
    let tested = check_with(
        &s,
        &tag,
        "linux/amd64",
        &["--env", "AZDEPLOY_SAMPLE_ALLOCATE_MB=600"],
    )
    .unwrap();
    let peak = tested["peak_memory_bytes"]
        .as_u64()
        .max(tested["memory_bytes"].as_u64())
        .unwrap();
    assert!(peak > 600 << 20, "{tested}");

    // push: the registry and its group do not exist; created after the plan (--yes).
    let out = azdeploy(&s, &sim, &["push", "--yes", &tag]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for line in [
        "Missing in Azure; to be created in eastus:",
        &format!("  + create resource group {RG} in eastus"),
        &format!("  + create container registry {ACR} (Basic, no admin user) in {RG}"),
        "Create 2 resources? yes (--yes)",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    let pinned = stdout_of(&out).trim().to_string();
    assert!(
        pinned.starts_with(&format!("{}/", sim.login_server())),
        "{pinned}"
    );

    // --dry-run deploy: the whole plan with az's command lines and the spec; nothing changes.
    let before = sim.requests().len();
    let out = azdeploy(&s, &sim, &["--dry-run", "deploy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for line in [
        &format!("[dry-run] would create Container Apps environment {APP}-env"),
        &format!("containerapp env create --name {APP}-env --resource-group {RG} --location eastus --logs-destination none --output json"),
        &format!("[dry-run] would create identity {APP}-pull for pulling from {ACR}"),
        &format!("[dry-run] would give {APP}-pull AcrPull on {ACR}, and wait until Azure lists it"),
        "role assignment create --assignee-object-id '<principal of zero-app-pull>'",
        &format!("[dry-run] would create container app {APP}: external ingress on 8501 (auto transport, sticky sessions), 0.75 CPU / 1.5Gi, 1-3 replicas, probes GET /_stcore/health, image {pinned}"),
        &format!("containerapp create --name {APP} --resource-group {RG} --yaml '<spec file>' --output json"),
        "\"path\": \"/_stcore/health\"",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert_eq!(
        changes_since(&sim, before),
        Vec::<String>::new(),
        "--dry-run changed something"
    );

    // deploy --yes: environment, identity, AcrPull (waited for), the app; a healthy revision.
    let out = azdeploy(&s, &sim, &["deploy", "--yes"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let url = stdout_of(&out).trim().to_string();
    assert!(
        url.starts_with(&format!("https://{APP}.")) && url.ends_with(".azurecontainerapps.io"),
        "{url}"
    );
    let err = stderr_of(&out);
    assert!(err.contains("Create 4 resources? yes (--yes)"), "{err}");
    assert!(err.contains("is healthy after"), "{err}");
    let made = sim.az_app(APP, RG);
    let p = &made["properties"];
    let ingress = &p["configuration"]["ingress"];
    assert_eq!(
        (
            ingress["targetPort"].as_u64(),
            ingress["external"].as_bool()
        ),
        (Some(8501), Some(true))
    );
    assert_eq!(ingress["stickySessions"]["affinity"], "sticky");
    let container = &p["template"]["containers"][0];
    assert_eq!(container["image"], pinned.as_str());
    assert_eq!(
        (
            container["resources"]["cpu"].as_f64(),
            container["resources"]["memory"].as_str()
        ),
        (Some(0.75), Some("1.5Gi"))
    );
    assert_eq!(container["probes"][0]["httpGet"]["path"], "/_stcore/health");
    assert_eq!(p["template"]["scale"]["minReplicas"], 1);
    let identity = p["configuration"]["registries"][0]["identity"]
        .as_str()
        .unwrap();
    assert!(identity.ends_with(&format!("/{APP}-pull")), "{identity}");
    let roles = sim
        .az_command([
            "role",
            "assignment",
            "list",
            "--all",
            "--fill-principal-name",
            "false",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        stdout_of(&roles).contains("AcrPull"),
        "{}",
        stdout_of(&roles)
    );
    let history: Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["result"].as_str()),
        (Some("create"), Some("healthy"))
    );

    // A second deploy of the same image changes nothing.
    let before = sim.requests().len();
    let out = azdeploy(&s, &sim, &["deploy", "--yes"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), url);
    assert!(
        stderr_of(&out).contains("nothing to change"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(changes_since(&sim, before), Vec::<String>::new());

    // Settings that would break it: a wrong target port, no affinity with 3 replicas, memory
    // below the local peak. Stopped before update, with the findings and their hints.
    az_ok(
        &sim,
        &[
            "containerapp",
            "ingress",
            "update",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--target-port",
            "8080",
        ],
    );
    az_ok(
        &sim,
        &[
            "containerapp",
            "ingress",
            "sticky-sessions",
            "set",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--affinity",
            "none",
        ],
    );
    az_ok(
        &sim,
        &[
            "containerapp",
            "update",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--cpu",
            "0.25",
            "--memory",
            "0.5Gi",
        ],
    );
    let before = sim.requests().len();
    let out = azdeploy(&s, &sim, &["deploy"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for line in [
        &format!("error: stopped before the update: 3 of {APP}'s Azure settings would break it"),
        "target port: ingress sends traffic to 8080, but the app listens on 8501; it answered on 8501 in test-local",
        "sticky sessions: off with up to 3 replicas",
        "memory: limit 512 MiB, local peak",
        "hint: run `docker azdeploy deploy --fix`",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert_eq!(
        changes_since(&sim, before),
        Vec::<String>::new(),
        "stopped before any change"
    );

    // --fix: each change said, then the deploy goes on.
    let out = azdeploy(&s, &sim, &["deploy", "--fix"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for line in [
        "fixed: ingress target port set to 8501",
        "fixed: session affinity set to sticky",
        "fixed: size set to 0.75 CPU / 1.5Gi",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    let fixed = sim.az_app(APP, RG);
    let p = &fixed["properties"];
    assert_eq!(p["configuration"]["ingress"]["targetPort"], 8501);
    assert_eq!(
        p["configuration"]["ingress"]["stickySessions"]["affinity"],
        "sticky"
    );
    assert_eq!(
        p["template"]["containers"][0]["resources"]["memory"],
        "1.5Gi"
    );
    assert_eq!(p["template"]["containers"][0]["image"], pinned.as_str());
}

/// The seeded app with every setting the checks look at made wrong, then `doctor --fix`: each
/// fix's az command line goes through the real az (its parser included) to the simulated Azure,
/// and the app passes afterwards.
#[test]
fn doctor_fix_puts_every_setting_right_through_the_real_az() {
    use crate::azsim::{APP as SIMAPP, REGISTRY, RG as SIMRG};
    if !AzureSim::available("doctor_fix_puts_every_setting_right_through_the_real_az") {
        return;
    }
    let sim = AzureSim::start("healthy");
    let server = sim.login_server();
    let s = Sandbox::new();
    s.write(
        "work/azdeploy.json",
        &format!(
            r#"{{"azure": {{"registry": "{REGISTRY}", "resource_group": "{SIMRG}", "app": "{SIMAPP}", "min_replicas": 1, "max_replicas": 2}}}}"#
        ),
    );
    s.write("work/requirements.txt", "streamlit==1.40.0\n");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let pinned = format!("{server}/shop:1@{digest}");
    s.write(
        "work/.azdeploy/last-push.json",
        &serde_json::json!({
            "image": "shop:1", "image_id": "sha256:1d", "ref": format!("{server}/shop:1"),
            "refs": [format!("{server}/shop:1")], "digest": digest, "pinned": pinned,
            "registry": server, "platforms": ["linux/amd64"], "pushed_at": 1
        })
        .to_string(),
    );
    s.write(
        "work/.azdeploy/last-test.json",
        &serde_json::json!({
            "healthy": true, "image": "shop:1", "image_id": "sha256:1d", "platform": "linux/amd64",
            "emulated": false, "url": "http://127.0.0.1:8501", "health_url": "http://127.0.0.1:8501/_stcore/health",
            "port": 8501, "cold_start_ms": 2100, "health_ms": 600, "first_render_ms": 2100,
            "peak_memory_bytes": 900u64 << 20, "peak_cpu_percent": 60.0, "mode": "check", "tested_at": 1
        })
        .to_string(),
    );
    let doctor = |args: &[&str]| {
        s.real_docker()
            .envs(sim.env())
            .env("AZDEPLOY_AZ", sim.az())
            .arg("azdeploy")
            .arg("doctor")
            .args(args)
            .output()
            .unwrap()
    };
    let app = |args: &[&str]| {
        let mut all = vec!["containerapp"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--name", SIMAPP, "--resource-group", SIMRG]);
        az_ok(&sim, &all);
    };
    let status_of = |out: &Output, check: &str| -> String {
        let v: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr_of(out)));
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {check} in {v}"))
    };

    // Round 1: no ingress, no way to pull, too little memory, scale to zero.
    app(&["ingress", "disable"]);
    app(&["registry", "remove", "--server", &server]);
    app(&[
        "update",
        "--cpu",
        "0.25",
        "--memory",
        "0.5Gi",
        "--min-replicas",
        "0",
        "--max-replicas",
        "3",
    ]);
    let out = doctor(&["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    for (check, status) in [
        ("ingress", "fail"),
        ("registry access", "fail"),
        ("memory", "fail"),
        ("replicas", "warn"),
    ] {
        assert_eq!(status_of(&out, check), status, "{check}");
    }
    let out = doctor(&["--fix", "--json"]);
    let err = stderr_of(&out);
    for line in [
        "fixed: external ingress on port 8501",
        &format!("fixed: {server} pulled with the app's pull identity"),
        "fixed: size set to 0.75 CPU / 1.5Gi",
        "fixed: replicas set to 1-2",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    for check in [
        "ingress",
        "target port",
        "registry access",
        "memory",
        "replicas",
    ] {
        assert_eq!(status_of(&out, check), "ok", "{check} after --fix\n{err}");
    }

    // Round 2: internal ingress on the wrong port with http2, no affinity with 2 replicas.
    app(&[
        "ingress",
        "update",
        "--type",
        "internal",
        "--target-port",
        "80",
        "--transport",
        "http2",
    ]);
    app(&["ingress", "sticky-sessions", "set", "--affinity", "none"]);
    let out = doctor(&["--json"]);
    for (check, status) in [
        ("ingress", "warn"),
        ("target port", "fail"),
        ("transport", "fail"),
        ("sticky sessions", "fail"),
    ] {
        assert_eq!(status_of(&out, check), status, "{check}");
    }
    let out = doctor(&["--fix", "--json"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for line in [
        "fixed: ingress made external",
        "fixed: ingress target port set to 8501",
        "fixed: ingress transport set to auto",
        "fixed: session affinity set to sticky",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    for check in ["ingress", "target port", "transport", "sticky sessions"] {
        assert_eq!(status_of(&out, check), "ok", "{check} after --fix\n{err}");
    }
}
