//! How the docker CLI hands us our arguments, as pure functions.
//!
//! Docker runs a plugin with its own argv unchanged: its global flags come first, exactly as the
//! user typed them, then the plugin name (`azdeploy`), then our arguments. This module splits the
//! global flags off by their arity (never by searching for the word `azdeploy`, which may also be
//! a flag's value), keeps them for forwarding to every child `docker` call, and recognises the
//! other shapes docker uses: `help azdeploy`, `--help azdeploy`, `__complete azdeploy …`,
//! `azdeploy docker-cli-plugin-hooks …`, and a standalone run without the plugin name.
//! It spawns nothing and reads no environment: callers pass what they need.

use std::ffi::{OsStr, OsString};

/// The plugin's name as docker knows it.
pub const PLUGIN_NAME: &str = "azdeploy";
/// The argument of docker's metadata handshake.
pub const METADATA_ARG: &str = "docker-cli-plugin-metadata";
/// The argument docker passes (after the plugin name) to ask for hook messages.
pub const HOOKS_ARG: &str = "docker-cli-plugin-hooks";

/// Docker's global flags as we received them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Globals {
    /// The tokens to put first in every child `docker` call: as typed, less `-h`, `-v` and `-D`
    /// (short clusters are re-rendered one flag per token so those can be dropped).
    pub forward: Vec<OsString>,
    /// `-h`/`--help` was given before the plugin name.
    pub help: bool,
    /// `-D`/`--debug` was given: we echo every command we run.
    pub debug: bool,
    /// `-v` before the plugin name: docker's `--version` shorthand, but for us `--verbose`.
    pub verbose: bool,
}

/// What docker (or a user running the binary directly) asked of us.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Tab completion: the words after the plugin name, the last one being the partial word.
    Complete(Vec<String>),
    /// A hook call: answer nothing, exit 0.
    Hooks,
    /// A normal run: `args` are what follows the plugin name; `help` asks for help on them.
    Run {
        globals: Globals,
        args: Vec<OsString>,
        help: bool,
    },
}

/// Long global flags that take a value, without the leading `--`.
const LONG_VALUE: &[&str] = &[
    "config",
    "context",
    "host",
    "log-level",
    "tlscacert",
    "tlscert",
    "tlskey",
];
/// Long global flags that take no value (they may still be written `--tls=false`).
const LONG_BOOL: &[&str] = &["debug", "tls", "tlsverify", "help", "version"];
/// Short global flags that take a value.
const SHORT_VALUE: &[char] = &['c', 'H', 'l'];
/// Short global flags that take no value.
const SHORT_BOOL: &[char] = &['D', 'h', 'v'];

/// Splits docker's global flags off the front of `args` (argv without argv\[0\]).
///
/// Returns the globals and the remaining words. Parsing stops at the first token that is not a
/// known global flag, or after `--` (which is consumed). A value flag at the very end with no
/// value is kept as typed; docker would have rejected it before running us.
pub fn split_globals(args: &[OsString]) -> (Globals, Vec<OsString>) {
    let mut g = Globals::default();
    let mut i = 0;
    while i < args.len() {
        let Some(tok) = args[i].to_str() else { break };
        if tok == "--" {
            i += 1;
            break;
        }
        if let Some(long) = tok.strip_prefix("--") {
            let (name, has_value) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            if LONG_VALUE.contains(&name) {
                g.forward.push(args[i].clone());
                if !has_value && i + 1 < args.len() {
                    i += 1;
                    g.forward.push(args[i].clone());
                }
            } else if LONG_BOOL.contains(&name) {
                match name {
                    "help" => g.help = true,
                    "debug" => g.debug = !long.ends_with("=false"),
                    "version" => {}
                    _ => g.forward.push(args[i].clone()),
                }
            } else {
                break;
            }
            i += 1;
            continue;
        }
        if tok.len() > 1 && tok.starts_with('-') {
            if !short_cluster_is_global(&tok[1..]) {
                break;
            }
            for (pos, c) in tok[1..].char_indices() {
                if SHORT_VALUE.contains(&c) {
                    let rest = &tok[1 + pos + c.len_utf8()..];
                    g.forward.push(OsString::from(format!("-{c}")));
                    if !rest.is_empty() {
                        g.forward
                            .push(OsString::from(rest.strip_prefix('=').unwrap_or(rest)));
                    } else if i + 1 < args.len() {
                        i += 1;
                        g.forward.push(args[i].clone());
                    }
                    break;
                }
                match c {
                    'h' => g.help = true,
                    'D' => g.debug = true,
                    _ => g.verbose = true, // 'v': never forwarded to docker
                }
            }
            i += 1;
            continue;
        }
        break;
    }
    (g, args[i..].to_vec())
}

