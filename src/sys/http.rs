//! The only module that speaks HTTP (through ureq): health checks against a local container.
//!
//! No proxy (the target is always our own published port), no redirects followed, and any
//! status is an answer, not an error: the caller decides what healthy means.

use std::time::{Duration, Instant};

/// What one GET saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Time from sending the request to the response head.
    pub ttfb: Duration,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// What Azure's HTTP probes count as success: 200-399.
    pub fn probe_ok(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// A client whose every request gives up after `timeout`.
    pub fn new(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .build();
        Http {
            agent: config.into(),
        }
    }

    /// A client for public URLs: the environment's proxy settings apply.
    pub fn public(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(ureq::Proxy::try_from_env())
            .build();
        Http {
            agent: config.into(),
        }
    }

    /// GETs `url`; `Err` carries the transport error (refused, reset, timed out).
    pub fn get(&self, url: &str) -> Result<Answer, String> {
        let t = Instant::now();
        match self.agent.get(url).call() {
            Ok(resp) => Ok(Answer {
                status: resp.status().as_u16(),
                ttfb: t.elapsed(),
            }),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server answering `status` to each of `n` connections.
    fn serve(statuses: Vec<u16>) -> (String, std::thread::JoinHandle<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/_stcore/health", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            for status in statuses {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf);
                let body = "ok";
                let _ = write!(
                    c,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, h)
    }

    #[test]
    fn any_status_is_an_answer() {
        let (url, h) = serve(vec![404, 200]);
        let http = Http::new(Duration::from_secs(2));
        let a = http.get(&url).unwrap();
        assert_eq!((a.status, a.ok()), (404, false));
        let a = http.get(&url).unwrap();
        assert_eq!((a.status, a.ok()), (200, true));
        h.join().unwrap();
    }

    #[test]
    fn refused_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = Http::new(Duration::from_secs(2));
        assert!(http.get(&format!("http://127.0.0.1:{port}/")).is_err());
    }
}
