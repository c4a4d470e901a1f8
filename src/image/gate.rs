//! The architecture gate: what was built or pushed must be for the target platform.
//!
//! Fed the platforms an image reports (`docker image inspect`, or the registry's copy through
//! `docker buildx imagetools inspect`) and, after a build, the Dockerfile.

use camino::Utf8Path;

use crate::config::Platform;
use crate::engine::docker;
use crate::image::dockerfile::{Dockerfile, Stage};
use crate::report::error::Error;

/// The architecture gate: the image must be for `target` (for a pushed index: have a `target`
/// child and no `unknown/unknown` attestation child, which Container Apps rejects), and its final
/// stage must not be pinned to another platform (older BuildKit labels such an image with the
/// target platform although its files are for the pinned one).
pub fn check(
    found: &[String],
    target: &Platform,
    dockerfile: Option<(&Dockerfile, &Utf8Path)>,
) -> Result<(), Error> {
    let has_target = found.iter().any(|p| docker::platform_matches(p, target));
    let attestation = found.iter().any(|p| p.starts_with("unknown/unknown"));
    let pinned_final = dockerfile.is_some_and(|(d, _)| d.final_pinned_elsewhere(target));
    if has_target && !attestation && !pinned_final {
        return Ok(());
    }
    let shown = found.join(", ");
    let mut message = if !has_target {
        format!(
            "the image was built for {shown}, not {target}: it would fail with `exec format error` on Azure"
        )
    } else if attestation {
        format!(
            "the pushed index has an `unknown/unknown` attestation entry ({shown}): \
             Container Apps rejects it (\"Selected tag uses an invalid operating system ''\")"
        )
    } else {
        format!(
            "the image is labelled {shown}, but its final stage is built from a base pinned to another platform: \
             it would fail with `exec format error` on Azure"
        )
    };
    let pinned: Vec<&Stage> = dockerfile
        .map(|(d, _)| d.stages.iter().filter(|s| s.pinned().is_some()).collect())
        .unwrap_or_default();
    let path = dockerfile.map_or(Utf8Path::new("Dockerfile"), |d| d.1);
    for s in &pinned {
        message.push_str(&format!("\n  {path}:{}: {}", s.line, s.text));
    }
    let hint = if attestation && has_target {
        "build with --provenance=false --sbom=false (docker azdeploy build does), then push again"
            .to_string()
    } else if dockerfile.is_none() {
        format!("rebuild it for {target} with `docker azdeploy build`, then push again")
    } else if pinned.is_empty() {
        format!("check the base images in {path}: they must exist for {target}")
    } else {
        format!("remove the --platform from those FROM lines (or use --platform=$TARGETPLATFORM) so the base image is {target}")
    };
    Err(Error::failed(message, hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_names_the_cause_and_the_fix() {
        let arm = vec!["linux/arm64".to_string()];
        let target: Platform = "linux/amd64".parse().unwrap();
        let pinned = "FROM --platform=linux/arm64 base\n";
        let e = check(
            &arm,
            &target,
            Some((&Dockerfile::parse(pinned), "Dockerfile".into())),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("built for linux/arm64, not linux/amd64"),
            "{text}"
        );
        assert!(
            text.contains("Dockerfile:1: FROM --platform=linux/arm64 base"),
            "{text}"
        );
        assert!(e.hint().unwrap().contains("remove the --platform"));
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(check(
            &arm,
            &arm64,
            Some((&Dockerfile::parse(""), "Dockerfile".into()))
        )
        .is_ok());
        // Labelled amd64, but the final stage is an arm64 base: still refused.
        let amd = vec!["linux/amd64".to_string()];
        let e = check(
            &amd,
            &target,
            Some((&Dockerfile::parse(pinned), "Dockerfile".into())),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("labelled linux/amd64, but its final stage"),
            "{e}"
        );
        let builder_stage = "FROM --platform=linux/arm64 b AS x\nFROM base\n";
        assert!(check(
            &amd,
            &target,
            Some((&Dockerfile::parse(builder_stage), "Dockerfile".into()))
        )
        .is_ok());
        // A pushed index with an attestation child.
        let index = vec!["linux/amd64".to_string(), "unknown/unknown".to_string()];
        let e = check(
            &index,
            &target,
            Some((&Dockerfile::parse("FROM base\n"), "Dockerfile".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown/unknown"), "{e}");
        assert!(e.hint().unwrap().contains("--provenance=false"));
        // A registry may say arm64/v8 for what we call linux/arm64; a variant we ask for must match.
        let arm64: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(check(&["linux/arm64/v8".to_string()], &arm64, None).is_ok());
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(check(&["linux/arm/v7".to_string()], &v7, None).is_ok());
        assert!(check(
            &["linux/arm/v6".to_string()],
            &v7,
            Some((&Dockerfile::parse(""), "Dockerfile".into()))
        )
        .is_err());
    }

    #[test]
    fn without_a_dockerfile_the_hint_is_to_rebuild() {
        let e = check(
            &["linux/arm64".to_string()],
            &"linux/amd64".parse().unwrap(),
            None,
        )
        .unwrap_err();
        assert!(
            e.hint().unwrap().contains("rebuild it for linux/amd64"),
            "{e:?}"
        );
    }
}
