//! The **real** `az` (ci/az-install.sh) against the simulated Azure (tests/azure-sim): what az
//! really sends, prints and exits with. Skipped without az unless AZDEPLOY_E2E=1 or AZDEPLOY_AZURE_SIM=1.

use serde_json::Value;

use crate::azsim::{json_of, AzureSim, APP, REGISTRY, RG};
use crate::support::*;

fn az(sim: &AzureSim, args: &[&str]) -> std::process::Output {
    sim.az_command(args).output().expect("run az")
}

fn revision_states(sim: &AzureSim, revision: &str) -> (String, String, String) {
    let r = sim.az_json(&[
        "containerapp",
        "revision",
        "show",
        "--name",
        APP,
        "--resource-group",
        RG,
        "--revision",
        revision,
        "--output",
        "json",
    ]);
    let p = &r["properties"];
    let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
    (s("provisioningState"), s("healthState"), s("runningState"))
}

#[test]
fn update_makes_a_revision_that_becomes_healthy_over_polls() {
    if !AzureSim::available("update_makes_a_revision_that_becomes_healthy_over_polls") {
        return;
    }
    let sim = AzureSim::start("healthy");
    let before = sim.az_app(APP, RG);
    let old = before["properties"]["latestRevisionName"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        before["properties"]["latestReadyRevisionName"],
        old.as_str()
    );

    let image = format!("{}/shop@sha256:{}", sim.login_server(), "2".repeat(64));
    let out = az(
        &sim,
        &[
            "containerapp",
            "update",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--image",
            &image,
            "--output",
            "json",
        ],
    );
    let updated = json_of(&out);
    let p = &updated["properties"];
    let new = p["latestRevisionName"].as_str().unwrap().to_string();
    assert!(new.starts_with(&format!("{APP}--")) && new != old, "{new}");
    // "Succeeded" is not ready: the ready revision lags behind.
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["latestReadyRevisionName"], old.as_str());
    assert_eq!(p["template"]["containers"][0]["image"], image.as_str());
    // The spinner goes to stderr; stdout is only the JSON.
    assert!(stderr_of(&out).contains("Running"), "{:?}", stderr_of(&out));

    // What az sent: GET, PATCH with the template, polls of the Azure-AsyncOperation URL, GET.
    let reqs = sim.requests();
    let patch = reqs
        .iter()
        .find(|r| r["method"] == "PATCH")
        .expect("a PATCH");
    assert_eq!(
        patch["body"]["properties"]["template"]["containers"][0]["image"],
        image.as_str()
    );
    assert!(reqs.iter().any(|r| r["path"]
        .as_str()
        .unwrap()
        .contains("/containerappOperationStatuses/")));

    let mut seen = Vec::new();
    for _ in 0..6 {
        let st = revision_states(&sim, &new);
        seen.push(st.clone());
        if st == ("Provisioned".into(), "Healthy".into(), "Running".into()) {
            break;
        }
    }
    assert_eq!(seen.last().unwrap().1, "Healthy", "{seen:?}");
    assert!(
        seen.iter().any(|s| s.2 == "Activating"),
        "passes through Activating: {seen:?}"
    );
    let after = sim.az_app(APP, RG);
    assert_eq!(after["properties"]["latestReadyRevisionName"], new.as_str());
}

#[test]
fn activation_failure_shows_in_the_revision() {
    if !AzureSim::available("activation_failure_shows_in_the_revision") {
        return;
    }
    let sim = AzureSim::start("activation-failed");
    let updated = sim.az_json(&[
        "containerapp",
        "update",
        "--name",
        APP,
        "--resource-group",
        RG,
        "--image",
        "x.io/a:1",
        "--output",
        "json",
    ]);
    let new = updated["properties"]["latestRevisionName"]
        .as_str()
        .unwrap()
        .to_string();
    let mut last = Value::Null;
    for _ in 0..4 {
        last = sim.az_json(&[
            "containerapp",
            "revision",
            "show",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--revision",
            &new,
            "--output",
            "json",
        ]);
    }
    assert_eq!(last["properties"]["runningState"], "ActivationFailed");
    assert!(last["properties"]["provisioningError"]
        .as_str()
        .unwrap()
        .contains("Activation failed"));
    let app = sim.az_app(APP, RG);
    assert_ne!(app["properties"]["latestReadyRevisionName"], new.as_str());
}

