//! Sessions: get, revoke, the server-side refresh, session and JWT-template tokens, and the
//! handshake payload.

use super::*;

pub(super) async fn get_session(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let st = emu.lock();
    st.sessions.get(&id).map(|s| Json(emu.session_json(&st, s))).ok_or_else(|| not_found("session"))
}

pub(super) async fn revoke_session(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let s = {
        let mut st = emu.lock();
        let s = st.sessions.get_mut(&id).ok_or_else(|| not_found("session"))?;
        s.status = "revoked".into();
        s.updated_at = now_ms();
        let s = s.clone();
        if let Some(c) = st.clients.get_mut(&s.client_id) {
            if c.session_id.as_deref() == Some(id.as_str()) {
                c.session_id = None;
                c.updated_at = now_ms() / 1000;
            }
        }
        s
    };
    emu.persist();
    Ok(Json(s.to_json(false)))
}

#[derive(Debug, Deserialize)]
pub struct RefreshBody {
    format: Option<String>,
    expired_token: String,
    refresh_token: String,
    request_origin: String,
}

#[derive(Debug, Deserialize)]
pub struct RefreshQuery {
    suffixed_cookies: Option<bool>,
}

/// Server-side refresh (what the SDK calls with the `__refresh_<suffix>` cookie when a session
/// token has expired): the refresh token must be this active session's, and the expired token
/// one this instance signed for it. Answers with the Set-Cookie directives of a fresh token
/// (`format: cookie`, what the SDKs ask for) or the token itself (`token`, the document's default).
pub(super) async fn refresh_session(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<RefreshQuery>,
    body: Result<Json<RefreshBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    use subtle::ConstantTimeEq;
    let Json(body) = body.map_err(|e| invalid(format!("invalid refresh request: {}", e.body_text())))?;
    // The document's default is `token`; the SDKs ask for `cookie`.
    let cookies = match body.format.as_deref() {
        None | Some("token") => false,
        Some("cookie") => true,
        Some(_) => return Err(invalid("format must be \"token\" or \"cookie\"")),
    };
    let expired = clerk::verify::decode_jwt(&body.expired_token)
        .ok()
        .filter(|jwt| jwt.signature_valid(&emu.public_key, jsonwebtoken::Algorithm::RS256))
        .ok_or_else(|| invalid("expired_token is not a session token of this instance"))?;
    let refresh_invalid =
        || ApiError(StatusCode::BAD_REQUEST, "refresh_token_invalid", "The refresh token is invalid.".into());
    let (uat, session) = {
        let st = emu.lock();
        let session = st.sessions.get(&id).ok_or_else(|| not_found("session"))?.clone();
        if expired.claims().sid.str().as_deref() != Some(session.id.as_str())
            || expired.claims().sub.str().as_deref() != Some(session.user_id.as_str())
        {
            return Err(invalid("expired_token belongs to another session"));
        }
        let matches = session
            .refresh_token
            .as_ref()
            .is_some_and(|rt| bool::from(rt.as_bytes().ct_eq(body.refresh_token.as_bytes())));
        if !matches {
            tracing::warn!(session = %id, "refresh with a wrong refresh token");
            return Err(refresh_invalid());
        }
        if session.status != "active" {
            return Err(ApiError(StatusCode::BAD_REQUEST, "session_not_active", "The session is not active.".into()));
        }
        (st.clients.get(&session.client_id).map(|c| c.updated_at).unwrap_or(0), session)
    };
    let azp = url::Url::parse(&body.request_origin)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| emu.config.allowed_origins.iter().any(|a| a.trim_end_matches('/') == o));
    let jwt = emu.session_token(&emu.lock(), &session, azp.as_deref(), None);
    if !cookies {
        return Ok(Json(json!({"object": "token", "jwt": jwt})));
    }
    let suffix = if q.suffixed_cookies == Some(true) {
        format!("_{}", emu.publishable_key.cookie_suffix())
    } else {
        String::new()
    };
    Ok(Json(json!({"object": "cookies", "cookies": [
        format!("__session{suffix}={jwt}; Path=/; SameSite=Lax"),
        format!("__client_uat{suffix}={uat}; Path=/; SameSite=Lax; Max-Age=315360000"),
    ]})))
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenBody {
    expires_in_seconds: Option<i64>,
}

