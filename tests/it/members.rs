//! Organization administration (issue 15) through the real HTTP surface, against the emulator
//! as Clerk (its webhooks feeding the app's mirror): members, invitations and settings, for
//! every kind of caller — admin, member, another organization's admin, no active organization,
//! signed out. Session tokens are the emulator's own, so their role and permissions are Clerk's.
//! Allowed actions change Clerk and then the mirror; refused ones change neither and leave no
//! audit entry.
//!
//! Over 500 lines on purpose: every administration action × every kind of caller is one matrix, kept in one place.

use crate::helpers::{env_for, migrated_database};
use clerk_emulator::state::{now_ms, Membership, Seed, Session, State, User};
use clerk_emulator::{Config, Emulator, Roles, Shared};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tenantry::server::config::Config as AppConfig;
use tenantry::server::startup::Application;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Member,
    OtherOrgAdmin,
    NoOrg,
    SignedOut,
}

const EVERYONE: [Who; 5] = [Who::Admin, Who::Member, Who::OtherOrgAdmin, Who::NoOrg, Who::SignedOut];

struct Stack {
    app: String,
    emu: Shared,
    admin: sqlx::PgPool,
    http: reqwest::Client,
}

/// The emulator's seed plus Erin, a member of Acme only; the mirror filled by `tenantry sync`
/// when `mirror` (else empty: reads fall back to the Backend API).
async fn stack(mirror: bool) -> Stack {
    let emu_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emu_url = format!("http://{}", emu_listener.local_addr().unwrap());
    let (db, admin) = migrated_database().await;
    let app_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_addr = app_listener.local_addr().unwrap();
    drop(app_listener);
    let app_url = format!("http://{app_addr}");
    let seed: Seed = serde_json::from_str(include_str!("../../crates/clerk-emulator/seed.json")).unwrap();
    let mut state = State::from_seed(&seed);
    let erin = User {
        id: "user_erin".into(),
        email: Some("erin@acme.test".into()),
        first_name: Some("Erin".into()),
        last_name: Some("Engineer".into()),
        username: None,
        password_hash: None,
        salt: String::new(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    state.users.insert(erin.id.clone(), erin);
    let m = Membership {
        id: "orgmem_acme_erin".into(),
        org_id: "org_acme".into(),
        user_id: "user_erin".into(),
        role: "org:member".into(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    state.memberships.insert(m.id.clone(), m);
    let config = Config {
        public_url: emu_url.clone(),
        instance_type: clerk::InstanceType::Production,
        secret_key: clerk::SecretKey::parse("sk_test_members").unwrap(),
        webhook_secret: crate::helpers::WEBHOOK_SECRET.into(),
        webhook_endpoints: vec![format!("{app_url}/api/webhooks/clerk")],
        allowed_origins: vec![app_url.clone()],
        token_lifetime_secs: 60,
        claims_v1: false,
        roles: Roles::default(),
        jwt_templates: BTreeMap::new(),
        webhook_duplicate: false,
        webhook_reorder: false,
        state_file: None,
        // A session without an organization is then active (not pending): the "no org" caller.
        allow_personal_accounts: true,
    };
    let emu = Emulator::new(
        config,
        state,
        Some(include_str!("../../crates/clerk/tests/fixtures/instance-private.pem").into()),
    )
    .unwrap();
    let mut env = env_for(&db);
    for line in emu.app_env().lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once('=').unwrap();
        env.insert(k.to_string(), v.trim_matches('"').to_string());
    }
    env.insert("TENANTRY_ADDR".into(), app_addr.to_string());
    tokio::spawn(clerk_emulator::serve(emu.clone(), emu_listener));
    let app = Application::build(AppConfig::from_lookup(|k| env.get(k).cloned()).unwrap()).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    if mirror {
        let pool = sqlx::PgPool::connect(&db.app_url).await.unwrap();
        let api = clerk::BackendApi::new(&emu_url, clerk::SecretKey::parse("sk_test_members").unwrap());
        let opts = tenantry::server::reconcile::Options { apply: true, allow_mass_removal: false };
        tenantry::server::reconcile::reconcile(&pool, &api, opts).await.unwrap();
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Stack { app: app_url, emu, admin, http }
}

impl Stack {
    /// A session token minted now by Clerk (the emulator) for `who`: its role and permissions
    /// are the membership's at this moment.
    fn token(&self, who: Who) -> Option<String> {
        let (user, org) = match who {
            Who::Admin => ("user_alice", Some("org_acme")),
            Who::Member => ("user_bob", Some("org_acme")),
            Who::OtherOrgAdmin => ("user_carol", Some("org_globex")),
            Who::NoOrg => ("user_dave", None),
            Who::SignedOut => return None,
        };
        Some(self.token_for(user, org))
    }

    fn token_for(&self, user: &str, org: Option<&str>) -> String {
        let mut st = self.emu.lock();
        let id = format!("sess_{user}");
        let s = Session {
            id: id.clone(),
            client_id: format!("client_{user}"),
            user_id: user.into(),
            status: "active".into(),
            active_org_id: org.map(str::to_string),
            created_at: now_ms(),
            updated_at: now_ms(),
            refresh_token: None,
        };
        st.sessions.insert(id.clone(), s);
        let session = st.sessions[&id].clone();
        self.emu.session_token(&st, &session, Some(&self.app), None)
    }

    async fn call_as(&self, token: Option<String>, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut rb = self.http.post(format!("{}/api/{path}", self.app)).form(form);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn call(&self, who: Who, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.call_as(self.token(who), path, form).await
    }

    /// Clerk's (the emulator's) role of `user` in `org`, if a member.
    fn clerk_role(&self, org: &str, user: &str) -> Option<String> {
        self.emu.lock().membership(org, user).map(|m| m.role.clone())
    }

    /// The mirror's live role of `user` in `org`.
    async fn mirror_role(&self, org: &str, user: &str) -> Option<String> {
        sqlx::query_scalar(
            "SELECT role FROM org_memberships WHERE org_id = $1 AND user_clerk_id = $2 AND deleted_at IS NULL",
        )
        .bind(org)
        .bind(user)
        .fetch_optional(&self.admin)
        .await
        .unwrap()
    }

    /// Waits (at most 10 s) for the mirror to show `want` for `user` in `org` (the webhook).
    async fn mirror_follows(&self, org: &str, user: &str, want: Option<&str>) {
        for _ in 0..200 {
            if self.mirror_role(org, user).await.as_deref() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the mirror never showed {want:?} for {user} in {org}: {:?}", self.mirror_role(org, user).await);
    }

    async fn audit(&self, org: &str, action: &str) -> Vec<(Option<Value>, Option<Value>)> {
        sqlx::query_as("SELECT before, after FROM audit_log WHERE org_id = $1 AND action = $2 ORDER BY id")
            .bind(org)
            .bind(action)
            .fetch_all(&self.admin)
            .await
            .unwrap()
    }

    async fn audit_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&self.admin).await.unwrap()
    }

    fn pending_invitations(&self, org: &str) -> Vec<String> {
        let st = self.emu.lock();
        st.invitations
            .values()
            .filter(|i| i.org_id == org && i.status() == "pending")
            .map(|i| i.email.clone())
            .collect()
    }
}

/// The refusal every caller without the right gets, with its code.
fn refused(who: Who, status: u16, body: &Value, admin_only: bool) {
    let (want_status, want_code) = match who {
        Who::Member if admin_only => (403, "admin_required"),
        Who::NoOrg => (403, "choose_organization"),
        Who::SignedOut => (401, ""),
        other => panic!("{other:?} is not refused here"),
    };
    assert_eq!(status, want_status, "{who:?}: {body}");
    if !want_code.is_empty() {
        assert_eq!(body["code"], want_code, "{who:?}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "a clear message: {body}");
    }
}

#[tokio::test]
async fn members_see_their_organization_from_the_mirror_and_only_admins_may_manage() {
    let s = stack(true).await;
    for who in EVERYONE {
        let (status, body) = s.call(who, "members/list", &[]).await;
        match who {
            Who::Admin | Who::Member => {
                assert_eq!(status, 200, "{who:?}: {body}");
                let rows: Vec<(String, String, String)> = body["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        (
                            m["email"].as_str().unwrap().into(),
                            m["role"].as_str().unwrap().into(),
                            m["name"].as_str().unwrap().into(),
                        )
                    })
                    .collect();
                assert_eq!(
                    rows,
                    [
                        ("alice@acme.test".into(), "org:admin".into(), "Alice Admin".into()),
                        ("bob@acme.test".into(), "org:member".into(), "Bob Member".into()),
                        ("carol@globex.test".into(), "org:member".into(), "Carol Both".into()),
                        ("erin@acme.test".into(), "org:member".into(), "Erin Engineer".into()),
                    ]
                );
                assert!(body["members"].as_array().unwrap().iter().all(|m| m["joined"].as_str().unwrap().len() >= 20));
                assert_eq!(body["can_manage"], who == Who::Admin, "decided by the token's role");
            }
            Who::OtherOrgAdmin => {
                assert_eq!(status, 200);
                let emails: Vec<&str> =
                    body["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
                assert_eq!(emails, ["bob@acme.test", "carol@globex.test"], "Globex's members only");
            }
            _ => refused(who, status, &body, false),
        }
    }
}

#[tokio::test]
async fn an_empty_mirror_falls_back_to_the_backend_api() {
    let s = stack(false).await;
    let (status, body) = s.call(Who::Member, "members/list", &[]).await;
    assert_eq!(status, 200, "{body}");
    let emails: Vec<&str> = body["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["alice@acme.test", "bob@acme.test", "carol@globex.test", "erin@acme.test"]);
}

/// The mirror answers when it has the answer, and Clerk fills what it lacks: the settings come
/// from the mirror (here deliberately unlike Clerk's), and an action on a member Clerk has but
/// the mirror not yet (a webhook still on its way) finds them in Clerk.
#[tokio::test]
async fn the_mirror_answers_and_clerk_fills_its_gaps() {
    let s = stack(true).await;
    sqlx::query("UPDATE organizations SET name = 'Acme (mirrored)' WHERE id = 'org_acme'")
        .execute(&s.admin)
        .await
        .unwrap();
    let (status, body) = s.call(Who::Admin, "organization/settings", &[]).await;
    assert_eq!((status, &body["name"]), (200, &json!("Acme (mirrored)")), "{body}");

    sqlx::query("DELETE FROM org_memberships WHERE org_id = 'org_acme' AND user_clerk_id = 'user_erin'")
        .execute(&s.admin)
        .await
        .unwrap();
    let (status, body) = s.call(Who::Admin, "members/role", &[("user_id", "user_erin"), ("role", "org:admin")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_erin").as_deref(), Some("org:admin"));
}

#[tokio::test]
async fn changing_a_role_is_for_admins_and_reaches_clerk_the_mirror_and_the_next_token() {
    let s = stack(true).await;
    // Refused callers first: nothing changes anywhere.
    for who in [Who::Member, Who::OtherOrgAdmin, Who::NoOrg, Who::SignedOut] {
        let (status, body) = s.call(who, "members/role", &[("user_id", "user_erin"), ("role", "org:admin")]).await;
        if who == Who::OtherOrgAdmin {
            // Erin is not in Globex: another organization's member is not found, and untouched.
            assert_eq!((status, &body["code"]), (404, &json!("member_not_found")), "{body}");
        } else {
            refused(who, status, &body, true);
        }
        assert_eq!(s.clerk_role("org_acme", "user_erin").as_deref(), Some("org:member"), "{who:?}");
    }
    assert_eq!(s.audit_count().await, 0, "no audit entries for refused actions");
    let (status, body) = s.call(Who::Admin, "members/role", &[("user_id", "user_erin"), ("role", "org:boss")]).await;
    assert_eq!((status, &body["code"]), (422, &json!("role_invalid")));

    let (status, body) = s.call(Who::Admin, "members/role", &[("user_id", "user_erin"), ("role", "org:admin")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_erin").as_deref(), Some("org:admin"));
    s.mirror_follows("org_acme", "user_erin", Some("org:admin")).await;
    let entries = s.audit("org_acme", "member.role_changed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_ref().unwrap()["role"], "org:member");
    assert_eq!(entries[0].1.as_ref().unwrap()["role"], "org:admin");
    // Erin's next token carries the new role: she may now manage members.
    let erin = s.token_for("user_erin", Some("org_acme"));
    let (status, body) = s.call_as(Some(erin), "members/list", &[]).await;
    assert_eq!((status, &body["can_manage"]), (200, &json!(true)));
}

#[tokio::test]
async fn removing_a_member_is_for_admins_and_the_removed_member_loses_the_organization() {
    let s = stack(true).await;
    for who in [Who::Member, Who::OtherOrgAdmin, Who::NoOrg, Who::SignedOut] {
        let (status, body) = s.call(who, "members/remove", &[("user_id", "user_erin")]).await;
        if who == Who::OtherOrgAdmin {
            assert_eq!((status, &body["code"]), (404, &json!("member_not_found")), "{body}");
        } else {
            refused(who, status, &body, true);
        }
        assert_eq!(s.clerk_role("org_acme", "user_erin").as_deref(), Some("org:member"), "{who:?}");
    }
    assert_eq!(s.mirror_role("org_acme", "user_erin").await.as_deref(), Some("org:member"));
    assert_eq!(s.audit_count().await, 0);

    let (status, body) = s.call(Who::Admin, "members/remove", &[("user_id", "user_erin")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_erin"), None);
    s.mirror_follows("org_acme", "user_erin", None).await;
    let entries = s.audit("org_acme", "member.removed").await;
    assert_eq!(entries[0].0.as_ref().unwrap()["email"], "erin@acme.test");
    // Her next token has no organization: Acme's members and projects are out of reach.
    let erin = s.token_for("user_erin", Some("org_acme"));
    let claims = clerk::verify::decode_jwt(&erin).unwrap().into_payload();
    assert!(claims.get("o").is_none(), "{claims}");
    let (status, body) = s.call_as(Some(erin), "members/list", &[]).await;
    assert_eq!((status, &body["code"]), (403, &json!("choose_organization")));
    let (again, body) = s.call(Who::Admin, "members/remove", &[("user_id", "user_erin")]).await;
    assert_eq!((again, &body["code"]), (404, &json!("member_not_found")));
}

#[tokio::test]
async fn nobody_removes_or_demotes_the_last_admin_and_anyone_else_may_leave() {
    let s = stack(true).await;
    let (status, body) = s.call(Who::Admin, "members/role", &[("user_id", "user_alice"), ("role", "org:member")]).await;
    assert_eq!((status, &body["code"]), (409, &json!("last_admin")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("at least one admin"));
    let (status, body) = s.call(Who::Admin, "members/leave", &[]).await;
    assert_eq!((status, &body["code"]), (409, &json!("last_admin")));
    assert_eq!(s.clerk_role("org_acme", "user_alice").as_deref(), Some("org:admin"));
    // A member leaves.
    let (status, body) = s.call(Who::Member, "members/leave", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_bob"), None);
    assert_eq!(s.clerk_role("org_globex", "user_bob").as_deref(), Some("org:member"), "only the active organization");
    assert_eq!(s.audit("org_acme", "member.left").await.len(), 1);
    // With a second admin, the first may step down.
    s.call(Who::Admin, "members/role", &[("user_id", "user_erin"), ("role", "org:admin")]).await;
    s.mirror_follows("org_acme", "user_erin", Some("org:admin")).await;
    let (status, body) = s.call(Who::Admin, "members/leave", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_alice"), None);
}

#[tokio::test]
async fn invitations_are_for_admins() {
    let s = stack(true).await;
    for who in EVERYONE {
        let email = format!("new-{who:?}@example.test").to_lowercase();
        let (status, body) = s.call(who, "invitations/create", &[("email", &email), ("role", "org:member")]).await;
        match who {
            Who::Admin => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["email"], email);
            }
            // Their own organization's invitation, never Acme's.
            Who::OtherOrgAdmin => assert_eq!(status, 200, "{body}"),
            _ => refused(who, status, &body, true),
        }
    }
    assert_eq!(s.pending_invitations("org_acme"), ["new-admin@example.test"]);
    assert_eq!(s.pending_invitations("org_globex"), ["new-otherorgadmin@example.test"]);
    assert_eq!(s.audit("org_acme", "invitation.created").await.len(), 1);

    // Listing: the admin sees Acme's pending invitation; a member may not look.
    let (status, body) = s.call(Who::Admin, "invitations/list", &[]).await;
    assert_eq!(status, 200, "{body}");
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["email"], "new-admin@example.test");
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (status, body) = s.call(Who::Member, "invitations/list", &[]).await;
    refused(Who::Member, status, &body, true);

    // Inviting an existing member, or a bad address.
    let (status, body) =
        s.call(Who::Admin, "invitations/create", &[("email", "Bob@Acme.test"), ("role", "org:member")]).await;
    assert_eq!((status, &body["code"]), (409, &json!("already_member")), "{body}");
    let (status, body) =
        s.call(Who::Admin, "invitations/create", &[("email", "not an email"), ("role", "org:member")]).await;
    assert_eq!((status, &body["code"]), (422, &json!("email_invalid")));

    // Revoking: another organization's admin cannot reach Acme's invitation.
    let (status, body) = s.call(Who::OtherOrgAdmin, "invitations/revoke", &[("id", &id)]).await;
    assert_eq!((status, &body["code"]), (404, &json!("invitation_not_found")), "{body}");
    for who in [Who::Member, Who::NoOrg, Who::SignedOut] {
        let (status, body) = s.call(who, "invitations/revoke", &[("id", &id)]).await;
        refused(who, status, &body, true);
    }
    assert_eq!(s.pending_invitations("org_acme"), ["new-admin@example.test"]);
    let (status, body) = s.call(Who::Admin, "invitations/revoke", &[("id", &id)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(s.pending_invitations("org_acme").is_empty());
    let (status, body) = s.call(Who::Admin, "invitations/list", &[]).await;
    assert_eq!((status, body), (200, json!([])));
    let (status, body) = s.call(Who::Admin, "invitations/revoke", &[("id", &id)]).await;
    assert_eq!((status, &body["code"]), (409, &json!("invitation_not_pending")));
    let revoked = s.audit("org_acme", "invitation.revoked").await;
    assert_eq!(revoked[0].1.as_ref().unwrap()["status"], "revoked");
}

/// The ticket of the pending invitation for `email`.
fn ticket(s: &Stack, email: &str) -> String {
    let st = s.emu.lock();
    st.invitations.values().find(|i| i.email == email && i.status() == "pending").unwrap().ticket.clone()
}

#[tokio::test]
async fn an_accepted_invitation_makes_a_member_and_can_no_longer_be_revoked() {
    let s = stack(true).await;
    let (status, inv) =
        s.call(Who::Admin, "invitations/create", &[("email", "dave@example.test"), ("role", "org:member")]).await;
    assert_eq!(status, 200, "{inv}");
    let t = ticket(&s, "dave@example.test");
    assert_eq!(clerk_emulator::bapi::accept_invitation(&s.emu, &t, "user_dave").unwrap(), "org_acme");
    assert_eq!(s.clerk_role("org_acme", "user_dave").as_deref(), Some("org:member"));
    s.mirror_follows("org_acme", "user_dave", Some("org:member")).await;
    let (status, body) = s.call(Who::Admin, "invitations/revoke", &[("id", inv["id"].as_str().unwrap())]).await;
    assert_eq!((status, &body["code"]), (409, &json!("invitation_not_pending")), "{body}");
    assert_eq!(s.clerk_role("org_acme", "user_dave").as_deref(), Some("org:member"), "the membership stays");
    // Dave now sees Acme's members.
    let dave = s.token_for("user_dave", Some("org_acme"));
    let (status, body) = s.call_as(Some(dave), "members/list", &[]).await;
    assert_eq!(status, 200);
    assert!(body["members"].as_array().unwrap().iter().any(|m| m["email"] == "dave@example.test"));
}

#[tokio::test]
async fn an_invitation_for_a_deleted_organization_cannot_be_accepted() {
    let s = stack(true).await;
    let (status, _) =
        s.call(Who::Admin, "invitations/create", &[("email", "late@example.test"), ("role", "org:member")]).await;
    assert_eq!(status, 200);
    let link = {
        let st = s.emu.lock();
        let i = st.invitations.values().find(|i| i.email == "late@example.test").unwrap();
        format!("{}/accept-invitation?ticket={}", s.emu.config.public_url, i.ticket)
    };
    let (status, body) = s.call(Who::Admin, "organization/delete", &[("confirm", "Acme")]).await;
    assert_eq!(status, 200, "{body}");
    let page = s.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("The organization of this invitation no longer exists."));
    let r = s
        .http
        .post(format!("{}/sign-up", s.emu.config.public_url))
        .form(&[
            ("email", "late@example.test"),
            ("password", "long-enough-9"),
            ("ticket", &ticket(&s, "late@example.test")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(s.emu.lock().user_by_email("late@example.test").is_none(), "a refused invitation creates no account");
}

#[tokio::test]
async fn settings_are_for_admins_and_changes_go_through_clerk() {
    let s = stack(true).await;
    for who in [Who::Member, Who::NoOrg, Who::SignedOut] {
        for (path, form) in [
            ("organization/settings", vec![]),
            ("organization/rename", vec![("name", "Pwned")]),
            ("organization/slug", vec![("slug", "pwned")]),
            ("organization/delete", vec![("confirm", "Acme")]),
        ] {
            let (status, body) = s.call(who, path, &form).await;
            refused(who, status, &body, true);
        }
    }
    assert_eq!(s.emu.lock().organizations["org_acme"].name, "Acme");
    assert_eq!(s.audit_count().await, 0);

    let (status, body) = s.call(Who::Admin, "organization/settings", &[]).await;
    assert_eq!((status, body), (200, json!({"id": "org_acme", "name": "Acme", "slug": "acme"})));
    let (status, body) = s.call(Who::Admin, "organization/rename", &[("name", "Acme Corp")]).await;
    assert_eq!((status, &body["name"]), (200, &json!("Acme Corp")), "{body}");
    assert_eq!(s.emu.lock().organizations["org_acme"].name, "Acme Corp");
    for bad in ["Acme Corp", "acme corp", "-acme", "acme_corp"] {
        let (status, body) = s.call(Who::Admin, "organization/slug", &[("slug", bad)]).await;
        assert_eq!((status, &body["code"]), (422, &json!("slug_invalid")), "{bad}");
    }
    let (status, body) = s.call(Who::Admin, "organization/slug", &[("slug", "globex")]).await;
    assert_eq!((status, &body["code"]), (409, &json!("slug_taken")));
    let (status, body) = s.call(Who::Admin, "organization/slug", &[("slug", "acme-corp")]).await;
    assert_eq!((status, &body["slug"]), (200, &json!("acme-corp")), "{body}");
    // The mirror follows.
    for _ in 0..200 {
        let row: (String, Option<String>) =
            sqlx::query_as("SELECT name, slug FROM organizations WHERE id = 'org_acme'")
                .fetch_one(&s.admin)
                .await
                .unwrap();
        if row == ("Acme Corp".into(), Some("acme-corp".into())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT name, slug FROM organizations WHERE id = 'org_acme'").fetch_one(&s.admin).await.unwrap();
    assert_eq!(row, ("Acme Corp".into(), Some("acme-corp".into())), "the mirror follows by webhook");
    let renamed = s.audit("org_acme", "organization.renamed").await;
    assert_eq!(
        (renamed[0].0.as_ref().unwrap()["name"].clone(), renamed[0].1.as_ref().unwrap()["name"].clone()),
        (json!("Acme"), json!("Acme Corp"))
    );
    // Another organization's admin renames their own organization, never Acme.
    let (status, _) = s.call(Who::OtherOrgAdmin, "organization/rename", &[("name", "Globex Intl")]).await;
    assert_eq!(status, 200);
    assert_eq!(s.emu.lock().organizations["org_acme"].name, "Acme Corp");

    // Deletion needs the name typed out.
    let (status, body) = s.call(Who::Admin, "organization/delete", &[("confirm", "acme corp")]).await;
    assert_eq!((status, &body["code"]), (422, &json!("confirmation_mismatch")));
    assert!(s.emu.lock().organizations.contains_key("org_acme"));
    let old_token = s.token(Who::Member);
    let (status, body) = s.call(Who::Admin, "organization/delete", &[("confirm", "Acme Corp")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(!s.emu.lock().organizations.contains_key("org_acme"), "deleted in Clerk");
    // The mirror tombstones it: data kept, requests with a still-valid token refused (410).
    for _ in 0..200 {
        let deleted: bool =
            sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM organizations WHERE id = 'org_acme'")
                .fetch_one(&s.admin)
                .await
                .unwrap();
        if deleted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept: (bool, i64) = sqlx::query_as(
        "SELECT deleted_at IS NOT NULL, (SELECT count(*) FROM audit_log WHERE org_id = 'org_acme') FROM organizations WHERE id = 'org_acme'",
    )
    .fetch_one(&s.admin)
    .await
    .unwrap();
    assert!(kept.0 && kept.1 > 0, "tombstoned, its data kept: {kept:?}");
    let (status, body) = s.call_as(old_token, "members/list", &[]).await;
    assert_eq!((status, &body["code"]), (410, &json!("organization_deleted")), "{body}");
    assert_eq!(s.audit("org_acme", "organization.deletion_requested").await.len(), 1);
}

/// The pages render on the server for plain browsers: the admin gets the forms, a member the
/// list only; settings refuse a member with 403.
#[tokio::test]
async fn the_pages_render_for_admins_and_members() {
    let s = stack(true).await;
    let page = |who: Who, path: &'static str| {
        let cookie = format!("__session={}; __client_uat={}", s.token(who).unwrap(), crate::helpers::now() - 100);
        let rb = s.http.get(format!("{}{path}", s.app)).header("cookie", cookie).header("accept", "text/html");
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = page(Who::Admin, "/app/members").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("erin@acme.test") && html.contains("Send invitation") && html.contains("Change role"));
    assert!(html.contains("No pending invitations."), "the empty state");
    let (status, html) = page(Who::Member, "/app/members").await;
    assert_eq!(status, 200);
    assert!(html.contains("alice@acme.test") && html.contains("Leave…"));
    assert!(!html.contains("Send invitation") && !html.contains("Change role"), "no admin forms for a member");
    let (status, html) = page(Who::Admin, "/app/settings").await;
    assert_eq!(status, 200);
    assert!(html.contains("Delete organization") && html.contains("value=\"acme\""));
    let (status, html) = page(Who::Member, "/app/settings").await;
    assert_eq!(status, 403);
    assert!(html.contains("only organization admins can do that"));
}

/// Reading the members page while waiting for the mirror (each load lists the invitations
/// through the Backend API) spends its own allowance, not the one the admin's next change
/// needs: past ten reads a minute the list is refused (429), and the change still goes through.
#[tokio::test]
async fn reloading_the_page_cannot_spend_what_a_change_needs() {
    let s = stack(true).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(s.call(Who::Admin, "invitations/list", &[]).await.0);
    }
    assert_eq!(&statuses[..10], &[200; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "the read allowance is spent: {statuses:?}");
    let (status, body) = s.call(Who::Admin, "members/role", &[("user_id", "user_erin"), ("role", "org:admin")]).await;
    assert_eq!(status, 200, "the change has its own allowance: {body}");
}
