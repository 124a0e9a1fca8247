//! The CLI's translation: arguments to use cases, outcomes to output and
//! exit codes, the confirmation rules. The ports are mocked; the real
//! binary against PostgreSQL is tested in `tests/tests/admin.rs`.

use std::sync::Arc;

use application::ports::{Account, AccountSummary, DeletedAccount, MockAccountRepo, MockClock};
use chrono::{TimeZone, Utc};
use clap::Parser;
use domain::{Email, NewTask, Priority, Title, UserId, UserName};

use super::*;

/// A fake terminal: interactive or not, with a fixed answer.
struct FakePrompt {
    interactive: bool,
    answer: &'static str,
    asked: Vec<String>,
}

impl FakePrompt {
    fn no_terminal() -> Self {
        Self {
            interactive: false,
            answer: "",
            asked: Vec::new(),
        }
    }

    fn answering(answer: &'static str) -> Self {
        Self {
            interactive: true,
            answer,
            asked: Vec::new(),
        }
    }
}

impl Prompt for FakePrompt {
    fn is_interactive(&self) -> bool {
        self.interactive
    }

    fn ask(&mut self, question: &str) -> std::io::Result<String> {
        self.asked.push(question.to_owned());
        Ok(format!("{}\n", self.answer))
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    admin: AdminArgs,
}

fn parse(args: &[&str]) -> AdminArgs {
    Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))
        .unwrap()
        .admin
}

fn ada() -> Account {
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
    Account {
        id: UserId::new(),
        email: Email::parse("ada@example.com").unwrap(),
        name: Some(UserName::parse("Ada").unwrap()),
        created_at: at,
        updated_at: at,
    }
}

fn service(repo: MockAccountRepo) -> AdminService {
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .return_const(Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap());
    AdminService::new(Arc::new(repo), Arc::new(clock))
}

/// Runs `args`; returns stdout and the outcome.
async fn run_with(
    repo: MockAccountRepo,
    args: &[&str],
    prompt: &mut FakePrompt,
) -> (String, Result<(), AdminError>) {
    let mut out = Vec::new();
    let result = run(parse(args), &service(repo), &mut out, prompt).await;
    (String::from_utf8(out).unwrap(), result)
}

fn with_summary(repo: &mut MockAccountRepo, account: &Account) {
    let mut session =
        domain::Session::start(account.id, account.created_at, chrono::Duration::hours(1))
            .from_client(&domain::ClientInfo {
                ip: Some("203.0.113.7".parse().unwrap()),
                user_agent: domain::UserAgent::from_header("Firefox/140"),
            });
    session.id = "01a234df-0c03-709f-a590-e4d1b555269f".parse().unwrap();
    let summary = AccountSummary {
        account: account.clone(),
        tasks: 2,
        active_sessions: 1,
        sessions: vec![session],
    };
    repo.expect_summary()
        .returning(move |_, _| Ok(Some(summary.clone())));
}

