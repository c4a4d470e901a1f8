//! The revision state rule: when a revision is healthy, failed, or still on its way.
//!
//! May import: `azure::model`.

use super::model::{Revision, RevisionProperties};

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
}
