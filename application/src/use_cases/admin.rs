//! Operator use cases over whole accounts, addressed by email: show one,
//! delete one, revoke its sessions, export it. A front end (the `admin`
//! CLI) only asks for confirmation and prints; every rule is here.

use std::sync::Arc;

use domain::Email;

use crate::ports::{
    Account, AccountRepo, AccountSummary, Clock, DeletedAccount, TaskCursor, Telemetry,
};
use crate::telemetry::{LoggingTelemetry, Reported};
use crate::AppError;

/// Tasks per statement of an export: memory stays bounded by one page
/// whatever the account holds.
pub const EXPORT_PAGE_SIZE: u32 = 500;

/// Why a sink could not take a piece of an export (e.g. stdout closed).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Sessions an export lists at most (logins purge ended ones and cap the
/// active ones, so an account rarely holds more than a few dozen).
pub const EXPORTED_SESSIONS: u32 = 500;

/// Receives an export piece by piece: the account first, then its stored
/// sessions (newest first), then its tasks in pages, oldest first.
pub trait ExportSink: Send {
    fn account(&mut self, account: &Account) -> Result<(), SinkError>;
    fn sessions(&mut self, sessions: &[domain::Session]) -> Result<(), SinkError>;
    fn tasks(&mut self, tasks: &[domain::Task]) -> Result<(), SinkError>;
}

pub struct AdminService {
    accounts: Arc<dyn AccountRepo>,
    clock: Arc<dyn Clock>,
    telemetry: Arc<dyn Telemetry>,
}

impl AdminService {
    /// Failures are logged by a private [`LoggingTelemetry`] until
    /// [`AdminService::with_telemetry`] names a shared one.
    pub fn new(accounts: Arc<dyn AccountRepo>, clock: Arc<dyn Clock>) -> Self {
        Self {
            accounts,
            clock,
            telemetry: Arc::new(LoggingTelemetry::new()),
        }
    }

    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The account with its number of tasks and of active sessions.
    ///
    /// # Errors
    /// `Validation` for a malformed email, `NotFound("account")` when no
    /// account has it.
    pub async fn show_account(&self, email: &str) -> Result<AccountSummary, AppError> {
        async {
            let email = parse_email(email)?;
            self.accounts
                .summary(&email, self.clock.now())
                .await?
                .ok_or(AppError::NotFound("account"))
        }
        .await
        .reported(self.telemetry.as_ref(), "admin.show_account")
    }

    /// Deletes the account with its sessions and tasks; its tokens are
    /// refused from then on.
    ///
    /// # Errors
    /// As for [`AdminService::show_account`].
    pub async fn delete_account(&self, email: &str) -> Result<DeletedAccount, AppError> {
        async {
            let email = parse_email(email)?;
            self.accounts
                .delete(&email)
                .await?
                .ok_or(AppError::NotFound("account"))
        }
        .await
        .reported(self.telemetry.as_ref(), "admin.delete_account")
    }

    /// Revokes every active session of the account (its tokens are refused
    /// at once) and returns how many there were. None active is no error.
    ///
    /// # Errors
    /// As for [`AdminService::show_account`].
    pub async fn revoke_sessions(&self, email: &str) -> Result<u64, AppError> {
        async {
            let email = parse_email(email)?;
            self.accounts
                .revoke_sessions(&email, self.clock.now())
                .await?
                .ok_or(AppError::NotFound("account"))
        }
        .await
        .reported(self.telemetry.as_ref(), "admin.revoke_sessions")
    }

    /// Hands the account, its sessions, then all its tasks page by page, to `sink`, and
    /// returns how many tasks went. Nothing reaches the sink for an unknown
    /// email.
    ///
    /// # Errors
    /// As for [`AdminService::show_account`]; `Internal` when the sink
    /// fails, and then the export stops.
    pub async fn export_account(
        &self,
        email: &str,
        sink: &mut dyn ExportSink,
    ) -> Result<u64, AppError> {
        self.export_inner(email, sink)
            .await
            .reported(self.telemetry.as_ref(), "admin.export_account")
    }

