//! A minimal `/metrics` endpoint for long-running processes (the replay producer).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Serves `render()` on `GET /metrics` (and `/healthz`) from a background thread. Returns the
/// bound address (useful with port 0).
pub fn serve(
    addr: &str,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::Config(format!("metrics address {addr}: {e}")))?;
    let local = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let render = render.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                // drain headers
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let (status, body, ctype) = match path {
                    "/metrics" => ("200 OK", render(), "text/plain; version=0.0.4"),
                    "/healthz" => ("200 OK", "ok\n".to_string(), "text/plain"),
                    _ => ("404 Not Found", "not found\n".to_string(), "text/plain"),
                };
                let mut s = &stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Ok(local)
}
