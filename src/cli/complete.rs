//! Shell completion for `docker azdeploy <Tab>`.
//!
//! Docker re-runs us as `docker-azdeploy __complete azdeploy <words…> <partial>` and prints our
//! stdout to the shell as cobra's format: one `candidate\tdescription` per line, then
//! `:<directive>` (4 = no file completion). This path spawns nothing and prints nothing else:
//! any other line would become a candidate.

use crate::cli::args;

/// The completion answer for the words after `azdeploy` (the last one is the partial word).
pub fn answer(words: &[String]) -> String {
    let (partial, before) = match words.split_last() {
        Some((p, b)) => (p.as_str(), b),
        None => ("", &[][..]),
    };
    let root = args::command();
    let sub = before
        .iter()
        .find(|w| !w.starts_with('-'))
        .and_then(|name| root.find_subcommand(name));
    let mut out = String::new();
    let mut add = |name: &str, about: Option<String>| {
        if name.starts_with(partial) {
            out.push_str(name);
            if let Some(a) = about.filter(|a| !a.is_empty()) {
                out.push('\t');
                out.push_str(&a);
            }
            out.push('\n');
        }
    };
    if partial.starts_with('-') {
        let cmd = sub.unwrap_or(&root);
        let globals = root.get_arguments();
        let own = if sub.is_some() {
            cmd.get_arguments()
        } else {
            root.get_arguments()
        };
        let mut seen = Vec::new();
        for arg in own.chain(
            if sub.is_some() { Some(globals) } else { None }
                .into_iter()
                .flatten(),
        ) {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                if !seen.contains(&flag) {
                    add(&flag, arg.get_help().map(|h| h.to_string()));
                    seen.push(flag);
                }
            }
        }
    } else if sub.is_none() {
        for s in root.get_subcommands().filter(|s| !s.is_hide_set()) {
            add(s.get_name(), s.get_about().map(|a| a.to_string()));
        }
    }
    out.push_str(":4\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subcommands_then_directive() {
        let a = answer(&w(&[""]));
        assert!(a.ends_with("\n:4\n"), "{a}");
        assert!(a.lines().any(|l| l.starts_with("version\t")), "{a}");
        assert!(a.lines().any(|l| l.starts_with("config\t")), "{a}");
        let a = answer(&w(&["ver"]));
        assert_eq!(a.lines().count(), 2, "{a}");
        assert!(a.starts_with("version\tShow the plugin"), "{a}");
    }

    #[test]
    fn flags_of_the_subcommand() {
        let a = answer(&w(&["config", "--j"]));
        assert!(a.starts_with("--json\t"), "{a}");
        let a = answer(&w(&["init", "--"]));
        assert!(a.contains("--force\t") && a.contains("--verbose\t"), "{a}");
        assert_eq!(answer(&w(&["config", "x"])), ":4\n");
        assert_eq!(answer(&[]).lines().last(), Some(":4"));
    }
}
