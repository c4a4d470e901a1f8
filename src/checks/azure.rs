//! The Azure CLI check: found, new enough (core `containerapp`), logged in.
//!
//! May import: `checks`, `azure::az`, `ctx`, `config`, `process`, `report`.

use super::{first_line, Check};
use crate::azure::az;
use crate::config::Settings;
use crate::ctx::Ctx;
use crate::report::error::Error;
use crate::report::hints;

/// az: found, version (≥ 2.53 for core `containerapp`), logged in. Only when Azure is configured
/// or asked for.
pub fn azure(ctx: &Ctx, settings: &Settings, asked: bool) -> Result<Vec<Check>, Error> {
    let configured = settings.registry.value.is_some() || settings.app.value.is_some();
    if !configured && !asked {
        // Not needed yet: only say whether it is there (no az process: it costs a second).
        return Ok(vec![match ctx.tools.az() {
            Ok(p) => Check::skip(
                "az",
                format!(
                    "{} found; no registry or app configured (--azure checks the login)",
                    p.display()
                ),
            ),
            Err(e) => Check::warn(
                "az",
                format!("{e}: push and deploy will need it"),
                e.hint().unwrap_or_default(),
            ),
        }]);
    }
    let base = match ctx.az("ask the Azure CLI for its version") {
        Ok(c) => c,
        Err(e) => {
            return Ok(vec![Check::fail(
                "az",
                e.to_string(),
                e.hint().unwrap_or_default(),
            )])
        }
    };
    // Both calls cost about a second of Python start-up each: run them side by side.
    let (version, account) = std::thread::scope(|s| {
        let v = s.spawn(|| ctx.runner.probe(&az::version(base.clone())));
        let a = s.spawn(|| ctx.runner.probe(&az::account_show(base.clone())));
        (
            v.join().expect("az version thread"),
            a.join().expect("az account thread"),
        )
    });
    let (version, account) = (version?, account?);
    let mut out = Vec::new();
    let v: Option<String> = serde_json::from_str::<serde_json::Value>(&version.stdout)
        .ok()
        .and_then(|j| j.get("azure-cli")?.as_str().map(str::to_string));
    out.push(match v {
        Some(v) if version_at_least(&v, (2, 53)) => Check::ok("az", format!("azure-cli {v}")),
        Some(v) => Check::fail(
            "az",
            format!("azure-cli {v} is older than 2.53 (no core `containerapp`)"),
            "upgrade: `az upgrade`",
        ),
        None => Check::fail(
            "az",
            format!("`az version` failed: {}", first_line(&version.stderr)),
            "reinstall the Azure CLI",
        ),
    });
    let acct: Option<serde_json::Value> = serde_json::from_str(&account.stdout).ok();
    out.push(match acct {
        Some(a) if account.success() => Check::ok(
            "az login",
            format!(
                "{} on subscription {}",
                a.pointer("/user/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                a.get("name").and_then(|v| v.as_str()).unwrap_or("?")
            ),
        ),
        _ => Check::fail(
            "az login",
            format!("not logged in: {}", first_line(&account.stderr)),
            hints::for_output(&account.stderr).unwrap_or_else(|| "run `az login`".into()),
        ),
    });
    Ok(out)
}

fn version_at_least(v: &str, min: (u64, u64)) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_versions() {
        assert!(version_at_least("2.91.0", (2, 53)));
        assert!(version_at_least("2.53.0", (2, 53)));
        assert!(!version_at_least("2.52.1", (2, 53)));
        assert!(version_at_least("3.0.0", (2, 53)));
    }
}
