//! `docker azdeploy version`: the plugin's version, the docker client's and the engine's.
//!
//! The engine being down is reported, not fatal: the plugin itself answers (install.sh uses this
//! to check the install), and the hint says how to start the engine.

use serde_json::json;

use crate::cli::args::VersionArgs;
use crate::ctx::Ctx;
use crate::engine::docker;
use crate::report::error::Error;
use crate::report::hints;
use crate::report::output;

pub fn run(ctx: &Ctx, args: &VersionArgs) -> Result<(), Error> {
    let plugin = env!("CARGO_PKG_VERSION");
    let (client, engine) = match ctx.docker("look up the docker client and engine versions") {
        Ok(cmd) => {
            let probe = ctx.runner.probe(&docker::version(cmd))?;
            let parsed = docker::parse_version(&probe.stdout);
            let client = parsed
                .as_ref()
                .and_then(|v| v.client.as_ref())
                .map(|c| c.version.clone());
            let engine = parsed.and_then(|v| v.server);
            if engine.is_none() {
                let why = probe
                    .stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no answer");
                say!("warning: the Docker engine did not answer: {why}");
                let hint = hints::for_output(&probe.stderr).unwrap_or_else(|| {
                    "start the Docker engine, then check it with `docker version`".into()
                });
                say!("hint: {hint}");
            }
            (client, engine)
        }
        Err(e) => {
            say!("warning: {e}");
            if let Some(h) = e.hint() {
                say!("hint: {h}");
            }
            (None, None)
        }
    };
    if args.json {
        return output::stdout_json(&json!({
            "plugin": plugin,
            "client": client,
            "engine": engine.as_ref().map(|s| json!({"version": s.version, "os": s.os, "arch": s.arch})),
        }));
    }
    output::stdout_line(&format!("docker-azdeploy {plugin}"))?;
    output::stdout_line(&format!(
        "client: {}",
        client.as_deref().unwrap_or("not found")
    ))?;
    match engine {
        Some(s) => output::stdout_line(&format!("engine: {} ({}/{})", s.version, s.os, s.arch)),
        None => output::stdout_line("engine: not reachable"),
    }
}
