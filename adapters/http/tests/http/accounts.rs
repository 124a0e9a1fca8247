//! The v1 account additions: refresh, sessions, logout scopes, password
//! change, events: statuses and bodies as the contract spells them.

use application::opaque_token::OpaqueToken;
use application::ports::{Refreshed, RepoError, RevokeScope};
use application::testkit::{session_of, REFRESH_TOKEN};
use axum::http::Request;
use serde_json::json;

use crate::support::*;

/// `POST /auth/refresh` with a token of the shape the service issues.
async fn refresh(h: Harness) -> Answer {
    let presented = OpaqueToken::from_bytes(&[0x5a; 32]).into_exposed();
    send(
        h.router(),
        json_request(
            Request::builder()
                .method("POST")
                .uri("/api/v1/auth/refresh"),
            json!({ "refresh_token": presented }).to_string(),
        ),
    )
    .await
}

#[tokio::test]
async fn refresh_answers_the_login_shape_with_a_new_pair() {
    let mut h = Harness::new();
    h.sessions.expect_refresh().returning(|_, _, _, _| {
        Ok(Refreshed::Rotated {
            session: session_of(&user()),
            user: user(),
        })
    });
    h.tokens
        .expect_issue()
        .returning(|_, _, _| Ok("new.access.token".to_owned()));
    let answer = refresh(h).await;
    let body = answer.json_with_status(200);
    assert_eq!(body["access_token"], "new.access.token");
    assert_eq!(body["refresh_token"], REFRESH_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_at"], "2030-01-01T12:15:00.000000Z");
    assert_eq!(body["refresh_expires_at"], "2030-01-01T13:00:00.000000Z");
    assert_eq!(body["user"]["email_verified"], false);
}

#[tokio::test]
async fn a_reused_refresh_token_is_401_with_www_authenticate() {
    let mut h = Harness::new();
    h.sessions
        .expect_refresh()
        .times(1)
        .returning(|_, _, _, _| Ok(Refreshed::Reused));
    let answer = refresh(h).await;
    answer.problem_with_header(401, "www-authenticate", "Bearer");
}

#[tokio::test]
async fn the_sessions_list_has_the_contracts_fields() {
    let mut h = Harness::new();
    h.sessions.expect_list().returning(|_, _, _| {
        let mut session = session_of(&user());
        session.id = principal().session_id;
        session.ip = Some("203.0.113.7".parse().unwrap());
        Ok(vec![session])
    });
    let body = h
        .get_authed("/api/v1/auth/sessions")
        .await
        .json_with_status(200);
    let item = &body["items"][0];
    let mut keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip",
            "last_used_at",
            "user_agent"
        ]
    );
    assert_eq!(item["current"], true);
    assert_eq!(item["ip"], "203.0.113.7");
    assert_eq!(item["user_agent"], serde_json::Value::Null);
}

#[tokio::test]
async fn logout_with_an_unknown_scope_is_422_and_others_revokes_the_others() {
    let mut h = Harness::new();
    h.sessions
        .expect_revoke()
        .withf(|_, scope, _, _| *scope == RevokeScope::Others)
        .times(1)
        .returning(|_, _, _, _| Ok(2));
    let router = h.router();
    let bad = send(
        router.clone(),
        empty(authed("POST", "/api/v1/auth/logout?scope=everyone")),
    )
    .await;
    assert_eq!(error_fields(&bad.problem(422)), ["scope"]);
    let others = send(
        router,
        empty(authed("POST", "/api/v1/auth/logout?scope=others")),
    )
    .await;
    assert_eq!(others.status, 204);
}

#[tokio::test]
async fn revoking_an_unknown_session_is_404() {
    let mut h = Harness::new();
    h.sessions
        .expect_revoke()
        .returning(|_, _, _, _| Err(RepoError::NotFound));
    let answer = send(
        h.router(),
        empty(authed(
            "DELETE",
            &format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7()),
        )),
    )
    .await;
    assert_eq!(answer.problem(404)["detail"], "session not found");
}

#[tokio::test]
async fn a_wrong_current_password_is_422_on_that_field() {
    let mut h = Harness::new();
    h.sessions.expect_active_user().returning(|_, _| Ok(user()));
    h.hasher.expect_verify().returning(|_, _| Ok(false));
    let answer = send(
        h.router(),
        json_request(
            authed("POST", "/api/v1/auth/password"),
            json!({"current_password": "wrong", "new_password": "a new password"}).to_string(),
        ),
    )
    .await;
    assert_eq!(error_fields(&answer.problem(422)), ["current_password"]);
}

#[tokio::test]
async fn an_events_page_names_each_type_and_its_cursor() {
    let mut h = Harness::new();
    h.events
        .expect_page()
        .returning(|_, _, _, _| Ok(Vec::new()));
    let body = h
        .get_authed("/api/v1/auth/events?limit=5")
        .await
        .json_with_status(200);
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn the_export_streams_one_json_document_with_every_part() {
    let mut h = Harness::new();
    h.sessions.expect_active_user().returning(|_, _| Ok(user()));
    h.sessions.expect_list().returning(|_, _, include_ended| {
        assert!(include_ended, "the export has ended sessions too");
        let mut mine = session_of(&user());
        mine.id = principal().session_id;
        let mut ended = session_of(&user());
        ended.revoked_at = Some(ended.created_at);
        Ok(vec![mine, ended])
    });
    h.tasks
        .expect_list()
        .times(1)
        .returning(|_, _, _| Ok(vec![task()]));
    h.events.expect_page().times(1).returning(|_, _, _, _| {
        Ok(vec![domain::SecurityEvent {
            id: domain::EventId::new(),
            user_id: user().id,
            kind: domain::SecurityEventKind::Logout,
            at: t0(),
            ip: None,
            user_agent: None,
            session_id: None,
        }])
    });
    let answer = h.get_authed("/api/v1/auth/me/export").await;
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let body = answer.json_with_status(200);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["sessions"][0]["current"], true);
    assert_eq!(body["sessions"][0]["revoked_at"], serde_json::Value::Null);
    assert_eq!(body["sessions"][1]["current"], false);
    assert!(body["sessions"][1]["revoked_at"].is_string());
    assert_eq!(body["tasks"][0]["title"], "Buy milk");
    assert_eq!(body["events"][0]["type"], "logout");
    assert!(body.get("password_hash").is_none() && body["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn an_export_refused_before_its_first_byte_is_an_ordinary_401() {
    let mut h = Harness::new();
    h.sessions
        .expect_active_user()
        .returning(|_, _| Err(RepoError::SessionInactive));
    let answer = h.get_authed("/api/v1/auth/me/export").await;
    answer.problem_with_header(401, "www-authenticate", "Bearer");
}
