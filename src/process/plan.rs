//! A command as a plan: the ordered steps it will take, each a read ([`Plan::query`]) or a change
//! ([`Plan::step`], the default kind), handed to one executor. Under `--dry-run` the executor
//! runs the reads and prints each change, with the command lines it would run, instead of
//! running it; a change cannot run under `--dry-run` by construction. Steps pass what they
//! learn forward through the command's own state `S` (settings → plan → preflight → steps →
//! recorded result).
//!
//! May import: `process::runner`, `report`.

use super::runner::{Effect, Runner};
use crate::report::error::Error;

type Run<'a, S> = Box<dyn FnOnce(&mut S) -> Result<(), Error> + 'a>;

struct Step<'a, S> {
    what: String,
    effect: Effect,
    /// The command lines a change will run, as far as they are known before it runs.
    shows: Vec<String>,
    run: Run<'a, S>,
}

/// The steps of one command, in order.
pub struct Plan<'a, S> {
    steps: Vec<Step<'a, S>>,
}

impl<S> Default for Plan<'_, S> {
    fn default() -> Self {
        Plan { steps: Vec::new() }
    }
}

impl<'a, S> Plan<'a, S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A step that only reads: it runs under `--dry-run` too.
    pub fn query(
        mut self,
        what: impl Into<String>,
        run: impl FnOnce(&mut S) -> Result<(), Error> + 'a,
    ) -> Self {
        self.steps.push(Step {
            what: what.into(),
            effect: Effect::Query,
            shows: Vec::new(),
            run: Box::new(run),
        });
        self
    }

    /// A step that changes something; `shows` are the command lines it will run (for
    /// `--dry-run`).
    pub fn step(
        mut self,
        what: impl Into<String>,
        shows: Vec<String>,
        run: impl FnOnce(&mut S) -> Result<(), Error> + 'a,
    ) -> Self {
        self.steps.push(Step {
            what: what.into(),
            effect: Effect::Mutate,
            shows,
            run: Box::new(run),
        });
        self
    }

    /// Adds the steps `add` makes when `cond` holds.
    pub fn when(self, cond: bool, add: impl FnOnce(Self) -> Self) -> Self {
        if cond {
            add(self)
        } else {
            self
        }
    }

    /// What the plan will do, one line per step (`read`/`change`).
    #[cfg(test)]
    pub fn describe(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| match s.effect {
                Effect::Query => format!("read: {}", s.what),
                Effect::Mutate => format!("change: {}", s.what),
            })
            .collect()
    }

    /// Runs the steps in order, stopping at the first error. Under `--dry-run` a change is
    /// printed (`[dry-run] would …` and each command line) and skipped, and so is every step
    /// after it, reads included: they would read what the change made.
    pub fn execute(self, runner: &Runner, state: &mut S) -> Result<(), Error> {
        let mut skipping = false;
        for step in self.steps {
            runner.cancel().check()?;
            skipping |= runner.dry_run && step.effect == Effect::Mutate;
            if skipping {
                say!("[dry-run] would {}", step.what);
                for line in &step.shows {
                    say!("[dry-run] {line}");
                }
                continue;
            }
            (step.run)(state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::cancel::Cancel;

    fn plan<'a>(log: &'a std::cell::RefCell<Vec<&'static str>>) -> Plan<'a, u32> {
        Plan::new()
            .query("read the app", |n: &mut u32| {
                log.borrow_mut().push("read");
                *n += 1;
                Ok(())
            })
            .step(
                "update the app",
                vec!["az containerapp update".into()],
                |n| {
                    log.borrow_mut().push("update");
                    *n += 10;
                    Ok(())
                },
            )
            .when(false, |p| {
                p.step("never", vec![], |_| {
                    log.borrow_mut().push("never");
                    Ok(())
                })
            })
            .query("check it", |n| {
                log.borrow_mut().push("check");
                *n += 100;
                Ok(())
            })
    }

    #[test]
    fn steps_run_in_order_and_pass_state_forward() {
        let log = std::cell::RefCell::new(Vec::new());
        let p = plan(&log);
        assert_eq!(
            p.describe(),
            [
                "read: read the app",
                "change: update the app",
                "read: check it"
            ]
        );
        let mut n = 0;
        p.execute(&Runner::new(false, false, Cancel::new()), &mut n)
            .unwrap();
        assert_eq!(
            (log.borrow().clone(), n),
            (vec!["read", "update", "check"], 111)
        );
    }

    #[test]
    fn a_change_never_runs_under_dry_run_nor_what_reads_its_result() {
        let log = std::cell::RefCell::new(Vec::new());
        let mut n = 0;
        plan(&log)
            .execute(&Runner::new(false, true, Cancel::new()), &mut n)
            .unwrap();
        assert_eq!((log.borrow().clone(), n), (vec!["read"], 1));
    }

    #[test]
    fn the_first_error_stops_the_plan() {
        let log = std::cell::RefCell::new(Vec::new());
        let mut n = 0;
        let r = Plan::new()
            .query("fail", |_: &mut u32| Err(Error::failed("no", "hint")))
            .step("after", vec![], |_| {
                log.borrow_mut().push("after");
                Ok(())
            })
            .execute(&Runner::new(false, false, Cancel::new()), &mut n);
        assert!(r.is_err() && log.borrow().is_empty());
    }
}
