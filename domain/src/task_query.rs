//! Listing tasks: filters, sort orders, and opaque keyset cursors.
//!
//! A cursor records the position of the last task of a page in the sort
//! order it was made for. The next page starts strictly after it, so paging
//! visits every task once even while new tasks are inserted.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::task::in_four_digit_years;
use crate::{Priority, Task, TaskId, Timestamp};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
pub const MAX_SEARCH_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSort {
    /// `created_at`: oldest first.
    CreatedAsc,
    /// `-created_at`: newest first (the default).
    #[default]
    CreatedDesc,
    /// `due_at`: soonest first, tasks without a due date last.
    DueAsc,
    /// `priority`: high first, newest first within a priority.
    Priority,
}

impl TaskSort {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAsc => "created_at",
            Self::CreatedDesc => "-created_at",
            Self::DueAsc => "due_at",
            Self::Priority => "priority",
        }
    }
}

impl FromStr for TaskSort {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created_at" => Ok(Self::CreatedAsc),
            "-created_at" => Ok(Self::CreatedDesc),
            "due_at" => Ok(Self::DueAsc),
            "priority" => Ok(Self::Priority),
            _ => Err(()),
        }
    }
}

/// One page request, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    pub completed: Option<bool>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
    pub sort: TaskSort,
    /// How many tasks to return: 1..=MAX_LIMIT.
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Default for TaskQuery {
    fn default() -> Self {
        Self {
            completed: None,
            search: None,
            sort: TaskSort::default(),
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("is not a valid cursor")]
    Malformed,
    #[error("was made for another sort order")]
    SortMismatch,
}

/// The position of a task in a sort order. Only the parts the order needs
/// are meaningful, but all are kept so one type serves every order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub sort: TaskSort,
    pub id: TaskId,
    pub created_at: Timestamp,
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
}

const CURSOR_VERSION: &str = "c1";

impl Cursor {
    pub fn after(task: &Task, sort: TaskSort) -> Self {
        Self {
            sort,
            id: task.id,
            created_at: task.created_at,
            due_at: task.due_at,
            priority: task.priority,
        }
    }

    /// The opaque text handed to clients as `next_cursor`.
    pub fn encode(&self) -> String {
        let due = self
            .due_at
            .map(|d| d.timestamp_micros().to_string())
            .unwrap_or_else(|| "-".to_owned());
        let plain = format!(
            "{CURSOR_VERSION}|{}|{}|{}|{}|{}",
            self.sort.as_str(),
            self.id,
            self.created_at.timestamp_micros(),
            due,
            self.priority.as_str()
        );
        URL_SAFE_NO_PAD.encode(plain)
    }

    /// Parses a client's cursor for a request sorted by `sort`.
    pub fn decode(text: &str, sort: TaskSort) -> Result<Self, CursorError> {
        if text.len() > 256 {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        let plain = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        let parts: Vec<&str> = plain.split('|').collect();
        let [version, sort_text, id, created, due, priority] = parts[..] else {
            return Err(CursorError::Malformed);
        };
        if version != CURSOR_VERSION {
            return Err(CursorError::Malformed);
        }
        let cursor_sort: TaskSort = sort_text.parse().map_err(|_| CursorError::Malformed)?;
        let cursor = Self {
            sort: cursor_sort,
            id: id.parse().map_err(|_| CursorError::Malformed)?,
            created_at: micros(created)?,
            due_at: if due == "-" { None } else { Some(micros(due)?) },
            priority: priority.parse().map_err(|_| CursorError::Malformed)?,
        };
        if cursor_sort != sort {
            return Err(CursorError::SortMismatch);
        }
        Ok(cursor)
    }
}

/// An instant of a cursor: only one a stored task can hold (the four-digit
/// years), so a tampered cursor is refused here instead of failing in the
/// database, whose range is narrower than chrono's.
fn micros(text: &str) -> Result<Timestamp, CursorError> {
    let value: i64 = text.parse().map_err(|_| CursorError::Malformed)?;
    DateTime::<Utc>::from_timestamp_micros(value)
        .filter(in_four_digit_years)
        .ok_or(CursorError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewTask, Title, UserId};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn task(due: Option<Timestamp>) -> Task {
        NewTask {
            title: Title::parse("x").unwrap(),
            description: None,
            completed: false,
            priority: Priority::High,
            due_at: due,
        }
        .into_task(
            UserId::new(),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        )
    }

    #[test]
    fn cursor_round_trips_for_every_sort() {
        let due = Some(Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap());
        for sort in [
            TaskSort::CreatedAsc,
            TaskSort::CreatedDesc,
            TaskSort::DueAsc,
            TaskSort::Priority,
        ] {
            for d in [None, due] {
                let cursor = Cursor::after(&task(d), sort);
                assert_eq!(Cursor::decode(&cursor.encode(), sort), Ok(cursor));
            }
        }
    }

    #[test]
    fn cursor_for_another_sort_is_refused() {
        let text = Cursor::after(&task(None), TaskSort::DueAsc).encode();
        assert_eq!(
            Cursor::decode(&text, TaskSort::CreatedDesc),
            Err(CursorError::SortMismatch)
        );
    }

    #[test]
    fn garbage_cursor_is_malformed() {
        for bad in ["", "!!!", "YWJj", &"A".repeat(1000)] {
            assert_eq!(
                Cursor::decode(bad, TaskSort::CreatedDesc),
                Err(CursorError::Malformed)
            );
        }
    }

    #[test]
    fn cursor_with_an_instant_postgresql_cannot_hold_is_malformed() {
        // PostgreSQL's timestamptz starts in 4713 BC; chrono reaches 262143 BC.
        let id = TaskId::new();
        for (created, due) in [
            ("-8000000000000000000", "-"),
            ("0", "-8000000000000000000"),
            ("-62167219200000001", "-"),
            ("253402300800000000", "-"),
        ] {
            let plain = format!("c1|due_at|{id}|{created}|{due}|low");
            assert_eq!(
                Cursor::decode(&URL_SAFE_NO_PAD.encode(plain), TaskSort::DueAsc),
                Err(CursorError::Malformed),
                "{created} {due}"
            );
        }
    }

    #[test]
    fn sort_names_match_the_contract() {
        for name in ["created_at", "-created_at", "due_at", "priority"] {
            assert_eq!(name.parse::<TaskSort>().unwrap().as_str(), name);
        }
        assert!("title".parse::<TaskSort>().is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_text_never_panics(text in any::<String>()) {
            let _ = Cursor::decode(&text, TaskSort::CreatedDesc);
        }

        #[test]
        fn decoding_arbitrary_base64_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Cursor::decode(&URL_SAFE_NO_PAD.encode(bytes), TaskSort::Priority);
        }

        #[test]
        fn encoded_cursors_round_trip(micros in -62_167_219_200_000_000i64..253_402_300_799_999_999i64, due in proptest::option::of(0i64..253_402_300_799_999_999i64)) {
            let cursor = Cursor {
                sort: TaskSort::DueAsc,
                id: TaskId::new(),
                created_at: DateTime::<Utc>::from_timestamp_micros(micros).unwrap(),
                due_at: due.map(|d| DateTime::<Utc>::from_timestamp_micros(d).unwrap()),
                priority: Priority::Low,
            };
            prop_assert_eq!(Cursor::decode(&cursor.encode(), TaskSort::DueAsc), Ok(cursor));
        }
    }
}
