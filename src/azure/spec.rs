//! What a new container app should look like, worked out from what was measured here: its CPU
//! and memory from the local test's peak (with headroom, on a pair Azure allows), its probes
//! from the measured start, and the whole app as the spec `az containerapp create --yaml`
//! applies (written as JSON, which YAML parsers read: no YAML emitter of our own). Pure.
//!
//! May import: nothing of the crate.

use serde_json::{json, Value};

/// The memory a new app gets above the local peak: one session measured here, more users
/// later, Python's allocator rarely giving memory back.
pub const HEADROOM: f64 = 1.5;
/// Below this share of the local peak a limit is a failure, not a warning: the first session
/// alone would come close to the limit.
pub const FLOOR: f64 = 1.25;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// CPU and memory on the Consumption plan: 0.25 to 4 cores in quarters, with twice as many
/// GiB of memory as cores (the pairs Azure accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size {
    /// Quarter cores, 1–16.
    quarters: u8,
}

impl Size {
    pub const LARGEST: Size = Size { quarters: 16 };
    /// What a new app gets without a measurement (and at least, with one: a Python web app
    /// below half a core starts slowly).
    pub const DEFAULT: Size = Size { quarters: 2 };

    pub fn cpu(self) -> f64 {
        f64::from(self.quarters) * 0.25
    }

    pub fn memory_bytes(self) -> u64 {
        (f64::from(self.quarters) * 0.5 * GIB) as u64
    }

    /// As az takes and prints it: `1Gi`, `0.5Gi`, `1.5Gi`.
    pub fn memory(self) -> String {
        format!("{}Gi", f64::from(self.quarters) * 0.5)
    }

    /// `0.5 CPU / 1Gi`.
    pub fn label(self) -> String {
        format!("{} CPU / {}", self.cpu(), self.memory())
    }

    fn all() -> impl Iterator<Item = Size> {
        (1..=16).map(|quarters| Size { quarters })
    }
}

/// The size for a new app and why: the smallest allowed pair whose memory holds the local peak
/// with [`HEADROOM`], never below [`Size::DEFAULT`].
pub fn size_for(peak_memory: Option<u64>) -> (Size, String) {
    let Some(peak) = peak_memory else {
        return (
            Size::DEFAULT,
            "no local measurement (run `docker azdeploy test-local` to size from one)".into(),
        );
    };
    let want = peak as f64 * HEADROOM;
    let size = Size::all()
        .find(|s| s.memory_bytes() as f64 >= want)
        .unwrap_or(Size::LARGEST)
        .max(Size::DEFAULT);
    let why = format!(
        "local peak {} + {:.0}%",
        mib(peak),
        (HEADROOM - 1.0) * 100.0
    );
    (size, why)
}

/// The smallest size with at least `cores` CPU.
pub fn size_with_cpu(cores: f64) -> Size {
    Size::all()
        .find(|s| s.cpu() >= cores)
        .unwrap_or(Size::LARGEST)
}

/// `183 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / MIB)
}

/// Memory as Azure writes it (`1Gi`, `0.5Gi`, `512Mi`, `1G`) in bytes.
pub fn parse_memory(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().ok()?;
    let factor = match unit.trim() {
        "Gi" => GIB,
        "Mi" => MIB,
        "G" => 1e9,
        "M" => 1e6,
        "" => 1.0,
        _ => return None,
    };
    Some((n * factor) as u64)
}

/// Azure's limits on a probe's timing.
const MAX_INITIAL_DELAY: u64 = 60;
const MAX_FAILURES: u64 = 10;

/// The shortest startup window: a replica on a fraction of a core, pulling its image on a cold
/// node, starts slower than the same image here.
const MIN_STARTUP_WINDOW: u64 = 60;

/// The probes for `path` on `port`: a startup probe whose window is three times the measured
/// start and at least a minute (Azure kills a replica whose startup probe runs out; its default
/// TCP probe knows nothing of Python imports), then readiness and liveness on the same endpoint
/// as the local test used.
pub fn probes(path: &str, port: u16, measured_start_ms: Option<u64>) -> Value {
    let start_s = measured_start_ms.map_or(30, |ms| ms.div_ceil(1000)).max(1);
    let window = (start_s * 3).max(MIN_STARTUP_WINDOW);
    let initial = (start_s / 2).min(MAX_INITIAL_DELAY);
    let period = (window.saturating_sub(initial))
        .div_ceil(MAX_FAILURES)
        .clamp(1, 240);
    let get = json!({"path": path, "port": port});
    json!([
        {"type": "Startup", "httpGet": get, "initialDelaySeconds": initial,
         "periodSeconds": period, "failureThreshold": MAX_FAILURES, "timeoutSeconds": 5},
        {"type": "Readiness", "httpGet": get, "periodSeconds": 5, "failureThreshold": 3,
         "timeoutSeconds": 5},
        {"type": "Liveness", "httpGet": get, "periodSeconds": 10, "failureThreshold": 3,
         "timeoutSeconds": 5},
    ])
}

/// A new app, as `provision` creates it.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub name: String,
    pub location: String,
    pub environment_id: String,
    /// The user-assigned identity that pulls from the registry.
    pub identity_id: String,
    pub registry_server: String,
    /// Pinned: `registry/repo@sha256:…`.
    pub image: String,
    pub port: u16,
    pub health_path: String,
    /// Streamlit keeps a session's state in one replica: its websocket and uploads must reach
    /// the same one.
    pub sticky: bool,
    pub size: Size,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub measured_start_ms: Option<u64>,
}

