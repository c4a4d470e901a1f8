//! `deploy` against a fake az that answers like the real one (its JSON shapes, exit codes and
//! messages), with revision state sequences.

use crate::support::*;

const OLD: &str =
    "myacr.azurecr.io/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "myacr.azurecr.io/shop:abc@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn app_json(image: &str, revision: &str) -> String {
    format!(
        r#"{{"id": "/subscriptions/0000/resourceGroups/rg-shop/providers/Microsoft.App/containerApps/shop",
  "location": "West Europe", "name": "shop", "type": "Microsoft.App/containerApps",
  "properties": {{"provisioningState": "Succeeded", "runningStatus": "Running",
    "latestRevisionName": "{revision}", "latestReadyRevisionName": "shop--r1",
    "configuration": {{"activeRevisionsMode": "Single",
      "ingress": {{"external": true, "fqdn": "shop.nicehill-1234.westeurope.azurecontainerapps.io", "targetPort": 8501}},
      "registries": [{{"server": "myacr.azurecr.io", "identity": "/subscriptions/0000/resourcegroups/rg-shop/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shop-pull"}}]}},
    "template": {{"containers": [{{"image": "{image}", "name": "shop", "resources": {{"cpu": 0.5, "memory": "1Gi"}}}}],
      "scale": {{"minReplicas": 0, "maxReplicas": 1}}}}}}}}"#
    )
}

/// The fake `az containerapp update` answers with the app JSON and a new revision per image;
/// `az containerapp revision show` walks the sequence written for that revision.
fn azure(s: &Sandbox) {
    s.write(
        "work/azdeploy.json",
        r#"{"azure": {"registry": "myacr", "resource_group": "rg-shop", "app": "shop"}}"#,
    );
    s.answer("az-containerapp-show", "stdout", &app_json(OLD, "shop--r1"));
    s.write("fake/app-new.json", &app_json(NEW, "shop--r2"));
    s.write("fake/app-old.json", &app_json(OLD, "shop--r3"));
    s.answer(
        "az-containerapp-update",
        "sh",
        r#"for a in "$@"; do [ "$prev" = --image ] && img=$a; prev=$a; done
case "$img" in *2222*) cat "$FAKE_DIR/app-new.json" ;; *) cat "$FAKE_DIR/app-old.json" ;; esac
"#,
    );
    s.answer(
        "az-containerapp-revision",
        "sh",
        r#"for a in "$@"; do [ "$prev" = --revision ] && rev=$a; prev=$a; done
n=$(cat "$FAKE_DIR/count-$rev" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$FAKE_DIR/count-$rev"
line=$(sed -n "${n}p" "$FAKE_DIR/seq-$rev"); [ -n "$line" ] || line=$(tail -n 1 "$FAKE_DIR/seq-$rev")
set -- $line; p=$1; h=$2; r=$3; shift 3; err="$*"
printf '{"id": "/x/revisions/%s", "name": "%s", "properties": {"active": true, "createdTime": "2026-11-28T06:00:00+00:00", "fqdn": "shop--x.westeurope.azurecontainerapps.io", "healthState": "%s", "provisioningState": "%s", "replicas": 1, "runningState": "%s", "trafficWeight": 100, "provisioningError": %s}}\n' "$rev" "$rev" "$h" "$p" "$r" "${err:-null}"
"#,
    );
    s.answer(
        "az-containerapp-logs",
        "stdout",
        "2026-11-28T06:00:05Z shop--r2 ContainerCrashing: Container 'shop' was terminated with exit code '3'\n",
    );
    fake_registry_image(s, "linux/amd64", "amd64");
}

fn sequence(s: &Sandbox, revision: &str, states: &[&str]) {
    s.write(&format!("fake/seq-{revision}"), &(states.join("\n") + "\n"));
}

fn az_calls(s: &Sandbox) -> Vec<Vec<String>> {
    s.calls().into_iter().filter(|c| c[0] == "az").collect()
}

