//! Against the real engine: skipped without one, required with AZDEPLOY_E2E=1.

use crate::support::*;

#[test]
fn context_flag_reaches_the_child_docker_call() {
    if !engine_available("context_flag_reaches_the_child_docker_call") {
        return;
    }
    let s = Sandbox::new();
    s.real_docker()
        .args(["context", "create", "azdtest2", "--docker", "host=unix:///var/run/docker.sock"])
        .assert()
        .success();
    let out = s
        .real_docker()
        .args(["--context", "azdtest2", "azdeploy", "--verbose", "version"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("docker --context azdtest2 version --format"), "{err}");
    let text = stdout_of(&out);
    assert!(text.contains("engine: ") && !text.contains("not reachable"), "{text}");
    // A context that does not exist fails in the child, and the plugin says how to fix it.
    let out = s
        .real_docker()
        .args(["-c", "nosuchctx", "azdeploy", "version"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("nosuchctx"), "{err}");
    assert!(err.contains("docker context ls"), "{err}");
}
