//! The v1 account additions on the real binary and database: refresh
//! rotation and reuse detection, the sessions list and revocation, logout
//! scopes, password change, security events, export and deletion.

use std::collections::HashSet;

use e2e_tests::accounts::{AccountApi, Pair};
use e2e_tests::api::{expect_json, expect_problem, expect_unauthorized};
use e2e_tests::{unique_email, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A registered user (the test's own, no session yet) and its password.
async fn registered() -> (TestApp, String, String) {
    let (app, email, password) = TestApp::with_credentials().await;
    app.registered(&email, &password).await;
    (app, email, password)
}

fn field_names(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

async fn ok(response: reqwest::Response) {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn event_types(app: &TestApp, token: &str) -> Vec<String> {
    let page = expect_json(app.events(token, &[("limit", "100")]).await, StatusCode::OK).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_refresh_answers_a_new_pair_and_spends_the_presented_token() {
    let (app, email, password) = registered().await;
    let first = app.login_pair(&email, &password, "e2e-browser/1").await;

    let second =
        Pair::of(expect_json(app.refresh(&first.refresh_token).await, StatusCode::OK).await);

    assert_ne!(second.refresh_token, first.refresh_token);
    // (The access tokens may be equal: a JWT issued in the same second for
    // the same session carries the same claims.)
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(
        second.body["refresh_expires_at"], first.body["refresh_expires_at"],
        "a refresh does not extend the session"
    );
    assert_eq!(second.body["user"]["email"], first.body["user"]["email"]);
    expect_json(app.me(&second.access_token).await, StatusCode::OK).await;
    // The new refresh token is the current one.
    expect_json(app.refresh(&second.refresh_token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn replaying_a_spent_refresh_token_revokes_the_session_and_every_access_token_of_it() {
    let (app, email, password) = registered().await;
    let first = app.login_pair(&email, &password, "victim/1").await;
    let second =
        Pair::of(expect_json(app.refresh(&first.refresh_token).await, StatusCode::OK).await);
    expect_json(app.me(&second.access_token).await, StatusCode::OK).await;

    // An attacker (or a confused client) presents the spent token again.
    expect_unauthorized(
        app.refresh(&first.refresh_token).await,
        "a spent refresh token",
    )
    .await;

    expect_unauthorized(
        app.me(&second.access_token).await,
        "the session's newest access token",
    )
    .await;
    expect_unauthorized(
        app.list_tasks(&first.access_token, &[]).await,
        "the session's first access token",
    )
    .await;
    expect_unauthorized(
        app.refresh(&second.refresh_token).await,
        "the session's current refresh token",
    )
    .await;
    // The owner sees what happened from a new login.
    let fresh = app.login_pair(&email, &password, "victim/1").await;
    let types = event_types(&app, &fresh.access_token).await;
    assert!(types.contains(&"refresh_reused".to_owned()), "{types:?}");
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_are_401_and_a_missing_one_422() {
    let app = TestApp::spawn().await;
    for token in ["A".repeat(43), "not a token".to_owned(), String::new()] {
        expect_unauthorized(app.refresh(&token).await, "a refresh token never issued").await;
    }
    let response = app
        .request(reqwest::Method::POST, "/api/v1/auth/refresh")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_names(&problem), ["refresh_token"]);
}

#[tokio::test]
async fn the_sessions_list_shows_each_login_and_revoking_one_ends_it() {
    let (app, email, password) = registered().await;
    let laptop = app.login_pair(&email, &password, "laptop-browser/2").await;
    let phone = app.login_pair(&email, &password, "phone-app/7").await;

    let list = expect_json(app.sessions(&laptop.access_token).await, StatusCode::OK).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    // Newest first: the phone's login came second.
    assert_eq!(items[0]["user_agent"], "phone-app/7");
    assert_eq!(items[0]["current"], false);
    assert_eq!(items[1]["user_agent"], "laptop-browser/2");
    assert_eq!(items[1]["current"], true);
    assert_eq!(items[1]["ip"], "127.0.0.1");
    for field in ["id", "created_at", "last_used_at", "expires_at"] {
        assert!(items[0][field].is_string(), "{field}: {list}");
    }

    let phone_id = items[0]["id"].as_str().unwrap().to_owned();
    ok(app.revoke_session(&laptop.access_token, &phone_id).await).await;
    expect_unauthorized(
        app.me(&phone.access_token).await,
        "the revoked phone's token",
    )
    .await;
    expect_unauthorized(
        app.refresh(&phone.refresh_token).await,
        "the revoked phone's refresh token",
    )
    .await;
    expect_json(app.me(&laptop.access_token).await, StatusCode::OK).await;
    expect_problem(
        app.revoke_session(&laptop.access_token, &phone_id).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.revoke_session(&laptop.access_token, "not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let list = expect_json(app.sessions(&laptop.access_token).await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_users_session_cannot_be_revoked() {
    let (app, email, password) = registered().await;
    let mine = app.login_pair(&email, &password, "mine").await;
    let other = app.new_user().await;
    let theirs = expect_json(app.sessions(&other.token).await, StatusCode::OK).await;
    let their_id = theirs["items"][0]["id"].as_str().unwrap().to_owned();

    expect_problem(
        app.revoke_session(&mine.access_token, &their_id).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    expect_json(app.me(&other.token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_scopes_end_this_the_other_or_every_session() {
    let (app, email, password) = registered().await;
    let a = app.login_pair(&email, &password, "a").await;
    let b = app.login_pair(&email, &password, "b").await;
    let c = app.login_pair(&email, &password, "c").await;

    let bad = expect_problem(
        app.logout_scope(&a.access_token, "everyone").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_names(&bad), ["scope"]);

    ok(app.logout_scope(&a.access_token, "others").await).await;
    expect_json(app.me(&a.access_token).await, StatusCode::OK).await;
    expect_unauthorized(app.me(&b.access_token).await, "b after logout?scope=others").await;
    expect_unauthorized(app.me(&c.access_token).await, "c after logout?scope=others").await;

    let d = app.login_pair(&email, &password, "d").await;
    ok(app.logout_scope(&d.access_token, "global").await).await;
    expect_unauthorized(app.me(&a.access_token).await, "a after logout?scope=global").await;
    expect_unauthorized(app.me(&d.access_token).await, "d after logout?scope=global").await;

    let e = app.login_pair(&email, &password, "e").await;
    let f = app.login_pair(&email, &password, "f").await;
    ok(app.logout_scope(&e.access_token, "local").await).await;
    expect_unauthorized(app.me(&e.access_token).await, "e after logout?scope=local").await;
    expect_json(app.me(&f.access_token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let (app, email, password) = registered().await;
    let here = app.login_pair(&email, &password, "here").await;
    let elsewhere = app.login_pair(&email, &password, "elsewhere").await;

    let wrong = expect_problem(
        app.change_password(&here.access_token, "not my password", "brand new password")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_names(&wrong), ["current_password"]);
    expect_json(app.me(&elsewhere.access_token).await, StatusCode::OK).await;

    ok(app
        .change_password(&here.access_token, &password, "brand new password")
        .await)
    .await;

    expect_json(app.me(&here.access_token).await, StatusCode::OK).await;
    expect_unauthorized(
        app.me(&elsewhere.access_token).await,
        "another session after a password change",
    )
    .await;
    expect_unauthorized(app.login(&email, &password).await, "the old password").await;
    app.login_pair(&email, "brand new password", "later").await;
    let types = event_types(&app, &here.access_token).await;
    assert!(types.contains(&"password_changed".to_owned()), "{types:?}");
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins_until_429() {
    e2e_tests::needs_own_server!("sets the login limit");
    let app = TestApp::builder()
        .env("APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL", "2")
        .spawn()
        .await;
    let (email, password) = (unique_email(), e2e_tests::api::unique_password());
    app.registered(&email, &password).await;
    let session = app.login_pair(&email, &password, "guesser").await;

    for _ in 0..2 {
        expect_problem(
            app.change_password(&session.access_token, "a guess", "brand new password")
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let limited = app
        .change_password(&session.access_token, &password, "brand new password")
        .await;
    assert!(limited.headers().contains_key(reqwest::header::RETRY_AFTER));
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // The same count stops logins for the email.
    expect_problem(
        app.login(&email, &password).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn events_page_newest_first_and_visit_each_once() {
    let (app, email, password) = registered().await;
    expect_unauthorized(
        app.login(&email, "wrong password").await,
        "a wrong password",
    )
    .await;
    let first = app.login_pair(&email, &password, "pager/1").await;
    for _ in 0..3 {
        app.login_pair(&email, &password, "pager/1").await;
    }
    ok(app.logout_scope(&first.access_token, "others").await).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = expect_json(
            app.events(&first.access_token, &query).await,
            StatusCode::OK,
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        assert!(items.len() <= 2);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "session_revoked",
            "login_succeeded",
            "login_succeeded",
            "login_succeeded",
            "login_succeeded",
            "login_failed",
            "registered"
        ]
    );
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "each event once");
    let ats: Vec<&str> = seen.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    assert_eq!(seen[1]["user_agent"], "pager/1");
    assert_eq!(seen[1]["ip"], "127.0.0.1");
    assert!(seen[1]["session_id"].is_string());

    for (limit, cursor) in [("0", ""), ("101", ""), ("2", "bm90LWEtY3Vyc29y")] {
        let mut query = vec![("limit", limit)];
        if !cursor.is_empty() {
            query.push(("cursor", cursor));
        }
        expect_problem(
            app.events(&first.access_token, &query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn the_export_holds_the_user_sessions_tasks_and_events_and_no_secret() {
    let (app, email, password) = registered().await;
    let pair = app.login_pair(&email, &password, "exporter/1").await;
    let task = expect_json(
        app.create_task(&pair.access_token, &json!({"title": "Export me"}))
            .await,
        StatusCode::CREATED,
    )
    .await;

    let response = app.export(&pair.access_token).await;
    let export = expect_json(response, StatusCode::OK).await;

    assert_eq!(export["user"]["email"], email.to_lowercase());
    assert_eq!(export["user"]["email_verified"], false);
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{export}");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["user_agent"], "exporter/1");
    let tasks = export["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["id"], task["id"]);
    let events = export["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "login_succeeded");
    let text = export.to_string();
    for secret in [
        password.as_str(),
        "argon2",
        pair.refresh_token.as_str(),
        "password_hash",
    ] {
        assert!(!text.contains(secret), "the export contains {secret:?}");
    }
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_leaves_nothing() {
    let (app, email, password) = registered().await;
    let pair = app.login_pair(&email, &password, "leaver").await;
    app.create_task(&pair.access_token, &json!({"title": "Gone with me"}))
        .await;

    let wrong = expect_problem(
        app.delete_me(&pair.access_token, "not my password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_names(&wrong), ["password"]);
    expect_json(app.me(&pair.access_token).await, StatusCode::OK).await;

    ok(app.delete_me(&pair.access_token, &password).await).await;

    expect_unauthorized(app.me(&pair.access_token).await, "the deleted user's token").await;
    expect_unauthorized(
        app.login(&email, &password).await,
        "the deleted user's login",
    )
    .await;
    assert!(app.db().await.user_by_email(&email).await.is_none());
}

#[tokio::test]
async fn the_export_holds_every_task_across_its_pages() {
    let (app, email, password) = registered().await;
    let pair = app.login_pair(&email, &password, "many").await;
    // One more than a statement reads (application's ACCOUNT_EXPORT_PAGE, 100).
    let count = 101;
    let mut created = HashSet::new();
    for i in 0..count {
        let task = expect_json(
            app.create_task(&pair.access_token, &json!({"title": format!("t{i}")}))
                .await,
            StatusCode::CREATED,
        )
        .await;
        created.insert(task["id"].as_str().unwrap().to_owned());
    }

    let export = expect_json(app.export(&pair.access_token).await, StatusCode::OK).await;

    let exported: Vec<&str> = export["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(exported.len(), count);
    assert_eq!(
        exported.iter().copied().collect::<HashSet<_>>().len(),
        count
    );
    assert!(exported.iter().all(|id| created.contains(*id)));
    // Oldest first.
    assert_eq!(export["tasks"][0]["title"], "t0");
}

#[tokio::test]
async fn two_refreshes_racing_with_one_token_give_one_pair_and_end_the_session() {
    let (app, email, password) = registered().await;
    let pair = app.login_pair(&email, &password, "racer").await;

    let (a, b) = tokio::join!(
        app.refresh(&pair.refresh_token),
        app.refresh(&pair.refresh_token)
    );

    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let winner = if a.status() == StatusCode::OK { a } else { b };
    let winner = Pair::of(expect_json(winner, StatusCode::OK).await);
    // The loser was reuse: the session, the winner's pair included, is over.
    expect_unauthorized(
        app.me(&winner.access_token).await,
        "the winner's access token",
    )
    .await;
    expect_unauthorized(app.me(&pair.access_token).await, "the first access token").await;
}

#[tokio::test]
async fn the_registered_event_names_the_registering_client() {
    let (app, email, password) = TestApp::with_credentials().await;
    let created = app
        .request(reqwest::Method::POST, "/api/v1/auth/register")
        .header("User-Agent", "signup-form/2")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let pair = app.login_pair(&email, &password, "reader/1").await;
    let page = expect_json(
        app.events(&pair.access_token, &[("limit", "100")]).await,
        StatusCode::OK,
    )
    .await;
    let registered = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "registered")
        .cloned()
        .unwrap_or_else(|| panic!("no registered event in {page}"));
    assert_eq!(registered["user_agent"], "signup-form/2", "{registered}");
    assert_eq!(registered["ip"], "127.0.0.1", "{registered}");
}