/// The spec for `az containerapp create --yaml`: single revision mode, external ingress on the
/// app's port with `auto` transport (HTTP/1.1 upgrades, so websockets work), sticky sessions
/// when asked, the registry pulled with the identity, probes, size and scale.
pub fn app_spec(s: &AppSpec) -> Value {
    let mut ingress = json!({
        "external": true,
        "targetPort": s.port,
        "transport": "auto",
        "allowInsecure": false,
    });
    if s.sticky {
        ingress["stickySessions"] = json!({"affinity": "sticky"});
    }
    json!({
        "location": s.location,
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {s.identity_id.as_str(): {}},
        },
        "properties": {
            "environmentId": s.environment_id,
            "configuration": {
                "activeRevisionsMode": "Single",
                "ingress": ingress,
                "registries": [{"server": s.registry_server, "identity": s.identity_id}],
            },
            "template": {
                "containers": [{
                    "name": s.name,
                    "image": s.image,
                    "resources": {"cpu": s.size.cpu(), "memory": s.size.memory()},
                    "probes": probes(&s.health_path, s.port, s.measured_start_ms),
                }],
                "scale": {"minReplicas": s.min_replicas, "maxReplicas": s.max_replicas},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_azures_pairs() {
        let labels: Vec<String> = Size::all().map(Size::label).collect();
        assert_eq!(labels[0], "0.25 CPU / 0.5Gi");
        assert_eq!(labels[1], "0.5 CPU / 1Gi");
        assert_eq!(labels[2], "0.75 CPU / 1.5Gi");
        assert_eq!(labels[15], "4 CPU / 8Gi");
        for s in Size::all() {
            assert_eq!(parse_memory(&s.memory()), Some(s.memory_bytes()));
        }
    }

    #[test]
    fn size_follows_the_peak_with_headroom() {
        let mib = |n: u64| n * 1024 * 1024;
        assert_eq!(size_for(None).0, Size::DEFAULT);
        // 180 MiB × 1.5 fits in 0.5Gi, but half a core is the floor.
        assert_eq!(size_for(Some(mib(180))).0.label(), "0.5 CPU / 1Gi");
        assert_eq!(size_for(Some(mib(180))).1, "local peak 180 MiB + 50%");
        // 700 MiB × 1.5 = 1050 MiB: above 1Gi.
        assert_eq!(size_for(Some(mib(700))).0.label(), "0.75 CPU / 1.5Gi");
        assert_eq!(size_for(Some(mib(682))).0.label(), "0.5 CPU / 1Gi");
        assert_eq!(size_for(Some(mib(20_000))).0, Size::LARGEST);
        assert_eq!(size_with_cpu(1.1).label(), "1.25 CPU / 2.5Gi");
        assert_eq!(size_with_cpu(9.0), Size::LARGEST);
    }

    #[test]
    fn memory_as_azure_writes_it() {
        assert_eq!(parse_memory("1Gi"), Some(1 << 30));
        assert_eq!(parse_memory("0.5Gi"), Some(1 << 29));
        assert_eq!(parse_memory("512Mi"), Some(512 << 20));
        assert_eq!(parse_memory("2G"), Some(2_000_000_000));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_memory("1Ti"), None);
    }

    #[test]
    fn probes_cover_three_times_the_measured_start_within_azures_limits() {
        let p = probes("/_stcore/health", 8501, Some(4_200));
        let startup = &p[0];
        assert_eq!(startup["type"], "Startup");
        assert_eq!(startup["httpGet"]["path"], "/_stcore/health");
        let initial = startup["initialDelaySeconds"].as_u64().unwrap();
        let window = initial + startup["periodSeconds"].as_u64().unwrap() * MAX_FAILURES;
        assert!(
            window >= 60,
            "5 s measured → the one-minute floor: {window}"
        );
        // A slow (emulated) start: the initial delay stays within Azure's 60 s.
        let slow = probes("/", 80, Some(300_000));
        assert_eq!(slow[0]["initialDelaySeconds"], 60);
        assert!(slow[0]["periodSeconds"].as_u64().unwrap() * 10 + 60 >= 900);
        assert_eq!(
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| x["type"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["Startup", "Readiness", "Liveness"]
        );
    }

    #[test]
    fn the_spec_has_what_the_app_needs() {
        let s = AppSpec {
            name: "web".into(),
            location: "eastus".into(),
            environment_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/web-env".into(),
            identity_id: "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web-pull".into(),
            registry_server: "myacr.azurecr.io".into(),
            image: "myacr.azurecr.io/web@sha256:abc".into(),
            port: 8501,
            health_path: "/_stcore/health".into(),
            sticky: true,
            size: Size::DEFAULT,
            min_replicas: 1,
            max_replicas: 3,
            measured_start_ms: Some(3000),
        };
        let v = app_spec(&s);
        let ingress = &v["properties"]["configuration"]["ingress"];
        assert_eq!(ingress["targetPort"], 8501);
        assert_eq!(ingress["external"], true);
        assert_eq!(ingress["transport"], "auto");
        assert_eq!(ingress["stickySessions"]["affinity"], "sticky");
        let reg = &v["properties"]["configuration"]["registries"][0];
        assert_eq!(reg["identity"], s.identity_id.as_str());
        assert!(v["identity"]["userAssignedIdentities"][s.identity_id.as_str()].is_object());
        let c = &v["properties"]["template"]["containers"][0];
        assert_eq!(c["image"], "myacr.azurecr.io/web@sha256:abc");
        assert_eq!(
            (
                c["resources"]["cpu"].as_f64(),
                c["resources"]["memory"].as_str()
            ),
            (Some(0.5), Some("1Gi"))
        );
        assert_eq!(v["properties"]["template"]["scale"]["maxReplicas"], 3);
        let plain = app_spec(&AppSpec { sticky: false, ..s });
        assert!(plain["properties"]["configuration"]["ingress"]
            .get("stickySessions")
            .is_none());
    }
}
