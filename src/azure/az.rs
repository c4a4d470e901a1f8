//! Pure builders for `az` command lines. Options are always spelled in full (az accepts any
//! unambiguous prefix, so a short spelling that works today may break). Every read asks for
//! JSON (`--output json`) or one value (`--query … --output tsv`) and is marked a query.
//!
//! May import: `process`.

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

/// `az version --output json`.
pub fn version(base: Cmd) -> Cmd {
    base.args(["version", "--output", "json"]).query()
}

/// `az account show --output json`: who is logged in, to which subscription.
pub fn account_show(base: Cmd) -> Cmd {
    base.args(["account", "show", "--output", "json"]).query()
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

/// `az acr manifest show --registry N --name REPO@DIGEST --output json`: the manifest itself
/// (for an index, its children and their platforms).
pub fn acr_manifest_show(base: Cmd, registry: &str, name: &str) -> Cmd {
    base.args([
        "acr",
        "manifest",
        "show",
        "--registry",
        registry,
        "--name",
        name,
        "--output",
        "json",
    ])
    .query()
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

/// `az <group…> show --name N [--resource-group RG] --output json`: a resource, or a clear
/// not-found on stderr (what `provision` tells apart from every other failure).
fn show(base: Cmd, group: &[&str], name: &str, rg: Option<&str>) -> Cmd {
    named(base, group, "show", name, rg)
        .args(["--output", "json"])
        .query()
}

/// `az <group…> create --name N [--resource-group RG] --location L <extra…> --output json`.
fn create(base: Cmd, group: &[&str], name: &str, rg: Option<&str>, location: &str) -> Cmd {
    named(base, group, "create", name, rg).args(["--location", location])
}

/// `az <group…> VERB --name N [--resource-group RG]`.
fn named(base: Cmd, group: &[&str], verb: &str, name: &str, rg: Option<&str>) -> Cmd {
    let c = base
        .args(group.iter().copied())
        .args([verb, "--name", name]);
    match rg {
        Some(rg) => c.args(["--resource-group", rg]),
        None => c,
    }
}

/// `az group show --name RG --output json`.
pub fn group_show(base: Cmd, rg: &str) -> Cmd {
    show(base, &["group"], rg, None)
}

/// `az group create --name RG --location L --output json`.
pub fn group_create(base: Cmd, rg: &str, location: &str) -> Cmd {
    create(base, &["group"], rg, None, location).args(["--output", "json"])
}

/// `az acr show --name N --output json`: found in any resource group of the subscription.
pub fn acr_show(base: Cmd, registry: &str) -> Cmd {
    show(base, &["acr"], registry, None)
}

/// `az acr create --name N --resource-group RG --location L --sku Basic --output json` (no
/// admin user: the app pulls with its identity, pushes log in through az).
pub fn acr_create(base: Cmd, registry: &str, rg: &str, location: &str) -> Cmd {
    create(base, &["acr"], registry, Some(rg), location)
        .args(["--sku", "Basic", "--output", "json"])
}

/// `az containerapp env list --resource-group RG --output json`.
pub fn env_list(base: Cmd, rg: &str) -> Cmd {
    base.args([
        "containerapp",
        "env",
        "list",
        "--resource-group",
        rg,
        "--output",
        "json",
    ])
    .query()
}

/// `az containerapp env show --name E --resource-group RG --output json`.
pub fn env_show(base: Cmd, env: &str, rg: &str) -> Cmd {
    show(base, &["containerapp", "env"], env, Some(rg))
}

/// `az containerapp env create … --logs-destination none --output json`: no Log Analytics
/// workspace (it costs per GB); the log stream (`logs`, and a failed revision's logs) works
/// without one.
pub fn env_create(base: Cmd, env: &str, rg: &str, location: &str) -> Cmd {
    create(base, &["containerapp", "env"], env, Some(rg), location).args([
        "--logs-destination",
        "none",
        "--output",
        "json",
    ])
}

/// `az identity show --name I --resource-group RG --output json`.
pub fn identity_show(base: Cmd, identity: &str, rg: &str) -> Cmd {
    show(base, &["identity"], identity, Some(rg))
}

/// `az identity create --name I --resource-group RG --location L --output json`.
pub fn identity_create(base: Cmd, identity: &str, rg: &str, location: &str) -> Cmd {
    create(base, &["identity"], identity, Some(rg), location).args(["--output", "json"])
}

/// The role that lets an identity pull from a registry.
pub const ACR_PULL: &str = "AcrPull";

/// `az role assignment list --scope S --role AcrPull --fill-principal-name false --output
/// json` (`--assignee` would ask Microsoft Graph, which a service principal may not read; the
/// caller filters by principal id).
pub fn pull_roles(base: Cmd, scope: &str) -> Cmd {
    base.args([
        "role",
        "assignment",
        "list",
        "--scope",
        scope,
        "--role",
        ACR_PULL,
        "--fill-principal-name",
        "false",
        "--output",
        "json",
    ])
    .query()
}

/// `az role assignment create --assignee-object-id P --assignee-principal-type
/// ServicePrincipal --role AcrPull --scope S --output json` (the object id and type spare
/// az a Graph lookup).
pub fn pull_role_create(base: Cmd, principal: &str, scope: &str) -> Cmd {
    base.args([
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        principal,
        "--assignee-principal-type",
        "ServicePrincipal",
        "--role",
        ACR_PULL,
        "--scope",
        scope,
        "--output",
        "json",
    ])
}

/// `az containerapp create --name A --resource-group RG --yaml FILE --output json`: the whole
/// app from one spec (probes and sticky sessions have no flags; az applies the file as it is).
pub fn app_create(base: Cmd, app: &str, rg: &str, spec_file: &str) -> Cmd {
    base.args([
        "containerapp",
        "create",
        "--name",
        app,
        "--resource-group",
        rg,
        "--yaml",
        spec_file,
        "--output",
        "json",
    ])
}

/// `az containerapp <group…> --name A --resource-group RG <rest…> --output json`.
pub fn app_cmd(base: Cmd, group: &[&str], app: &str, rg: &str, rest: &[&str]) -> Cmd {
    base.args(["containerapp"])
        .args(group.iter().copied())
        .args(["--name", app, "--resource-group", rg])
        .args(rest.iter().copied())
        .args(["--output", "json"])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::model::Token;

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
        let b = || Cmd::new("az", "x");
        assert_eq!(
            acr_create(b(), "myacr1", "rg", "eastus").shown_args().join(" "),
            "acr create --name myacr1 --resource-group rg --location eastus --sku Basic --output json"
        );
        assert_eq!(
            group_create(b(), "rg", "eastus").shown_args().join(" "),
            "group create --name rg --location eastus --output json"
        );
        assert_eq!(
            env_show(b(), "env", "rg").shown_args().join(" "),
            "containerapp env show --name env --resource-group rg --output json"
        );
        assert_eq!(
            app_cmd(b(), &["ingress", "sticky-sessions", "set"], "web", "rg", &["--affinity", "sticky"])
                .shown_args()
                .join(" "),
            "containerapp ingress sticky-sessions set --name web --resource-group rg --affinity sticky --output json"
        );
        assert_eq!(
            (
                env_show(b(), "e", "rg").effect(),
                env_create(b(), "e", "rg", "l").effect()
            ),
            (
                crate::process::runner::Effect::Query,
                crate::process::runner::Effect::Mutate
            )
        );
        let t: Token = serde_json::from_str(r#"{"loginServer": "a.azurecr.io", "accessToken": "eyJsecret", "refreshToken": "r", "username": "00000000-0000-0000-0000-000000000000"}"#).unwrap();
        assert!(!format!("{t:?}").contains("eyJsecret"));
    }
}
