//! `AzureSim`: the simulated Azure of `tests/azure-sim/` (ARM, Entra ID and an ACR login server
//! in front of the real local registry) for tests that run the **real** `az` offline.
//!
//! ```ignore
//! let sim = AzureSim::start("healthy");
//! let out = sim.az_command(["containerapp", "show", "--name", "simapp", "--resource-group", "rg-sim"]).output().unwrap();
//! sim.set_scenario(r#"{"name": "throttled", "count": 1}"#);
//! assert!(sim.requests().iter().any(|r| r["method"] == "PATCH"));
//! ```
//!
//! Each simulator has its own state dir (a temp dir: CA, request log, a private
//! `AZURE_CONFIG_DIR` already logged in) and is killed, its state removed, on drop. The real az
//! comes from `AZDEPLOY_CI_AZ` or `$AZDEPLOY_CI_DIR/az.env` (written by `ci/az-install.sh`).
//! Uses std, serde_json and tempfile only.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{stderr_of, stdout_of};

/// The seeded world's names (see tests/azure-sim/start.py `DEFAULT_WORLD`).
pub const RG: &str = "rg-sim";
pub const APP: &str = "simapp";
pub const REGISTRY: &str = "simacr";
pub const ENVIRONMENT: &str = "env-sim";

pub struct AzureSim {
    state: Option<tempfile::TempDir>,
    info: Value,
    az: PathBuf,
}

/// `tests/azure-sim/` in this checkout.
pub fn sim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/azure-sim")
}

fn ci_dir() -> PathBuf {
    PathBuf::from(std::env::var("AZDEPLOY_CI_DIR").unwrap_or_else(|_| "/opt/azdeploy-ci".into()))
}

/// The real az: `AZDEPLOY_CI_AZ`, else the line `ci/az-install.sh` wrote in `az.env`.
pub fn find_az() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AZDEPLOY_CI_AZ") {
        if !p.is_empty() {
            return Some(PathBuf::from(p)).filter(|p| p.exists());
        }
    }
    let env = std::fs::read_to_string(ci_dir().join("az.env")).ok()?;
    env.lines()
        .find_map(|l| l.strip_prefix("export AZDEPLOY_CI_AZ="))
        .map(|p| PathBuf::from(p.trim()))
        .filter(|p| p.exists())
}

impl AzureSim {
    /// Whether the real-az tests can run. With `AZDEPLOY_AZURE_SIM=1` or `AZDEPLOY_E2E=1` (CI) a
    /// missing az is a failure; otherwise the test says it skipped (run `ci/az-install.sh`) and
    /// returns.
    pub fn available(test: &str) -> bool {
        if find_az().is_some() {
            return true;
        }
        for var in ["AZDEPLOY_AZURE_SIM", "AZDEPLOY_E2E"] {
            if std::env::var(var).as_deref() == Ok("1") {
                panic!("{var}=1 but no real az: run `ci/az-install.sh` first");
            }
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: no real az (run ci/az-install.sh; AZDEPLOY_E2E=1 or AZDEPLOY_AZURE_SIM=1 makes this a failure)"
        );
        false
    }

    /// Starts a simulator with `scenario` (a name such as `healthy`, `activation-failed`,
    /// `app-missing`, or JSON such as `{"name": "throttled", "count": 2}`) and the default world.
    pub fn start(scenario: &str) -> AzureSim {
        Self::start_with(scenario, None)
    }

