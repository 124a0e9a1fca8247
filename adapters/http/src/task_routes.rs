//! `/api/v1/tasks` and `/api/v1/tasks/{id}`.

use application::ports::IdempotencyKey;
use application::AppError;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::Task;
use sha2::{Digest, Sha256};

use crate::bodies::{CreateTaskRequest, ListQuery, TaskBody, TaskListBody, UpdateTaskRequest};
use crate::extract::{ApiQuery, Authenticated, JsonBody, TaskIdPath};
use crate::preconditions::{if_match, IfMatch};
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

/// A single-task answer: the body and its `ETag`.
fn task_response(status: StatusCode, task: &Task) -> Response {
    let mut response = json(status, &TaskBody::from(task));
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{}\"", task.version))
            .expect("a number in quotes is a valid header value"),
    );
    response
}

/// The caller's tasks, filtered, searched, sorted and paged.
#[utoipa::path(
    get, path = "/api/v1/tasks", operation_id = "list_tasks", tag = "tasks",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = TaskListBody),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let page = state.tasks.list(&principal, query.into()).await?;
    Ok(json(StatusCode::OK, &TaskListBody::from(&page)))
}

/// Creates a task. With `Idempotency-Key`, a repeat with the same key and
/// body returns the first answer (201, same task) and creates nothing.
#[utoipa::path(
    post, path = "/api/v1/tasks", operation_id = "create_task", tag = "tasks",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[ -~]*[!-~][ -~]*$",
        description = "Makes retries safe: the same key and body return the first answer")),
    request_body = CreateTaskRequest,
    responses(
        (status = 201, description = "The new task (or, for a repeated Idempotency-Key, the first one)", body = TaskBody,
            headers(("Location" = String, description = "/api/v1/tasks/{id}"), ("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    JsonBody { value: body, raw }: JsonBody<CreateTaskRequest>,
) -> Result<Response, ApiError> {
    let idempotency = idempotency_key(&headers, &raw)?;
    let (task, _created) = state
        .tasks
        .create(&principal, body.into_input()?, idempotency)
        .await?;
    let mut response = task_response(StatusCode::CREATED, &task);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/tasks/{}", task.id))
            .expect("a UUID path is a valid header value"),
    );
    Ok(response)
}

/// The client's `Idempotency-Key` with the SHA-256 of the raw body, so a
/// reused key with another body is told apart from a retry.
fn idempotency_key(headers: &HeaderMap, raw: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let key = match (value.to_str(), values.next()) {
        (Ok(key), None) => key.to_owned(),
        _ => {
            return Err(ApiError::from(AppError::validation(
                "Idempotency-Key",
                "must be one header of 1 to 255 printable characters",
            )))
        }
    };
    let fingerprint = format!("{:x}", Sha256::digest(raw));
    Ok(Some(IdempotencyKey { key, fingerprint }))
}

/// One task.
#[utoipa::path(
    get, path = "/api/v1/tasks/{id}", operation_id = "get_task", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = TaskBody,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    TaskIdPath(id): TaskIdPath,
) -> Result<Response, ApiError> {
    let task = state.tasks.get(&principal, &id).await?;
    Ok(task_response(StatusCode::OK, &task))
}

/// Changes some of a task's fields; `null` clears `description` or `due_at`.
#[utoipa::path(
    patch, path = "/api/v1/tasks/{id}", operation_id = "update_task", tag = "tasks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The task's id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^[ \t]*(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*|[0-9]+)[ \t]*$"#, description = "\"<version>\" (also W/\"<version>\" or a bare number), or *"),
    ),
    request_body(content = UpdateTaskRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated task", body = TaskBody,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    TaskIdPath(id): TaskIdPath,
    headers: HeaderMap,
    JsonBody { value: body, .. }: JsonBody<UpdateTaskRequest>,
) -> Result<Response, ApiError> {
    let expected_version = match if_match(&headers)? {
        None | Some(IfMatch::Any) => None,
        Some(IfMatch::Versions(versions)) => Some(match versions.as_slice() {
            [] => NEVER_A_VERSION,
            [one] => *one,
            several => {
                // Any of several may match: compare with the current one,
                // then let the update re-check it atomically.
                let current = state.tasks.get(&principal, &id).await?.version;
                if several.contains(&current) {
                    current
                } else {
                    NEVER_A_VERSION
                }
            }
        }),
    };
    let task = state
        .tasks
        .update(&principal, &id, body.into(), expected_version)
        .await?;
    Ok(task_response(StatusCode::OK, &task))
}

/// Versions start at 1, so expecting 0 fails the precondition (412) while
/// still answering 404 for a task the caller cannot see.
const NEVER_A_VERSION: i64 = 0;

/// Deletes a task.
#[utoipa::path(
    delete, path = "/api/v1/tasks/{id}", operation_id = "delete_task", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The task's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    TaskIdPath(id): TaskIdPath,
) -> Result<Response, ApiError> {
    state.tasks.delete(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