    async fn export_inner(&self, email: &str, sink: &mut dyn ExportSink) -> Result<u64, AppError> {
        let email = parse_email(email)?;
        let account = self
            .accounts
            .find(&email)
            .await?
            .ok_or(AppError::NotFound("account"))?;
        sink.account(&account).map_err(AppError::Internal)?;
        let sessions = self
            .accounts
            .sessions(account.id, EXPORTED_SESSIONS)
            .await?;
        sink.sessions(&sessions).map_err(AppError::Internal)?;
        let mut after = None;
        let mut exported = 0u64;
        loop {
            let page = self
                .accounts
                .tasks_page(account.id, after, EXPORT_PAGE_SIZE)
                .await?;
            if !page.is_empty() {
                sink.tasks(&page).map_err(AppError::Internal)?;
                exported += page.len() as u64;
            }
            match page.last() {
                Some(last) if page.len() >= EXPORT_PAGE_SIZE as usize => {
                    after = Some(TaskCursor::after(last));
                }
                _ => return Ok(exported),
            }
        }
    }
}

/// The same parsing as registration, so an address is found however it
/// was typed (case, surrounding spaces).
fn parse_email(raw: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|err| AppError::validation("email", err))
}

#[cfg(test)]
mod tests {
    //! The admin use cases against a mocked `AccountRepo` and a clock
    //! pinned far from today.

    use chrono::{Duration, TimeZone, Utc};
    use domain::{NewTask, Priority, Task, Timestamp, Title, UserId};
    use mockall::predicate::eq;

