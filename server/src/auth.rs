//! Who is who: signed tokens on every connection, and the [`Authorizer`] seam for rooms and
//! publishing.
//!
//! With `--auth-secret` (env `REALTIME_AUTH_SECRET`) every WebSocket and SSE connection and
//! the publish API need a JWT signed HS256 with that secret, presented as `?token=…` (browsers
//! cannot set headers on a WebSocket or an EventSource) or as `Authorization: Bearer …`. Claims
//! ([`Claims`]): `sub` (the user id, 1..=64 characters), `name` (display name, 1..=32
//! characters after the usual clean-up), `exp` (seconds since the epoch), optional `rooms` (the
//! typed-chat rooms the user may join: absent or `["*"]` every room, `[]` none) and optional
//! `publish` (may `POST /api/notifications`). A bad token is refused with HTTP 401 before the
//! upgrade, with a one-line reason; a connection whose token expires is closed with 4001 at
//! `exp`. Tokens are verified by `jsonwebtoken` (HS256 only: `alg: none` and every other
//! algorithm are refused), never by hand.
//!
//! Without a secret the server runs open, as a local preview wants: anyone is `Guest N` or
//! what `?name=` says, and says so in one warning at start.
//!
//! **Plugging in real users:** have your backend issue the same JWT (same secret, same claims)
//! from its own login, and point the app's `auth_login_url` at it; the server needs no change.
//! Room and publish decisions beyond the claims (a database lookup, a tenant rule) go in an
//! [`Authorizer`] given to [`crate::Server::authorizer`].
//!
//! **Dev login:** `--dev-login` mounts `POST /api/dev/login {name}` → `{token, expiresAt,
//! userId, name}`, a short-lived token for anyone who asks (every room, may publish). It is for
//! previews only: it lets anyone be anyone.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::protocol::{sanitize_name, MAX_NAME_CHARS};

/// Longest accepted `sub`, in characters.
pub const MAX_SUB_CHARS: usize = 64;
/// Shortest accepted secret, in bytes: HS256 keys shorter than the hash are easy to guess.
pub const MIN_SECRET_BYTES: usize = 32;
/// Close code for a connection whose token expired; clients fetch a new one and reconnect.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;

/// The HS256 signing secret. Its `Debug` never shows the value, so a logged config is safe.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes, for signing and verifying.
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// A random secret for one run (the dev login without `--auth-secret`).
    pub fn random() -> Self {
        Self(random_hex(32))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "must be at least {MIN_SECRET_BYTES} bytes (got {})",
                s.len()
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// The claims of a token, as signed. See the module docs for their rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Rooms the user may join; `None` or `["*"]`: every room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
    /// Whether the user may use the publish API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
}

/// Which typed-chat rooms a user may join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomGrant {
    /// Every room (`rooms` absent or `["*"]`).
    Any,
    /// Only these (possibly none).
    Only(Vec<String>),
}

impl RoomGrant {
    /// Whether `room` is granted.
    pub fn allows(&self, room: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(rooms) => rooms.iter().any(|r| r == room),
        }
    }
}

/// A verified token: who the connection is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id (`sub`).
    pub sub: Arc<str>,
    /// The display name, cleaned.
    pub name: Arc<str>,
    /// When the token expires, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// The rooms claim.
    pub rooms: RoomGrant,
    /// The publish claim.
    pub publish: bool,
}

