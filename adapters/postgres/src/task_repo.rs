//! [`TaskRepo`] on PostgreSQL: every method is one statement.
//!
//! Each statement starts with the same CTE, `s`, which is one row saying
//! whether the principal's session is active at `now` ($1 session, $2 user,
//! $3 now). Everything else is joined on `s.ok`, so an inactive session
//! reads and writes nothing, and the single result row tells apart
//! SessionInactive, NotFound and PreconditionFailed without a second trip.

use std::sync::LazyLock;

use application::ports::{
    CreatedTask, IdempotencyKey, Precondition, Principal, RepoError, TaskRepo,
};
use async_trait::async_trait;
use domain::{Task, TaskId, TaskPatch, TaskQuery, TaskSort, Timestamp};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::pool::{Executor, Replay};
use crate::rows::{session_ok, task_at, TASK_COLUMNS, TASK_COLUMN_COUNT};

pub(crate) struct PgTaskRepo {
    executor: Executor,
}

impl PgTaskRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

pub(crate) const SESSION_CTE: &str = "WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
        ) AS ok
    )";

/// The task columns qualified by `alias`.
fn cols(alias: &str) -> String {
    cols_of(TASK_COLUMNS, alias)
}

/// How long an idempotency key keeps its first answer, from its first use.
/// Expiry is judged at the caller's `now` (the clock port), in the create
/// statement itself: no background job, nothing wakes an idle database.
pub(crate) const IDEMPOTENCY_RETENTION_HOURS: i32 = 24;

/// Plain create. `ins` inserts only for an active session. `prior` finds a
/// row with our own id that existed before the statement: an earlier
/// attempt of this very call committed before its connection died, so
/// replaying is safe.
fn create_plain_sql() -> String {
    format!(
        "{SESSION_CTE},
        ins AS (
            INSERT INTO tasks (id, user_id, title, description, completed, priority, due_at,
                               created_at, updated_at, version, idempotency_key, idempotency_fingerprint)
            SELECT $4, $2, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM s WHERE s.ok
            ON CONFLICT (id) DO NOTHING
            RETURNING {TASK_COLUMNS}
        )
        SELECT s.ok, {ins}, {prior}
        FROM s
        LEFT JOIN ins ON true
        LEFT JOIN tasks AS prior ON s.ok AND prior.id = $4 AND prior.user_id = $2",
        ins = cols("ins"),
        prior = cols("prior"),
    )
}

/// The columns of `task_idempotency_keys` that hold the first answer, in
/// the order of [`TASK_COLUMNS`] (`task_id` is the task's id).
const ANSWER_COLUMNS: &str = "task_id, user_id, title, description, completed, priority, due_at, \
    task_created_at, task_updated_at, version";

