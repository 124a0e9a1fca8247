//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//! Its paths come from the router's own route list (`routes.rs`), so the
//! two cannot drift; this module adds the rest. A modifier adds the answers every operation can give (500, 503 and,
//! for operations that need a token, 401) so they are documented once;
//! the JSON then marks the headers the server always sends as required.

use serde_json::Value;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::bodies::{
    CreateTaskRequest, LoginBody, LoginRequest, PriorityName, RegisterRequest, SortName,
    StatusBody, TaskBody, TaskListBody, TokenType, UpdateTaskRequest, UserBody,
};
use crate::problem::{FieldErrorBody, Problem, PROBLEM_CONTENT_TYPE};

#[derive(OpenApi)]
#[openapi(
    info(title = "todo API", version = "1", description = "The HTTP contract v1 of the todo service."),
    components(schemas(
        Problem, FieldErrorBody, RegisterRequest, LoginRequest, LoginBody, TokenType, UserBody,
        CreateTaskRequest, UpdateTaskRequest, TaskBody, TaskListBody, PriorityName, SortName,
        StatusBody,
    )),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "tasks", description = "The caller's tasks"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

struct CommonAnswers;

fn problem_answer(description: &str, header: Option<(&str, &str)>) -> utoipa::openapi::Response {
    let mut builder = ResponseBuilder::new().description(description).content(
        PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if let Some((name, about)) = header {
        builder = builder.header(
            name,
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(String::schema_for_header())
                .description(Some(about))
                .build(),
        );
    }
    builder.build()
}

/// Helper so header schemas read naturally above.
trait HeaderSchema {
    fn schema_for_header() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;
}

impl HeaderSchema for String {
    fn schema_for_header() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .into()
    }
}

fn add_answer(operation: &mut Operation, status: &str, answer: utoipa::openapi::Response) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| answer.into());
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                headers_are_never_null(operation);
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add_answer(
                        operation,
                        "401",
                        problem_answer(
                            "Missing, malformed, expired, tampered or revoked token",
                            Some(("WWW-Authenticate", "Bearer")),
                        ),
                    );
                }
                add_answer(operation, "500", problem_answer("Internal error", None));
                add_answer(
                    operation,
                    "503",
                    problem_answer(
                        "Database unavailable or the request took too long",
                        Some(("Retry-After", "Seconds to wait before retrying")),
                    ),
                );
                retry_after_is_whole_seconds(operation);
            }
        }
    }
}

/// An optional header is absent, never `null`: drop the `null` type utoipa
/// gives `Option<String>`, so generated clients and fuzzers send text.
fn headers_are_never_null(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(parameter.parameter_in, ParameterIn::Header) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() {
            object.schema_type = SchemaType::Type(Type::String);
        }
    }
}

/// `Retry-After` is always whole seconds, at least 1 (see
/// `problem::retry_after_secs`): one integer schema on every answer that
/// carries it, whatever Rust type the annotation named.
fn retry_after_is_whole_seconds(operation: &mut Operation) {
    for answer in operation.responses.responses.values_mut() {
        let RefOr::T(answer) = answer else { continue };
        if let Some(header) = answer.headers.get_mut("Retry-After") {
            header.schema = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .into();
        }
    }
}

/// Headers the server always sends with the answer that documents them.
/// utoipa 5's `Header` has no `required`, so it is set on the JSON; a
/// required header lets a checker notice one that goes missing.
const ALWAYS_SENT_HEADERS: [&str; 4] = ["ETag", "Location", "WWW-Authenticate", "Retry-After"];

fn mark_always_sent_headers_required(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(answers) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for answer in answers.values_mut() {
            let Some(headers) = answer.get_mut("headers").and_then(Value::as_object_mut) else {
                continue;
            };
            let always_sent = headers
                .iter_mut()
                .filter(|(name, _)| ALWAYS_SENT_HEADERS.contains(&name.as_str()))
                .filter_map(|(_, header)| header.as_object_mut());
            for header in always_sent {
                header.insert("required".to_owned(), Value::Bool(true));
            }
        }
    }
}

/// The document for `paths` (the router's operations) as JSON text.
pub(crate) fn document_json(paths: utoipa::openapi::OpenApi) -> String {
    let mut api = ApiDoc::openapi().merge_from(paths);
    CommonAnswers.modify(&mut api);
    let mut doc = serde_json::to_value(api).expect("the OpenAPI document serializes");
    mark_always_sent_headers_required(&mut doc);
    serde_json::to_string(&doc).expect("a JSON value serializes")
}
