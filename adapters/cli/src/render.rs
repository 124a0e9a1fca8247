//! What each command prints on stdout. Times are RFC 3339 in UTC, as the
//! HTTP API writes them; the export's task objects have the API's fields.

use std::io::{self, BufWriter, Write};

use application::ports::{Account, AccountSummary, DeletedAccount};
use application::use_cases::{ExportSink, SinkError};
use domain::{Session, Task};
use serde::Serialize;
use uuid::Uuid;

use application::timestamps::rfc3339;

/// `user show`: one `key: value` line each, easy to read and to grep.
pub(crate) fn summary(out: &mut dyn Write, summary: &AccountSummary) -> io::Result<()> {
    let account = &summary.account;
    writeln!(out, "id:              {}", account.id)?;
    writeln!(out, "email:           {}", account.email.as_str())?;
    writeln!(
        out,
        "name:            {}",
        account.name.as_ref().map_or("-", |n| n.as_str())
    )?;
    writeln!(out, "created:         {}", rfc3339(&account.created_at))?;
    writeln!(out, "tasks:           {}", summary.tasks)?;
    writeln!(out, "active sessions: {}", summary.active_sessions)?;
    // One line per listed session: what the owner's sessions page shows.
    for session in &summary.sessions {
        writeln!(
            out,
            "  session {}  last used {}  ip {}  agent {}",
            session.id,
            rfc3339(&session.last_used_at),
            session
                .ip
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            session.user_agent.as_ref().map_or("-", |ua| ua.as_str()),
        )?;
    }
    out.flush()
}

/// `1 task`, `2 tasks`: counts as a person writes them.
pub(crate) fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub(crate) fn deleted(out: &mut dyn Write, deleted: &DeletedAccount) -> io::Result<()> {
    writeln!(
        out,
        "deleted account {} ({}) with {} and {}",
        deleted.account.email.as_str(),
        deleted.account.id,
        counted(deleted.tasks, "task"),
        counted(deleted.sessions, "session")
    )?;
    out.flush()
}

pub(crate) fn revoked(out: &mut dyn Write, email: &str, revoked: u64) -> io::Result<()> {
    writeln!(
        out,
        "revoked {} of {email}",
        counted(revoked, "active session")
    )?;
    out.flush()
}

#[derive(Serialize)]
struct UserJson<'a> {
    id: Uuid,
    email: &'a str,
    name: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

impl<'a> From<&'a Account> for UserJson<'a> {
    fn from(account: &'a Account) -> Self {
        Self {
            id: account.id.as_uuid(),
            email: account.email.as_str(),
            name: account.name.as_ref().map(|n| n.as_str()),
            created_at: rfc3339(&account.created_at),
            updated_at: rfc3339(&account.updated_at),
        }
    }
}

/// A stored session: when it was last used and from where, and whether it
/// ended.
#[derive(Serialize)]
struct SessionJson<'a> {
    id: Uuid,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    user_agent: Option<&'a str>,
    ip: Option<String>,
}

impl<'a> From<&'a Session> for SessionJson<'a> {
    fn from(session: &'a Session) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: rfc3339(&session.created_at),
            last_used_at: rfc3339(&session.last_used_at),
            expires_at: rfc3339(&session.expires_at),
            revoked_at: session.revoked_at.as_ref().map(rfc3339),
            user_agent: session.user_agent.as_ref().map(|ua| ua.as_str()),
            ip: session.ip.map(|ip| ip.to_string()),
        }
    }
}

/// A task as `GET /tasks/{id}` shows it.
#[derive(Serialize)]
struct TaskJson<'a> {
    id: Uuid,
    title: &'a str,
    description: Option<&'a str>,
    completed: bool,
    priority: &'static str,
    due_at: Option<String>,
    created_at: String,
    updated_at: String,
    version: i64,
}

impl<'a> From<&'a Task> for TaskJson<'a> {
    fn from(task: &'a Task) -> Self {
        Self {
            id: task.id.as_uuid(),
            title: task.title.as_str(),
            description: task.description.as_ref().map(|d| d.as_str()),
            completed: task.completed,
            priority: task.priority.as_str(),
            due_at: task.due_at.as_ref().map(rfc3339),
            created_at: rfc3339(&task.created_at),
            updated_at: rfc3339(&task.updated_at),
            version: task.version,
        }
    }
}

/// `export`: `{"user": {…}, "sessions": [{…}, …], "tasks": [{…}, …]}` on one line, written as the
/// pages arrive so that memory holds one page at most.
pub(crate) struct JsonExport<'a> {
    out: BufWriter<&'a mut (dyn Write + Send)>,
    tasks_written: bool,
    error: Option<String>,
}

impl<'a> JsonExport<'a> {
    pub(crate) fn new(out: &'a mut (dyn Write + Send)) -> Self {
        Self {
            out: BufWriter::new(out),
            tasks_written: false,
            error: None,
        }
    }

    /// The write error that stopped the export, if one did.
    pub(crate) fn take_error(&mut self) -> Option<SinkError> {
        self.error.take().map(Into::into)
    }

    /// Closes the document and flushes it.
    pub(crate) fn finish(mut self) -> Result<(), SinkError> {
        self.out.write_all(b"]}\n")?;
        self.out.flush()?;
        Ok(())
    }

    fn write(&mut self, write: impl FnOnce(&mut Self) -> io::Result<()>) -> Result<(), SinkError> {
        write(self).map_err(|err| {
            self.error = Some(err.to_string());
            err.into()
        })
    }
}

impl ExportSink for JsonExport<'_> {
    fn account(&mut self, account: &Account) -> Result<(), SinkError> {
        self.write(|this| {
            this.out.write_all(b"{\"user\":")?;
            serde_json::to_writer(&mut this.out, &UserJson::from(account)).map_err(io::Error::from)
        })
    }

    fn sessions(&mut self, sessions: &[Session]) -> Result<(), SinkError> {
        self.write(|this| {
            this.out.write_all(b",\"sessions\":")?;
            let sessions: Vec<_> = sessions.iter().map(SessionJson::from).collect();
            serde_json::to_writer(&mut this.out, &sessions)?;
            this.out.write_all(b",\"tasks\":[")
        })
    }

    fn tasks(&mut self, tasks: &[Task]) -> Result<(), SinkError> {
        self.write(|this| {
            for task in tasks {
                if this.tasks_written {
                    this.out.write_all(b",")?;
                }
                serde_json::to_writer(&mut this.out, &TaskJson::from(task))?;
                this.tasks_written = true;
            }
            Ok(())
        })
    }
}