/// Create with an idempotency key. `k` claims the key: it stores the key
/// with this create's answer (the task as created), or, when the key is
/// already held, keeps the held row and returns it when the fingerprint
/// matches (the no-op `DO UPDATE` is what makes RETURNING yield it, even
/// if it was committed concurrently after our snapshot) and nothing when
/// it differs. A key held longer than the retention is taken over as if
/// new. `ins` stores the task only when `k` holds this call's task id (a
/// new key, an expired one, or our own earlier attempt of this call).
/// `purge` drops this user's other expired keys, so the table stays
/// bounded without a background job.
fn create_keyed_sql() -> String {
    const KEY_COLUMNS: [&str; 11] = [
        "fingerprint",
        "created_at",
        "task_id",
        "title",
        "description",
        "completed",
        "priority",
        "due_at",
        "task_created_at",
        "task_updated_at",
        "version",
    ];
    let expired = format!(
        "k.created_at <= EXCLUDED.created_at - make_interval(hours => {IDEMPOTENCY_RETENTION_HOURS})"
    );
    let take_over = KEY_COLUMNS
        .iter()
        .map(|c| format!("{c} = CASE WHEN {expired} THEN EXCLUDED.{c} ELSE k.{c} END"))
        .collect::<Vec<_>>()
        .join(",\n                ");
    format!(
        "{SESSION_CTE},
        k AS (
            INSERT INTO task_idempotency_keys AS k (user_id, key, {key_columns})
            SELECT $2, $13, $14, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM s WHERE s.ok
            ON CONFLICT (user_id, key) DO UPDATE SET
                {take_over}
            WHERE {expired} OR k.fingerprint = EXCLUDED.fingerprint
            RETURNING {answer}
        ),
        ins AS (
            INSERT INTO tasks (id, user_id, title, description, completed, priority, due_at,
                               created_at, updated_at, version, idempotency_key, idempotency_fingerprint)
            SELECT $4, $2, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM k WHERE k.task_id = $4
            ON CONFLICT (id) DO NOTHING
            RETURNING id
        ),
        purge AS (
            DELETE FROM task_idempotency_keys AS d USING s
            WHERE s.ok AND d.user_id = $2 AND d.key <> $13
              AND d.created_at <= $3 - make_interval(hours => {IDEMPOTENCY_RETENTION_HOURS})
        )
        SELECT s.ok, {k}
        FROM s LEFT JOIN k ON true",
        key_columns = KEY_COLUMNS.join(", "),
        answer = cols_of(ANSWER_COLUMNS, "k"),
        k = cols_of(ANSWER_COLUMNS, "k"),
    )
}

