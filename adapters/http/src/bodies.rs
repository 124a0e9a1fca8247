//! The JSON shapes of the contract: request bodies as clients send them
//! (every field optional here, so the use cases report what is missing or
//! invalid) and answers exactly as `shared/API.md` spells them.

use application::use_cases::{
    CreateTaskInput, ListTasksInput, LoggedIn, TaskPage, UpdateTaskInput,
};
use application::{AppError, FieldError};
use domain::{Task, User};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Every timestamp answered, in the one form all front ends share.
pub(crate) use application::timestamps::rfc3339;

/// Tells `"field": null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RegisterRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub(crate) email: Option<String>,
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub(crate) password: Option<String>,
    #[schema(max_length = 100, pattern = "^[^\\u0000]*$")]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub(crate) email: Option<String>,
    /// Any text: a login is answered "unauthorized", never "invalid".
    #[schema(value_type = String)]
    pub(crate) password: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PriorityName {
    Low,
    Medium,
    High,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateTaskRequest {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
    pub(crate) title: Option<String>,
    #[schema(max_length = 5000, pattern = "^[^\\u0000]*$")]
    pub(crate) description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub(crate) completed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = PriorityName, required = false)]
    pub(crate) priority: Option<Option<String>>,
    /// RFC 3339 date-time with a mandatory `Z` or `±hh:mm` offset. Once
    /// converted to UTC it must lie from 0000-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999999Z (else 422). Fractional seconds are
    /// truncated to microseconds.
    #[schema(value_type = Option<String>, format = DateTime, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    pub(crate) due_at: Option<String>,
}

impl CreateTaskRequest {
    /// The use case's input, or a 422 for `completed` or `priority` sent
    /// as `null` (they may be absent, but have no "no value").
    pub(crate) fn into_input(self) -> Result<CreateTaskInput, AppError> {
        let mut nulls = Vec::new();
        if self.completed == Some(None) {
            nulls.push(FieldError::new("completed", "must not be null"));
        }
        if self.priority == Some(None) {
            nulls.push(FieldError::new("priority", "must not be null"));
        }
        if !nulls.is_empty() {
            return Err(AppError::Validation(nulls));
        }
        Ok(CreateTaskInput {
            title: self.title,
            description: self.description,
            completed: self.completed.flatten(),
            priority: self.priority.flatten(),
            due_at: self.due_at,
        })
    }
}

/// A PATCH body: absent fields stay as they are, `null` clears
/// `description` or `due_at`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct UpdateTaskRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
    pub(crate) title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, max_length = 5000, pattern = "^[^\\u0000]*$")]
    pub(crate) description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub(crate) completed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = PriorityName, required = false)]
    pub(crate) priority: Option<Option<String>>,
    /// RFC 3339 date-time with a mandatory `Z` or `±hh:mm` offset. Once
    /// converted to UTC it must lie from 0000-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999999Z (else 422). Fractional seconds are
    /// truncated to microseconds. `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, format = DateTime, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    pub(crate) due_at: Option<Option<String>>,
}

impl From<UpdateTaskRequest> for UpdateTaskInput {
    fn from(body: UpdateTaskRequest) -> Self {
        Self {
            title: body.title,
            description: body.description,
            completed: body.completed,
            priority: body.priority,
            due_at: body.due_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub(crate) enum SortName {
    #[serde(rename = "created_at")]
    #[schema(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    #[schema(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "due_at")]
    #[schema(rename = "due_at")]
    DueAt,
    #[serde(rename = "priority")]
    #[schema(rename = "priority")]
    Priority,
}

/// `GET /api/v1/tasks` query parameters, kept as text for the use case.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only completed (`true`) or open (`false`) tasks.
    #[param(value_type = Option<bool>)]
    pub(crate) completed: Option<String>,
    /// Case-insensitive substring of the title.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub(crate) q: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<String>,
    /// Opaque: the `next_cursor` of the previous page, same `sort`.
    #[param(max_length = 256)]
    pub(crate) cursor: Option<String>,
    /// Default `-created_at` (newest first).
    #[param(value_type = Option<SortName>)]
    pub(crate) sort: Option<String>,
}

impl From<ListQuery> for ListTasksInput {
    fn from(query: ListQuery) -> Self {
        Self {
            completed: query.completed,
            q: query.q,
            limit: query.limit,
            cursor: query.cursor,
            sort: query.sort,
        }
    }
}

/// A task as answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskBody {
    pub(crate) id: Uuid,
    pub(crate) title: String,
    #[schema(required = true)]
    pub(crate) description: Option<String>,
    pub(crate) completed: bool,
    pub(crate) priority: PriorityName,
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub(crate) due_at: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) updated_at: String,
    /// Starts at 1, grows by one on every change; also the `ETag`.
    #[schema(minimum = 1)]
    pub(crate) version: i64,
}

