//! Pure builders for `az` command lines, serde types for what az prints, and the revision
//! state rules.
//!
//! Options are always spelled in full (az accepts any unambiguous prefix, so a short spelling
//! that works today may break). Every call asks for JSON (`--output json`) or one value
//! (`--query … --output tsv`).

use serde::Deserialize;

use crate::process::runner::Cmd;

/// The user ACR access tokens log in as (`az acr login --expose-token`).
pub const TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// `az acr show --name N --query loginServer --output tsv`.
pub fn acr_login_server(base: Cmd, registry: &str) -> Cmd {
    base.args([
        "acr",
        "show",
        "--name",
        registry,
        "--query",
        "loginServer",
        "--output",
        "tsv",
    ])
    .query()
}

/// `az acr login --name N`: az runs `docker login` itself.
pub fn acr_login(base: Cmd, registry: &str) -> Cmd {
    base.args(["acr", "login", "--name", registry])
}

/// `az acr login --name N --expose-token --output json`: prints a token instead of logging in.
pub fn acr_token(base: Cmd, registry: &str) -> Cmd {
    base.args([
        "acr",
        "login",
        "--name",
        registry,
        "--expose-token",
        "--output",
        "json",
    ])
    .query()
}

/// What `az acr login --expose-token` prints (unknown fields ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub login_server: String,
    pub access_token: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Token {{ login_server: {:?}, access_token: *** }}",
            self.login_server
        )
    }
}

/// `az acr build`: the build runs natively on amd64 in ACR Tasks and is pushed there. `--file`
/// is relative to the context, which az uploads honouring its `.dockerignore`.
pub fn acr_build(
    base: Cmd,
    registry: &str,
    images: &[String],
    platform: &str,
    file: &str,
    build_args: &[(String, String)],
    context: &str,
) -> Cmd {
    let mut c = base.args(["acr", "build", "--registry", registry]);
    for i in images {
        c = c.args(["--image", i]);
    }
    c = c.args(["--platform", platform, "--file", file]);
    for (k, v) in build_args {
        c = c.args(["--build-arg", &format!("{k}={v}")]);
    }
    c.arg(context)
}

/// `az acr repository show --name N --image REPO:TAG --output json`: the tag's digest.
pub fn acr_repository_show(base: Cmd, registry: &str, image: &str) -> Cmd {
    base.args([
        "acr",
        "repository",
        "show",
        "--name",
        registry,
        "--image",
        image,
        "--output",
        "json",
    ])
    .query()
}

/// `az acr manifest list-metadata --registry N --name REPO --output json`: each manifest's
/// digest, os and architecture.
pub fn acr_manifests(base: Cmd, registry: &str, repo: &str) -> Cmd {
    base.args([
        "acr",
        "manifest",
        "list-metadata",
        "--registry",
        registry,
        "--name",
        repo,
        "--output",
        "json",
    ])
    .query()
}

/// One entry of `az acr manifest list-metadata` (the fields we use).
#[derive(Debug, Deserialize, Default)]
pub struct ManifestMetadata {
    pub digest: Option<String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
}

/// `az acr repository show --image` output (the field we use).
#[derive(Debug, Deserialize, Default)]
pub struct RepositoryImage {
    pub digest: Option<String>,
}

/// `az containerapp show --name A --resource-group RG --output json`.
pub fn app_show(base: Cmd, app: &str, rg: &str) -> Cmd {
    base.args([
        "containerapp",
        "show",
        "--name",
        app,
        "--resource-group",
        rg,
        "--output",
        "json",
    ])
    .query()
}

/// `az containerapp update --name A --resource-group RG --image I --output json`.
pub fn app_update(base: Cmd, app: &str, rg: &str, image: &str) -> Cmd {
    base.args([
        "containerapp",
        "update",
        "--name",
        app,
        "--resource-group",
        rg,
        "--image",
        image,
    ])
    .args(["--output", "json"])
}

/// `az containerapp revision show --name A --resource-group RG --revision R --output json`.
pub fn revision_show(base: Cmd, app: &str, rg: &str, revision: &str) -> Cmd {
    base.args([
        "containerapp",
        "revision",
        "show",
        "--name",
        app,
        "--resource-group",
        rg,
    ])
    .args(["--revision", revision, "--output", "json"])
    .query()
}

