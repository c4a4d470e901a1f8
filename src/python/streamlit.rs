//! A Streamlit app's first script run, as a browser starts it: Streamlit answers
//! `/_stcore/health` before it has run the app's script, which (with its imports) runs only when
//! a session opens the websocket `/_stcore/stream` and asks for a run. This module is the
//! protocol's few messages — written from Streamlit's `.proto` files (1.40; the field numbers are
//! stable from 1.30 to 1.67, see `docs/streamlit-session.md`) and decoded by `prost`, which skips
//! every field and message type not named here — and the rule that turns the messages of a run
//! into a verdict: finished, raised (with the traceback), did not compile, or still running.
//!
//! May import: `process::cancel`, `sys::ws`, `report`.

use std::time::{Duration, Instant};

use prost::Message;

use crate::process::cancel::Cancel;
use crate::report::error::Error;
use crate::sys::ws::{Frame, Socket};

/// `BackMsg` (BackMsg.proto): only `rerun_script`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BackMsg {
    #[prost(oneof = "back_msg::Type", tags = "11")]
    pub r#type: Option<back_msg::Type>,
}

pub mod back_msg {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Type {
        #[prost(message, tag = "11")]
        RerunScript(super::ClientState),
    }
}

/// `ClientState` (ClientState.proto): what a browser sends for its first run. The empty strings
/// are written out, as a browser writes them (hence `optional`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientState {
    #[prost(string, optional, tag = "1")]
    pub query_string: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub widget_states: Option<WidgetStates>,
    #[prost(string, optional, tag = "3")]
    pub page_script_hash: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub page_name: Option<String>,
}

/// `WidgetStates`: empty for a first run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WidgetStates {}

/// `ForwardMsg` (ForwardMsg.proto): the `type` members a first run needs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ForwardMsg {
    #[prost(oneof = "forward_msg::Type", tags = "4, 5, 6, 9, 10, 18")]
    pub r#type: Option<forward_msg::Type>,
}

pub mod forward_msg {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Type {
        #[prost(message, tag = "4")]
        NewSession(super::NewSession),
        #[prost(message, tag = "5")]
        Delta(super::Delta),
        /// `ScriptFinishedStatus`.
        #[prost(int32, tag = "6")]
        ScriptFinished(i32),
        #[prost(message, tag = "9")]
        SessionStatusChanged(super::SessionStatus),
        #[prost(message, tag = "10")]
        SessionEvent(super::SessionEvent),
        #[prost(message, tag = "18")]
        PageProfile(super::PageProfile),
    }
}

/// `NewSession`: `initialize(1).environment_info(3).streamlit_version(1)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NewSession {
    #[prost(message, optional, tag = "1")]
    pub initialize: Option<Initialize>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Initialize {
    #[prost(message, optional, tag = "3")]
    pub environment_info: Option<EnvironmentInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EnvironmentInfo {
    #[prost(string, tag = "1")]
    pub streamlit_version: String,
}

/// `Delta`: `new_element(3)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Delta {
    #[prost(message, optional, tag = "3")]
    pub new_element: Option<Element>,
}

/// `Element`: `exception(8)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Element {
    #[prost(message, optional, tag = "8")]
    pub exception: Option<Exception>,
}

/// `Exception` (Exception.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exception {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, repeated, tag = "3")]
    pub stack_trace: Vec<String>,
    #[prost(bool, tag = "4")]
    pub message_is_markdown: bool,
    #[prost(bool, tag = "5")]
    pub is_warning: bool,
}

impl Exception {
    /// Python's own text: the traceback and `Type: message` (a `SyntaxError`'s message is
    /// already Python's report).
    pub fn traceback(&self) -> String {
        if self.stack_trace.is_empty() || self.r#type.ends_with("SyntaxError") {
            return if self.message.contains(&self.r#type) {
                self.message.clone()
            } else {
                format!("{}: {}", self.r#type, self.message)
            };
        }
        let mut t = String::from("Traceback (most recent call last):\n");
        for entry in &self.stack_trace {
            t.push_str(&format!("  {entry}\n"));
        }
        t.push_str(&format!("{}: {}", self.r#type, self.message));
        t
    }
}

/// `SessionStatus`: `script_is_running(2)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStatus {
    #[prost(bool, tag = "2")]
    pub script_is_running: bool,
}

/// `SessionEvent`: `script_compilation_exception(3)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionEvent {
    #[prost(message, optional, tag = "3")]
    pub script_compilation_exception: Option<Exception>,
}

