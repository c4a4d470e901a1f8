//! A container this tool starts (`test-local`): started labelled, published on 127.0.0.1 only,
//! watched until it answers, measured, and removed on every way out — success, failure,
//! timeout, Ctrl-C, SIGTERM, the plugin socket closing, a panic — by a guard that runs `docker
//! rm --force` through the runner's cleanup path, unless kept (`--detach`). The ways out no
//! guard sees (`kill -9`, an OOM kill, a laptop closed mid-run) are covered twice: a reaper (our
//! own binary, detached in its own session) removes the run's containers once the run's process
//! is gone, and every run first removes test containers whose owner on this machine is gone.
//!
//! May import: `engine::docker`, `ctx`, `process`, `sys`, `report`.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

use super::docker::{self, RunSpec, State, Stats};
use crate::ctx::Ctx;
use crate::process::runner::Cmd;
use crate::report::error::Error;
use crate::sys::http::Http;
use crate::sys::procs::Owner;

/// The label on every container `test-local` starts (its value: the run's id).
pub const LABEL: &str = "io.azdeploy.test";
/// The process that started it: `HOST/PID/START` (`sys::procs::Owner`).
pub const OWNER: &str = "io.azdeploy.owner";
/// The directory it was started from (`--stop` removes only this project's).
pub const PROJECT: &str = "io.azdeploy.project";
/// `1` on a `--detach` container: left running on purpose, never reaped.
pub const DETACHED: &str = "io.azdeploy.detached";

/// The labels of a container started now from `project`.
pub fn labels(id: &str, project: &str, detached: bool) -> Vec<(String, String)> {
    let mut l = vec![
        (LABEL.to_string(), id.to_string()),
        (OWNER.to_string(), Owner::me().label()),
        (PROJECT.to_string(), project.to_string()),
    ];
    if detached {
        l.push((DETACHED.to_string(), "1".to_string()));
    }
    l
}

/// A started container; removed when dropped unless kept.
pub struct Container<'a> {
    ctx: &'a Ctx,
    pub name: String,
    /// The image it runs.
    pub image: String,
    keep: bool,
    /// When `docker run -d` returned (the start, when the engine's clock disagrees with ours).
    pub run_returned: SystemTime,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Ok(base) = self.ctx.docker("remove the test container") {
            let p = self
                .ctx
                .runner
                .cleanup(&docker::remove(base, std::slice::from_ref(&self.name)));
            if p.status.is_some() && !p.success() && !p.stderr.contains("No such container") {
                say!(
                    "warning: could not remove {}: {}",
                    self.name,
                    p.stderr.trim()
                );
            }
        }
    }
}

/// How a wait for health ended.
#[derive(Debug)]
pub enum Waited {
    /// A 2xx, at this time.
    Healthy(SystemTime),
    /// The container stopped.
    Exited(State),
    /// No 2xx within the timeout; the last answer or error.
    TimedOut { last: String },
}