/// The optional `expires_in_seconds` of a token request. `@clerk/backend` posts no body at all
/// (with `Content-Type: application/json`) when it has none to send; Clerk accepts that.
pub(super) fn token_lifetime(body: &[u8]) -> Result<Option<i64>, ApiError> {
    let b: TokenBody = if body.iter().all(u8::is_ascii_whitespace) {
        TokenBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?
    };
    match b.expires_in_seconds {
        Some(s) if !(30..=315_360_000).contains(&s) => {
            Err(invalid("expires_in_seconds must be between 30 and 315360000"))
        }
        other => Ok(other),
    }
}

pub(super) async fn session_token(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let lifetime = token_lifetime(&body)?;
    let st = emu.lock();
    let s = st.sessions.get(&id).filter(|s| s.status == "active").ok_or_else(|| not_found("session"))?;
    Ok(Json(json!({"object": "token", "jwt": emu.session_token(&st, s, None, lifetime)})))
}

/// JWT templates: Clerk's default claims (no `sid`, `v`, `fea`, `pla`), the template's claims
/// with `{{user.*}}`, `{{session.id}}` and the active organization's `{{org.id}}`,
/// `{{org.slug}}`, `{{org.name}}`, `{{org.role}}` shortcodes filled in (a claim that is only an
/// org shortcode is `null` without an active organization), and the template category in the
/// header.
pub(super) async fn template_token(
    State(emu): State<Shared>,
    Path((id, template)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let lifetime = token_lifetime(&body)?.unwrap_or(60);
    let extra = emu.config.jwt_templates.get(&template).cloned().ok_or_else(|| not_found("JWT template"))?;
    let st = emu.lock();
    let s = st.sessions.get(&id).filter(|s| s.status == "active").ok_or_else(|| not_found("session"))?;
    let user = st.users.get(&s.user_id).ok_or_else(|| not_found("user"))?;
    let org = crate::Emulator::active_membership(&st, s)
        .and_then(|(id, m)| st.organizations.get(id).map(|o| (o, m.role.as_str())));
    let now = now_ms() / 1000;
    let mut claims = json!({"sub": user.id, "iss": emu.config.public_url.trim_end_matches('/'), "iat": now, "nbf": now - 10, "exp": now + lifetime, "jti": new_id("jti")});
    if let Value::Object(map) = extra {
        for (k, v) in map {
            claims[k] = fill(&v, user, &s.id, org);
        }
    }
    let jwt = emu.signer.sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": emu.signer.kid(), "cat": clerk::claims::CAT_TEMPLATE}),
        &claims,
    );
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

pub(super) fn fill(v: &Value, user: &User, sid: &str, org: Option<(&Organization, &str)>) -> Value {
    const ORG: [&str; 4] = ["{{org.id}}", "{{org.slug}}", "{{org.name}}", "{{org.role}}"];
    match v {
        Value::String(s) if org.is_none() && ORG.contains(&s.as_str()) => Value::Null,
        Value::String(s) => Value::String(
            s.replace("{{user.id}}", &user.id)
                .replace("{{user.primary_email_address}}", user.email.as_deref().unwrap_or(""))
                .replace("{{user.first_name}}", user.first_name.as_deref().unwrap_or(""))
                .replace("{{user.last_name}}", user.last_name.as_deref().unwrap_or(""))
                .replace("{{session.id}}", sid)
                .replace("{{org.id}}", org.map_or("", |(o, _)| &o.id))
                .replace("{{org.slug}}", org.map_or("", |(o, _)| &o.slug))
                .replace("{{org.name}}", org.map_or("", |(o, _)| &o.name))
                .replace("{{org.role}}", org.map_or("", |(_, r)| r)),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, user, sid, org)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, user, sid, org))).collect()),
        other => other.clone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NonceQuery {
    nonce: Option<String>,
}

/// `GET /v1/clients/handshake_payload?nonce=`: the directives of a nonce handshake (one use).
pub(super) async fn handshake_payload(State(emu): State<Shared>, Query(q): Query<NonceQuery>) -> ApiResult {
    let nonce = q.nonce.filter(|n| !n.is_empty()).ok_or_else(|| invalid("nonce is required"))?;
    let directives = emu.lock().nonces.remove(&nonce).ok_or_else(|| not_found("handshake payload"))?;
    Ok(Json(json!({"directives": directives})))
}