/// `az containerapp revision list --name A --resource-group RG --all --output json` (without
/// `--all` az lists only active revisions).
pub fn revision_list(base: Cmd, app: &str, rg: &str) -> Cmd {
    base.args([
        "containerapp",
        "revision",
        "list",
        "--name",
        app,
        "--resource-group",
        rg,
    ])
    .args(["--all", "--output", "json"])
    .query()
}

/// `az containerapp logs show`: console logs as text (of one revision, if named); system logs
/// for the whole app (az refuses `--revision` and any format but JSON for those).
pub fn logs(
    base: Cmd,
    app: &str,
    rg: &str,
    system: bool,
    revision: Option<&str>,
    tail: u32,
    follow: bool,
) -> Cmd {
    let mut c = base.args([
        "containerapp",
        "logs",
        "show",
        "--name",
        app,
        "--resource-group",
        rg,
    ]);
    if system {
        c = c.args(["--type", "system", "--tail", &tail.to_string()]);
    } else {
        if let Some(r) = revision {
            c = c.args(["--revision", r]);
        }
        c = c.args([
            "--type",
            "console",
            "--tail",
            &tail.to_string(),
            "--format",
            "text",
        ]);
    }
    if follow {
        c = c.arg("--follow");
    }
    c.query()
}

/// The metrics `status` reads.
pub const METRICS: &[&str] = &[
    "UsageNanoCores",
    "WorkingSetBytes",
    "RestartCount",
    "Requests",
    "Replicas",
];

/// `az monitor metrics list --resource ID --metrics … --interval PT1M --aggregation Average
/// Maximum Total --start-time T --end-time T --output json` (the option is `--metrics`;
/// `--metric` only works as a prefix; without `--end-time` az reads one hour from the start).
pub fn metrics_list(base: Cmd, resource_id: &str, start_time: &str, end_time: &str) -> Cmd {
    base.args([
        "monitor",
        "metrics",
        "list",
        "--resource",
        resource_id,
        "--metrics",
    ])
    .args(METRICS.iter().copied())
    .args([
        "--interval",
        "PT1M",
        "--aggregation",
        "Average",
        "Maximum",
        "Total",
    ])
    .args([
        "--start-time",
        start_time,
        "--end-time",
        end_time,
        "--output",
        "json",
    ])
    .query()
}