#[test]
fn a_missing_app_is_an_arm_404_with_exit_code_1() {
    if !AzureSim::available("a_missing_app_is_an_arm_404_with_exit_code_1") {
        return;
    }
    let sim = AzureSim::start("app-missing");
    let out = az(
        &sim,
        &[
            "containerapp",
            "show",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "az 2.91 exits 1 here, not 3");
    assert_eq!(
        stderr_of(&out),
        "ERROR: (ResourceNotFound) The Resource 'Microsoft.App/containerApps/simapp' under resource group 'rg-sim' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix\n"
    );
    assert_eq!(stdout_of(&out), "");
    // Switched while running: the same simulator answers again.
    sim.set_scenario("healthy");
    assert!(az(
        &sim,
        &[
            "containerapp",
            "show",
            "--name",
            APP,
            "--resource-group",
            RG
        ]
    )
    .status
    .success());
}

#[test]
fn acr_login_expose_token_prints_the_token_json_and_warnings() {
    if !AzureSim::available("acr_login_expose_token_prints_the_token_json_and_warnings") {
        return;
    }
    let sim = AzureSim::start("healthy");
    let out = az(
        &sim,
        &[
            "acr",
            "login",
            "--name",
            REGISTRY,
            "--expose-token",
            "--output",
            "json",
        ],
    );
    let t = json_of(&out);
    assert_eq!(t["loginServer"], sim.login_server().as_str());
    assert_eq!(t["username"], "00000000-0000-0000-0000-000000000000");
    assert!(t["accessToken"].as_str().unwrap().starts_with("eyJ"));
    let stderr = stderr_of(&out);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("WARNING:"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", stderr_of(&out));
    let paths: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r["method"], r["path"].as_str().unwrap()))
        .collect();
    assert!(paths.iter().any(|p| p == "\"GET\" /v2/"), "{paths:?}");
    assert!(
        paths.iter().any(|p| p == "\"POST\" /oauth2/exchange"),
        "{paths:?}"
    );
}

#[test]
fn acr_login_runs_docker_login_and_a_real_push_goes_through_the_login_server() {
    let test = "acr_login_runs_docker_login_and_a_real_push_goes_through_the_login_server";
    if !AzureSim::available(test)
        || !needs(
            test,
            &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
        )
    {
        return;
    }
    let sim = AzureSim::start("healthy");
    let docker_config = tempfile::tempdir().unwrap();
    std::fs::create_dir(docker_config.path().join("cli-plugins")).unwrap();
    std::os::unix::fs::symlink(
        buildx_path().unwrap(),
        docker_config.path().join("cli-plugins/docker-buildx"),
    )
    .unwrap();
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .envs(sim.env())
            .env("DOCKER_CONFIG", docker_config.path())
            .envs(engine_host().map(|h| ("DOCKER_HOST", h)))
            .output()
            .unwrap()
    };

    let login = sim
        .az_command(["acr", "login", "--name", REGISTRY])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", stderr_of(&login));
    assert!(
        stdout_of(&login).contains("Login Succeeded"),
        "{}",
        stdout_of(&login)
    );
    let cfg = read(&docker_config.path().join("config.json"));
    assert!(cfg.contains(&sim.login_server()), "{cfg}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(crate::engine::busybox("amd64"), dir.path().join("busybox")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\",\"true\"]\n",
    )
    .unwrap();
    let repo = crate::engine::unique("azsim-push");
    let tag = format!("{}/{repo}:v1", sim.login_server());
    let _images = crate::engine::Images(vec![tag.clone()]);
    let built = docker(&[
        "buildx",
        "build",
        "--platform",
        "linux/amd64",
        "--provenance=false",
        "-t",
        &tag,
        "--load",
        dir.path().to_str().unwrap(),
    ]);
    assert!(built.status.success(), "{}", stderr_of(&built));
    let pushed = docker(&["push", &tag]);
    assert!(pushed.status.success(), "{}", stderr_of(&pushed));

    // The client side (buildx) reads it back through the login server, trusting our CA.
    let raw = docker(&["buildx", "imagetools", "inspect", "--raw", &tag]);
    assert!(raw.status.success(), "{}", stderr_of(&raw));
    let manifest: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    // The blobs and the manifest went through the simulator to the real registry.
    let reqs = sim.requests();
    let v2 = |m: &str| {
        reqs.iter()
            .filter(|r| {
                r["method"] == m
                    && r["path"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("/v2/{repo}/"))
            })
            .count()
    };
    // Each of the two blobs (config, layer) uploaded, or mounted from a repository an earlier
    // push of the same busybox layer to this host made; then the manifest.
    let mounted = reqs
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["query"]["mount"].is_string()
                && r["path"] == format!("/v2/{repo}/blobs/uploads/").as_str()
        })
        .count();
    let uploaded = reqs
        .iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("/v2/{repo}/blobs/uploads/"))
        })
        .count();
    let manifest = reqs
        .iter()
        .any(|r| r["method"] == "PUT" && r["path"] == format!("/v2/{repo}/manifests/v1").as_str());
    assert!(
        uploaded + mounted >= 2 && manifest && v2("HEAD") >= 1,
        "{reqs:?}"
    );

    // And az reads it back through the ACR metadata API.
    let shown = sim.az_acr_image(REGISTRY, &format!("{repo}:v1"));
    assert!(shown["digest"].as_str().unwrap().starts_with("sha256:"));
    let listed = sim.az_json(&[
        "acr",
        "manifest",
        "list-metadata",
        "--registry",
        REGISTRY,
        "--name",
        &repo,
        "--output",
        "json",
    ]);
    assert_eq!(listed[0]["architecture"], "amd64");
    assert_eq!(listed[0]["digest"], shown["digest"]);
}