/// True when every flag of a short cluster (before a value flag's value) is a docker global.
fn short_cluster_is_global(cluster: &str) -> bool {
    for c in cluster.chars() {
        if SHORT_VALUE.contains(&c) {
            return true;
        }
        if !SHORT_BOOL.contains(&c) {
            return false;
        }
    }
    !cluster.is_empty()
}

/// Works out what we were asked to do from argv without argv\[0\].
///
/// The metadata handshake is answered before this is called (see `main`).
pub fn parse(args: &[OsString]) -> Invocation {
    let (globals, rest) = split_globals(args);
    let word = |i: usize| rest.get(i).map(OsString::as_os_str);
    let name = Some(OsStr::new(PLUGIN_NAME));
    let complete = word(0) == Some(OsStr::new("__complete"))
        || word(0) == Some(OsStr::new("__completeNoDesc"));
    if complete && word(1) == name {
        let words = rest[2..]
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        return Invocation::Complete(words);
    }
    if word(0) == Some(OsStr::new("help")) && word(1) == name {
        return Invocation::Run {
            globals,
            args: rest[2..].to_vec(),
            help: true,
        };
    }
    // With the plugin name first this is docker's call; without it, a standalone run
    // (`docker-azdeploy build`), which we accept the same way.
    let args = if word(0) == name {
        rest[1..].to_vec()
    } else {
        rest
    };
    if args.first().map(OsString::as_os_str) == Some(OsStr::new(HOOKS_ARG)) {
        return Invocation::Hooks;
    }
    let help = globals.help;
    Invocation::Run {
        globals,
        args,
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn split(v: &[&str]) -> (Vec<String>, Vec<String>, bool, bool) {
        let (g, rest) = split_globals(&os(v));
        let s = |v: Vec<OsString>| v.into_iter().map(|o| o.into_string().unwrap()).collect();
        (s(g.forward), s(rest), g.help, g.debug)
    }

    #[test]
    fn every_form_of_context_is_forwarded() {
        for (input, fwd) in [
            (
                vec!["--context", "x", "azdeploy", "build"],
                vec!["--context", "x"],
            ),
            (vec!["-c", "x", "azdeploy", "build"], vec!["-c", "x"]),
            (vec!["-cx", "azdeploy", "build"], vec!["-c", "x"]),
            (vec!["-c=x", "azdeploy", "build"], vec!["-c", "x"]),
            (
                vec!["--context=x", "azdeploy", "build"],
                vec!["--context=x"],
            ),
        ] {
            let (f, rest, _, _) = split(&input);
            assert_eq!(f, fwd, "input {input:?}");
            assert_eq!(rest, ["azdeploy", "build"], "input {input:?}");
        }
    }

    #[test]
    fn value_flags_are_split_by_arity_not_by_name() {
        // A context named like the plugin must not end the globals.
        let (f, rest, _, _) = split(&["--context", "azdeploy", "azdeploy", "version"]);
        assert_eq!(f, ["--context", "azdeploy"]);
        assert_eq!(rest, ["azdeploy", "version"]);
        let (f, rest, _, _) = split(&["-H", "unix:///x.sock", "--config", "/cfg", "azdeploy"]);
        assert_eq!(f, ["-H", "unix:///x.sock", "--config", "/cfg"]);
        assert_eq!(rest, ["azdeploy"]);
        let (f, _, _, _) = split(&["--host", "tcp://h:2375", "-l", "warn", "azdeploy"]);
        assert_eq!(f, ["--host", "tcp://h:2375", "-l", "warn"]);
        let (f, _, _, _) = split(&["--log-level=debug", "--tlscacert", "ca.pem", "azdeploy"]);
        assert_eq!(f, ["--log-level=debug", "--tlscacert", "ca.pem"]);
        let (f, _, _, _) = split(&["--tlscert=c.pem", "--tlskey", "k.pem", "azdeploy"]);
        assert_eq!(f, ["--tlscert=c.pem", "--tlskey", "k.pem"]);
    }

    #[test]
    fn bools_and_clusters() {
        let (f, rest, help, debug) = split(&["-Dc", "ctx", "azdeploy", "x"]);
        assert_eq!(
            (f, rest, help, debug),
            (
                vec!["-c".into(), "ctx".into()],
                vec!["azdeploy".into(), "x".into()],
                false,
                true
            )
        );
        let (f, _, _, debug) = split(&["-Dldebug", "azdeploy"]);
        assert_eq!(f, ["-l", "debug"]);
        assert!(debug);
        let (f, _, _, _) = split(&["--tlsverify=false", "--tls", "azdeploy"]);
        assert_eq!(f, ["--tlsverify=false", "--tls"]);
        let (f, rest, help, debug) = split(&["-h", "azdeploy"]);
        assert!(f.is_empty() && help && !debug);
        assert_eq!(rest, ["azdeploy"]);
        let (f, _, help, debug) = split(&["--help", "--debug", "-v", "azdeploy"]);
        assert!(f.is_empty() && help && debug);
        let (g, rest) = split_globals(&os(&["-v", "version"]));
        assert!(g.verbose && g.forward.is_empty());
        assert_eq!(rest, os(&["version"]));
    }

    #[test]
    fn double_dash_ends_globals_and_is_dropped() {
        let (f, rest, _, _) = split(&["-c", "x", "--", "azdeploy", "-c", "y"]);
        assert_eq!(f, ["-c", "x"]);
        assert_eq!(rest, ["azdeploy", "-c", "y"]);
    }

    #[test]
    fn our_own_flags_are_not_globals() {
        let (f, rest, _, _) = split(&["--verbose", "build"]);
        assert!(f.is_empty());
        assert_eq!(rest, ["--verbose", "build"]);
        let (f, rest, _, _) = split(&["-n", "build"]);
        assert!(f.is_empty());
        assert_eq!(rest, ["-n", "build"]);
    }

    #[test]
    fn shapes() {
        let run = |v: &[&str]| match parse(&os(v)) {
            Invocation::Run { args, help, .. } => (
                args.into_iter()
                    .map(|a| a.into_string().unwrap())
                    .collect::<Vec<_>>(),
                help,
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            run(&["azdeploy", "build", "-t", "x"]),
            (vec!["build".into(), "-t".into(), "x".into()], false)
        );
        assert_eq!(run(&["build"]), (vec!["build".into()], false));
        assert_eq!(
            run(&["help", "azdeploy", "build"]),
            (vec!["build".into()], true)
        );
        assert_eq!(run(&["--help", "azdeploy"]), (vec![], true));
        assert_eq!(run(&["-h", "azdeploy"]), (vec![], true));
        assert_eq!(run(&["azdeploy", "--help"]), (vec!["--help".into()], false));
        assert_eq!(
            run(&["--context", "azdeploy", "azdeploy", "version"]),
            (vec!["version".into()], false)
        );
        assert_eq!(
            parse(&os(&["azdeploy", HOOKS_ARG, "{}"])),
            Invocation::Hooks
        );
        assert_eq!(
            parse(&os(&["__complete", "azdeploy", "bu"])),
            Invocation::Complete(vec!["bu".into()])
        );
        assert_eq!(
            parse(&os(&["__completeNoDesc", "azdeploy", "build", ""])),
            Invocation::Complete(vec!["build".into(), "".into()])
        );
    }
}