    use super::*;
    use crate::ports::{MockAccountRepo, MockClock, MockTelemetry, RepoError};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    fn service(repo: MockAccountRepo) -> AdminService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(t0());
        AdminService::new(Arc::new(repo), Arc::new(clock))
    }

    fn account(email: &str) -> Account {
        Account {
            id: UserId::new(),
            email: Email::parse(email).unwrap(),
            name: None,
            created_at: t0() - Duration::days(3),
            updated_at: t0() - Duration::days(3),
        }
    }

    fn tasks_of(account: &Account, count: usize) -> Vec<Task> {
        (0..count)
            .map(|i| {
                NewTask {
                    title: Title::parse(&format!("task {i}")).unwrap(),
                    description: None,
                    completed: false,
                    priority: Priority::Low,
                    due_at: None,
                }
                .into_task(account.id, t0() + Duration::seconds(i as i64))
            })
            .collect()
    }

    /// Records what an export sends; fails on the chosen call if asked.
    #[derive(Default)]
    struct Recorder {
        accounts: Vec<Account>,
        sessions: usize,
        pages: Vec<Vec<Task>>,
        fail_on_tasks: bool,
    }

    impl ExportSink for Recorder {
        fn account(&mut self, account: &Account) -> Result<(), SinkError> {
            self.accounts.push(account.clone());
            Ok(())
        }

        fn sessions(&mut self, sessions: &[domain::Session]) -> Result<(), SinkError> {
            self.sessions += sessions.len();
            Ok(())
        }

        fn tasks(&mut self, tasks: &[Task]) -> Result<(), SinkError> {
            if self.fail_on_tasks {
                return Err("stdout closed".into());
            }
            self.pages.push(tasks.to_vec());
            Ok(())
        }
    }

    fn expect_not_found<T: std::fmt::Debug>(result: Result<T, AppError>) {
        match result {
            Err(AppError::NotFound("account")) => {}
            other => panic!("expected NotFound(account), got {other:?}"),
        }
    }

    fn expect_email_invalid<T: std::fmt::Debug>(result: Result<T, AppError>) {
        match result {
            Err(AppError::Validation(errors)) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].field, "email");
            }
            other => panic!("expected a validation error on email, got {other:?}"),
        }
    }

    // ------------------------------------------------------------------ show

    #[tokio::test]
    async fn show_reads_the_summary_by_the_normalised_email_at_the_clocks_now() {
        let ada = account("ada@example.com");
        let summary = AccountSummary {
            sessions: Vec::new(),
            account: ada.clone(),
            tasks: 7,
            active_sessions: 2,
        };
        let mut repo = MockAccountRepo::new();
        let expected = summary.clone();
        repo.expect_summary()
            .withf(|email, now| email.as_str() == "ada@example.com" && *now == t0())
            .times(1)
            .returning(move |_, _| Ok(Some(expected.clone())));

        let shown = service(repo)
            .show_account("  Ada@Example.COM ")
            .await
            .unwrap();

        assert_eq!(shown, summary);
    }

    #[tokio::test]
    async fn show_of_an_unknown_email_is_account_not_found() {
        let mut repo = MockAccountRepo::new();
        repo.expect_summary().returning(|_, _| Ok(None));

        expect_not_found(service(repo).show_account("nobody@example.com").await);
    }

    #[tokio::test]
    async fn a_malformed_email_is_refused_before_any_database_work() {
        // No expectation: any repository call fails the test.
        let service = service(MockAccountRepo::new());

        expect_email_invalid(service.show_account("not-an-email").await);
        expect_email_invalid(service.delete_account("").await);
        expect_email_invalid(service.revoke_sessions("a@b").await);
        expect_email_invalid(
            service
                .export_account("x y@example.com", &mut Recorder::default())
                .await,
        );
    }

    #[tokio::test]
    async fn a_storage_failure_is_reported_to_telemetry_under_the_use_case() {
        let mut repo = MockAccountRepo::new();
        repo.expect_revoke_sessions()
            .returning(|_, _| Err(RepoError::Internal("disk on fire".into())));
        let mut telemetry = MockTelemetry::new();
        telemetry
            .expect_record_failure()
            .withf(|use_case, err| {
                use_case == "admin.revoke_sessions" && matches!(err, AppError::Internal(_))
            })
            .times(1)
            .return_const(());
        let service = service(repo).with_telemetry(Arc::new(telemetry));

        let result = service.revoke_sessions("ada@example.com").await;

        assert!(matches!(result, Err(AppError::Internal(_))), "{result:?}");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable_with_its_retry_delay() {
        let mut repo = MockAccountRepo::new();
        repo.expect_summary().returning(|_, _| {
            Err(RepoError::Unavailable {
                retry_after: std::time::Duration::from_secs(1),
            })
        });

        match service(repo).show_account("ada@example.com").await {
            Err(AppError::Unavailable { retry_after }) => {
                assert_eq!(retry_after, std::time::Duration::from_secs(1));
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    // ---------------------------------------------------------------- delete

    #[tokio::test]
    async fn delete_removes_the_account_by_email_and_reports_what_went_with_it() {
        let ada = account("ada@example.com");
        let deleted = DeletedAccount {
            account: ada,
            tasks: 3,
            sessions: 4,
        };
        let mut repo = MockAccountRepo::new();
        let returned = deleted.clone();
        repo.expect_delete()
            .with(eq(Email::parse("ada@example.com").unwrap()))
            .times(1)
            .returning(move |_| Ok(Some(returned.clone())));

        let outcome = service(repo)
            .delete_account("ADA@example.com")
            .await
            .unwrap();

        assert_eq!(outcome, deleted);
    }

    #[tokio::test]
    async fn delete_of_an_unknown_email_is_account_not_found() {
        let mut repo = MockAccountRepo::new();
        repo.expect_delete().times(1).returning(|_| Ok(None));

        expect_not_found(service(repo).delete_account("nobody@example.com").await);
    }

    // ---------------------------------------------------------------- revoke

    #[tokio::test]
    async fn revoke_revokes_at_the_clocks_now_and_counts_the_sessions() {
        let mut repo = MockAccountRepo::new();
        repo.expect_revoke_sessions()
            .withf(|email, now| email.as_str() == "ada@example.com" && *now == t0())
            .times(1)
            .returning(|_, _| Ok(Some(3)));

        let revoked = service(repo)
            .revoke_sessions("ada@example.com")
            .await
            .unwrap();

        assert_eq!(revoked, 3);
    }

    #[tokio::test]
    async fn revoke_with_no_active_session_is_zero_not_an_error() {
        let mut repo = MockAccountRepo::new();
        repo.expect_revoke_sessions().returning(|_, _| Ok(Some(0)));

        assert_eq!(
            service(repo)
                .revoke_sessions("ada@example.com")
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn revoke_for_an_unknown_email_is_account_not_found() {
        let mut repo = MockAccountRepo::new();
        repo.expect_revoke_sessions().returning(|_, _| Ok(None));

        expect_not_found(service(repo).revoke_sessions("nobody@example.com").await);
    }

    // ---------------------------------------------------------------- export

    #[tokio::test]
    async fn export_sends_the_account_then_every_page_resuming_after_the_last_task() {
        let ada = account("ada@example.com");
        let all = tasks_of(&ada, EXPORT_PAGE_SIZE as usize + 2);
        let (first, second) = all.split_at(EXPORT_PAGE_SIZE as usize);
        let (first, second) = (first.to_vec(), second.to_vec());
        let cursor = TaskCursor::after(first.last().unwrap());
        let mut repo = MockAccountRepo::new();
        let found = ada.clone();
        repo.expect_find()
            .times(1)
            .returning(move |_| Ok(Some(found.clone())));
        let user_id = ada.id;
        let session = domain::Session::start(user_id, t0(), Duration::hours(1));
        repo.expect_sessions()
            .with(eq(user_id), eq(EXPORTED_SESSIONS))
            .times(1)
            .returning(move |_, _| Ok(vec![session.clone()]));
        repo.expect_tasks_page()
            .with(eq(user_id), eq(None), eq(EXPORT_PAGE_SIZE))
            .times(1)
            .returning(move |_, _, _| Ok(first.clone()));
        repo.expect_tasks_page()
            .with(eq(user_id), eq(Some(cursor)), eq(EXPORT_PAGE_SIZE))
            .times(1)
            .returning(move |_, _, _| Ok(second.clone()));
        let mut sink = Recorder::default();

        let exported = service(repo)
            .export_account("ada@example.com", &mut sink)
            .await
            .unwrap();

        assert_eq!(exported, all.len() as u64);
        assert_eq!(sink.accounts, vec![ada]);
        assert_eq!(sink.sessions, 1);
        assert_eq!(sink.pages.concat(), all);
        assert_eq!(sink.pages.len(), 2);
    }

    #[tokio::test]
    async fn export_of_a_full_last_page_asks_once_more_and_stops_on_an_empty_one() {
        let ada = account("ada@example.com");
        let page = tasks_of(&ada, EXPORT_PAGE_SIZE as usize);
        let mut repo = MockAccountRepo::new();
        let found = ada.clone();
        repo.expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        repo.expect_sessions().returning(|_, _| Ok(Vec::new()));
        repo.expect_tasks_page()
            .with(eq(ada.id), eq(None), eq(EXPORT_PAGE_SIZE))
            .times(1)
            .returning(move |_, _, _| Ok(page.clone()));
        repo.expect_tasks_page()
            .withf(|_, after, _| after.is_some())
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        let mut sink = Recorder::default();

        let exported = service(repo)
            .export_account("ada@example.com", &mut sink)
            .await
            .unwrap();

        assert_eq!(exported, u64::from(EXPORT_PAGE_SIZE));
        assert_eq!(sink.pages.len(), 1, "an empty page is not sent");
    }

    #[tokio::test]
    async fn export_of_an_account_without_tasks_sends_the_account_only() {
        let ada = account("ada@example.com");
        let mut repo = MockAccountRepo::new();
        let found = ada.clone();
        repo.expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        repo.expect_sessions().returning(|_, _| Ok(Vec::new()));
        repo.expect_tasks_page()
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        let mut sink = Recorder::default();

        let exported = service(repo)
            .export_account("ada@example.com", &mut sink)
            .await
            .unwrap();

        assert_eq!(exported, 0);
        assert_eq!(sink.accounts, vec![ada]);
        assert!(sink.pages.is_empty());
    }

    #[tokio::test]
    async fn export_of_an_unknown_email_sends_nothing() {
        let mut repo = MockAccountRepo::new();
        repo.expect_find().returning(|_| Ok(None));
        let mut sink = Recorder::default();

        expect_not_found(
            service(repo)
                .export_account("nobody@example.com", &mut sink)
                .await,
        );
        assert!(sink.accounts.is_empty() && sink.pages.is_empty());
    }

    #[tokio::test]
    async fn export_stops_at_the_first_sink_failure() {
        let ada = account("ada@example.com");
        let page = tasks_of(&ada, EXPORT_PAGE_SIZE as usize);
        let mut repo = MockAccountRepo::new();
        repo.expect_find().returning(move |_| Ok(Some(ada.clone())));
        repo.expect_sessions().returning(|_, _| Ok(Vec::new()));
        // One page only: after the failure, nothing more is read.
        repo.expect_tasks_page()
            .times(1)
            .returning(move |_, _, _| Ok(page.clone()));
        let mut sink = Recorder {
            fail_on_tasks: true,
            ..Recorder::default()
        };

        match service(repo)
            .export_account("ada@example.com", &mut sink)
            .await
        {
            Err(AppError::Internal(cause)) => assert_eq!(cause.to_string(), "stdout closed"),
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