fn deploy(s: &Sandbox, args: &[&str]) -> std::process::Output {
    s.plugin()
        .env("AZDEPLOY_POLL_INTERVAL_MS", "20")
        .args(["--verbose", "deploy", "--image", NEW])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn provisioning_then_healthy_prints_the_url() {
    let s = Sandbox::new();
    azure(&s);
    sequence(
        &s,
        "shop--r2",
        &[
            "Provisioning None Processing",
            "Provisioned None Activating",
            "Provisioned Healthy Running",
        ],
    );
    let out = deploy(&s, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "https://shop.nicehill-1234.westeurope.azurecontainerapps.io\n"
    );
    let calls = az_calls(&s);
    let v = |a: &[&str]| -> Vec<String> {
        std::iter::once("az")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        calls[0],
        v(&[
            "containerapp",
            "show",
            "--name",
            "shop",
            "--resource-group",
            "rg-shop",
            "--output",
            "json"
        ])
    );
    assert_eq!(
        calls[1],
        v(&[
            "containerapp",
            "update",
            "--name",
            "shop",
            "--resource-group",
            "rg-shop",
            "--image",
            NEW,
            "--output",
            "json"
        ])
    );
    let rev = v(&[
        "containerapp",
        "revision",
        "show",
        "--name",
        "shop",
        "--resource-group",
        "rg-shop",
        "--revision",
        "shop--r2",
        "--output",
        "json",
    ]);
    assert_eq!(calls[2..], [rev.clone(), rev.clone(), rev]);
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert_eq!(history[0]["result"], "healthy");
    assert_eq!(history[0]["previous_image"], OLD);
    assert!(history[0]["seconds_to_healthy"].as_f64().is_some());
}

#[test]
fn activation_failed_shows_logs_and_rolls_back_when_asked() {
    let s = Sandbox::new();
    azure(&s);
    let failed = "Provisioned None ActivationFailed \"Deployment Progress Deadline Exceeded. 0/1 replicas ready.\"";
    sequence(&s, "shop--r2", &["Provisioning None Processing", failed]);
    sequence(&s, "shop--r3", &["Provisioned Healthy Running"]);
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("revision shop--r2 failed: provisioning Provisioned, health None, running ActivationFailed: Deployment Progress Deadline Exceeded"), "{err}");
    assert!(
        err.contains("--- system log of the app shop--r2") && err.contains("ContainerCrashing"),
        "{err}"
    );
    assert!(
        err.contains("--- console log of the revision shop--r2"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let updates = az_calls(&s)
        .into_iter()
        .filter(|c| c[2] == "update")
        .count();
    assert_eq!(updates, 1, "no rollback unless asked");
    let logs: Vec<Vec<String>> = az_calls(&s)
        .into_iter()
        .filter(|c| c[2] == "logs")
        .collect();
    // az refuses --revision and text output for system logs.
    assert_eq!(logs[0][8..], ["--type", "system", "--tail", "50"]);
    assert_eq!(
        logs[1][8..],
        [
            "--revision",
            "shop--r2",
            "--type",
            "console",
            "--tail",
            "50",
            "--format",
            "text"
        ]
    );

    let s = Sandbox::new();
    azure(&s);
    sequence(&s, "shop--r2", &[failed]);
    sequence(
        &s,
        "shop--r3",
        &[
            "Provisioning None Processing",
            "Provisioned Healthy Running",
        ],
    );
    let out = deploy(&s, &["--rollback-on-failure"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rolled-back deploy still failed"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("Rolling back shop to {OLD}")),
        "{err}"
    );
    assert!(
        err.contains("rolled back to") && err.contains("which is healthy again"),
        "{err}"
    );
    let updates: Vec<Vec<String>> = az_calls(&s)
        .into_iter()
        .filter(|c| c[2] == "update")
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1][8], OLD);
    assert!(az_calls(&s)
        .iter()
        .any(|c| c.contains(&"shop--r3".to_string())));
    // The image that goes back went through the gate first, as every image Azure gets does.
    assert!(
        s.calls()
            .iter()
            .any(|c| c[..3] == ["docker", "buildx", "imagetools"] && c.contains(&OLD.to_string())),
        "{:?}",
        s.calls()
    );
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert_eq!(history[0]["result"], "rolled back");
}

#[test]
fn a_rollback_to_an_image_that_fails_the_gate_does_not_happen() {
    let s = Sandbox::new();
    azure(&s);
    // What ran before came from elsewhere: the registry says it is arm64.
    s.write(
        "fake/old-arm64.json",
        &read(&s.path("fake/pushed.json"))
            .replace(r#""architecture": "amd64""#, r#""architecture": "arm64""#),
    );
    s.answer(
        "docker-buildx-imagetools",
        "sh",
        r#"case "$*" in
  *--raw*) cat "$FAKE_DIR/raw.json" ;;
  *1111*) cat "$FAKE_DIR/old-arm64.json" ;;
  *) cat "$FAKE_DIR/pushed.json" ;;
esac
"#,
    );
    sequence(&s, "shop--r2", &["Provisioned None ActivationFailed"]);
    let out = deploy(&s, &["--rollback-on-failure"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "not rolled back: the image that ran before, {OLD}, does not pass the architecture gate ("
        )),
        "{err}"
    );
    assert!(err.contains("linux/arm64"), "{err}");
    assert!(!err.contains("Rolling back"), "{err}");
    let updates = az_calls(&s)
        .into_iter()
        .filter(|c| c[2] == "update")
        .count();
    assert_eq!(updates, 1, "only the deploy's own update reached Azure");
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert_eq!(history[0]["result"], "failed");
}

