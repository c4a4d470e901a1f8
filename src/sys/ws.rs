//! The one websocket client (`tungstenite`, blocking, over a plain TCP stream to our own
//! published port): connect with subprotocols, send binary frames and pings, read binary frames
//! with a deadline. Pings are answered by the library while reading.
//!
//! May import: nothing of the crate.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Messages as large as a big first render (a data frame of a few hundred MiB).
const MAX_MESSAGE: usize = 256 << 20;

/// What a read brought.
#[derive(Debug)]
pub enum Frame {
    Binary(Vec<u8>),
    /// Nothing before the deadline.
    Timeout,
    /// A ping or a pong: nothing to read, but the peer is there.
    Control,
    /// The connection ended: the server's close frame (code and reason) or what the socket
    /// said.
    Closed(String),
}

pub struct Socket {
    ws: WebSocket<TcpStream>,
}

impl Socket {
    /// Connects to `url` (`ws://host:port/path`) offering `protocols`, within `timeout`.
    pub fn connect(url: &str, protocols: &str, timeout: Duration) -> Result<Socket, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols
                .parse()
                .map_err(|_| "bad subprotocol list".to_string())?,
        );
        let host = request.uri().host().unwrap_or("127.0.0.1").to_string();
        let port = request.uri().port_u16().unwrap_or(80);
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("{host}:{port} resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, _) = tungstenite::client::client_with_config(request, stream, Some(config))
            .map_err(|e| format!("the websocket handshake failed: {e}"))?;
        Ok(Socket { ws })
    }

    pub fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.ws
            .send(Message::Binary(bytes.into()))
            .map_err(|e| e.to_string())
    }

    /// A ping: the peer answers it with a pong (read as [`Frame::Control`]).
    pub fn ping(&mut self) -> Result<(), String> {
        self.ws
            .send(Message::Ping(Vec::new().into()))
            .map_err(|e| e.to_string())
    }

    /// The next binary frame, waiting until `deadline` at most (in steps of `step`, so the
    /// caller can look at a cancel token between reads).
    pub fn read(&mut self, deadline: Instant, step: Duration) -> Result<Frame, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Frame::Timeout);
        }
        self.ws
            .get_mut()
            .set_read_timeout(Some(left.min(step).max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        match self.ws.read() {
            Ok(Message::Binary(b)) => Ok(Frame::Binary(b.to_vec())),
            Ok(Message::Close(frame)) => Ok(Frame::Closed(match frame {
                Some(f) if f.reason.is_empty() => format!("closed with code {}", f.code),
                Some(f) => format!("closed with code {}: {}", f.code, f.reason),
                None => "closed without a reason".into(),
            })),
            Ok(Message::Text(t)) => Err(format!("an unexpected text frame: {}", t.as_str())),
            Ok(Message::Ping(_) | Message::Pong(_)) => Ok(Frame::Control),
            Ok(Message::Frame(_)) => Ok(Frame::Timeout),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                Ok(Frame::Timeout)
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Ok(Frame::Closed("the connection was closed".into()))
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(Frame::Closed(e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Closes politely (best effort).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