/// Why a token was refused; the `Display` text is the one-line body of the 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `?token=` and no `Authorization: Bearer`.
    Missing,
    /// Not a JWT, or not one this server accepts (bad JSON, `alg: none`, another algorithm).
    Malformed,
    /// Signed with another secret, or altered.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// No `exp` claim.
    MissingExp,
    /// A claim breaks its rule (the text says which).
    InvalidClaim(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("token required: pass ?token= or Authorization: Bearer"),
            Self::Malformed => f.write_str("malformed token (an HS256 JWT is expected)"),
            Self::BadSignature => f.write_str("bad token signature"),
            Self::Expired => f.write_str("token expired"),
            Self::MissingExp => f.write_str("token has no exp claim"),
            Self::InvalidClaim(why) => write!(f, "invalid token claim: {why}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, format!("{self}\n")).into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// Room and publish decisions. The default ([`ClaimsAuthorizer`]) follows the token's claims;
/// a team replaces it through [`crate::Server::authorizer`] to ask its own rules.
///
/// ```
/// use realtime_server::auth::{Authorizer, Identity};
///
/// /// Staff rooms only for ids starting with `staff-`; everything else as the claims say.
/// struct StaffRooms;
///
/// impl Authorizer for StaffRooms {
///     fn may_join(&self, who: &Identity, room: &str) -> bool {
///         if room.starts_with("staff") {
///             return who.sub.starts_with("staff-");
///         }
///         who.rooms.allows(room)
///     }
/// }
///
/// let server = realtime_server::Server::new(realtime_server::Config::default())
///     .authorizer(StaffRooms);
/// # drop(server);
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// Whether `who` may join typed-chat room `room`.
    fn may_join(&self, who: &Identity, room: &str) -> bool {
        who.rooms.allows(room)
    }

    /// Whether `who` may `POST /api/notifications`.
    fn may_publish(&self, who: &Identity) -> bool {
        who.publish
    }
}

/// The default [`Authorizer`]: the token's `rooms` and `publish` claims decide.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClaimsAuthorizer;

impl Authorizer for ClaimsAuthorizer {}

/// The server's auth settings in force: the verifier (none: open) and the decisions.
#[derive(Clone)]
pub struct Auth {
    secret: Option<Secret>,
    /// Room and publish decisions for verified users.
    pub authorizer: Arc<dyn Authorizer>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("on", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Auth with `secret` (or open without one), deciding with `authorizer`.
    pub fn new(secret: Option<Secret>, authorizer: Arc<dyn Authorizer>) -> Self {
        Self { secret, authorizer }
    }

    /// Whether tokens are required.
    pub fn is_on(&self) -> bool {
        self.secret.is_some()
    }

    /// Checks the token a request presents: `Ok(None)` when auth is off.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Option<Identity>, AuthError> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        let token = presented_token(headers, query).ok_or(AuthError::Missing)?;
        verify(secret, &token, now_secs()).map(Some)
    }

    /// Signs a token for `claims` (the dev login; tests).
    pub fn sign(&self, claims: &Claims) -> Option<String> {
        sign(self.secret.as_ref()?, claims)
    }

    /// The `sub` of a token signed by this server, expired or not (the dev login keeps a
    /// user's id across renewals).
    pub fn signed_sub(&self, headers: &HeaderMap) -> Option<String> {
        let secret = self.secret.as_ref()?;
        let token = presented_token(headers, None)?;
        let mut validation = validation();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(secret.bytes()),
            &validation,
        )
        .ok()?;
        data.claims.sub.filter(|s| valid_sub(s))
    }
}

/// The token of a request: `Authorization: Bearer` first, else `?token=`.
pub fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        })
        .filter(|t| !t.is_empty());
    bearer.or_else(|| crate::state::query_param(query, "token").filter(|t| !t.is_empty()))
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is exact: a connection is closed at `exp`, so connecting must not allow more.
    validation.leeway = 0;
    validation.reject_tokens_expiring_in_less_than = 0;
    validation.set_required_spec_claims(&["exp"]);
    validation
}

/// Verifies `token` against `secret` at `now` (seconds since the epoch) and checks the claims.
pub fn verify(secret: &Secret, token: &str, now: u64) -> Result<Identity, AuthError> {
    let mut validation = validation();
    // jsonwebtoken checks `exp` against its own clock; checked here against `now` instead, so
    // tests can pass a time.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => AuthError::MissingExp,
        _ => AuthError::Malformed,
    })?;
    let claims = data.claims;
    if claims.exp <= now {
        return Err(AuthError::Expired);
    }
    let sub = claims.sub.filter(|s| valid_sub(s)).ok_or_else(|| {
        AuthError::InvalidClaim(format!("sub must be 1..={MAX_SUB_CHARS} characters"))
    })?;
    let raw_name = claims
        .name
        .ok_or_else(|| AuthError::InvalidClaim("name is required".into()))?;
    let name = valid_name(&raw_name).ok_or_else(|| {
        AuthError::InvalidClaim(format!("name must be 1..={MAX_NAME_CHARS} characters"))
    })?;
    let rooms = match claims.rooms {
        None => RoomGrant::Any,
        Some(rooms) if rooms.len() == 1 && rooms[0] == "*" => RoomGrant::Any,
        Some(rooms) => RoomGrant::Only(rooms),
    };
    Ok(Identity {
        sub: sub.into(),
        name: name.into(),
        expires_at_ms: claims.exp.saturating_mul(1000),
        rooms,
        publish: claims.publish.unwrap_or(false),
    })
}

/// Signs `claims` with `secret` (HS256).
pub fn sign(secret: &Secret, claims: &Claims) -> Option<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.bytes()),
    )
    .ok()
}

fn valid_sub(sub: &str) -> bool {
    (1..=MAX_SUB_CHARS).contains(&sub.chars().count())
}