#[test]
fn a_throttled_call_is_retried_by_az_and_a_persistent_500_fails() {
    if !AzureSim::available("a_throttled_call_is_retried_by_az_and_a_persistent_500_fails") {
        return;
    }
    let sim = AzureSim::start(r#"{"name": "throttled", "count": 1, "retry_after": 0}"#);
    let ok = az(
        &sim,
        &[
            "containerapp",
            "show",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--output",
            "json",
        ],
    );
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    assert!(sim.requests().iter().any(|r| r["status"] == 429));
    sim.set_scenario(r#"{"name": "server-error"}"#);
    let bad = az(
        &sim,
        &[
            "containerapp",
            "show",
            "--name",
            APP,
            "--resource-group",
            RG,
            "--output",
            "json",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr_of(&bad).contains("(InternalServerError)"),
        "{}",
        stderr_of(&bad)
    );
}

#[test]
fn acr_build_uploads_the_context_builds_it_and_streams_the_run_log() {
    let test = "acr_build_uploads_the_context_builds_it_and_streams_the_run_log";
    if !AzureSim::available(test)
        || !needs(
            test,
            &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
        )
    {
        return;
    }
    let sim = AzureSim::start("healthy");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(crate::engine::busybox("amd64"), dir.path().join("busybox")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"echo\", \"built in ACR\"]\n",
    )
    .unwrap();
    let repo = crate::engine::unique("azsim-acr-build");
    let build = |tag: &str| {
        sim.az_command([
            "acr",
            "build",
            "--registry",
            REGISTRY,
            "--image",
            &format!("{repo}:{tag}"),
            "--platform",
            "linux/amd64",
            "--file",
            "Dockerfile",
            ".",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run az")
    };
    let out = build("v1");
    assert!(out.status.success(), "{}", stderr_of(&out));
    // az's own lines go to stderr; the run's log (CRLF lines, as ACR writes it) to stdout.
    let warnings: Vec<String> = stderr_of(&out).lines().map(str::to_string).collect();
    assert_eq!(
        warnings[0],
        "WARNING: Packing source code into tar to upload..."
    );
    assert!(warnings[1]
        .starts_with("WARNING: Uploading archived source code from '/tmp/build_archive_"));
    assert!(
        warnings[2].starts_with("WARNING: Sending context (")
            && warnings[2].ends_with(&format!(") to registry: {REGISTRY}..."))
    );
    assert_eq!(
        warnings[3..],
        [
            "WARNING: Queued a build with ID: ca1",
            "WARNING: Waiting for an agent..."
        ]
    );
    let log = stdout_of(&out);
    assert!(log.contains("built in ACR"), "{log}");
    assert!(log.contains("Run ID: ca1 was successful after "), "{log}");
    // The requests: the upload URL, the blob, the run, the log's SAS URL, then the log blob.
    let seen: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect();
    let at = |suffix: &str| {
        seen.iter()
            .position(|p| p.ends_with(suffix) || p.contains(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in {seen:#?}"))
    };
    assert!(at("/listBuildSourceUploadUrl") < at("PUT /azsimstore/registrycontainer/source/"));
    assert!(at("PUT /azsimstore/") < at("/scheduleRun"));
    assert!(at("/scheduleRun") < at("/runs/ca1/listLogSasUrl"));
    assert!(
        at("/runs/ca1/listLogSasUrl")
            < at("GET /azsimstore/registrycontainer/logs/ca1/rawtext.log")
    );
    // ACR's records answer from the real registry.
    let run = sim.az_json(&[
        "acr",
        "task",
        "show-run",
        "--registry",
        REGISTRY,
        "--run-id",
        "ca1",
        "--output",
        "json",
    ]);
    assert_eq!(run["status"], "Succeeded");
    let shown = sim.az_acr_image(REGISTRY, &format!("{repo}:v1"));
    assert_eq!(run["outputImages"][0]["digest"], shown["digest"]);
    assert_eq!(run["outputImages"][0]["repository"], repo.as_str());

    // A failing step: the run fails, az says so and exits 1.
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"false\"]\n",
    )
    .unwrap();
    let out = build("v2");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).ends_with("ERROR: Run failed\n"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains("Run ID: ca2 failed after ")
            && stdout_of(&out).contains(". Error: failed during run, err: exit status 1"),
        "{}",
        stdout_of(&out)
    );
    let run = sim.az_json(&[
        "acr",
        "task",
        "show-run",
        "--registry",
        REGISTRY,
        "--run-id",
        "ca2",
        "--output",
        "json",
    ]);
    assert_eq!(run["status"], "Failed");
    assert_eq!(
        run["runErrorMessage"],
        "failed during run, err: exit status 1"
    );
}