/// What `az monitor metrics list --output json` prints (the parts we use).
#[derive(Debug, Deserialize, Default)]
pub struct MetricsResponse {
    #[serde(default)]
    pub value: Vec<Metric>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Metric {
    pub name: Option<MetricName>,
    #[serde(default)]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Debug, Deserialize, Default)]
pub struct MetricName {
    pub value: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct TimeSeries {
    #[serde(default)]
    pub data: Vec<DataPoint>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub struct DataPoint {
    pub average: Option<f64>,
    pub maximum: Option<f64>,
    pub total: Option<f64>,
}

/// One metric over the window: the mean of the per-minute averages, the largest maximum and
/// the sum of the totals; `None` where no data point carried that aggregation.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Summary {
    pub average: Option<f64>,
    pub maximum: Option<f64>,
    pub total: Option<f64>,
}

impl MetricsResponse {
    /// The summary of metric `name`; `None` when az returned no data points for it.
    pub fn summary(&self, name: &str) -> Option<Summary> {
        let metric = self
            .value
            .iter()
            .find(|m| m.name.as_ref().and_then(|n| n.value.as_deref()) == Some(name))?;
        let points: Vec<DataPoint> = metric
            .timeseries
            .iter()
            .flat_map(|t| t.data.iter().copied())
            .collect();
        let averages: Vec<f64> = points.iter().filter_map(|p| p.average).collect();
        let maxima: Vec<f64> = points.iter().filter_map(|p| p.maximum).collect();
        let totals: Vec<f64> = points.iter().filter_map(|p| p.total).collect();
        let s = Summary {
            average: (!averages.is_empty())
                .then(|| averages.iter().sum::<f64>() / averages.len() as f64),
            maximum: maxima.iter().copied().reduce(f64::max),
            total: (!totals.is_empty()).then(|| totals.iter().sum()),
        };
        (s != Summary::default()).then_some(s)
    }
}

/// A container app, as `az containerapp show/update --output json` prints it (the parts we use).
#[derive(Debug, Deserialize, Default)]
pub struct App {
    pub id: Option<String>,
    pub properties: Option<AppProperties>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppProperties {
    pub latest_revision_name: Option<String>,
    pub configuration: Option<Configuration>,
    pub template: Option<Template>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Configuration {
    pub ingress: Option<Ingress>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Ingress {
    pub fqdn: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Template {
    #[serde(default)]
    pub containers: Vec<Container>,
}

impl Template {
    /// The first container's image (the app's).
    pub fn image(&self) -> Option<&str> {
        self.containers.first()?.image.as_deref()
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct Container {
    pub image: Option<String>,
}

impl App {
    pub fn latest_revision(&self) -> Option<&str> {
        self.properties.as_ref()?.latest_revision_name.as_deref()
    }

    /// The first container's image.
    pub fn image(&self) -> Option<&str> {
        self.properties.as_ref()?.template.as_ref()?.image()
    }

    pub fn fqdn(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .configuration
            .as_ref()?
            .ingress
            .as_ref()?
            .fqdn
            .as_deref()
    }
}

/// A revision, as `az containerapp revision show` prints it (and each entry of `revision list`).
#[derive(Debug, Deserialize, Default)]
pub struct Revision {
    pub name: Option<String>,
    pub properties: Option<RevisionProperties>,
}

impl Revision {
    /// The image the revision runs (its first container's).
    pub fn image(&self) -> Option<&str> {
        self.properties.as_ref()?.template.as_ref()?.image()
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RevisionProperties {
    pub active: Option<bool>,
    pub replicas: Option<i64>,
    pub traffic_weight: Option<i64>,
    pub created_time: Option<String>,
    pub provisioning_state: Option<String>,
    pub health_state: Option<String>,
    pub running_state: Option<String>,
    pub provisioning_error: Option<String>,
    pub template: Option<Template>,
}

/// Where a revision stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Failed(String),
    /// Not there yet; the text says what it is doing.
    Pending(String),
}

/// The rule (azure-and-peers.md §5): healthy = Provisioned + Healthy + Running/RunningAtMaxScale;
/// failed = provisioning Failed, running Failed/ActivationFailed/Degraded, or health Unhealthy;
/// anything else (unknown values included) = keep waiting.
pub fn classify(r: &Revision) -> Verdict {
    let p = r.properties.as_ref();
    let get = |f: fn(&RevisionProperties) -> &Option<String>| {
        p.and_then(|p| f(p).clone()).unwrap_or_else(|| "-".into())
    };
    let prov = get(|p| &p.provisioning_state);
    let health = get(|p| &p.health_state);
    let running = get(|p| &p.running_state);
    let states = format!("provisioning {prov}, health {health}, running {running}");
    if prov == "Provisioned"
        && health == "Healthy"
        && (running == "Running" || running == "RunningAtMaxScale")
    {
        return Verdict::Healthy;
    }
    let failed = prov == "Failed"
        || ["Failed", "ActivationFailed", "Degraded"].contains(&running.as_str())
        || health == "Unhealthy";
    if failed {
        let error = p
            .and_then(|p| p.provisioning_error.clone())
            .filter(|e| !e.is_empty());
        return Verdict::Failed(match error {
            Some(e) => format!("{states}: {e}"),
            None => states,
        });
    }
    Verdict::Pending(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summarised_and_missing_ones_are_none() {
        let m: MetricsResponse = serde_json::from_str(include_str!(
            "../../tests/fixtures/az/monitor-metrics-list.json"
        ))
        .unwrap();
        let cpu = m.summary("UsageNanoCores").unwrap();
        assert_eq!(cpu.average, Some(20_000_000.0));
        assert_eq!(cpu.maximum, Some(90_000_000.0));
        let mem = m.summary("WorkingSetBytes").unwrap();
        assert_eq!(mem.average, Some(150.0 * 1024.0 * 1024.0));
        assert_eq!(mem.maximum, Some(200.0 * 1024.0 * 1024.0));
        assert_eq!(m.summary("RestartCount").unwrap().total, Some(2.0));
        assert_eq!(m.summary("Requests").unwrap().total, Some(42.0));
        assert_eq!(m.summary("Replicas"), None, "an empty series is no data");
        assert_eq!(m.summary("NotThere"), None);
        let empty: MetricsResponse = serde_json::from_str(r#"{"value": []}"#).unwrap();
        assert_eq!(empty.summary("UsageNanoCores"), None);
    }

    fn rev(prov: &str, health: &str, running: &str) -> Revision {
        serde_json::from_str(&format!(
            r#"{{"name": "app--r1", "properties": {{"provisioningState": "{prov}", "healthState": "{health}",
                "runningState": "{running}", "replicas": 1, "active": true, "trafficWeight": 100}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn revision_rules() {
        assert_eq!(
            classify(&rev("Provisioned", "Healthy", "Running")),
            Verdict::Healthy
        );
        assert_eq!(
            classify(&rev("Provisioned", "Healthy", "RunningAtMaxScale")),
            Verdict::Healthy
        );
        assert!(matches!(
            classify(&rev("Provisioning", "None", "Processing")),
            Verdict::Pending(_)
        ));
        assert!(matches!(
            classify(&rev("Provisioned", "None", "Activating")),
            Verdict::Pending(_)
        ));
        assert!(matches!(
            classify(&rev("Provisioned", "Healthy", "SomethingNew")),
            Verdict::Pending(_)
        ));
        for (p, h, r) in [
            ("Failed", "None", "Processing"),
            ("Provisioned", "Unhealthy", "Running"),
            ("Provisioned", "None", "ActivationFailed"),
            ("Provisioned", "Healthy", "Degraded"),
            ("Provisioned", "None", "Failed"),
        ] {
            assert!(
                matches!(classify(&rev(p, h, r)), Verdict::Failed(_)),
                "{p} {h} {r}"
            );
        }
        let empty: Revision = serde_json::from_str("{}").unwrap();
        assert_eq!(
            classify(&empty),
            Verdict::Pending("provisioning -, health -, running -".into())
        );
    }

    #[test]
    fn app_fields_and_missing_ones() {
        let app: App = serde_json::from_str(
            r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/web", "name": "web",
                "location": "West Europe", "properties": {"provisioningState": "Succeeded",
                "latestRevisionName": "web--abc", "latestReadyRevisionName": "web--abc",
                "configuration": {"activeRevisionsMode": "Single", "ingress": {"fqdn": "web.x.azurecontainerapps.io", "targetPort": 8501}},
                "template": {"containers": [{"image": "r.azurecr.io/web@sha256:1", "name": "web", "resources": {"cpu": 0.5}}]}}}"#,
        )
        .unwrap();
        assert_eq!(app.latest_revision(), Some("web--abc"));
        assert_eq!(app.image(), Some("r.azurecr.io/web@sha256:1"));
        assert_eq!(app.fqdn(), Some("web.x.azurecontainerapps.io"));
        let bare: App = serde_json::from_str(r#"{"properties": {}}"#).unwrap();
        assert_eq!(
            (bare.latest_revision(), bare.image(), bare.fqdn()),
            (None, None, None)
        );
    }

    #[test]
    fn argv_in_full_spelling() {
        let c = app_update(Cmd::new("az", "x"), "web", "rg", "r.io/web@sha256:1");
        assert_eq!(
            c.shown_args().join(" "),
            "containerapp update --name web --resource-group rg --image r.io/web@sha256:1 --output json"
        );
        assert_eq!(
            revision_show(Cmd::new("az", "x"), "web", "rg", "web--2").shown_args().join(" "),
            "containerapp revision show --name web --resource-group rg --revision web--2 --output json"
        );
        assert_eq!(
            acr_token(Cmd::new("az", "x"), "myacr")
                .shown_args()
                .join(" "),
            "acr login --name myacr --expose-token --output json"
        );
        let t: Token = serde_json::from_str(r#"{"loginServer": "a.azurecr.io", "accessToken": "eyJsecret", "refreshToken": "r", "username": "00000000-0000-0000-0000-000000000000"}"#).unwrap();
        assert!(!format!("{t:?}").contains("eyJsecret"));
    }
}
