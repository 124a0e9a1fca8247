//! Unit tests of refresh, session management, password change, deletion
//! and the events list, against mocked ports.

use std::time::Duration as StdDuration;

use chrono::Duration;
use domain::{ClientInfo, EventId, PasswordHash, SecurityEvent, SecurityEventKind, SessionId};

use crate::ports::{LimitError, PendingEvent, Refreshed, RepoError, RevokeScope, TokenDigest};
use crate::testkit::{
    access_ttl, any_reservation, principal, session_of, t0, user, Harness, REFRESH_TOKEN,
};
use crate::use_cases::{
    ChangePasswordInput, DeleteAccountInput, ListEventsInput, LogoutInput, RefreshInput,
};
use crate::AppError;

/// A token as clients hold them (43 base64url characters).
const PRESENTED: &str = "ppppppppppppppppppppppppppppppppppppppppppo";

fn refresh_input(token: &str) -> RefreshInput {
    RefreshInput {
        refresh_token: Some(token.to_owned()),
        client: None,
        user_agent: Some("agent".to_owned()),
    }
}

fn field_names(err: AppError) -> Vec<String> {
    match err {
        AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// ----------------------------------------------------------------- refresh

#[tokio::test]
async fn refresh_spends_the_presented_token_and_answers_a_new_pair() {
    let mut h = Harness::new().issuing_refresh_tokens();
    let stored = user().build();
    let mut session = session_of(&stored);
    session.id = principal().session_id;
    let later = t0() + Duration::minutes(20);
    h = h.at(later);
    let answered = (session.clone(), stored.clone());
    h.sessions
        .expect_refresh()
        .withf(move |presented, next, now, event| {
            *presented == TokenDigest::of(PRESENTED)
                && *next == TokenDigest::of(REFRESH_TOKEN)
                && *now == later
                && event.kind == SecurityEventKind::RefreshReused
        })
        .times(1)
        .returning(move |_, _, _, _| {
            Ok(Refreshed::Rotated {
                session: answered.0.clone(),
                user: answered.1.clone(),
            })
        });
    h.tokens
        .expect_issue()
        .withf(move |s, issued, expires| {
            s.id == principal().session_id && *issued == later && *expires == later + access_ttl()
        })
        .returning(|_, _, _| Ok("access".to_owned()));

    let answer = h
        .auth_service()
        .refresh(refresh_input(PRESENTED))
        .await
        .unwrap();

    assert_eq!(answer.access_token, "access");
    assert_eq!(answer.refresh_token, REFRESH_TOKEN);
    assert_eq!(answer.expires_at, later + access_ttl());
    assert_eq!(answer.refresh_expires_at, session.expires_at);
    assert_eq!(answer.user, stored);
}

#[tokio::test]
async fn an_access_token_never_outlives_its_session() {
    let mut h = Harness::new().issuing_refresh_tokens();
    let stored = user().build();
    let session = session_of(&stored);
    // Five minutes before the session ends: the token gets five, not fifteen.
    let late = session.expires_at - Duration::minutes(5);
    h = h.at(late);
    let answered = session.clone();
    h.sessions.expect_refresh().returning(move |_, _, _, _| {
        Ok(Refreshed::Rotated {
            session: answered.clone(),
            user: user().build(),
        })
    });
    h.tokens
        .expect_issue()
        .returning(|_, _, _| Ok("access".to_owned()));

    let answer = h
        .auth_service()
        .refresh(refresh_input(PRESENTED))
        .await
        .unwrap();

    assert_eq!(answer.expires_at, session.expires_at);
}

#[tokio::test]
async fn a_reused_refresh_token_is_unauthorized_and_issues_nothing() {
    let mut h = Harness::new().issuing_refresh_tokens();
    h.sessions
        .expect_refresh()
        .times(1)
        .returning(|_, _, _, _| Ok(Refreshed::Reused));
    h.tokens.expect_issue().times(0);

    let err = h
        .auth_service()
        .refresh(refresh_input(PRESENTED))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn an_unknown_or_expired_refresh_token_is_unauthorized() {
    let mut h = Harness::new().issuing_refresh_tokens();
    h.sessions
        .expect_refresh()
        .returning(|_, _, _, _| Ok(Refreshed::Invalid));
    h.tokens.expect_issue().times(0);

    let err = h
        .auth_service()
        .refresh(refresh_input(PRESENTED))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn a_refresh_token_not_shaped_like_ours_is_refused_without_a_lookup() {
    let mut h = Harness::new();
    h.sessions.expect_refresh().times(0);
    let service = h.auth_service();

    for bad in [
        "",
        "short",
        &"x".repeat(44),
        &format!("{}=", "a".repeat(42)),
        // 43 base64url characters, but not the encoding of 32 bytes (the
        // last one carries bits past the 256th).
        &format!("{}b", "a".repeat(42)),
    ] {
        let err = service.refresh(refresh_input(bad)).await.unwrap_err();
        assert!(matches!(err, AppError::Unauthorized), "{bad}: {err:?}");
    }
    let missing = service.refresh(RefreshInput::default()).await.unwrap_err();
    assert_eq!(field_names(missing), ["refresh_token"]);
}

// --------------------------------------------------------- logout scopes

async fn logout_with(scope: Option<&str>) -> (RevokeScope, PendingEvent) {
    let mut h = Harness::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let sink = seen.clone();
    h.sessions
        .expect_revoke()
        .withf(|p, _, now, _| *p == principal() && *now == t0())
        .times(1)
        .returning(move |_, scope, _, event| {
            *sink.lock().unwrap() = Some((scope, event.clone()));
            Ok(1)
        });
    h.auth_service()
        .logout(
            &principal(),
            LogoutInput {
                scope: scope.map(str::to_owned),
                ..LogoutInput::default()
            },
        )
        .await
        .unwrap();
    let taken = seen.lock().unwrap().take();
    taken.expect("revoke was called")
}

#[tokio::test]
async fn logout_scopes_revoke_the_current_the_other_or_all_sessions() {
    assert_eq!(logout_with(None).await.0, RevokeScope::Current);
    assert_eq!(logout_with(Some("local")).await.0, RevokeScope::Current);
    assert_eq!(logout_with(Some("others")).await.0, RevokeScope::Others);
    assert_eq!(logout_with(Some("global")).await.0, RevokeScope::All);
    let (_, event) = logout_with(None).await;
    assert_eq!(event.kind, SecurityEventKind::Logout);
    assert_eq!(event.session_id, Some(principal().session_id));
}

#[tokio::test]
async fn logout_with_an_unknown_scope_is_a_validation_error_and_revokes_nothing() {
    let mut h = Harness::new();
    h.sessions.expect_revoke().times(0);

    let err = h
        .auth_service()
        .logout(
            &principal(),
            LogoutInput {
                scope: Some("everything".to_owned()),
                ..LogoutInput::default()
            },
        )
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["scope"]);
}

#[tokio::test]
async fn logout_of_a_revoked_session_is_unauthorized() {
    let mut h = Harness::new();
    h.sessions
        .expect_revoke()
        .returning(|_, _, _, _| Err(RepoError::SessionInactive));

    let err = h
        .auth_service()
        .logout(&principal(), LogoutInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn revoking_another_users_or_an_unknown_session_is_not_found() {
    let target = SessionId::new();
    let mut h = Harness::new();
    h.sessions
        .expect_revoke()
        .withf(move |_, scope, _, event| {
            *scope == RevokeScope::One(target)
                && event.kind == SecurityEventKind::SessionRevoked
                && event.session_id == Some(target)
        })
        .times(1)
        .returning(|_, _, _, _| Err(RepoError::NotFound));
    let service = h.auth_service();

    let err = service
        .revoke_session(&principal(), &target.to_string(), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound("session")), "{err:?}");
    // Not an id at all: the same answer, and no statement.
    let err = service
        .revoke_session(&principal(), "not-an-id", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound("session")), "{err:?}");
}

#[tokio::test]
async fn the_sessions_list_marks_the_callers_own() {
    let mut h = Harness::new();
    let mut mine = session_of(&user().build());
    mine.id = principal().session_id;
    let other = session_of(&user().build());
    let listed = vec![other.clone(), mine.clone()];
    h.sessions
        .expect_list()
        .withf(|_, now, include_ended| *now == t0() && !include_ended)
        .returning(move |_, _, _| Ok(listed.clone()));

    let views = h.auth_service().sessions(&principal()).await.unwrap();

    let current: Vec<bool> = views.iter().map(|v| v.current).collect();
    assert_eq!(current, [false, true]);
}

// --------------------------------------------------------- password change

fn change(current: &str, new: &str) -> ChangePasswordInput {
    ChangePasswordInput {
        current_password: Some(current.to_owned()),
        new_password: Some(new.to_owned()),
        client: None,
        user_agent: None,
    }
}

fn with_current_user(h: &mut Harness) {
    h.sessions
        .expect_active_user()
        .returning(|_, _| Ok(user().build()));
}

#[tokio::test]
async fn a_wrong_current_password_is_a_validation_error_that_counts_as_a_failed_login() {
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.limiter
        .expect_reserve()
        .withf(|email, _, now| email == "ada@example.com" && *now == t0())
        .times(1)
        .returning(|_, _, now| Ok(any_reservation(now)));
    // Neither settled nor released: the reservation stays counted.
    h.limiter.expect_succeeded().times(0);
    h.limiter.expect_release().times(0);
    h.hasher.expect_verify().returning(|_, _| Ok(false));
    h.hasher.expect_hash().times(0);
    h.users.expect_change_password().times(0);

    let err = h
        .auth_service()
        .change_password(&principal(), change("wrong password", "a new password"))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["current_password"]);
}

#[tokio::test]
async fn a_password_change_once_limited_is_too_many_attempts_without_a_verify() {
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.limiter.expect_reserve().returning(|_, _, _| {
        Err(LimitError::Limited {
            retry_after: StdDuration::from_secs(30),
        })
    });
    h.hasher.expect_verify().times(0);

    let err = h
        .auth_service()
        .change_password(&principal(), change("correct horse", "a new password"))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::TooManyAttempts { retry_after } if retry_after == StdDuration::from_secs(30)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_password_change_stores_the_new_hash_revoking_the_others_and_settles_the_attempt() {
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.limiter
        .expect_reserve()
        .returning(|_, _, now| Ok(any_reservation(now)));
    h.limiter.expect_succeeded().times(1).returning(|_| Ok(()));
    h.hasher.expect_verify().returning(|_, _| Ok(true));
    h.hasher
        .expect_hash()
        .withf(|p| p.expose() == "a new password")
        .returning(|_| Ok(PasswordHash::new("$argon2id$new".to_owned())));
    h.users
        .expect_change_password()
        .withf(|p, now, hash, event| {
            *p == principal()
                && *now == t0()
                && hash.as_str() == "$argon2id$new"
                && event.kind == SecurityEventKind::PasswordChanged
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    h.auth_service()
        .change_password(&principal(), change("correct horse", "a new password"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_password_outside_the_policy_is_refused_before_any_check() {
    let mut h = Harness::new();
    h.sessions.expect_active_user().times(0);
    h.limiter.expect_reserve().times(0);

    let err = h
        .auth_service()
        .change_password(&principal(), change("correct horse", "short"))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["new_password"]);
}

// ---------------------------------------------------------------- deletion

#[tokio::test]
async fn deleting_the_account_with_a_wrong_password_deletes_nothing_and_counts() {
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.limiter
        .expect_reserve()
        .times(1)
        .returning(|_, _, now| Ok(any_reservation(now)));
    h.limiter.expect_release().times(0);
    h.hasher.expect_verify().returning(|_, _| Ok(false));
    h.users.expect_delete().times(0);

    let err = h
        .auth_service()
        .delete_account(
            &principal(),
            DeleteAccountInput {
                password: Some("wrong".to_owned()),
                client: None,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["password"]);
}

#[tokio::test]
async fn deleting_the_account_with_the_right_password_deletes_it() {
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.limiter
        .expect_reserve()
        .returning(|_, _, now| Ok(any_reservation(now)));
    h.limiter.expect_succeeded().returning(|_| Ok(()));
    h.hasher.expect_verify().returning(|_, _| Ok(true));
    h.users
        .expect_delete()
        .withf(|p, now| *p == principal() && *now == t0())
        .times(1)
        .returning(|_, _| Ok(()));

    h.auth_service()
        .delete_account(
            &principal(),
            DeleteAccountInput {
                password: Some("correct horse".to_owned()),
                client: None,
            },
        )
        .await
        .unwrap();
}

// ------------------------------------------------------------------ events

fn event_at(minutes: i64) -> SecurityEvent {
    SecurityEvent {
        id: EventId::new(),
        user_id: principal().user_id,
        kind: SecurityEventKind::LoginSucceeded,
        at: t0() - Duration::minutes(minutes),
        ip: None,
        user_agent: None,
        session_id: None,
    }
}

#[tokio::test]
async fn an_events_page_asks_one_more_and_hands_out_a_cursor_only_when_there_is_more() {
    let events: Vec<_> = (0..3).map(event_at).collect();
    let mut h = Harness::new();
    let all = events.clone();
    h.events
        .expect_page()
        .withf(|_, _, before, limit| before.is_none() && *limit == 3)
        .times(1)
        .returning(move |_, _, _, _| Ok(all.clone()));
    let service = h.auth_service();

    let page = service
        .events(
            &principal(),
            ListEventsInput {
                limit: Some("2".to_owned()),
                cursor: None,
            },
        )
        .await
        .unwrap();

    assert_eq!(page.items, events[..2]);
    let cursor = domain::EventCursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!((cursor.at, cursor.id), (events[1].at, events[1].id));
}

#[tokio::test]
async fn events_paging_refuses_bad_limits_and_cursors() {
    let mut h = Harness::new();
    h.events.expect_page().times(0);
    let service = h.auth_service();
    for (limit, cursor) in [
        ("0", None),
        ("101", None),
        ("x", None),
        ("5", Some("garbage")),
    ] {
        let err = service
            .events(
                &principal(),
                ListEventsInput {
                    limit: Some(limit.to_owned()),
                    cursor: cursor.map(str::to_owned),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Validation(_)), "{limit} {cursor:?}");
    }
}

#[test]
fn pending_events_keep_the_client_they_came_from() {
    let client = ClientInfo {
        ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: domain::UserAgent::from_header("agent"),
    };
    let event = PendingEvent::new(SecurityEventKind::Logout, t0(), &client, None);
    let stored = event.for_user(principal().user_id);
    assert_eq!(stored.ip, client.ip);
    assert_eq!(stored.user_agent, client.user_agent);
}

// ------------------------------------------------------------------ export

/// Records what an export hands over, part by part.
#[derive(Default)]
struct Recorded {
    parts: Vec<String>,
}

#[async_trait::async_trait]
impl crate::use_cases::AccountExportSink for Recorded {
    async fn start(
        &mut self,
        user: &domain::User,
        sessions: &[domain::Session],
    ) -> Result<(), crate::use_cases::SinkError> {
        self.parts
            .push(format!("start {} {}", user.email.as_str(), sessions.len()));
        Ok(())
    }
    async fn tasks(&mut self, tasks: &[domain::Task]) -> Result<(), crate::use_cases::SinkError> {
        self.parts.push(format!("tasks {}", tasks.len()));
        Ok(())
    }
    async fn events(
        &mut self,
        events: &[SecurityEvent],
    ) -> Result<(), crate::use_cases::SinkError> {
        self.parts.push(format!("events {}", events.len()));
        Ok(())
    }
    async fn finish(&mut self) -> Result<(), crate::use_cases::SinkError> {
        self.parts.push("finish".to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn the_export_reads_tasks_and_events_page_by_page_until_a_short_page() {
    use crate::use_cases::ACCOUNT_EXPORT_PAGE;
    let page = ACCOUNT_EXPORT_PAGE as usize;
    let mut h = Harness::new();
    with_current_user(&mut h);
    h.sessions
        .expect_list()
        .withf(|_, _, include_ended| *include_ended)
        .returning(|_, _, _| Ok(vec![session_of(&user().build())]));
    let mut calls = 0;
    h.tasks
        .expect_list()
        .times(2)
        .returning(move |_, _, query| {
            calls += 1;
            assert_eq!(query.limit, ACCOUNT_EXPORT_PAGE);
            // The second page starts after the first's last task.
            assert_eq!(query.after.is_some(), calls == 2);
            let n = if calls == 1 { page } else { 3 };
            Ok(vec![crate::testkit::task().build(); n])
        });
    h.events
        .expect_page()
        .times(1)
        .returning(|_, _, before, _| {
            assert!(before.is_none());
            Ok(vec![event_at(1)])
        });
    let mut sink = Recorded::default();

    h.auth_service()
        .export(&principal(), &mut sink)
        .await
        .unwrap();

    assert_eq!(
        sink.parts,
        [
            "start ada@example.com 1".to_owned(),
            format!("tasks {page}"),
            "tasks 3".to_owned(),
            "events 1".to_owned(),
            "finish".to_owned()
        ]
    );
}

#[tokio::test]
async fn an_export_of_an_ended_session_hands_nothing_to_the_sink() {
    let mut h = Harness::new();
    h.sessions
        .expect_active_user()
        .returning(|_, _| Err(RepoError::SessionInactive));
    let mut sink = Recorded::default();

    let err = h
        .auth_service()
        .export(&principal(), &mut sink)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
    assert!(sink.parts.is_empty());
}

#[test]
fn debug_output_of_inputs_never_shows_a_secret() {
    let input = ChangePasswordInput {
        current_password: Some("old secret".to_owned()),
        new_password: Some("new secret".to_owned()),
        client: None,
        user_agent: None,
    };
    let refresh = refresh_input("refresh-secret");
    let delete = DeleteAccountInput {
        password: Some("delete secret".to_owned()),
        client: None,
    };
    let shown = format!("{input:?} {refresh:?} {delete:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("[redacted]"));
}