/// `PageProfile`: `uncaught_exception(6)` (sent while usage stats are on, the default).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PageProfile {
    #[prost(string, tag = "6")]
    pub uncaught_exception: String,
}

/// `ScriptFinishedStatus` values.
const FINISHED_WITH_COMPILE_ERROR: i32 = 1;
const FINISHED_EARLY_FOR_RERUN: i32 = 2;
const FINISHED_FRAGMENT_RUN_SUCCESSFULLY: i32 = 3;

/// The one frame that starts the first run, as a browser sends it.
pub fn first_run_request() -> Vec<u8> {
    BackMsg {
        r#type: Some(back_msg::Type::RerunScript(ClientState {
            query_string: Some(String::new()),
            widget_states: Some(WidgetStates {}),
            page_script_hash: Some(String::new()),
            page_name: Some(String::new()),
        })),
    }
    .encode_to_vec()
}

/// How the first run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The script ran to its end (`shown`: exceptions the app itself displayed).
    Finished { shown: usize },
    /// An uncaught exception ended the script.
    Raised(Exception),
    /// The script does not compile (the text, when it came).
    CompileError(Option<Exception>),
}

/// What a run looks like while its messages arrive.
#[derive(Debug, Default)]
pub struct Run {
    pub started: bool,
    pub streamlit_version: Option<String>,
    exceptions: Vec<Exception>,
    last_delta_is_exception: bool,
    uncaught: Option<String>,
    awaiting_compile_text: bool,
    /// `script_is_running`, as last said.
    pub running: Option<bool>,
    /// Messages read.
    pub messages: usize,
    /// Runs that ended early for a rerun (Streamlit then starts another).
    pub rerun_finishes: usize,
}

impl Run {
    /// Takes one frame; `Some` when the run is over. A frame that is not a `ForwardMsg` is
    /// skipped (a newer Streamlit may send what this does not know).
    pub fn feed(&mut self, frame: &[u8]) -> Option<Verdict> {
        self.messages += 1;
        let msg = ForwardMsg::decode(frame).ok()?;
        use forward_msg::Type;
        match msg.r#type? {
            Type::NewSession(s) => {
                *self = Run {
                    started: true,
                    streamlit_version: s
                        .initialize
                        .and_then(|i| i.environment_info)
                        .map(|e| e.streamlit_version),
                    messages: self.messages,
                    rerun_finishes: self.rerun_finishes,
                    ..Run::default()
                };
            }
            Type::Delta(d) => match d.new_element.and_then(|e| e.exception) {
                Some(e) => {
                    self.exceptions.push(e);
                    self.last_delta_is_exception = true;
                }
                None => self.last_delta_is_exception = false,
            },
            Type::PageProfile(p) if !p.uncaught_exception.is_empty() => {
                self.uncaught = Some(p.uncaught_exception)
            }
            Type::PageProfile(_) => {}
            Type::SessionStatusChanged(s) => self.running = Some(s.script_is_running),
            Type::SessionEvent(e) if self.awaiting_compile_text => {
                return Some(Verdict::CompileError(e.script_compilation_exception))
            }
            Type::SessionEvent(_) => {}
            Type::ScriptFinished(FINISHED_EARLY_FOR_RERUN) => self.rerun_finishes += 1,
            Type::ScriptFinished(FINISHED_FRAGMENT_RUN_SUCCESSFULLY) => {}
            Type::ScriptFinished(FINISHED_WITH_COMPILE_ERROR) => self.awaiting_compile_text = true,
            Type::ScriptFinished(_) => return Some(self.finished()),
        }
        None
    }

    /// What was seen of a run that has not ended, for a report: whether it started, what
    /// Streamlit last said of it, how many messages came.
    pub fn progress(&self) -> String {
        let state = match (self.started, self.running) {
            (false, _) => "no run started".to_string(),
            (true, Some(true)) => "Streamlit says the script is still running".to_string(),
            (true, Some(false)) => {
                "Streamlit says the script stopped, but sent no end of the run".to_string()
            }
            (true, None) => "the run started; Streamlit sent no status".to_string(),
        };
        let reruns = match self.rerun_finishes {
            0 => String::new(),
            n => format!(", {n} run(s) ended early for a rerun"),
        };
        format!("{state}; {} message(s){reruns}", self.messages)
    }

    /// The text of a compile error comes in the frame after `script_finished`.
    pub fn awaiting_compile_text(&self) -> bool {
        self.awaiting_compile_text
    }

    /// A finished run: it raised when an exception (not a warning) ended it — the last thing
    /// the script showed, or named by the page profile — else it finished.
    fn finished(&self) -> Verdict {
        let real: Vec<&Exception> = self.exceptions.iter().filter(|e| !e.is_warning).collect();
        match real.last() {
            Some(e) if self.uncaught.is_some() || self.last_delta_is_exception => {
                Verdict::Raised((*e).clone())
            }
            _ => Verdict::Finished { shown: real.len() },
        }
    }
}