    /// As `start`, with the seeded world overridden by JSON (`{"app": "shop"}`, `{"empty": true}`).
    pub fn start_with(scenario: &str, world: Option<&str>) -> AzureSim {
        let az = find_az().expect("no real az: run ci/az-install.sh (or set AZDEPLOY_CI_AZ)");
        let state = tempfile::Builder::new()
            .prefix("azure-sim-")
            .tempdir()
            .expect("temp dir");
        let mut cmd = Command::new("python3");
        cmd.arg(sim_dir().join("start.py"))
            .arg("--state")
            .arg(state.path())
            .args(["--scenario", scenario]);
        if let Some(w) = world {
            cmd.args(["--world", w]);
        }
        let out = cmd.output().expect("run tests/azure-sim/start.py");
        assert!(
            out.status.success(),
            "azure-sim did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info: Value = serde_json::from_slice(&out.stdout).expect("start.py prints JSON");
        AzureSim {
            state: Some(state),
            info,
            az,
        }
    }

    /// The variables a command needs to use this simulator (`AZURE_CONFIG_DIR`,
    /// `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, telemetry and extension settings, …).
    pub fn env(&self) -> Vec<(String, String)> {
        self.info["env"]
            .as_object()
            .expect("env in start.py output")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    }

    /// The real az.
    pub fn az(&self) -> PathBuf {
        self.az.clone()
    }

    /// `az ARGS` with this simulator's environment.
    pub fn az_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.az);
        c.args(args).envs(self.env());
        c
    }

    /// `az ARGS` against this simulator, which must succeed: what it printed, as JSON.
    pub fn az_json(&self, args: &[&str]) -> Value {
        json_of(&self.az_command(args).output().expect("run az"))
    }

    /// `az containerapp show` of `app` in `rg` against this simulator, as JSON.
    pub fn az_app(&self, app: &str, rg: &str) -> Value {
        self.az_json(&[
            "containerapp",
            "show",
            "--name",
            app,
            "--resource-group",
            rg,
            "--output",
            "json",
        ])
    }

    /// `az acr repository show` of `image` (`repo:tag`) in the registry `acr`, as JSON.
    pub fn az_acr_image(&self, acr: &str, image: &str) -> Value {
        self.az_json(&[
            "acr",
            "repository",
            "show",
            "--name",
            acr,
            "--image",
            image,
            "--output",
            "json",
        ])
    }

    /// Every request the simulator answered, oldest first: `{t, method, path, query, body,
    /// status, tags}`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The requests a scenario's `delay_ms` is holding or held, logged when the wait starts (so
    /// a test can tell a client is inside that call): `{t, method, path, query}`.
    pub fn delayed(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("delayed.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Switches the scenario (same forms as `start`); takes effect on the next request.
    pub fn set_scenario(&self, scenario: &str) {
        let out = Command::new("python3")
            .arg(sim_dir().join("start.py"))
            .arg("scenario")
            .arg("--state")
            .arg(self.state_dir())
            .arg(scenario)
            .output()
            .expect("run start.py scenario");
        assert!(
            out.status.success(),
            "set_scenario({scenario}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn state_dir(&self) -> &Path {
        self.state.as_ref().expect("state dir").path()
    }

    pub fn port(&self) -> u16 {
        self.info["port"].as_u64().expect("port") as u16
    }

    /// The registry's login server: `127.0.0.1:PORT` (docker treats it as insecure-capable).
    pub fn login_server(&self) -> String {
        self.info["login_server"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn subscription_id(&self) -> String {
        self.info["subscription_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The seeded world (names of the resource group, app, registry, …).
    pub fn world(&self) -> &Value {
        &self.info["world"]
    }

    /// The simulator's own view (apps, revisions and their states, groups, …) from
    /// `GET /_sim/state`, read over plain HTTP (the port speaks both).
    pub fn state(&self) -> Value {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port())).expect("connect");
        write!(
            s,
            "GET /_sim/state HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// The app as the simulator holds it (`fqdn`, `image`, `latestRevisionName`,
    /// `latestReadyRevisionName`, `revisions`), read without az and without moving any revision
    /// on.
    pub fn app(&self, name: &str) -> Value {
        self.state()["apps"][name].clone()
    }

    /// What start.py printed (pid, port, base_url, config_dir, timings_ms, …).
    pub fn info(&self) -> &Value {
        &self.info
    }
}

impl Drop for AzureSim {
    fn drop(&mut self) {
        // The server leads its own process group (start.py starts it in a new session).
        if let Some(pid) = self.info["pid"].as_i64() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        if let Some(state) = self.state.take() {
            let _ = state.close();
        }
    }
}

/// The JSON an az call that must have succeeded printed.
pub fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "az failed: {}", stderr_of(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("az printed no JSON ({e}): {}", stdout_of(out)))
}
