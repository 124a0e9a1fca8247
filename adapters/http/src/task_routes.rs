//! `/api/v1/tasks` and `/api/v1/tasks/{id}`.

use application::AppError;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::Task;

use crate::bodies::{CreateTaskRequest, ListQuery, TaskBody, TaskListBody, UpdateTaskRequest};
use crate::extract::{ApiQuery, Authenticated, JsonBody, TaskIdPath};
use crate::preconditions::{etag, if_match, none_match_hits};
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

/// A single-task answer: the body and its `ETag`.
fn task_response(status: StatusCode, task: &Task) -> Response {
    let mut response = json(status, &TaskBody::from(task));
    response
        .headers_mut()
        .insert(header::ETAG, etag(task.version));
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
    JsonBody { value: body }: JsonBody<CreateTaskRequest>,
) -> Result<Response, ApiError> {
    let idempotency = idempotency_key(&headers)?;
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

/// The client's `Idempotency-Key`. Whether it is a retry or a reuse is
/// decided by the use case from the validated command.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    match (value.to_str(), values.next()) {
        (Ok(key), None) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::from(AppError::validation(
            "Idempotency-Key",
            "must be one header of 1 to 255 printable characters",
        ))),
    }
}

/// One task.
#[utoipa::path(
    get, path = "/api/v1/tasks/{id}", operation_id = "get_task", tag = "tasks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The task's id"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "\"<version>\" (or W/\"<version>\"), or *: 304 when it names the current version"),
    ),
    responses(
        (status = 200, description = "The task", body = TaskBody,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 304, description = "If-None-Match names the current version",
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed If-None-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    TaskIdPath(id): TaskIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let task = state.tasks.get(&principal, &id).await?;
    if none_match_hits(&headers, task.version)? {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert(header::ETAG, etag(task.version));
        return Ok(response);
    }
    Ok(task_response(StatusCode::OK, &task))
}

/// Changes some of a task's fields; `null` clears `description` or `due_at`.
#[utoipa::path(
    patch, path = "/api/v1/tasks/{id}", operation_id = "update_task", tag = "tasks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The task's id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^[ \t]*(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*|[0-9]+)[ \t]*$"#, description = "\"<version>\" (or a bare number), or *; compared strongly: W/\"<version>\" never matches"),
    ),
    request_body(content = UpdateTaskRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated task", body = TaskBody,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = Problem, content_type = "application/problem+json",
            headers(("ETag" = String, description = "The current \"<version>\""))),
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
    JsonBody { value: body }: JsonBody<UpdateTaskRequest>,
) -> Result<Response, ApiError> {
    let precondition = if_match(&headers)?;
    let task = state
        .tasks
        .update(&principal, &id, body.into(), precondition)
        .await?;
    Ok(task_response(StatusCode::OK, &task))
}

/// Deletes a task.
#[utoipa::path(
    delete, path = "/api/v1/tasks/{id}", operation_id = "delete_task", tag = "tasks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The task's id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^[ \t]*(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*|[0-9]+)[ \t]*$"#, description = "\"<version>\" (or a bare number), or *; compared strongly: W/\"<version>\" never matches"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version; nothing deleted", body = Problem, content_type = "application/problem+json",
            headers(("ETag" = String, description = "The current \"<version>\""))),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    TaskIdPath(id): TaskIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let precondition = if_match(&headers)?;
    state.tasks.delete(&principal, &id, precondition).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