/// `columns` (comma-separated) qualified by `alias`.
fn cols_of(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn get_sql() -> String {
    format!(
        "{SESSION_CTE}
        SELECT s.ok, {t} FROM s LEFT JOIN tasks AS t ON s.ok AND t.id = $4 AND t.user_id = $2",
        t = cols("t")
    )
}

/// The order of one sort and the keyset condition "strictly after the
/// cursor" in it ($7 created_at, $8 id, $9 due_at, $10 priority rank).
fn sort_parts(sort: TaskSort, alias: &str) -> (String, String) {
    let t = alias;
    match sort {
        TaskSort::CreatedDesc => (
            format!("{t}.created_at DESC, {t}.id DESC"),
            format!("({t}.created_at, {t}.id) < ($7, $8)"),
        ),
        TaskSort::CreatedAsc => (
            format!("{t}.created_at ASC, {t}.id ASC"),
            format!("({t}.created_at, {t}.id) > ($7, $8)"),
        ),
        TaskSort::DueAsc => (
            format!("{t}.due_at ASC NULLS LAST, {t}.id ASC"),
            format!(
                "CASE WHEN $9::timestamptz IS NULL THEN {t}.due_at IS NULL AND {t}.id > $8
                      ELSE {t}.due_at IS NULL OR {t}.due_at > $9 OR ({t}.due_at = $9 AND {t}.id > $8) END"
            ),
        ),
        TaskSort::Priority => (
            format!("{t}.priority_rank ASC, {t}.created_at DESC, {t}.id DESC"),
            format!(
                "({t}.priority_rank > $10 OR ({t}.priority_rank = $10 AND ({t}.created_at, {t}.id) < ($7, $8)))"
            ),
        ),
    }
}

/// List: $4 completed filter, $5 search text, $6 whether a cursor is
/// given, $7..$10 the cursor, $11 the limit. The search is a plain
/// substring (`strpos`, so `%` and `_` in it are literal) of both sides'
/// `task_search_key` (migration 0002: NFC, then ICU upper and lower case,
/// so it ignores case in every script whatever the database's locale).
/// The user_id-led index of the sort still drives the plan; the search
/// filters one user's tasks.
fn list_sql(sort: TaskSort) -> String {
    let (inner_order, after) = sort_parts(sort, "t");
    let (outer_order, _) = sort_parts(sort, "p");
    format!(
        "{SESSION_CTE}
        SELECT s.ok, {p}
        FROM s
        LEFT JOIN LATERAL (
            SELECT {t}, t.priority_rank
            FROM tasks AS t
            WHERE s.ok AND t.user_id = $2
              AND ($4::boolean IS NULL OR t.completed = $4)
              AND ($5::text IS NULL OR strpos(task_search_key(t.title), task_search_key($5)) > 0)
              AND (NOT $6 OR {after})
            ORDER BY {inner_order}
            LIMIT $11
        ) AS p ON true
        ORDER BY {outer_order}",
        p = cols("p"),
        t = cols("t"),
    )
}

/// Update mirroring `TaskPatch::apply`: absent fields keep their value,
/// `$6`/`$10` say whether description/due_at are set (possibly to NULL);
/// a patch that changes some value bumps the version and sets
/// `updated_at = now`, one that changes nothing writes nothing. `$12` is
/// the precondition: NULL admits any version, an array only those it
/// holds, checked in the same statement as the write. `cur` is the row
/// before, `upd` after.
fn update_sql() -> String {
    format!(
        "{SESSION_CTE},
        cur AS (
            SELECT {t} FROM tasks AS t JOIN s ON s.ok WHERE t.id = $4 AND t.user_id = $2
        ),
        upd AS (
            UPDATE tasks AS t SET
                title = COALESCE($5, t.title),
                description = CASE WHEN $6 THEN $7 ELSE t.description END,
                completed = COALESCE($8, t.completed),
                priority = COALESCE($9, t.priority),
                due_at = CASE WHEN $10 THEN $11 ELSE t.due_at END,
                version = t.version + 1,
                updated_at = $3
            FROM s
            WHERE s.ok AND t.id = $4 AND t.user_id = $2
              AND ($12::bigint[] IS NULL OR t.version = ANY($12))
              AND (COALESCE($5, t.title) IS DISTINCT FROM t.title
                   OR (CASE WHEN $6 THEN $7 ELSE t.description END) IS DISTINCT FROM t.description
                   OR COALESCE($8, t.completed) IS DISTINCT FROM t.completed
                   OR COALESCE($9, t.priority) IS DISTINCT FROM t.priority
                   OR (CASE WHEN $10 THEN $11 ELSE t.due_at END) IS DISTINCT FROM t.due_at)
            RETURNING {t}
        )
        SELECT s.ok, {cur}, {upd}
        FROM s LEFT JOIN cur ON true LEFT JOIN upd ON true",
        t = cols("t"),
        cur = cols("cur"),
        upd = cols("upd"),
    )
}

// The statement texts, built once.
static CREATE_KEYED_SQL: LazyLock<String> = LazyLock::new(create_keyed_sql);
static CREATE_PLAIN_SQL: LazyLock<String> = LazyLock::new(create_plain_sql);
static GET_SQL: LazyLock<String> = LazyLock::new(get_sql);
static UPDATE_SQL: LazyLock<String> = LazyLock::new(update_sql);
static LIST_SQL: LazyLock<[String; 4]> = LazyLock::new(|| {
    [
        list_sql(TaskSort::CreatedDesc),
        list_sql(TaskSort::CreatedAsc),
        list_sql(TaskSort::DueAsc),
        list_sql(TaskSort::Priority),
    ]
});

fn list_sql_for(sort: TaskSort) -> &'static str {
    let index = match sort {
        TaskSort::CreatedDesc => 0,
        TaskSort::CreatedAsc => 1,
        TaskSort::DueAsc => 2,
        TaskSort::Priority => 3,
    };
    &LIST_SQL[index]
}

/// Delete when the precondition (`$5`, as for update) admits the stored
/// version; `cur` is the version before, so one row tells apart deleted,
/// not found and a failed precondition.
const DELETE_SQL: &str = "WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
        ) AS ok
    ),
    cur AS (
        SELECT t.version FROM tasks AS t JOIN s ON s.ok WHERE t.id = $4 AND t.user_id = $2
    ),
    del AS (
        DELETE FROM tasks AS t USING s
        WHERE s.ok AND t.id = $4 AND t.user_id = $2
          AND ($5::bigint[] IS NULL OR t.version = ANY($5))
        RETURNING t.id
    )
    SELECT s.ok, EXISTS (SELECT 1 FROM del), (SELECT version FROM cur) FROM s";

