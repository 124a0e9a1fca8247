//! `GET /api/v1/auth/me/export` as a streamed JSON document: the use case
//! hands its pages to a sink that serializes each and sends it down a
//! small channel to the response body, so the server holds a page or two
//! whatever the account stores. A failure before the first byte is an
//! ordinary problem answer; a failure after it ends the body early (the
//! client sees an incomplete answer, never a truncated document that
//! parses).

use std::io;

use application::use_cases::{AccountExportSink, SinkError};
use application::Principal;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{SecurityEvent, Session, SessionId, Task, User};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::account_bodies::{EventBody, ExportedSessionBody, SessionBody};
use crate::bodies::{rfc3339, TaskBody, UserBody};
use crate::problem::ApiError;
use crate::state::AppState;

/// Chunks in flight between the export and the client.
const CHANNEL_CHUNKS: usize = 4;

type Chunk = Result<Bytes, io::Error>;

/// Where the document is: which array the next items go to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Tasks { any: bool },
    Events { any: bool },
}

struct JsonSink {
    tx: mpsc::Sender<Chunk>,
    current: SessionId,
    part: Part,
    started: bool,
}

impl JsonSink {
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), SinkError> {
        self.tx
            .send(Ok(Bytes::from(bytes)))
            .await
            .map_err(|_| "the client went away".into())
    }

    /// Appends each item, comma-separated from what came before.
    fn items<T: Serialize>(
        out: &mut Vec<u8>,
        any: &mut bool,
        items: impl Iterator<Item = T>,
    ) -> Result<(), SinkError> {
        for item in items {
            if *any {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, &item)?;
            *any = true;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl AccountExportSink for JsonSink {
    async fn start(&mut self, user: &User, sessions: &[Session]) -> Result<(), SinkError> {
        let mut out = b"{\"user\":".to_vec();
        serde_json::to_writer(&mut out, &UserBody::from(user))?;
        out.extend_from_slice(b",\"sessions\":[");
        let mut any = false;
        Self::items(
            &mut out,
            &mut any,
            sessions.iter().map(|s| ExportedSessionBody {
                session: SessionBody::of(s, s.id == self.current),
                revoked_at: s.revoked_at.as_ref().map(rfc3339),
            }),
        )?;
        out.extend_from_slice(b"],\"tasks\":[");
        self.started = true;
        self.send(out).await
    }

    async fn tasks(&mut self, tasks: &[Task]) -> Result<(), SinkError> {
        let Part::Tasks { mut any } = self.part else {
            return Err("tasks after events".into());
        };
        let mut out = Vec::new();
        Self::items(&mut out, &mut any, tasks.iter().map(TaskBody::from))?;
        self.part = Part::Tasks { any };
        if out.is_empty() {
            return Ok(());
        }
        self.send(out).await
    }

    async fn events(&mut self, events: &[SecurityEvent]) -> Result<(), SinkError> {
        let mut out = Vec::new();
        let mut any = match self.part {
            Part::Tasks { .. } => {
                out.extend_from_slice(b"],\"events\":[");
                false
            }
            Part::Events { any } => any,
        };
        Self::items(&mut out, &mut any, events.iter().map(EventBody::from))?;
        self.part = Part::Events { any };
        if out.is_empty() {
            return Ok(());
        }
        self.send(out).await
    }

    async fn finish(&mut self) -> Result<(), SinkError> {
        let end: &[u8] = match self.part {
            Part::Tasks { .. } => b"],\"events\":[]}",
            Part::Events { .. } => b"]}",
        };
        self.send(end.to_vec()).await
    }
}

/// Runs the export and answers it as a streamed `200`, or the problem of
/// an export that failed before its first byte.
pub(crate) async fn answer(state: &AppState, principal: Principal) -> Result<Response, ApiError> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let auth = state.auth.clone();
    let export = tokio::spawn(async move {
        let mut sink = JsonSink {
            tx: tx.clone(),
            current: principal.session_id,
            part: Part::Tasks { any: false },
            started: false,
        };
        let result = auth.export(&principal, &mut sink).await;
        if result.is_err() && sink.started {
            // Ends the body with an error: the connection is cut rather
            // than a document that looks complete.
            let _ = tx.send(Err(io::Error::other("export failed"))).await;
        }
        result
    });
    match rx.recv().await {
        Some(Ok(first)) => {
            let rest = stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            });
            let body =
                Body::from_stream(stream::once(async { Ok::<_, io::Error>(first) }).chain(rest));
            Ok((
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )],
                body,
            )
                .into_response())
        }
        // Nothing was sent: the export failed before its first byte.
        Some(Err(_)) | None => match export.await {
            Ok(Err(err)) => Err(err.into()),
            Ok(Ok(())) | Err(_) => Err(ApiError::internal()),
        },
    }
}