#[tokio::test]
async fn user_show_prints_the_account_and_its_counts() {
    let account = ada();
    let mut repo = MockAccountRepo::new();
    with_summary(&mut repo, &account);

    let (out, result) = run_with(
        repo,
        &["user", "show", "ada@example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    result.unwrap();
    assert_eq!(
        out,
        format!(
            "id:              {}\nemail:           ada@example.com\nname:            Ada\n\
             created:         2030-01-01T12:00:00.000000Z\ntasks:           2\nactive sessions: 1\n  \
             session 01a234df-0c03-709f-a590-e4d1b555269f  last used 2030-01-01T12:00:00.000000Z  \
             ip 203.0.113.7  agent Firefox/140\n",
            account.id
        )
    );
}

#[tokio::test]
async fn an_unknown_email_is_exit_40_naming_the_email() {
    let mut repo = MockAccountRepo::new();
    repo.expect_summary().returning(|_, _| Ok(None));

    let (out, result) = run_with(
        repo,
        &["user", "show", "nobody@example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), 40);
    assert_eq!(err.to_string(), "no account with email nobody@example.com");
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_malformed_email_is_exit_2_naming_the_argument() {
    let (_, result) = run_with(
        MockAccountRepo::new(),
        &["sessions", "revoke", "not-an-email"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().starts_with("invalid email: "), "{err}");
}

#[tokio::test]
async fn delete_without_yes_and_without_a_terminal_refuses_and_deletes_nothing() {
    // No expectation on the repository: any call fails the test.
    let (out, result) = run_with(
        MockAccountRepo::new(),
        &["user", "delete", "ada@example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), 41);
    assert!(err.to_string().contains("--yes"), "{err}");
    assert!(out.is_empty());
}

#[tokio::test]
async fn delete_on_a_terminal_shows_what_goes_and_deletes_only_after_yes() {
    let account = ada();
    let mut repo = MockAccountRepo::new();
    with_summary(&mut repo, &account);
    let deleted = DeletedAccount {
        account: account.clone(),
        tasks: 2,
        sessions: 3,
    };
    repo.expect_delete()
        .times(1)
        .returning(move |_| Ok(Some(deleted.clone())));
    let mut prompt = FakePrompt::answering("yes");

    let (out, result) = run_with(repo, &["user", "delete", "ada@example.com"], &mut prompt).await;

    result.unwrap();
    assert_eq!(prompt.asked.len(), 1);
    assert!(
        prompt.asked[0].contains("ada@example.com") && prompt.asked[0].contains("2 tasks"),
        "{}",
        prompt.asked[0]
    );
    assert_eq!(
        out,
        format!(
            "deleted account ada@example.com ({}) with 2 tasks and 3 sessions\n",
            account.id
        )
    );
}

#[tokio::test]
async fn delete_on_a_terminal_answered_otherwise_deletes_nothing() {
    let mut repo = MockAccountRepo::new();
    with_summary(&mut repo, &ada());
    repo.expect_delete().never();

    let (_, result) = run_with(
        repo,
        &["user", "delete", "ada@example.com"],
        &mut FakePrompt::answering("y"),
    )
    .await;

    assert_eq!(result.unwrap_err().exit_code(), 41);
}

#[tokio::test]
async fn delete_with_yes_asks_nothing() {
    let account = ada();
    let mut repo = MockAccountRepo::new();
    repo.expect_delete().times(1).returning(move |_| {
        Ok(Some(DeletedAccount {
            account: account.clone(),
            tasks: 0,
            sessions: 0,
        }))
    });
    let mut prompt = FakePrompt::no_terminal();

    let (_, result) = run_with(
        repo,
        &["user", "delete", "ada@example.com", "--yes"],
        &mut prompt,
    )
    .await;

    result.unwrap();
    assert!(prompt.asked.is_empty());
}

#[tokio::test]
async fn sessions_revoke_says_how_many() {
    let mut repo = MockAccountRepo::new();
    repo.expect_revoke_sessions().returning(|_, _| Ok(Some(2)));

    let (out, result) = run_with(
        repo,
        &["sessions", "revoke", "Ada@Example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    result.unwrap();
    assert_eq!(out, "revoked 2 active sessions of Ada@Example.com\n");
}

#[tokio::test]
async fn export_prints_one_json_document_with_the_user_and_every_task() {
    let account = ada();
    let tasks: Vec<_> = ["first", "second"]
        .iter()
        .map(|title| {
            NewTask {
                title: Title::parse(title).unwrap(),
                description: None,
                completed: false,
                priority: Priority::High,
                due_at: None,
            }
            .into_task(account.id, account.created_at)
        })
        .collect();
    let mut repo = MockAccountRepo::new();
    let found = account.clone();
    repo.expect_find()
        .returning(move |_| Ok(Some(found.clone())));
    let page = tasks.clone();
    repo.expect_tasks_page()
        .returning(move |_, _, _| Ok(page.clone()));
    let session =
        domain::Session::start(account.id, account.created_at, chrono::Duration::hours(1))
            .from_client(&domain::ClientInfo {
                ip: Some("203.0.113.7".parse().unwrap()),
                user_agent: domain::UserAgent::from_header("Firefox/140"),
            });
    repo.expect_sessions()
        .returning(move |_, _| Ok(vec![session.clone()]));

    let (out, result) = run_with(
        repo,
        &["export", "ada@example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    result.unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["user"]["id"], account.id.to_string());
    assert_eq!(json["user"]["email"], "ada@example.com");
    assert_eq!(json["user"]["name"], "Ada");
    assert!(json["user"].get("password_hash").is_none());
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["last_used_at"], "2030-01-01T12:00:00.000000Z");
    assert_eq!(sessions[0]["ip"], "203.0.113.7");
    assert_eq!(sessions[0]["user_agent"], "Firefox/140");
    assert_eq!(sessions[0]["revoked_at"], serde_json::Value::Null);
    let exported = json["tasks"].as_array().unwrap();
    assert_eq!(exported.len(), 2);
    assert_eq!(exported[0]["id"], tasks[0].id.to_string());
    assert_eq!(exported[1]["title"], "second");
    assert_eq!(exported[1]["priority"], "high");
    assert_eq!(exported[1]["version"], 1);
    assert_eq!(exported[1]["created_at"], "2030-01-01T12:00:00.000000Z");
}

#[tokio::test]
async fn export_of_an_unknown_email_prints_nothing() {
    let mut repo = MockAccountRepo::new();
    repo.expect_find().returning(|_| Ok(None));

    let (out, result) = run_with(
        repo,
        &["export", "nobody@example.com"],
        &mut FakePrompt::no_terminal(),
    )
    .await;

    assert_eq!(result.unwrap_err().exit_code(), 40);
    assert!(out.is_empty(), "{out}");
}