/// Why a write the precondition admitted still found no row to write:
/// another writer changed (or deleted) it after the statement's snapshot.
fn lost_race(precondition: &Precondition, seen: i64) -> RepoError {
    match precondition {
        Precondition::Any => RepoError::NotFound,
        // Its version is now at least one more than we saw.
        Precondition::OneOf(_) => RepoError::PreconditionFailed { current: seen + 1 },
    }
}

/// The three session parameters every statement starts with.
struct SessionParams {
    session_id: Uuid,
    user_id: Uuid,
    now: Timestamp,
}

impl SessionParams {
    fn new(principal: &Principal, now: Timestamp) -> Self {
        Self {
            session_id: principal.session_id.as_uuid(),
            user_id: principal.user_id.as_uuid(),
            now,
        }
    }

    fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        vec![
            (&self.session_id, Type::UUID),
            (&self.user_id, Type::UUID),
            (&self.now, Type::TIMESTAMPTZ),
        ]
    }
}

#[async_trait]
impl TaskRepo for PgTaskRepo {
    #[tracing::instrument(skip_all, fields(task_id = %task.id))]
    async fn create(
        &self,
        principal: &Principal,
        now: Timestamp,
        task: &Task,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<CreatedTask, RepoError> {
        let idempotency = idempotency.as_ref();
        let session = SessionParams::new(principal, now);
        let id = task.id.as_uuid();
        let title = task.title.as_str();
        let description = task.description.as_ref().map(|d| d.as_str());
        let priority = task.priority.as_str();
        let key = idempotency.map(|k| k.key.as_str());
        let fingerprint = idempotency.map(|k| k.fingerprint.as_str());
        let mut params = session.params();
        params.extend_from_slice(&[
            (&id, Type::UUID),
            (&title, Type::TEXT),
            (&description, Type::TEXT),
            (&task.completed, Type::BOOL),
            (&priority, Type::TEXT),
            (&task.due_at, Type::TIMESTAMPTZ),
            (&task.created_at, Type::TIMESTAMPTZ),
            (&task.updated_at, Type::TIMESTAMPTZ),
            (&task.version, Type::INT8),
            (&key, Type::TEXT),
            (&fingerprint, Type::TEXT),
        ]);
        let row = self
            .executor
            .query_one(
                if idempotency.is_some() {
                    &CREATE_KEYED_SQL
                } else {
                    &CREATE_PLAIN_SQL
                },
                &params,
                Replay::Safe,
            )
            .await?;
        session_ok(&row)?;
        if let Some(stored) = task_at(&row, 1)? {
            // Keyed: the key's first answer; this call's own task when the
            // key was new (or expired, or this is our own replay).
            let created = stored.id == task.id;
            return Ok(CreatedTask {
                task: stored,
                created,
            });
        }
        if idempotency.is_some() {
            return Err(RepoError::IdempotencyKeyReused);
        }
        if let Some(prior) = task_at(&row, 1 + TASK_COLUMN_COUNT)? {
            // Our own earlier attempt committed; this is its replay.
            return Ok(CreatedTask {
                task: prior,
                created: true,
            });
        }
        Err(RepoError::Internal(
            "task insert neither stored nor found its row".into(),
        ))
    }

    #[tracing::instrument(skip_all, fields(task_id = %id))]
    async fn get(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
    ) -> Result<Task, RepoError> {
        let session = SessionParams::new(principal, now);
        let task_id = id.as_uuid();
        let mut params = session.params();
        params.push((&task_id, Type::UUID));
        let row = self
            .executor
            .query_one(&GET_SQL, &params, Replay::Safe)
            .await?;
        session_ok(&row)?;
        task_at(&row, 1)?.ok_or(RepoError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(sort = query.sort.as_str(), limit = query.limit))]
    async fn list(
        &self,
        principal: &Principal,
        now: Timestamp,
        query: &TaskQuery,
    ) -> Result<Vec<Task>, RepoError> {
        let session = SessionParams::new(principal, now);
        let search = query.search.as_deref().filter(|s| !s.is_empty());
        let has_cursor = query.after.is_some();
        let cursor = query.after;
        let after_created = cursor.map(|c| c.created_at).unwrap_or_default();
        let after_id = cursor.map(|c| c.id.as_uuid()).unwrap_or_default();
        let after_due = cursor.and_then(|c| c.due_at);
        let after_rank = cursor.map(|c| c.priority.rank()).unwrap_or_default();
        let limit = i64::from(query.limit.max(1));
        let mut params = session.params();
        params.extend_from_slice(&[
            (&query.completed, Type::BOOL),
            (&search, Type::TEXT),
            (&has_cursor, Type::BOOL),
            (&after_created, Type::TIMESTAMPTZ),
            (&after_id, Type::UUID),
            (&after_due, Type::TIMESTAMPTZ),
            (&after_rank, Type::INT2),
            (&limit, Type::INT8),
        ]);
        let rows = self
            .executor
            .query(list_sql_for(query.sort), &params, Replay::Safe)
            .await?;
        let Some(first) = rows.first() else {
            return Err(RepoError::Internal("list returned no row".into()));
        };
        session_ok(first)?;
        let mut tasks = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(task) = task_at(row, 1)? {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    #[tracing::instrument(skip_all, fields(task_id = %id))]
    async fn update(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
        patch: &TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, RepoError> {
        let session = SessionParams::new(principal, now);
        let task_id = id.as_uuid();
        let title = patch.title.as_ref().map(|t| t.as_str());
        let set_description = patch.description.is_some();
        let description = patch
            .description
            .as_ref()
            .and_then(|d| d.as_ref().map(|d| d.as_str()));
        let priority = patch.priority.map(|p| p.as_str());
        let set_due = patch.due_at.is_some();
        let due_at = patch.due_at.flatten();
        let versions = precondition.versions();
        let mut params = session.params();
        params.extend_from_slice(&[
            (&task_id, Type::UUID),
            (&title, Type::TEXT),
            (&set_description, Type::BOOL),
            (&description, Type::TEXT),
            (&patch.completed, Type::BOOL),
            (&priority, Type::TEXT),
            (&set_due, Type::BOOL),
            (&due_at, Type::TIMESTAMPTZ),
            (&versions, Type::INT8_ARRAY),
        ]);
        let row = self
            .executor
            .query_one(&UPDATE_SQL, &params, Replay::Once)
            .await?;
        session_ok(&row)?;
        let Some(before) = task_at(&row, 1)? else {
            return Err(RepoError::NotFound);
        };
        if let Some(after) = task_at(&row, 1 + TASK_COLUMN_COUNT)? {
            return Ok(after);
        }
        if !precondition.admits(before.version) {
            return Err(RepoError::PreconditionFailed {
                current: before.version,
            });
        }
        if patch.apply(&before, now) == before {
            // Nothing to change: the task as stored, version untouched.
            return Ok(before);
        }
        Err(lost_race(precondition, before.version))
    }

    #[tracing::instrument(skip_all, fields(task_id = %id))]
    async fn delete(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
        precondition: &Precondition,
    ) -> Result<(), RepoError> {
        let session = SessionParams::new(principal, now);
        let task_id = id.as_uuid();
        let versions = precondition.versions();
        let mut params = session.params();
        params.push((&task_id, Type::UUID));
        params.push((&versions, Type::INT8_ARRAY));
        let row = self
            .executor
            .query_one(DELETE_SQL, &params, Replay::Once)
            .await?;
        session_ok(&row)?;
        let deleted: bool = row
            .try_get(1)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        let seen: Option<i64> = row
            .try_get(2)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        match seen {
            _ if deleted => Ok(()),
            None => Err(RepoError::NotFound),
            Some(current) if !precondition.admits(current) => {
                Err(RepoError::PreconditionFailed { current })
            }
            Some(current) => Err(lost_race(precondition, current)),
        }
    }
}
