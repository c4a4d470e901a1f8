//! `status`, `logs` and `rollback` against a fake az answering with the real JSON shapes.

use std::process::Stdio;

use crate::support::*;

const ID: &str = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-shop/providers/Microsoft.App/containerApps/shop";
const D1: &str = "myacr.azurecr.io/shop:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "myacr.azurecr.io/shop:v2@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn app_json(image: &str, revision: &str) -> String {
    format!(
        r#"{{"id": "{ID}", "name": "shop", "type": "Microsoft.App/containerApps",
  "properties": {{"provisioningState": "Succeeded", "latestRevisionName": "{revision}", "latestReadyRevisionName": "{revision}",
    "configuration": {{"activeRevisionsMode": "Single", "ingress": {{"fqdn": "shop.nicehill-1234.westeurope.azurecontainerapps.io", "targetPort": 8501}}}},
    "template": {{"containers": [{{"image": "{image}", "name": "shop"}}]}}}}}}"#
    )
}

fn revision_json(name: &str, image: &str, active: bool, traffic: u32) -> String {
    format!(
        r#"{{"id": "{ID}/revisions/{name}", "name": "{name}", "type": "Microsoft.App/containerapps/revisions",
  "properties": {{"active": {active}, "createdTime": "2026-11-28T05:00:00+00:00", "fqdn": "{name}.westeurope.azurecontainerapps.io",
    "healthState": "Healthy", "provisioningState": "Provisioned", "replicas": 1, "runningState": "Running", "trafficWeight": {traffic},
    "template": {{"containers": [{{"image": "{image}", "name": "shop"}}]}}}}}}"#
    )
}

fn azure(s: &Sandbox) {
    s.write(
        "work/azdeploy.json",
        r#"{"azure": {"registry": "myacr", "resource_group": "rg-shop", "app": "shop"}}"#,
    );
    s.answer("az-containerapp-show", "stdout", &app_json(D2, "shop--r2"));
    fake_registry_image(s, "linux/amd64", "amd64");
    s.write(
        "fake/revision-list.json",
        &format!(
            "[{}, {}]",
            revision_json("shop--r1", D1, false, 0),
            revision_json("shop--r2", D2, true, 100)
        ),
    );
    s.write(
        "fake/revision-r1.json",
        &revision_json("shop--r1", D1, false, 0),
    );
    s.write(
        "fake/revision-r3.json",
        &revision_json("shop--r3", D1, true, 100),
    );
    s.answer(
        "az-containerapp-revision",
        "sh",
        r#"case "$3" in
  list) cat "$FAKE_DIR/revision-list.json" ;;
  show) case "$*" in *shop--r1*) cat "$FAKE_DIR/revision-r1.json" ;; *) cat "$FAKE_DIR/revision-r3.json" ;; esac ;;
esac
"#,
    );
    s.write("fake/app-r3.json", &app_json(D1, "shop--r3"));
    s.answer(
        "az-containerapp-update",
        "sh",
        "cat \"$FAKE_DIR/app-r3.json\"\n",
    );
    s.answer(
        "az-monitor-metrics",
        "stdout",
        include_str!("../fixtures/az/monitor-metrics-list.json"),
    );
    s.write(
        "work/.azdeploy/last-push.json",
        &format!(r#"{{"pinned": "{D2}", "image_id": "sha256:abc", "digest": "sha256:2222"}}"#),
    );
    s.write(
        "work/.azdeploy/last-test.json",
        r#"{"healthy": true, "image_id": "sha256:abc", "image": "shop:v2", "memory_bytes": 104857600,
            "cpu_percent": 0.5, "cold_start_ms": 1234, "emulator": "QEMU"}"#,
    );
    s.write(
        "work/.azdeploy/history.json",
        &format!(
            r#"[{{"app": "shop", "image": "{D1}", "previous_image": null, "result": "healthy", "seconds_to_healthy": 31.0}},
                {{"app": "other", "image": "x@sha256:9", "previous_image": null, "result": "healthy", "seconds_to_healthy": 99.0}},
                {{"app": "shop", "image": "{D2}", "previous_image": "{D1}", "result": "healthy", "seconds_to_healthy": 23.4}}]"#
        ),
    );
}