impl From<&Task> for TaskBody {
    fn from(task: &Task) -> Self {
        Self {
            id: task.id.as_uuid(),
            title: task.title.as_str().to_owned(),
            description: task.description.as_ref().map(|d| d.as_str().to_owned()),
            completed: task.completed,
            priority: match task.priority {
                domain::Priority::Low => PriorityName::Low,
                domain::Priority::Medium => PriorityName::Medium,
                domain::Priority::High => PriorityName::High,
            },
            due_at: task.due_at.as_ref().map(rfc3339),
            created_at: rfc3339(&task.created_at),
            updated_at: rfc3339(&task.updated_at),
            version: task.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskListBody {
    pub(crate) items: Vec<TaskBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

impl From<&TaskPage> for TaskListBody {
    fn from(page: &TaskPage) -> Self {
        Self {
            items: page.items.iter().map(TaskBody::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// A user as answered: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserBody {
    pub(crate) id: Uuid,
    #[schema(format = Email)]
    pub(crate) email: String,
    #[schema(required = true)]
    pub(crate) name: Option<String>,
    /// Whether the owner confirmed the address (the link of the verification mail).
    pub(crate) email_verified: bool,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_ref().map(|n| n.as_str().to_owned()),
            email_verified: user.email_verified,
            created_at: rfc3339(&user.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) enum TokenType {
    Bearer,
}

/// A login's or a refresh's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginBody {
    pub(crate) access_token: String,
    pub(crate) token_type: TokenType,
    /// When the access token stops working (`auth.access_ttl_secs`, never
    /// past the session).
    #[schema(value_type = String, format = DateTime)]
    pub(crate) expires_at: String,
    /// Opaque, single use: `POST /api/v1/auth/refresh` spends it for a new
    /// pair. Presenting it twice ends the session.
    pub(crate) refresh_token: String,
    /// When the session ends (`auth.session_ttl_secs` after login).
    #[schema(value_type = String, format = DateTime)]
    pub(crate) refresh_expires_at: String,
    pub(crate) user: UserBody,
}

impl From<&LoggedIn> for LoginBody {
    fn from(login: &LoggedIn) -> Self {
        Self {
            access_token: login.access_token.clone(),
            token_type: TokenType::Bearer,
            expires_at: rfc3339(&login.expires_at),
            refresh_token: login.refresh_token.clone(),
            refresh_expires_at: rfc3339(&login.refresh_expires_at),
            user: UserBody::from(&login.user),
        }
    }
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusBody {
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_body_tells_null_from_absent() {
        let body: UpdateTaskRequest =
            serde_json::from_str(r#"{"description": null, "title": "x"}"#).unwrap();
        assert_eq!(body.description, Some(None));
        assert_eq!(body.title, Some(Some("x".to_owned())));
        assert_eq!(body.due_at, None);
        assert_eq!(body.completed, None);
    }

    #[test]
    fn timestamps_are_utc_with_z() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-05-01T12:00:00+02:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(rfc3339(&at), "2026-05-01T10:00:00.000000Z");
        let milli = at + chrono::Duration::milliseconds(250);
        assert_eq!(rfc3339(&milli), "2026-05-01T10:00:00.250000Z");
        let micro = at + chrono::Duration::microseconds(1500);
        assert_eq!(rfc3339(&micro), "2026-05-01T10:00:00.001500Z");
        assert_eq!(
            rfc3339(&domain::task::latest_instant()),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            rfc3339(&domain::task::earliest_instant()),
            "0000-01-01T00:00:00.000000Z"
        );
    }
}