/// Sessions one first run may take. Streamlit closes a session whose pong comes late (under
/// Tornado 6.6 it waits one second: `websocket_ping_timeout` is capped at its 1 s interval), as
/// can happen on a loaded machine, and a broken connection ends one too; a browser then opens
/// another and asks again, and so does this, within the same time.
const SESSIONS: usize = 5;

/// When a session counts as gone though it never closed: a ping after `ping_after` of silence,
/// and no answer (nor anything else) within `dead_after`. A connection can die without a word
/// (a proxy on the way that only half-closes, a network that drops it); Streamlit 1.40 pings
/// every second, 1.67 every 30 s, and answers our pings in between.
#[derive(Debug, Clone, Copy)]
struct Liveness {
    ping_after: Duration,
    dead_after: Duration,
}

const LIVENESS: Liveness = Liveness {
    ping_after: Duration::from_secs(5),
    dead_after: Duration::from_secs(10),
};

/// A first run, as a browser's first visit makes it happen.
#[derive(Debug)]
pub struct FirstRun {
    /// `None`: not finished within the time given, or every session closed first.
    pub verdict: Option<Verdict>,
    /// From opening the first session to the verdict (or giving up).
    pub elapsed: Duration,
    pub run: Run,
    /// Why each session that ended before the run did ended, in order.
    pub closes: Vec<String>,
    /// The last session closed before the run ended (rather than the time running out).
    pub closed: bool,
}

/// Opens a session at `base_url` (`http://127.0.0.1:PORT`), asks for the first run and reads
/// until it ends or `timeout` passes; a session the server closes first is opened again (at
/// most [`SESSIONS`] in all). `Ok(Err(why))` when no session could be opened.
pub fn first_run(
    base_url: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Result<FirstRun, String>, Error> {
    first_run_with(base_url, timeout, cancel, LIVENESS)
}

/// [`first_run`] with its own idea of a dead session.
fn first_run_with(
    base_url: &str,
    timeout: Duration,
    cancel: &Cancel,
    liveness: Liveness,
) -> Result<Result<FirstRun, String>, Error> {
    let start = Instant::now();
    let deadline = start + timeout;
    let url = format!(
        "{}/_stcore/stream",
        base_url.replacen("http://", "ws://", 1)
    );
    let mut run = Run::default();
    let mut closes = Vec::new();
    let (verdict, closed) = loop {
        let mut ws = match open_session(&url, deadline) {
            Ok(ws) => ws,
            Err(e) if closes.is_empty() => return Ok(Err(e)),
            Err(e) => {
                closes.push(format!("opening another failed: {e}"));
                break (None, true);
            }
        };
        match read_run(&mut ws, &mut run, deadline, cancel, liveness)? {
            Ok(verdict) => {
                ws.close();
                break (verdict, false);
            }
            Err(why) => {
                closes.push(why);
                if closes.len() >= SESSIONS || Instant::now() >= deadline {
                    break (None, true);
                }
            }
        }
    };
    Ok(Ok(FirstRun {
        verdict,
        elapsed: start.elapsed(),
        run,
        closes,
        closed,
    }))
}

/// Connects as a browser does and asks for a run.
fn open_session(url: &str, deadline: Instant) -> Result<Socket, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    // What the browser offers; the second entry stands for a session token it has none of.
    let mut ws = Socket::connect(
        url,
        "streamlit, PLACEHOLDER_AUTH_TOKEN",
        left.clamp(Duration::from_secs(1), Duration::from_secs(10)),
    )?;
    ws.send_binary(first_run_request())?;
    Ok(ws)
}

