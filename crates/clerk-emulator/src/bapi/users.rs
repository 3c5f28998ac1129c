//! Users: list (a bare array, newest first), count, get, create, delete, and a user's memberships.

use super::*;

/// `GetUserList`: a bare array, newest first (the total is `GetUsersCount`'s).
pub(super) async fn list_users(State(emu): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let (limit, offset) = window(&p)?;
    let st = emu.lock();
    let mut users: Vec<&User> = st.users.values().collect();
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(Value::Array(users.into_iter().skip(offset).take(limit).map(User::to_json).collect())))
}

/// `GetUsersCount`: `{object: "total_count", total_count}`.
pub(super) async fn count_users(State(emu): State<Shared>) -> ApiResult {
    Ok(Json(json!({"object": "total_count", "total_count": emu.lock().users.len()})))
}

pub(super) async fn get_user(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    emu.lock().users.get(&id).map(|u| Json(u.to_json())).ok_or_else(|| not_found("user"))
}

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    #[serde(default)]
    email_address: Vec<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

pub(super) async fn create_user(State(emu): State<Shared>, Json(b): Json<CreateUser>) -> ApiResult {
    let email = b.email_address.first().map(|e| e.trim().to_lowercase());
    if let Some(e) = &email {
        if !e.contains('@') {
            return Err(invalid("email_address is invalid"));
        }
        if emu.lock().user_by_email(e).is_some() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
                "That email address is taken. Please try another.".into(),
            ));
        }
    }
    if email.is_none() && b.username.is_none() {
        return Err(invalid("an email_address or username is required"));
    }
    let mut user = User {
        id: new_id("user"),
        email,
        first_name: b.first_name,
        last_name: b.last_name,
        username: b.username,
        password_hash: None,
        salt: String::new(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    if let Some(p) = &b.password {
        if p.len() < 8 {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_password_length_too_short",
                "Passwords must be 8 characters or more.".into(),
            ));
        }
        user.set_password(p);
    }
    emu.lock().users.insert(user.id.clone(), user.clone());
    emu.webhooks.emit("user.created", user.to_json());
    emu.persist();
    Ok(Json(user.to_json()))
}

pub(super) async fn delete_user(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let removed = {
        let mut st = emu.lock();
        let removed = st.users.remove(&id);
        if removed.is_some() {
            st.memberships.retain(|_, m| m.user_id != id);
            for s in st.sessions.values_mut().filter(|s| s.user_id == id) {
                s.status = "revoked".into();
            }
        }
        removed
    };
    removed.ok_or_else(|| not_found("user"))?;
    emu.webhooks.emit("user.deleted", json!({"object": "user", "id": id, "deleted": true}));
    emu.persist();
    Ok(Json(json!({"object": "user", "id": id, "deleted": true})))
}

pub(super) async fn user_memberships(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Query(p): Query<Page>,
) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        if !st.users.contains_key(&id) {
            return Err(not_found("user"));
        }
        st.memberships.values().filter(|m| m.user_id == id).map(|m| st.membership_json(m, &emu.config.roles)).collect()
    };
    paginate(items, &p)
}