impl<'a> Container<'a> {
    /// `docker run -d` for `spec`; the guard owns the container from here on, and (unless it is
    /// to be kept) a reaper is watching before `docker run` starts.
    pub fn start(ctx: &'a Ctx, spec: &RunSpec) -> Result<Container<'a>, Error> {
        let detached = spec.labels.iter().any(|(k, _)| k == DETACHED);
        if let (false, Some((_, id))) = (detached, spec.labels.iter().find(|(k, _)| k == LABEL)) {
            ctx.runner.spawn_detached(&reaper(ctx, id)?)?;
        }
        let run = docker::run_detached(ctx.docker("start the test container")?, spec)
            .hint("if the port is taken, pick another with --port 0 or --port N; `docker azdeploy test-local --stop` removes old test containers");
        // The guard first: a `docker run` that fails after creating the container (a taken
        // port) still leaves one to remove.
        let mut container = Container {
            ctx,
            name: spec.name.clone(),
            image: spec.image.clone(),
            keep: false,
            run_returned: SystemTime::now(),
        };
        ctx.runner.run(&run)?;
        container.run_returned = SystemTime::now();
        Ok(container)
    }

    /// Leaves the container running (`--detach`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Its state, when docker knows it (`None`: no such container). An engine that stopped
    /// answering is an error naming that, not a container that is still starting.
    pub fn state(&self) -> Result<Option<State>, Error> {
        let cmd =
            docker::container_state(self.ctx.docker("read the container's state")?, &self.name);
        let p = self.ctx.runner.probe(&cmd)?;
        if !p.success() && !p.stderr.contains("No such container") && p.status.is_some() {
            let first = p.stderr.lines().next().unwrap_or("").trim().to_string();
            return Err(Error::Failed {
                message: format!(
                    "the Docker engine stopped answering while {} ran: {first}\n  command: `{cmd}`",
                    self.name
                ),
                hint: Some(
                    crate::report::hints::for_output(&p.stderr).unwrap_or_else(|| {
                        "check the engine with `docker version`, then run it again".into()
                    }),
                ),
                code: 1,
            });
        }
        Ok(serde_json::from_str(p.stdout.trim()).ok())
    }

    /// The host port docker picked for `--port 0`. The mapping can lag `docker run -d` on a busy
    /// engine, so this retries for a moment; `Err(Ok(state))` when the container already
    /// stopped (it has no ports then).
    pub fn published_port(&self, container_port: u16) -> Result<Result<u16, State>, Error> {
        let cmd = docker::port(
            self.ctx.docker("read the published port")?,
            &self.name,
            container_port,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = self.ctx.runner.query(&cmd);
            if let Some(p) = answer.as_ref().ok().and_then(|out| docker::parse_port(out)) {
                return Ok(Ok(p));
            }
            match self.state()? {
                Some(st) if !st.running => return Ok(Err(st)),
                _ if Instant::now() < deadline => {
                    self.ctx.runner.cancel().sleep(Duration::from_millis(50))?
                }
                _ => {
                    return Err(match answer {
                        Err(e) => e,
                        Ok(out) => Error::failed(
                            format!(
                                "docker published no 127.0.0.1 port for {}: {out}",
                                self.name
                            ),
                            "run with --port N",
                        ),
                    })
                }
            }
        }
    }

    /// The last `n` lines of its stdout and stderr.
    pub fn logs_tail(&self, n: usize) -> Result<String, Error> {
        self.ctx
            .runner
            .probe(&docker::logs_tail(
                self.ctx.docker("read the container's logs")?,
                &self.name,
                n,
            ))
            .map(|p| format!("{}{}", p.stdout, p.stderr))
    }

    /// Its memory and CPU now.
    pub fn stats(&self) -> Result<Option<Stats>, Error> {
        Ok(self
            .ctx
            .runner
            .probe(&docker::stats(
                self.ctx.docker("read the container's memory and CPU")?,
                &self.name,
            ))?
            .stdout
            .lines()
            .next()
            .and_then(|l| serde_json::from_str(l).ok()))
    }

    /// When the engine says it started.
    pub fn started_at(&self) -> Result<Option<SystemTime>, Error> {
        Ok(self
            .state()?
            .and_then(|s| humantime::parse_rfc3339(&s.started_at).ok()))
    }

    /// Polls `url` until a 2xx, the container stops, or `timeout`; progress on stderr.
    pub fn wait_healthy(&self, http: &Http, url: &str, timeout: Duration) -> Result<Waited, Error> {
        let start = Instant::now();
        let mut progress = Progress::new(url);
        let mut delay = Duration::from_millis(20);
        let mut last_state = Instant::now();
        loop {
            self.ctx.runner.cancel().check()?;
            let last = match http.get(url) {
                Ok(a) if a.ok() => {
                    progress.clear();
                    return Ok(Waited::Healthy(SystemTime::now()));
                }
                Ok(a) => format!("HTTP {}", a.status),
                Err(e) => e,
            };
            if last_state.elapsed() >= Duration::from_secs(1) {
                last_state = Instant::now();
                if let Some(s) = self.state()?.filter(|s| !s.running) {
                    progress.clear();
                    return Ok(Waited::Exited(s));
                }
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                progress.clear();
                return Ok(Waited::TimedOut { last });
            }
            progress.tick(elapsed);
            self.ctx.runner.cancel().sleep(delay)?;
            delay = next_delay(delay, elapsed);
        }
    }
}

/// "waiting for …" on stderr: redrawn in place on a terminal, every 10 s otherwise.
struct Progress<'a> {
    url: &'a str,
    tty: bool,
    last: Instant,
}

impl<'a> Progress<'a> {
    fn new(url: &'a str) -> Progress<'a> {
        Progress {
            url,
            tty: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    fn tick(&mut self, elapsed: Duration) {
        if self.tty && self.last.elapsed() >= Duration::from_millis(250) {
            say_inline!(
                "\r\x1b[Kwaiting for {}: {:.1} s",
                self.url,
                elapsed.as_secs_f64()
            );
            self.last = Instant::now();
        } else if !self.tty && self.last.elapsed() >= Duration::from_secs(10) {
            say!("waiting for {}: {:.0} s", self.url, elapsed.as_secs_f64());
            self.last = Instant::now();
        }
    }

    fn clear(&self) {
        if self.tty {
            say_inline!("\r\x1b[K");
        }
    }
}

/// The backoff between health polls: from 20 ms, ×1.5 per try, capped at 100 ms for the first
/// 30 s (so the cold-start figure is precise) and 500 ms after (slow emulated starts are not
/// hammered).
pub fn next_delay(current: Duration, elapsed: Duration) -> Duration {
    let cap = if elapsed < Duration::from_secs(30) {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    };
    current.mul_f64(1.5).min(cap)
}

/// `docker-azdeploy [docker globals] __reap --label io.azdeploy.test=ID --owner ME`: this binary
/// again, watching this process.
fn reaper(ctx: &Ctx, id: &str) -> Result<Cmd, Error> {
    let me = std::env::current_exe().map_err(|e| Error::Io {
        action: "find",
        path: "this program".into(),
        source: e,
    })?;
    Ok(Cmd::new(me, "watch the test container until this run ends")
        .args(ctx.globals.forward.iter().cloned())
        .args(["__reap", "--label", &format!("{LABEL}={id}")])
        .args(["--owner", &Owner::me().label()]))
}

/// One of our containers as `docker ps` lists it with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub owner: Option<Owner>,
    pub project: String,
    pub detached: bool,
}

/// Our containers (`label`: `io.azdeploy.test` for all of them, `io.azdeploy.test=ID` for one
/// run's).
pub fn list(ctx: &Ctx, label: &str) -> Result<Vec<Listed>, Error> {
    let out = ctx.runner.query(&docker::ps_labels(
        ctx.docker("list the test containers")?,
        label,
        &[OWNER, PROJECT, DETACHED],
    ))?;
    Ok(parse_listed(&out))
}

fn parse_listed(out: &str) -> Vec<Listed> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.trim_end_matches('\r').split('\t');
            let id = f
                .next()
                .filter(|i| !i.trim().is_empty())?
                .trim()
                .to_string();
            Some(Listed {
                id,
                owner: f.next().and_then(Owner::parse),
                project: f.next().unwrap_or_default().to_string(),
                detached: f.next() == Some("1"),
            })
        })
        .collect()
}