/// Reads one session's messages into `run` until the run ends (`Ok(Some)`), the time runs out
/// (`Ok(None)`) or the session ends first (`Err(why)`): closed, or silent past `liveness`.
fn read_run(
    ws: &mut Socket,
    run: &mut Run,
    mut deadline: Instant,
    cancel: &Cancel,
    liveness: Liveness,
) -> Result<Result<Option<Verdict>, String>, Error> {
    let mut heard = Instant::now();
    let mut pinged: Option<Instant> = None;
    loop {
        cancel.check()?;
        let frame = ws.read(deadline, Duration::from_millis(200));
        if matches!(frame, Ok(Frame::Binary(_) | Frame::Control)) {
            (heard, pinged) = (Instant::now(), None);
        }
        match frame {
            Ok(Frame::Control) => {}
            Ok(Frame::Timeout) if Instant::now() < deadline => match pinged {
                Some(at) if at.elapsed() >= liveness.dead_after => {
                    return Ok(Err(format!(
                        "silent for {:.1} s, and no answer to a ping (a connection gone without a close)",
                        heard.elapsed().as_secs_f64()
                    )))
                }
                Some(_) => {}
                None if heard.elapsed() >= liveness.ping_after => {
                    if let Err(e) = ws.ping() {
                        return Ok(Err(e));
                    }
                    pinged = Some(Instant::now());
                }
                None => {}
            },
            Ok(Frame::Binary(b)) => {
                if let Some(v) = run.feed(&b) {
                    return Ok(Ok(Some(v)));
                }
                if run.awaiting_compile_text() {
                    // The compile error's text follows in the same flush.
                    deadline = deadline.min(Instant::now() + Duration::from_secs(2));
                }
            }
            Ok(Frame::Timeout) => {
                return Ok(Ok(run
                    .awaiting_compile_text()
                    .then_some(Verdict::CompileError(None))))
            }
            Ok(Frame::Closed(why)) => return Ok(Err(why)),
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// The fix for a script that raised on its first run, by what it raised.
pub fn hint_for(e: &Exception) -> String {
    let text = format!("{}: {}", e.r#type, e.message);
    if text.contains("Exec format error")
        || text.contains("wrong ELF class")
        || text.contains("cannot open shared object file: No such file") && text.contains(".so")
    {
        return "a native library in the image is built for another CPU (exec format): install the wheels for the target platform (`docker azdeploy build` pins it), and check `docker azdeploy doctor --wheels`".into();
    }
    if text.contains("Illegal instruction") || text.contains("SIGILL") {
        return "an instruction the emulator lacks (Rosetta has no AVX): use packages built without AVX, or test with QEMU (turn Rosetta off in Docker Desktop)".into();
    }
    if e.r#type.ends_with("ModuleNotFoundError") || e.r#type.ends_with("ImportError") {
        return "a module the script imports is not installed in the image: add it to requirements.txt (or pyproject.toml) and build again".into();
    }
    "the app's script raised on its first run: fix it, then `docker azdeploy build` and `test-local` again (the traceback is above)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(case: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captured/streamlit")
            .join(case);
        let mut frames: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".forward.bin"))
            .collect();
        frames.sort();
        frames.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// The verdict over a captured case's frames, and how many were read to reach it.
    fn verdict(case: &str) -> (Option<Verdict>, Run) {
        let mut run = Run::default();
        for f in captured(case) {
            if let Some(v) = run.feed(&f) {
                return (Some(v), run);
            }
        }
        (None, run)
    }

    #[test]
    fn the_first_run_request_is_what_a_browser_sends() {
        let browser = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/captured/streamlit/healthy/backmsg.bin"),
        )
        .unwrap();
        assert_eq!(first_run_request(), browser);
        assert_eq!(
            first_run_request(),
            [0x5a, 0x08, 0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00]
        );
    }

    #[test]
    fn captured_runs_get_the_verdict_streamlit_meant() {
        let (v, run) = verdict("healthy");
        assert_eq!(v, Some(Verdict::Finished { shown: 0 }));
        assert_eq!(run.streamlit_version.as_deref(), Some("1.40.0"));
        let (v, _) = verdict("import_error");
        let Some(Verdict::Raised(e)) = v else {
            panic!("{v:?}")
        };
        assert_eq!(e.r#type, "ModuleNotFoundError");
        let expected: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/streamlit/import_error/expected.json"
        ))
        .unwrap();
        assert_eq!(
            e.traceback(),
            expected["exception"]["traceback_text"].as_str().unwrap()
        );
        assert!(hint_for(&e).contains("add it to requirements.txt"));
        let (v, _) = verdict("syntax_error");
        let Some(Verdict::CompileError(Some(e))) = v else {
            panic!("{v:?}")
        };
        assert!(
            e.traceback().ends_with("SyntaxError: '(' was never closed"),
            "{}",
            e.traceback()
        );
        for (case, expect) in [
            ("stop", Some(Verdict::Finished { shown: 0 })),
            ("rerun", Some(Verdict::Finished { shown: 0 })),
            ("shown_exception", Some(Verdict::Finished { shown: 1 })),
            ("ref_hash", Some(Verdict::Finished { shown: 0 })),
            ("slow_import", Some(Verdict::Finished { shown: 0 })),
            ("sys_exit", None),
        ] {
            assert_eq!(verdict(case).0, expect, "{case}");
        }
        for case in ["hidden_error", "error_in_column"] {
            assert!(
                matches!(verdict(case).0, Some(Verdict::Raised(_))),
                "{case}"
            );
        }
        // A run that never finishes says so: started, still running.
        let (_, run) = verdict("sys_exit");
        assert!(run.started && run.running == Some(true));
    }

    #[test]
    fn other_versions_get_the_same_verdicts() {
        for v in ["1.35.0", "1.67.0"] {
            let (healthy, _) = verdict(&format!("other-versions/{v}/healthy"));
            assert_eq!(healthy, Some(Verdict::Finished { shown: 0 }), "{v}");
            let (raised, _) = verdict(&format!("other-versions/{v}/import_error"));
            assert!(
                matches!(raised, Some(Verdict::Raised(_))),
                "{v}: {raised:?}"
            );
        }
    }

    #[test]
    fn frames_it_cannot_read_are_skipped() {
        let mut run = Run::default();
        assert_eq!(run.feed(b"\xff\xff\xff"), None);
        assert_eq!(run.feed(b""), None);
        assert!(!run.started);
    }

    #[test]
    fn an_unended_run_says_what_was_seen() {
        assert_eq!(Run::default().progress(), "no run started; 0 message(s)");
        // The healthy run's frames up to (not including) its end.
        let frames = captured("healthy");
        let mut run = Run::default();
        for f in &frames {
            if matches!(
                ForwardMsg::decode(f.as_slice()).ok().and_then(|m| m.r#type),
                Some(forward_msg::Type::ScriptFinished(_))
            ) {
                break;
            }
            assert_eq!(run.feed(f), None);
        }
        let seen = run.progress();
        assert!(
            seen.starts_with("Streamlit says the script is still running; "),
            "{seen}"
        );
        assert!(
            seen.ends_with(&format!("{} message(s)", run.messages)),
            "{seen}"
        );
    }

    /// The server's side of the handshake: Streamlit's subprotocol chosen, as Tornado does.
    #[allow(clippy::result_large_err)] // tungstenite's callback type
    fn choose_streamlit(
        _: &tungstenite::handshake::server::Request,
        mut r: tungstenite::handshake::server::Response,
    ) -> Result<
        tungstenite::handshake::server::Response,
        tungstenite::handshake::server::ErrorResponse,
    > {
        r.headers_mut()
            .insert("Sec-WebSocket-Protocol", "streamlit".parse().unwrap());
        Ok(r)
    }

    /// A local websocket server that plays Streamlit: each session (one per entry) reads the
    /// browser's request, sends its frames, then closes with its reason or stays open.
    fn fake_streamlit(sessions: Vec<(Vec<Vec<u8>>, Option<&'static str>)>) -> String {
        use tungstenite::protocol::frame::coding::CloseCode;
        use tungstenite::protocol::CloseFrame;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut open = Vec::new();
            for (frames, close) in sessions {
                let (stream, _) = listener.accept().unwrap();
                let mut ws = tungstenite::accept_hdr(stream, choose_streamlit).unwrap();
                let request = ws.read().unwrap().into_data();
                assert_eq!(request.as_ref(), first_run_request().as_slice());
                for f in frames {
                    ws.send(tungstenite::Message::Binary(f.into())).unwrap();
                }
                match close {
                    Some(reason) => {
                        ws.close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: reason.into(),
                        }))
                        .unwrap();
                        let _ = ws.flush();
                    }
                    None => open.push(ws),
                }
            }
            std::thread::sleep(Duration::from_secs(30));
        });
        url
    }

    #[test]
    fn a_session_the_server_closes_is_opened_again_and_its_run_counts() {
        let frames = captured("healthy");
        // Tornado's own words when a pong comes late.
        let url = fake_streamlit(vec![
            (frames[..2].to_vec(), Some("ping timed out")),
            (frames.clone(), None),
        ]);
        let first = first_run(&url, Duration::from_secs(20), &Cancel::new())
            .unwrap()
            .unwrap();
        assert_eq!(first.verdict, Some(Verdict::Finished { shown: 0 }));
        assert_eq!(first.closes, ["closed with code 1000: ping timed out"]);
        assert!(!first.closed);
        // Messages count across sessions: the closed one's two and the run's own.
        assert_eq!(first.run.messages, 2 + verdict("healthy").1.messages);
    }

    #[test]
    fn sessions_that_keep_closing_end_the_wait_with_every_reason() {
        let frames = captured("healthy");
        let mut sessions = vec![(frames[..1].to_vec(), Some("ping timed out")); SESSIONS - 1];
        sessions.push((frames[..2].to_vec(), Some("going away")));
        // One more is never asked for.
        sessions.push((frames.clone(), None));
        let url = fake_streamlit(sessions);
        let start = Instant::now();
        let first = first_run(&url, Duration::from_secs(20), &Cancel::new())
            .unwrap()
            .unwrap();
        assert_eq!(first.verdict, None);
        assert!(first.closed);
        let mut said = vec!["closed with code 1000: ping timed out"; SESSIONS - 1];
        said.push("closed with code 1000: going away");
        assert_eq!(first.closes, said);
        assert!(first.run.started, "{:?}", first.run);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "it waited out the time"
        );
    }

    #[test]
    fn a_session_gone_without_a_close_is_found_by_a_ping_and_opened_again() {
        let frames = captured("healthy");
        // The first session sends two frames, then neither reads nor answers (its pongs are
        // never written): a connection that died on the way.
        let url = fake_streamlit(vec![(frames[..2].to_vec(), None), (frames.clone(), None)]);
        let liveness = Liveness {
            ping_after: Duration::from_millis(300),
            dead_after: Duration::from_millis(700),
        };
        let start = Instant::now();
        let first = first_run_with(&url, Duration::from_secs(20), &Cancel::new(), liveness)
            .unwrap()
            .unwrap();
        assert_eq!(first.verdict, Some(Verdict::Finished { shown: 0 }));
        assert_eq!(first.closes.len(), 1, "{:?}", first.closes);
        assert!(
            first.closes[0]
                .ends_with(" s, and no answer to a ping (a connection gone without a close)"),
            "{:?}",
            first.closes
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_session_that_stays_silent_times_out_without_reopening() {
        let frames = captured("healthy");
        let url = fake_streamlit(vec![(frames[..3].to_vec(), None)]);
        let first = first_run(&url, Duration::from_secs(2), &Cancel::new())
            .unwrap()
            .unwrap();
        assert_eq!(first.verdict, None);
        assert!(!first.closed);
        assert!(first.closes.is_empty());
        assert_eq!(first.run.messages, 3);
    }
}