fn az_calls(s: &Sandbox) -> Vec<Vec<String>> {
    s.calls().into_iter().filter(|c| c[0] == "az").collect()
}

#[test]
fn status_computes_azure_figures_and_compares_them_with_local() {
    let s = Sandbox::new();
    azure(&s);
    let out = s
        .plugin()
        .args(["status", "--json", "--since", "2h"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "azure",
            "deploy_to_healthy_seconds",
            "first_request_ms",
            "image",
            "latest_revision",
            "local",
            "notes",
            "readings",
            "revisions",
            "url",
            "window_seconds"
        ]
    );
    let az = &v["azure"];
    assert_eq!(az["cpu_cores_avg"], 0.02);
    assert_eq!(az["cpu_cores_max"], 0.09);
    assert_eq!(az["memory_mib_avg"], 150.0);
    assert_eq!(az["memory_mib_max"], 200.0);
    assert_eq!(az["restarts"], 2.0);
    assert_eq!(az["requests"], 42.0);
    assert!(az["replicas_max"].is_null());
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "no data for replicas in the window"),
        "{v}"
    );
    assert_eq!(v["local"]["memory_mib"], 100.0);
    assert_eq!(v["image"]["deployed_is_last_pushed"], true);
    assert_eq!(v["image"]["last_pushed_passed_test_local"], true);
    assert_eq!(v["deploy_to_healthy_seconds"], 23.4);
    assert_eq!(v["window_seconds"], 7200);
    assert!(
        v["readings"].as_array().unwrap().iter().any(|r| r
            .as_str()
            .unwrap()
            .starts_with("memory in Azure is 1.5× local")),
        "{v}"
    );
    assert_eq!(v["revisions"].as_array().unwrap().len(), 2);

    let calls = az_calls(&s);
    let metrics = calls.iter().find(|c| c[1] == "monitor").unwrap();
    assert_eq!(
        metrics[1..17],
        [
            "monitor",
            "metrics",
            "list",
            "--resource",
            ID,
            "--metrics",
            "UsageNanoCores",
            "WorkingSetBytes",
            "RestartCount",
            "Requests",
            "Replicas",
            "--interval",
            "PT1M",
            "--aggregation",
            "Average",
            "Maximum"
        ]
    );
    assert_eq!(metrics[17..19], ["Total", "--start-time"]);
    let start = &metrics[19];
    assert!(
        start.len() == 20 && start.ends_with('Z') && start.as_bytes()[10] == b'T',
        "{start}"
    );
    assert_eq!(metrics[20], "--end-time");
    assert_eq!(metrics[22..], ["--output", "json"]);
    // The window is --since (2h), start to end: az reads one hour unless told the end.
    let time = |t: &str| humantime::parse_rfc3339(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(
        time(&metrics[21]).duration_since(time(start)).unwrap(),
        std::time::Duration::from_secs(7200)
    );
    assert!(calls.contains(
        &[
            "az",
            "containerapp",
            "revision",
            "list",
            "--name",
            "shop",
            "--resource-group",
            "rg-shop",
            "--all",
            "--output",
            "json"
        ]
        .map(String::from)
        .to_vec()
    ));
}

#[test]
fn the_human_status_fits_100_columns_and_says_plainly() {
    let s = Sandbox::new();
    azure(&s);
    // Someone deployed another image by hand.
    s.write(
        "work/.azdeploy/last-push.json",
        &format!(r#"{{"pinned": "{D1}", "image_id": "sha256:abc"}}"#),
    );
    let out = s
        .plugin()
        .env("NO_COLOR", "1")
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(!text.contains('\x1b'), "colour despite NO_COLOR: {text}");
    assert!(
        text.contains("! DIFFERENT from the last push from here"),
        "{text}"
    );
    assert!(
        text.contains("url       https://shop.nicehill-1234.westeurope.azurecontainerapps.io"),
        "{text}"
    );
    assert!(text.contains("150.0 avg / 200.0 max"), "{text}");
    assert!(
        text.contains("23 s update→healthy revision") && text.contains("1234 ms cold start"),
        "{text}"
    );
    assert!(text.contains("LOCAL (emulated by QEMU)"), "{text}");
}

#[test]
fn missing_metrics_are_a_note_not_a_failure() {
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-monitor-metrics",
        "stdout",
        r#"{"cost": 0, "interval": "PT1M", "value": []}"#,
    );
    let out = s.plugin().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["azure"]["memory_mib_avg"].is_null());
    assert_eq!(v["notes"].as_array().unwrap().len(), 5, "{v}");

    std::fs::remove_file(s.path("fake/az-monitor-metrics.stdout")).unwrap();
    s.answer("az-monitor-metrics", "sh", "echo \"ERROR: (AuthorizationFailed) The client does not have authorization to perform action 'microsoft.insights/metrics/read'\" >&2; exit 1\n");
    let out = s.plugin().arg("status").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("note: no metrics: ERROR: (AuthorizationFailed)"),
        "{text}"
    );
    assert!(text.contains("no data"), "{text}");
}