/// The cleaned name, if it is 1..=32 characters after clean-up (never clipped: a signed name
/// is shown as signed or refused).
fn valid_name(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return None;
    }
    sanitize_name(trimmed)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `bytes` random bytes from the OS, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness: `new_run_id` falls back to time, pid and a counter.
        let seed = crate::broker::new_run_id();
        return format!("{seed:0>width$}", width = bytes * 2);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /api/dev/login {name}` → `{token, expiresAt, userId, name, publish}` (mounted by
/// `--dev-login`): a token valid `--dev-token-ttl-s` seconds, for every room, that may publish.
/// `expiresAt` is in milliseconds since the epoch. A request that presents a token this server
/// signed (`Authorization: Bearer`, expired or not) keeps that token's `sub`, so renewing does
/// not make the user someone else; otherwise the `sub` is new and random.
pub async fn dev_login(
    axum::extract::State(state): axum::extract::State<crate::SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    #[derive(Deserialize)]
    struct Login {
        name: Option<String>,
    }
    let json_error = crate::notifications::json_error;
    let login: Login = match serde_json::from_slice(&body) {
        Ok(login) => login,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "malformed",
                &format!("not a JSON object with a name: {e}"),
            )
        }
    };
    let Some(name) = login.name.as_deref().and_then(valid_name) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!("\"name\" must be 1..={MAX_NAME_CHARS} characters"),
        );
    };
    let sub = state
        .auth
        .signed_sub(&headers)
        .unwrap_or_else(|| format!("dev-{}", random_hex(8)));
    let exp = now_secs() + state.config.dev_token_ttl_s;
    let claims = Claims {
        sub: Some(sub.clone()),
        name: Some(name.clone()),
        exp,
        rooms: Some(vec!["*".into()]),
        publish: Some(true),
    };
    let Some(token) = state.auth.sign(&claims) else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "cannot sign tokens",
        );
    };
    crate::notifications::json_body(&serde_json::json!({
        "token": token,
        "expiresAt": exp.saturating_mul(1000),
        "userId": sub,
        "name": name,
        "publish": true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        "0123456789abcdef0123456789abcdef".parse().unwrap()
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: Some("u-ana".into()),
            name: Some("  Ana  ".into()),
            exp,
            rooms: None,
            publish: None,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_names_are_cleaned() {
        let token = sign(&secret(), &claims(2_000)).unwrap();
        let who = verify(&secret(), &token, 1_000).unwrap();
        assert_eq!(&*who.sub, "u-ana");
        assert_eq!(&*who.name, "Ana");
        assert_eq!(who.expires_at_ms, 2_000_000);
        assert_eq!(who.rooms, RoomGrant::Any);
        assert!(!who.publish);
    }

    #[test]
    fn expiry_is_exact() {
        let token = sign(&secret(), &claims(2_000)).unwrap();
        assert!(verify(&secret(), &token, 1_999).is_ok());
        assert_eq!(verify(&secret(), &token, 2_000), Err(AuthError::Expired));
    }

    #[test]
    fn another_secret_is_a_bad_signature() {
        let other: Secret = "another-secret-of-at-least-32-bytes!".parse().unwrap();
        let token = sign(&other, &claims(2_000)).unwrap();
        assert_eq!(
            verify(&secret(), &token, 1_000),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn claims_out_of_their_rules_are_refused() {
        let mut no_name = claims(2_000);
        no_name.name = None;
        let long_name = Claims {
            name: Some("x".repeat(33)),
            ..claims(2_000)
        };
        let long_sub = Claims {
            sub: Some("s".repeat(65)),
            ..claims(2_000)
        };
        let empty_sub = Claims {
            sub: Some(String::new()),
            ..claims(2_000)
        };
        for bad in [no_name, long_name, long_sub, empty_sub] {
            let token = sign(&secret(), &bad).unwrap();
            assert!(
                matches!(
                    verify(&secret(), &token, 1_000),
                    Err(AuthError::InvalidClaim(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rooms_claim_grants() {
        let only = Claims {
            rooms: Some(vec!["general".into()]),
            ..claims(2_000)
        };
        let none = Claims {
            rooms: Some(vec![]),
            ..claims(2_000)
        };
        let star = Claims {
            rooms: Some(vec!["*".into()]),
            publish: Some(true),
            ..claims(2_000)
        };
        let verify_signed =
            |c: &Claims| verify(&secret(), &sign(&secret(), c).unwrap(), 1_000).unwrap();
        let only = verify_signed(&only);
        assert!(only.rooms.allows("general") && !only.rooms.allows("random"));
        assert!(!verify_signed(&none).rooms.allows("general"));
        let star = verify_signed(&star);
        assert!(star.rooms.allows("anything") && star.publish);
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!("short".parse::<Secret>().is_err());
        assert_eq!(format!("{:?}", secret()), "Secret(<redacted>)");
        assert_eq!(random_hex(16).len(), 32);
        assert_ne!(random_hex(16), random_hex(16));
    }

    #[test]
    fn bearer_wins_over_the_query_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            presented_token(&headers, Some("a=1&token=q")).as_deref(),
            Some("q")
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  h "),
        );
        assert_eq!(
            presented_token(&headers, Some("token=q")).as_deref(),
            Some("h")
        );
        assert_eq!(presented_token(&HeaderMap::new(), Some("token=")), None);
    }
}
