//! The ways a test flips the fault switches: SIGUSR1, a flag file, and a
//! tiny plain-text HTTP endpoint.
//!
//! HTTP (one request per connection, any method works, POST reads best):
//! - `/cut`              close every live connection now
//! - `/refuse`, `/accept`  close new connections at once / stop doing so
//! - `/partition`, `/heal` hold all bytes in flight / release them
//! - `/delay?ms=N`       change the one-way delay (fractions allowed)
//! - `/stats`            JSON: delay, live and total connections, switches

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

use crate::state::State;

/// SIGUSR1 cuts every live connection.
pub(crate) fn spawn_signal(state: Arc<State>) -> std::io::Result<()> {
    let mut usr1 = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            eprintln!("latency-proxy: SIGUSR1, cutting every connection");
            state.cut_all();
        }
    });
    Ok(())
}

/// While `path` exists: live connections are cut and new ones refused.
pub(crate) fn spawn_flag_file(path: PathBuf, state: Arc<State>) {
    tokio::spawn(async move {
        let mut was_present = false;
        loop {
            let present = tokio::fs::try_exists(&path).await.unwrap_or(false);
            if present && !was_present {
                eprintln!(
                    "latency-proxy: {} appeared, cutting and refusing",
                    path.display()
                );
                state.set_refuse(true);
                state.cut_all();
            } else if !present && was_present {
                eprintln!("latency-proxy: {} gone, accepting again", path.display());
                state.set_refuse(false);
            }
            was_present = present;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

pub(crate) fn spawn_http(listener: TcpListener, state: Arc<State>) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                if let Err(e) = serve(stream, &state).await {
                    eprintln!("latency-proxy: control request failed: {e}");
                }
            });
        }
    });
}

async fn serve(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // The request line is all we need; read until it is complete.
    while !buf[..len].contains(&b'\n') && len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = apply(target, state);
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

fn apply(target: &str, state: &State) -> (&'static str, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/cut" => state.cut_all(),
        "/refuse" => state.set_refuse(true),
        "/accept" => state.set_refuse(false),
        "/partition" => state.set_partition(true),
        "/heal" => state.set_partition(false),
        "/delay" => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|ms| ms.is_finite() && *ms >= 0.0);
            match ms {
                Some(ms) => state.set_delay(Duration::from_secs_f64(ms / 1000.0)),
                None => return ("400 Bad Request", "{\"error\":\"want /delay?ms=N\"}".into()),
            }
        }
        "/stats" => {}
        _ => return ("404 Not Found", "{\"error\":\"unknown command\"}".into()),
    }
    ("200 OK", state.stats_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_command_changes_the_delay_and_rejects_garbage() {
        let state = State::new(Duration::from_millis(10));
        assert_eq!(apply("/delay?ms=2.5", &state).0, "200 OK");
        assert_eq!(state.delay(), Duration::from_micros(2500));
        assert_eq!(apply("/delay?ms=-1", &state).0, "400 Bad Request");
        assert_eq!(apply("/delay", &state).0, "400 Bad Request");
        assert_eq!(state.delay(), Duration::from_micros(2500));
    }

    #[test]
    fn refuse_and_accept_toggle_the_switch() {
        let state = State::new(Duration::ZERO);
        apply("/refuse", &state);
        assert!(state.refusing());
        apply("/accept", &state);
        assert!(!state.refusing());
        assert_eq!(apply("/nope", &state).0, "404 Not Found");
    }
}