#[test]
fn logs_passes_the_right_flags_and_stops_cleanly_on_ctrl_c() {
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-logs",
        "stdout",
        "2026-11-28T06:00:00Z shop--r2 hello\n",
    );
    let out = s
        .plugin()
        .args(["logs", "--tail", "20", "--system"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "2026-11-28T06:00:00Z shop--r2 hello\n");
    assert_eq!(
        az_calls(&s)[0],
        [
            "az",
            "containerapp",
            "logs",
            "show",
            "--name",
            "shop",
            "--resource-group",
            "rg-shop",
            "--type",
            "system",
            "--tail",
            "20"
        ]
    );
    let out = s.plugin().args(["logs", "--tail", "301"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));

    // --follow streams until Ctrl-C; then az is gone and we exit 130.
    s.answer("az-containerapp-logs", "sleep", "30");
    let child = s
        .plugin_std()
        .env("FAKE_PIDS", s.path("pids"))
        .args(["logs", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(10, || read(&s.path("pids")).lines().count() >= 1),
        "az never started"
    );
    let az: i32 = read(&s.path("pids"))
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert!(wait_for(5, || !alive(az)), "az still running");
    assert!(az_calls(&s)
        .last()
        .unwrap()
        .contains(&"--follow".to_string()));
}

#[test]
fn rollback_goes_back_to_the_previous_healthy_image_and_waits() {
    let s = Sandbox::new();
    azure(&s);
    let out = s
        .plugin()
        .env("AZDEPLOY_POLL_INTERVAL_MS", "20")
        .arg("rollback")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "https://shop.nicehill-1234.westeurope.azurecontainerapps.io\n"
    );
    let calls = az_calls(&s);
    let update = calls.iter().find(|c| c[2] == "update").unwrap();
    assert_eq!(update[7..9], ["--image".to_string(), D1.to_string()]);
    assert!(
        calls.iter().any(|c| c.contains(&"shop--r3".to_string())),
        "waited on the new revision: {calls:?}"
    );
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["result"].as_str()),
        (Some("rollback"), Some("healthy"))
    );

    // --to a revision: its image.
    let s = Sandbox::new();
    azure(&s);
    let out = s
        .plugin()
        .env("AZDEPLOY_POLL_INTERVAL_MS", "20")
        .args(["rollback", "--to", "shop--r1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let update = az_calls(&s).into_iter().find(|c| c[2] == "update").unwrap();
    assert_eq!(update[8], D1);

    // Nothing known: a clear error.
    let s = Sandbox::new();
    azure(&s);
    std::fs::remove_file(s.path("work/.azdeploy/history.json")).unwrap();
    let out = s.plugin().arg("rollback").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no earlier image known"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_rollback_that_errors_is_history_too() {
    let s = Sandbox::new();
    azure(&s);
    s.answer(
        "az-containerapp-update",
        "sh",
        "echo 'ERROR: (ContainerAppOperationError) Failed to provision revision.' >&2; exit 1\n",
    );
    let out = s.plugin().arg("rollback").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let history: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/history.json"))).unwrap();
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "rollback");
    assert!(
        last["result"]
            .as_str()
            .unwrap()
            .starts_with("error: failed to update the container app's image"),
        "{last}"
    );
}