#[test]
fn never_healthy_times_out() {
    let s = Sandbox::new();
    azure(&s);
    sequence(&s, "shop--r2", &["Provisioned None Activating"]);
    let out = deploy(&s, &["--wait-timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("revision shop--r2 was not healthy within 1 s (last: provisioning Provisioned, health None, running Activating)"), "{err}");
}

#[test]
fn bad_az_json_is_a_clear_error_never_a_panic() {
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-update",
        "sh",
        "echo '{\"properties\": {}}'\n",
    );
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("no properties.latestRevisionName in its output"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-revision",
        "sh",
        "echo 'Traceback (most recent call last):'\n",
    );
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("failed to read the new revision's state: could not read its output"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn refuses_a_reference_without_digest_unless_allowed() {
    let s = Sandbox::new();
    azure(&s);
    let out = s
        .plugin()
        .args(["deploy", "--image", "myacr.azurecr.io/shop:latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("has no digest"),
        "{}",
        stderr_of(&out)
    );
    assert!(az_calls(&s).is_empty());
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    sequence(&s, "shop--r3", &["Provisioned Healthy Running"]);
    let out = s
        .plugin()
        .env("AZDEPLOY_POLL_INTERVAL_MS", "20")
        .args([
            "deploy",
            "--image",
            "myacr.azurecr.io/shop:latest",
            "--allow-tag",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_wrong_platform_in_the_registry_is_refused_before_azure_is_touched() {
    let s = Sandbox::new();
    azure(&s);
    fake_registry_image(&s, "linux/arm64/v8", "arm64");
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("built for linux/arm64/v8, not linux/amd64"),
        "{}",
        stderr_of(&out)
    );
    assert!(az_calls(&s).is_empty(), "az was called: {:?}", az_calls(&s));

    // An index with an attestation child is refused too.
    let s = Sandbox::new();
    azure(&s);
    s.write(
        "fake/index.json",
        r#"{"name": "x", "manifest": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:aa", "size": 856, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bb", "size": 673, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:cc", "size": 566,
             "annotations": {"vnd.docker.reference.digest": "sha256:bb", "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}}]},
           "image": {"linux/amd64": {"architecture": "amd64", "os": "linux"}}}"#,
    );
    s.answer(
        "docker-buildx-imagetools",
        "sh",
        "case \"$*\" in *--raw*) echo '{\"config\": {\"digest\": \"sha256:dd\"}}' ;; *) cat \"$FAKE_DIR/index.json\" ;; esac\n",
    );
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("`unknown/unknown` attestation entry"),
        "{}",
        stderr_of(&out)
    );
    assert!(az_calls(&s).is_empty());
}

#[test]
fn dry_run_changes_nothing() {
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-update",
        "sh",
        "echo UPDATE RAN >&2; exit 99\n",
    );
    let out = s
        .plugin()
        .args(["deploy", "--dry-run", "--image", NEW])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "[dry-run] {} containerapp update --name shop",
            s.path("bin/az").display()
        )),
        "{err}"
    );
    assert!(!err.contains("UPDATE RAN"));
    assert!(az_calls(&s).iter().all(|c| c[2] != "update"));
}

#[test]
fn az_problems_are_clear_errors_with_the_fix() {
    // Not logged in: the real az's message and exit code 1.
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-show",
        "stderr",
        "ERROR: Please run 'az login' to setup account.\n",
    );
    s.answer("az-containerapp-show", "exit", "1");
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: failed to read the container app"),
        "{err}"
    );
    assert!(err.contains("hint: run `az login`"), "{err}");

    // A resource group that does not exist: ResourceGroupNotFound, exit code 3.
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-show",
        "stderr",
        "ERROR: (ResourceGroupNotFound) Resource group 'rg-shop' could not be found.\nCode: ResourceGroupNotFound\nMessage: Resource group 'rg-shop' could not be found.\n",
    );
    s.answer("az-containerapp-show", "exit", "3");
    // The real az's answers: the group is missing, the registry exists elsewhere.
    s.answer(
        "az-group",
        "stderr",
        "ERROR: (ResourceGroupNotFound) Resource group 'rg-shop' could not be found.\n",
    );
    s.answer("az-group", "exit", "3");
    s.answer(
        "az-acr-show",
        "stdout",
        r#"{"id": "/subscriptions/0000/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/myacr", "name": "myacr", "location": "westeurope", "loginServer": "myacr.azurecr.io"}"#,
    );
    // A missing app in a missing group is a plan, which needs a region …
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "error: resource group rg-shop does not exist, and no region is set to create it in"
        ),
        "{err}"
    );
    // … and, with one, a yes: stdin is not a terminal here and --yes was not given.
    let out = deploy(&s, &["--location", "westeurope"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for line in [
        "  + create resource group rg-shop in westeurope",
        "  + create Container Apps environment shop-env",
        "  + give shop-pull AcrPull on myacr, and wait until Azure lists it",
        "  + create container app shop: external ingress on 8501",
        "error: Create 5 resources? no answer: stdin is not a terminal, nothing was created",
        "hint: pass --yes",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert!(
        !az_calls(&s).iter().any(|c| c.iter().any(|a| a == "create")),
        "nothing created: {:?}",
        az_calls(&s)
    );

    // az missing.
    let s = Sandbox::new();
    azure(&s);
    std::fs::remove_file(s.path("bin/az")).unwrap();
    let out = s
        .plugin()
        .env("PATH", format!("{}:/usr/bin:/bin", s.path("bin").display()))
        .args(["deploy", "--image", NEW])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("az not found on PATH") && err.contains("hint: install the Azure CLI"),
        "{err}"
    );

    // No app configured.
    let s = Sandbox::new();
    let out = s
        .plugin()
        .args(["deploy", "--image", NEW])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("hint: pass --app NAME --resource-group RG"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_failed_poll_is_retried_and_errors_are_history_too() {
    let s = Sandbox::new();
    azure(&s);
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    // The first poll fails like a network blip, the second answers.
    s.write(
        "fake/real-revision.sh",
        &read(&s.path("fake/az-containerapp-revision.sh")),
    );
    s.answer(
        "az-containerapp-revision",
        "sh",
        r#"if [ ! -e "$FAKE_DIR/blipped" ]; then touch "$FAKE_DIR/blipped"; echo "ERROR: HTTPSConnectionPool(host='management.azure.com', port=443): Read timed out." >&2; exit 1; fi
exec sh "$FAKE_DIR/real-revision.sh" "$@"
"#,
    );
    let out = deploy(&s, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("warning: could not read shop--r2"),
        "{}",
        stderr_of(&out)
    );

    // Three failures in a row end the wait, and the history says so.
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-revision",
        "sh",
        "echo 'ERROR: Read timed out.' >&2; exit 1
",
    );
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert!(
        history[0]["result"]
            .as_str()
            .unwrap()
            .starts_with("error: failed to read the new revision's state"),
        "{history}"
    );
}

/// A local HTTP server answering `status` to every request, for `--smoke`.
fn serve(status: u16) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut c = c;
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn smoke_times_the_first_request_through_the_public_url() {
    let s = Sandbox::new();
    azure(&s);
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    let url = serve(200);
    let app = app_json(OLD, "shop--r1")
        .replace("shop.nicehill-1234.westeurope.azurecontainerapps.io", &url);
    s.answer("az-containerapp-show", "stdout", &app);
    s.write("work/azdeploy.json", r#"{"health_path": "/_stcore/health", "azure": {"registry": "myacr", "resource_group": "rg-shop", "app": "shop"}}"#);
    let out = deploy(&s, &["--smoke"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("{url}\n"));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("smoke: GET {url}/_stcore/health → 200 in ")),
        "{err}"
    );
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert_eq!(history[0]["smoke_status"], "200");
    assert!(history[0]["smoke_first_request_ms"].as_u64().is_some());

    let s = Sandbox::new();
    azure(&s);
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    let url = serve(503);
    s.answer(
        "az-containerapp-show",
        "stdout",
        &app_json(OLD, "shop--r1")
            .replace("shop.nicehill-1234.westeurope.azurecontainerapps.io", &url),
    );
    let out = deploy(&s, &["--smoke"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("the revision is healthy, but GET"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("answered 503"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_revision_with_the_old_image_is_not_taken_for_the_new_one() {
    // az returned before the new revision existed: the "latest" revision still runs the old
    // image. deploy must follow the app to the revision that runs the new image.
    let s = Sandbox::new();
    azure(&s);
    s.write("fake/app-before.json", &app_json(OLD, "shop--r1"));
    s.write("fake/app-after.json", &app_json(NEW, "shop--r2"));
    s.answer(
        "az-containerapp-show",
        "sh",
        r#"n=$(cat "$FAKE_DIR/show-count" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$FAKE_DIR/show-count"
if [ $n -le 1 ]; then cat "$FAKE_DIR/app-before.json"; else cat "$FAKE_DIR/app-after.json"; fi
"#,
    );
    s.answer(
        "az-containerapp-update",
        "sh",
        "cat \"$FAKE_DIR/app-before.json\"\n",
    );
    s.answer(
        "az-containerapp-revision",
        "sh",
        &format!(
            r#"case "$*" in
  *shop--r1*) img="{OLD}" ;;
  *) img="{NEW}" ;;
esac
printf '{{"name": "x", "properties": {{"healthState": "Healthy", "provisioningState": "Provisioned", "runningState": "Running", "template": {{"containers": [{{"image": "%s"}}]}}}}}}\n' "$img"
"#
        ),
    );
    let out = deploy(&s, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "shop--r1 runs {OLD}; following the newer revision shop--r2"
        )),
        "{err}"
    );
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    assert_eq!(history[0]["revision"], "shop--r2");
}

#[test]
fn a_program_for_another_cpu_under_an_amd64_label_is_refused() {
    let s = Sandbox::new();
    azure(&s);
    fake_registry_image(&s, "linux/amd64", "arm64");
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: the image is labelled linux/amd64, but the program it starts, /bin/app, is an AArch64 executable (arm64), not linux/amd64"),
        "{err}"
    );
    assert!(
        err.contains("hint: rebuild the image for linux/amd64"),
        "{err}"
    );
    assert!(az_calls(&s).is_empty(), "az was called: {:?}", az_calls(&s));
    // The container created to read the program is removed.
    let calls = s.calls();
    assert!(
        calls
            .iter()
            .any(|c| c[1..] == ["rm", "--force", "fakecontainer"]),
        "{calls:?}"
    );
}

#[test]
fn an_image_not_here_is_pulled_for_the_check_and_removed_again() {
    let s = Sandbox::new();
    azure(&s);
    fake_registry_image(&s, "linux/amd64", "amd64");
    // Not in the engine until pulled.
    s.answer(
        "docker-image-inspect",
        "sh",
        &format!(
            "[ -f \"$FAKE_DIR/pulled\" ] || {{ echo 'Error: No such image: x' >&2; exit 1; }}\n\
             echo '{{\"Id\": \"{FAKE_IMAGE_ID}\", \"Os\": \"linux\", \"Architecture\": \"amd64\", \"Config\": {{\"Entrypoint\": [\"/bin/app\"]}}}}'\n"
        ),
    );
    s.answer("docker-pull", "sh", "touch \"$FAKE_DIR/pulled\"\n");
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    let out = deploy(&s, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let calls = s.calls();
    let pull = calls.iter().position(|c| c[1] == "pull").expect("pulled");
    assert_eq!(
        calls[pull][1..],
        ["pull", "--platform", "linux/amd64", "myacr.azurecr.io/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222"]
    );
    let rm = calls
        .iter()
        .position(|c| c[1..3] == ["image", "rm"])
        .expect("the pulled image is removed");
    let update = calls
        .iter()
        .position(|c| c[0] == "az" && c[2] == "update")
        .unwrap();
    assert!(pull < rm && rm < update, "{calls:?}");
}

#[test]
fn an_unreadable_registry_stops_the_deploy() {
    let s = Sandbox::new();
    azure(&s);
    std::fs::remove_file(s.path("fake/docker-buildx-imagetools.sh")).unwrap();
    s.answer(
        "docker-buildx-imagetools",
        "stderr",
        "ERROR: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized\n",
    );
    s.answer("docker-buildx-imagetools", "exit", "1");
    s.answer("az-acr-show", "stdout", "myacr.azurecr.io\n");
    let out = deploy(&s, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: the architecture gate cannot read myacr.azurecr.io/shop:abc@sha256:"),
        "{err}"
    );
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(
        err.contains("hint: log in to myacr.azurecr.io here"),
        "{err}"
    );
    // The project's ACR got one login, as push makes, and one more read; then it stopped.
    let az: Vec<String> = az_calls(&s).iter().map(|c| c[1..4].join(" ")).collect();
    assert_eq!(az, ["acr show --name", "acr login --name"], "{az:?}");
    let reads = s
        .calls()
        .iter()
        .filter(|c| c[..3] == ["docker", "buildx", "imagetools"])
        .count();
    assert_eq!(reads, 2);
}

#[test]
fn a_registry_that_wants_a_login_gets_the_one_push_makes_and_the_deploy_goes_on() {
    let s = Sandbox::new();
    azure(&s);
    // As after `build --remote acr`: no docker login here until az makes one.
    let registry = read(&s.path("fake/docker-buildx-imagetools.sh"));
    s.answer(
        "docker-buildx-imagetools",
        "sh",
        &format!(
            r#"if [ ! -e "$FAKE_DIR/logged-in" ]; then
  echo "ERROR: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized" >&2; exit 1
fi
{registry}"#
        ),
    );
    s.answer("az-acr-show", "stdout", "myacr.azurecr.io\n");
    s.answer(
        "az-acr-login",
        "sh",
        "touch \"$FAKE_DIR/logged-in\"; echo Login Succeeded\n",
    );
    sequence(&s, "shop--r2", &["Provisioned Healthy Running"]);
    let out = deploy(&s, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "myacr.azurecr.io wants a login to be read: logging in through az, as push does"
        ),
        "{err}"
    );
    let calls = s.calls();
    let login = calls
        .iter()
        .position(|c| c[..3] == ["az", "acr", "login"])
        .unwrap();
    let update = calls
        .iter()
        .position(|c| c[0] == "az" && c[2] == "update")
        .unwrap();
    assert!(login < update, "{calls:?}");
}
