//! The caller's security events, newest first, in keyset pages.

use domain::{EventCursor, SecurityEvent};

use super::auth::AuthService;
use crate::ports::{EventPosition, Principal};
use crate::telemetry::Reported;
use crate::{AppError, FieldError};

/// Events per page unless the caller asks otherwise.
pub const DEFAULT_EVENTS_LIMIT: u32 = 20;
/// Most events per page.
pub const MAX_EVENTS_LIMIT: u32 = 100;

/// `limit` and `cursor` as a front end received them.
#[derive(Debug, Clone, Default)]
pub struct ListEventsInput {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One page: `next_cursor` is `None` on the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub items: Vec<SecurityEvent>,
    pub next_cursor: Option<String>,
}

impl AuthService {
    /// A page of the caller's events, newest first. Paging with
    /// `next_cursor` until it is `None` visits each event once.
    pub async fn events(
        &self,
        principal: &Principal,
        input: ListEventsInput,
    ) -> Result<EventPage, AppError> {
        let result = async {
            let mut errors = Vec::new();
            let limit = match input.limit.as_deref() {
                None => DEFAULT_EVENTS_LIMIT,
                Some(raw) => match raw.parse::<u32>() {
                    Ok(n) if (1..=MAX_EVENTS_LIMIT).contains(&n) => n,
                    _ => {
                        errors.push(FieldError::new(
                            "limit",
                            format!("must be a whole number from 1 to {MAX_EVENTS_LIMIT}"),
                        ));
                        DEFAULT_EVENTS_LIMIT
                    }
                },
            };
            let before = match input.cursor.as_deref() {
                None => None,
                Some(raw) => match EventCursor::decode(raw) {
                    Ok(cursor) => Some(EventPosition {
                        at: cursor.at,
                        id: cursor.id,
                    }),
                    Err(err) => {
                        errors.push(FieldError::new("cursor", err));
                        None
                    }
                },
            };
            if !errors.is_empty() {
                return Err(AppError::Validation(errors));
            }
            // One more than asked: whether a next page exists, without a
            // second statement.
            let mut items = self
                .events
                .page(principal, self.clock.now(), before, limit + 1)
                .await?;
            let next_cursor = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|e| EventCursor::after(e).encode())
            } else {
                None
            };
            Ok(EventPage { items, next_cursor })
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.events")
    }
}
