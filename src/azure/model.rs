//! serde types for what az prints (the parts we use). Every field is optional: a missing one
//! becomes a clear error where it is needed, never a failed parse of the whole answer.
//!
//! May import: nothing of the crate.

use serde::Deserialize;

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

/// One entry of `az acr manifest list-metadata` (the fields we use).
#[derive(Debug, Deserialize, Default)]
pub struct ManifestMetadata {
    pub digest: Option<String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
}

/// `az acr manifest show` of an image index: its children's platforms.
#[derive(Debug, Deserialize, Default)]
pub struct ManifestIndex {
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize, Default)]
pub struct IndexEntry {
    pub platform: Option<IndexPlatform>,
}

#[derive(Debug, Deserialize, Default)]
pub struct IndexPlatform {
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
}

impl ManifestIndex {
    /// `os/arch[/variant]` of each child (`unknown/unknown` for an attestation).
    pub fn platforms(&self) -> Vec<String> {
        self.manifests
            .iter()
            .map(|m| {
                let p = m.platform.as_ref();
                let part = |f: Option<&String>| f.map_or("unknown", |s| s.as_str()).to_string();
                let mut s = format!(
                    "{}/{}",
                    part(p.and_then(|p| p.os.as_ref())),
                    part(p.and_then(|p| p.architecture.as_ref()))
                );
                if let Some(v) = p.and_then(|p| p.variant.as_ref()) {
                    s.push('/');
                    s.push_str(v);
                }
                s
            })
            .collect()
    }
}

/// `az acr repository show --image` output (the field we use).
#[derive(Debug, Deserialize, Default)]
pub struct RepositoryImage {
    pub digest: Option<String>,
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
    pub identity: Option<ManagedIdentity>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppProperties {
    pub latest_revision_name: Option<String>,
    pub latest_ready_revision_name: Option<String>,
    pub configuration: Option<Configuration>,
    pub template: Option<Template>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub ingress: Option<Ingress>,
    /// `null` in az's output when there are none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub registries: Vec<RegistryCredentials>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    pub fqdn: Option<String>,
    pub external: Option<bool>,
    pub target_port: Option<u32>,
    /// `auto`, `http`, `http2` or `tcp` (az prints it as it was sent: `Auto` or `auto`).
    pub transport: Option<String>,
    pub sticky_sessions: Option<StickySessions>,
}

#[derive(Debug, Deserialize, Default)]
pub struct StickySessions {
    /// `sticky` or `none`.
    pub affinity: Option<String>,
}

/// How the app pulls from one registry: an identity (a user-assigned identity's resource id,
/// or `system`), or a user name and a secret.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredentials {
    pub server: Option<String>,
    pub identity: Option<String>,
    pub username: Option<String>,
    pub password_secret_ref: Option<String>,
}

impl RegistryCredentials {
    /// Whether anything is configured to pull with (az prints unset ones as `""` or `null`).
    pub fn can_pull(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        set(&self.identity) || (set(&self.username) && set(&self.password_secret_ref))
    }
}

/// The identities attached to an app.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentity {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_assigned_identities: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Template {
    #[serde(default)]
    pub containers: Vec<Container>,
    pub scale: Option<Scale>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
}

/// A container's CPU (cores) and memory (`"1Gi"`, `"0.5Gi"`).
#[derive(Debug, Deserialize, Default)]
pub struct Resources {
    pub cpu: Option<f64>,
    pub memory: Option<String>,
}

/// `null` where az prints null for an empty list or map.
fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
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
    pub resources: Option<Resources>,
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
        self.ingress()?.fqdn.as_deref()
    }

    pub fn configuration(&self) -> Option<&Configuration> {
        self.properties.as_ref()?.configuration.as_ref()
    }

    /// `None`: ingress is off.
    pub fn ingress(&self) -> Option<&Ingress> {
        self.configuration()?.ingress.as_ref()
    }

    pub fn registries(&self) -> &[RegistryCredentials] {
        self.configuration()
            .map_or(&[], |c| c.registries.as_slice())
    }

    pub fn scale(&self) -> Option<&Scale> {
        self.properties.as_ref()?.template.as_ref()?.scale.as_ref()
    }

    /// The first container's CPU and memory.
    pub fn resources(&self) -> Option<&Resources> {
        self.properties
            .as_ref()?
            .template
            .as_ref()?
            .containers
            .first()?
            .resources
            .as_ref()
    }

    /// The user-assigned identities attached (their resource ids, as az prints them).
    pub fn user_identities(&self) -> Vec<&str> {
        self.identity.as_ref().map_or(Vec::new(), |i| {
            i.user_assigned_identities
                .keys()
                .map(String::as_str)
                .collect()
        })
    }
}

/// Any ARM resource as az prints it (group, registry, environment, identity): the parts
/// `provision` uses.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    /// A registry's host (`myacr.azurecr.io`).
    pub login_server: Option<String>,
    /// An identity's service principal (for role assignments).
    pub principal_id: Option<String>,
}

/// One entry of `az role assignment list` (the fields we use).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub principal_id: Option<String>,
    pub role_definition_name: Option<String>,
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
}
