//! Unit tests of raw task input validation: the PATCH absent/null rules,
//! RFC 3339 due dates, defaults, list parameters, and reporting every bad
//! field at once.

use chrono::{TimeZone, Utc};
use domain::{Cursor, NewTask, Priority, TaskPatch, TaskQuery, TaskSort, Timestamp, Title, UserId};

use crate::use_cases::{CreateTaskInput, ListTasksInput, UpdateTaskInput};
use crate::{AppError, FieldError};

fn field_errors(err: AppError) -> Vec<FieldError> {
    match err {
        AppError::Validation(errors) => errors,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn field_names(err: AppError) -> Vec<String> {
    field_errors(err).into_iter().map(|e| e.field).collect()
}

/// Asserts that `err` is a validation error naming only `field`, for `message`.
fn assert_only_error(err: AppError, field: &str, message: &str) {
    assert_eq!(field_errors(err), [FieldError::new(field, message)]);
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// Validates a PATCH input that is all absent but for what `edit` sets.
fn patch_of(edit: impl FnOnce(&mut UpdateTaskInput)) -> Result<TaskPatch, AppError> {
    let mut input = UpdateTaskInput::default();
    edit(&mut input);
    input.validate()
}

/// An empty patch but for what `edit` sets.
fn cleared(edit: impl FnOnce(&mut TaskPatch)) -> TaskPatch {
    let mut patch = TaskPatch::default();
    edit(&mut patch);
    patch
}

/// Validates a create input that is all absent but for what `edit` sets.
fn create_of(edit: impl FnOnce(&mut CreateTaskInput)) -> Result<NewTask, AppError> {
    let mut input = CreateTaskInput::default();
    edit(&mut input);
    input.validate()
}

/// Validates list parameters that are all absent but for what `edit` sets.
fn list_of(edit: impl FnOnce(&mut ListTasksInput)) -> Result<TaskQuery, AppError> {
    let mut input = ListTasksInput::default();
    edit(&mut input);
    input.validate()
}

fn create_due(due_at: &str) -> Result<NewTask, AppError> {
    CreateTaskInput {
        title: Some("Pay rent".to_owned()),
        due_at: Some(due_at.to_owned()),
        ..CreateTaskInput::default()
    }
    .validate()
}

// ------------------------------------------------------------------ create

#[test]
fn create_defaults_to_medium_priority_not_completed_and_no_description_or_due_date() {
    let new_task = create_of(|c| c.title = Some("Buy milk".to_owned())).unwrap();

    assert_eq!(
        new_task,
        NewTask {
            title: Title::parse("Buy milk").unwrap(),
            description: None,
            completed: false,
            priority: Priority::Medium,
            due_at: None,
        }
    );
}

#[test]
fn create_keeps_every_given_field() {
    let new_task = CreateTaskInput {
        title: Some("Buy milk".to_owned()),
        description: Some("2 litres".to_owned()),
        completed: Some(true),
        priority: Some("high".to_owned()),
        due_at: Some("2030-05-01T08:00:00Z".to_owned()),
    }
    .validate()
    .unwrap();

    assert_eq!(new_task.description.unwrap().as_str(), "2 litres");
    assert!(new_task.completed);
    assert_eq!(new_task.priority, Priority::High);
    assert_eq!(new_task.due_at, Some(utc(2030, 5, 1, 8, 0, 0)));
}

#[test]
fn create_without_a_title_says_the_title_is_required() {
    let err = CreateTaskInput::default().validate().unwrap_err();

    assert_only_error(err, "title", "is required");
}

#[test]
fn create_with_a_blank_title_says_it_must_not_be_blank() {
    let err = create_of(|c| c.title = Some(" \t ".to_owned())).unwrap_err();

    assert_only_error(err, "title", "must not be blank");
}

#[test]
fn create_reports_every_invalid_field_together() {
    let err = CreateTaskInput {
        title: Some("t".repeat(201)),
        description: Some("d".repeat(5001)),
        completed: None,
        priority: Some("HIGH".to_owned()),
        due_at: Some("next tuesday".to_owned()),
    }
    .validate()
    .unwrap_err();

    assert_eq!(
        field_names(err),
        ["title", "description", "priority", "due_at"]
    );
}

// ------------------------------------------------------------------ due_at

#[test]
fn due_at_with_an_offset_is_normalised_to_utc() {
    let new_task = create_due("2030-05-01T10:00:00+02:00").unwrap();

    assert_eq!(new_task.due_at, Some(utc(2030, 5, 1, 8, 0, 0)));
}

#[test]
fn due_at_with_a_negative_offset_can_move_to_the_next_day_in_utc() {
    let new_task = create_due("2030-05-01T23:30:00-05:00").unwrap();

    assert_eq!(new_task.due_at, Some(utc(2030, 5, 2, 4, 30, 0)));
}

#[test]
fn due_at_keeps_microseconds_and_drops_finer_digits() {
    let new_task = create_due("2030-05-01T08:00:00.123456789Z").unwrap();

    let expected = utc(2030, 5, 1, 8, 0, 0) + chrono::Duration::microseconds(123_456);
    assert_eq!(new_task.due_at, Some(expected));
}

#[test]
fn due_at_that_is_not_rfc_3339_is_a_due_at_field_error() {
    for bad in [
        "tomorrow",
        "2030-05-01",
        "2030-05-01T08:00:00",
        "2030-13-01T08:00:00Z",
        "1714550400",
        "",
    ] {
        let err = create_due(bad).unwrap_err();
        assert_eq!(field_names(err), ["due_at"], "due_at {bad:?}");
    }
}

#[test]
fn due_at_leaving_the_four_digit_years_in_utc_is_a_due_at_field_error() {
    for bad in ["9999-12-31T23:00:00-01:00", "0000-01-01T00:30:00+01:00"] {
        let err = create_due(bad).unwrap_err();
        assert_eq!(field_names(err), ["due_at"], "due_at {bad:?}");
    }
    for good in ["9999-12-31T23:59:59.999999Z", "0000-01-01T00:00:00Z"] {
        assert!(create_due(good).is_ok(), "due_at {good:?}");
    }
}

// ------------------------------------------------------------------- patch

#[test]
fn patch_with_every_field_absent_changes_nothing() {
    let patch = UpdateTaskInput::default().validate().unwrap();

    assert!(patch.is_empty());
}

#[test]
fn patch_with_a_null_description_clears_it() {
    let patch = patch_of(|p| p.description = Some(None)).unwrap();

    assert_eq!(patch, cleared(|p| p.description = Some(None)));
}

#[test]
fn patch_with_a_null_due_at_clears_it() {
    let patch = patch_of(|p| p.due_at = Some(None)).unwrap();

    assert_eq!(patch, cleared(|p| p.due_at = Some(None)));
}

#[test]
fn patch_with_an_absent_description_leaves_it_unchanged() {
    let patch = patch_of(|p| p.title = Some(Some("Renamed".to_owned()))).unwrap();

    assert_eq!(patch.description, None);
    assert_eq!(patch.due_at, None);
}

#[test]
fn patch_with_a_null_title_is_a_title_error() {
    let err = patch_of(|p| p.title = Some(None)).unwrap_err();

    assert_only_error(err, "title", "must not be null");
}

#[test]
fn patch_with_null_completed_or_priority_names_both_fields() {
    let err = patch_of(|p| {
        p.completed = Some(None);
        p.priority = Some(None);
    })
    .unwrap_err();

    assert_eq!(field_names(err), ["completed", "priority"]);
}

#[test]
fn patch_sets_every_given_value_with_due_at_in_utc() {
    let patch = UpdateTaskInput {
        title: Some(Some("Renamed".to_owned())),
        description: Some(Some("details".to_owned())),
        completed: Some(Some(true)),
        priority: Some(Some("low".to_owned())),
        due_at: Some(Some("2030-05-01T10:00:00+02:00".to_owned())),
    }
    .validate()
    .unwrap();

    assert_eq!(patch.title.unwrap().as_str(), "Renamed");
    assert_eq!(patch.description.unwrap().unwrap().as_str(), "details");
    assert_eq!(patch.completed, Some(true));
    assert_eq!(patch.priority, Some(Priority::Low));
    assert_eq!(patch.due_at, Some(Some(utc(2030, 5, 1, 8, 0, 0))));
}

#[test]
fn patch_reports_every_invalid_field_together() {
    let err = UpdateTaskInput {
        title: Some(Some("   ".to_owned())),
        description: Some(Some("d".repeat(5001))),
        completed: Some(None),
        priority: Some(Some("urgent".to_owned())),
        due_at: Some(Some("soon".to_owned())),
    }
    .validate()
    .unwrap_err();

    assert_eq!(
        field_names(err),
        ["title", "description", "completed", "priority", "due_at"]
    );
}

// -------------------------------------------------------------------- list

#[test]
fn list_without_parameters_is_the_default_query() {
    let query = ListTasksInput::default().validate().unwrap();

    assert_eq!(query, TaskQuery::default());
    assert_eq!(query.sort, TaskSort::CreatedDesc);
    assert_eq!(query.limit, 50);
}

#[test]
fn list_accepts_limits_from_1_to_100() {
    for (raw, limit) in [("1", 1), ("100", 100)] {
        let query = list_of(|l| l.limit = Some(raw.to_owned())).unwrap();
        assert_eq!(query.limit, limit);
    }
}

#[test]
fn list_refuses_a_limit_outside_1_to_100() {
    for raw in ["0", "101", "-1", "ten", ""] {
        let err = list_of(|l| l.limit = Some(raw.to_owned())).unwrap_err();
        assert_eq!(field_names(err), ["limit"], "limit {raw:?}");
    }
}

#[test]
fn list_with_an_empty_search_does_not_filter() {
    let query = list_of(|l| l.q = Some(String::new())).unwrap();

    assert_eq!(query.search, None);
}

#[test]
fn list_refuses_a_search_over_200_characters_or_with_nul() {
    for bad in ["q".repeat(201), "a\0b".to_owned()] {
        let err = list_of(|l| l.q = Some(bad)).unwrap_err();
        assert_eq!(field_names(err), ["q"]);
    }
}

#[test]
fn list_refuses_a_cursor_made_for_another_sort() {
    let task = NewTask {
        title: Title::parse("x").unwrap(),
        description: None,
        completed: false,
        priority: Priority::Low,
        due_at: None,
    }
    .into_task(UserId::new(), utc(2030, 1, 1, 0, 0, 0));
    let cursor = Cursor::after(&task, TaskSort::DueAsc).encode();

    let err = list_of(|l| {
        l.cursor = Some(cursor);
        l.sort = Some("created_at".to_owned());
    })
    .unwrap_err();

    assert_eq!(field_names(err), ["cursor"]);
}

#[test]
fn list_reports_every_invalid_parameter_together() {
    let err = list_of(|l| {
        l.completed = Some("TRUE".to_owned());
        l.q = Some("q".repeat(201));
        l.limit = Some("1000".to_owned());
        l.cursor = Some("%%%".to_owned());
        l.sort = Some("title".to_owned());
    })
    .unwrap_err();

    assert_eq!(
        field_names(err),
        ["completed", "q", "limit", "sort", "cursor"]
    );
}

#[test]
fn due_at_accepts_every_four_digit_year() {
    for raw in [
        "0000-01-01T00:00:00Z",
        "1600-02-29T12:00:00.1234567Z",
        "9999-12-31T23:59:59.999999Z",
    ] {
        let task = create_due(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
        let due = task.due_at.unwrap();
        assert_eq!(due.timestamp_subsec_nanos() % 1_000, 0, "{raw}");
    }
}
