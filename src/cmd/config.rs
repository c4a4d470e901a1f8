//! `docker azdeploy config`: the resolved settings and where each came from.

use serde_json::{json, Map};

use crate::cli::args::ConfigArgs;
use crate::config::Overrides;
use crate::ctx::Ctx;
use crate::report::error::Error;
use crate::report::output;

pub fn run(ctx: &Ctx, args: &ConfigArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides::default())?;
    let rows = settings.rows();
    if args.json {
        let mut map = Map::new();
        for r in &rows {
            map.insert(
                r.key.to_string(),
                json!({"value": r.value, "source": r.source}),
            );
        }
        return output::stdout_json(&json!({"file": settings.file, "settings": map}));
    }
    let mut table = vec![vec!["KEY".to_string(), "VALUE".into(), "SOURCE".into()]];
    for r in rows {
        let value = match &r.value {
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table.push(vec![r.key.to_string(), value, r.source]);
    }
    output::stdout_line(&output::table(&table))?;
    if settings.file.is_none() {
        say!("note: no azdeploy.json here; `docker azdeploy init` writes one");
    }
    Ok(())
}