/// The containers whose run is over: started on this machine by a process that is gone, and
/// not left running on purpose (`--detach`). Containers that name no owner (started by an
/// older version) are not judged.
pub fn orphans(listed: &[Listed], alive: impl Fn(&Owner) -> bool) -> Vec<&Listed> {
    listed
        .iter()
        .filter(|c| !c.detached)
        .filter(|c| c.owner.as_ref().is_some_and(|o| o.is_here() && !alive(o)))
        .collect()
}

/// Removes `ids` (`docker rm --force`), as a cleanup (it runs after a cancel too).
pub fn remove(ctx: &Ctx, ids: &[String]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let p = ctx
        .runner
        .cleanup(&docker::remove(ctx.docker("remove test containers")?, ids));
    // Gone already, or going (another run's sweep or a reaper got there first): fine.
    let gone =
        p.stderr.contains("No such container") || p.stderr.contains("is already in progress");
    if p.status.is_some() && !p.success() && !gone {
        return Err(Error::failed(
            format!("could not remove test containers: {}", p.stderr.trim()),
            "remove them with `docker rm --force ID`",
        ));
    }
    Ok(())
}

/// Before a run: removes the test containers whose owner on this machine is gone (a run that
/// was killed), and says so.
pub fn sweep(ctx: &Ctx) -> Result<(), Error> {
    let listed = list(ctx, LABEL)?;
    let gone = orphans(&listed, Owner::alive);
    if gone.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = gone.iter().map(|c| c.id.clone()).collect();
    let pids: Vec<String> = gone
        .iter()
        .filter_map(|c| c.owner.as_ref().map(|o| o.pid.to_string()))
        .collect();
    remove(ctx, &ids)?;
    say!(
        "removed {} test container(s) left by a run that ended without cleaning up (pid {})",
        ids.len(),
        pids.join(", ")
    );
    Ok(())
}

/// `--stop`: removes the test containers started from `project` (all of them with `None`);
/// returns how many.
pub fn remove_all(ctx: &Ctx, project: Option<&str>) -> Result<usize, Error> {
    let ids: Vec<String> = list(ctx, LABEL)?
        .into_iter()
        .filter(|c| project.is_none_or(|p| c.project == p))
        .map(|c| c.id)
        .collect();
    remove(ctx, &ids)?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_this_machines_dead_runs_but_never_detached_ones() {
        let me = Owner::me();
        let dead = Owner {
            pid: 999_999_999,
            ..me.clone()
        };
        let elsewhere = Owner {
            host: "another-machine".into(),
            ..dead.clone()
        };
        let out = format!(
            "aaa\t{}\t/p\t\nbbb\t{}\t/p\t\nccc\t{}\t/p\t1\nddd\t{}\t/q\t\neee\t\t\t\n",
            me.label(),
            dead.label(),
            dead.label(),
            elsewhere.label()
        );
        let listed = parse_listed(&out);
        assert_eq!(listed.len(), 5);
        assert!(listed[2].detached && listed[4].owner.is_none());
        let gone: Vec<&str> = orphans(&listed, Owner::alive)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            gone,
            ["bbb"],
            "alive, detached, another machine's and unowned ones stay"
        );
        let l = labels("1-a", "/p", true);
        assert!(
            l.contains(&(DETACHED.into(), "1".into()))
                && l.contains(&(PROJECT.into(), "/p".into()))
        );
    }

    #[test]
    fn backoff_starts_small_and_caps() {
        let mut d = Duration::from_millis(20);
        let mut seen = vec![];
        for _ in 0..8 {
            d = next_delay(d, Duration::from_secs(1));
            seen.push(d.as_millis());
        }
        assert_eq!(seen, [30, 45, 67, 100, 100, 100, 100, 100]);
        assert_eq!(
            next_delay(Duration::from_millis(400), Duration::from_secs(31)),
            Duration::from_millis(500)
        );
    }
}
