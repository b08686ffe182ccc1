//! Users, login and bearer tokens for the web API (and later the CTI bridge).
//!
//! Passwords are stored as argon2 PHC strings. Five failed logins in a row lock the account for
//! an hour (等保三级). A login returns a random bearer token that expires; only its SHA-256 is
//! stored. [`AuthUser`] is the axum extractor that turns `Authorization: Bearer ...` into an
//! [`Actor`] for the ticket core.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{now_ms, Db};
use crate::tickets::model::{Actor, Role};
use crate::tickets::problem::Problem;

pub const MAX_FAILURES: i64 = 5;
pub const LOCKOUT_MS: i64 = 3_600_000;

/// Auth settings; the defaults suit production, tests lower the argon2 cost.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub token_ttl_ms: i64,
    /// argon2 memory (KiB), iterations, lanes for new hashes.
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_ms: 8 * 3_600_000,
            argon2_m_kib: 19 * 1024,
            argon2_t: 2,
            argon2_p: 1,
        }
    }
}

impl AuthConfig {
    /// Cheap hashing for tests (still real argon2id).
    pub fn for_tests() -> AuthConfig {
        AuthConfig {
            argon2_m_kib: 64,
            argon2_t: 1,
            ..AuthConfig::default()
        }
    }
}

#[derive(Clone)]
pub struct Auth {
    pub db: Db,
    pub config: Arc<AuthConfig>,
}

/// A user as the API shows it (never the hash).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub region_scope: String,
    pub department_id: Option<String>,
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id.clone(),
            roles: self.roles.clone(),
            region_scope: self.region_scope.clone(),
            department: self.department_id.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub region_scope: String,
    #[serde(default)]
    pub department_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("account locked until {until_ms}")]
    Locked { until_ms: i64 },
    #[error("token missing, unknown or expired")]
    BadToken,
    #[error("invalid user: {0}")]
    Invalid(String),
    #[error("user name taken")]
    Taken,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("hashing: {0}")]
    Hash(String),
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Problem {
        match e {
            AuthError::BadCredentials => Problem::unauthorized(e.to_string()),
            AuthError::Locked { .. } => Problem::new(423, "locked", e.to_string()),
            AuthError::BadToken => Problem::unauthorized(e.to_string()),
            AuthError::Invalid(_) => Problem::invalid("user", e.to_string()),
            AuthError::Taken => Problem::conflict("taken", e.to_string()),
            AuthError::Db(e) => Problem::internal(e),
            AuthError::Hash(e) => Problem::internal(e),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub expires_ms: i64,
    pub user: User,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn row_user(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let roles: String = r.try_get("roles")?;
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        roles: roles
            .split(',')
            .filter_map(|s| Role::parse(s.trim()))
            .collect(),
        region_scope: r.try_get("region_scope")?,
        department_id: r.try_get("department_id")?,
    })
}

const USER_COLS: &str = "id, username, display_name, roles, region_scope, department_id";

impl Auth {
    pub fn new(db: Db, config: AuthConfig) -> Auth {
        Auth {
            db,
            config: Arc::new(config),
        }
    }

    fn hasher(&self) -> Result<Argon2<'static>, AuthError> {
        let c = &self.config;
        let params = Params::new(c.argon2_m_kib, c.argon2_t, c.argon2_p, None)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    /// Hashes off the async threads: argon2 is deliberately slow.
    async fn hash(&self, password: String) -> Result<String, AuthError> {
        let hasher = self.hasher()?;
        tokio::task::spawn_blocking(move || {
            let mut salt = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
            hasher
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    async fn verify(password: String, phc: String) -> bool {
        tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
            Ok(h) => Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        })
        .await
        .unwrap_or(false)
    }

    pub async fn create_user(&self, u: NewUser) -> Result<User, AuthError> {
        let name_ok = !u.username.is_empty()
            && u.username.len() <= 64
            && u.username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
        if !name_ok {
            return Err(AuthError::Invalid(
                "user names are 1-64 of A-Z a-z 0-9 . _ - @".into(),
            ));
        }
        if u.password.chars().count() < 8 || u.password.len() > 256 {
            return Err(AuthError::Invalid(
                "passwords are 8 to 256 characters".into(),
            ));
        }
        if u.roles.is_empty() {
            return Err(AuthError::Invalid("a user needs at least one role".into()));
        }
        if u.roles.contains(&Role::DeptHandler) && u.department_id.is_none() {
            return Err(AuthError::Invalid(
                "a department handler needs a department".into(),
            ));
        }
        let hash = self.hash(u.password).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        let display = if u.display_name.is_empty() {
            u.username.clone()
        } else {
            u.display_name
        };
        let res = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, roles, region_scope, department_id, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&u.username)
        .bind(&display)
        .bind(&hash)
        .bind(roles.join(","))
        .bind(&u.region_scope)
        .bind(&u.department_id)
        .bind(now_ms())
        .execute(&self.db.pool)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(AuthError::Taken)
            }
            Err(e) => return Err(e.into()),
        }
        Ok(User {
            id,
            username: u.username,
            display_name: display,
            roles: u.roles,
            region_scope: u.region_scope,
            department_id: u.department_id,
        })
    }

    /// Checks a password; counts failures and locks the account after [`MAX_FAILURES`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        now: i64,
    ) -> Result<Session, AuthError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS}, password_hash, failed_logins, locked_until_ms, enabled FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else {
            // Same work as a real check, so timing does not reveal which names exist.
            let _ = Self::verify(
                password.to_string(),
                "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA".into(),
            )
            .await;
            return Err(AuthError::BadCredentials);
        };
        let user = row_user(&row)?;
        let locked_until: i64 = row.try_get("locked_until_ms")?;
        let enabled: i64 = row.try_get("enabled")?;
        if locked_until > now {
            return Err(AuthError::Locked {
                until_ms: locked_until,
            });
        }
        let phc: String = row.try_get("password_hash")?;
        let good = password.len() <= 256 && Self::verify(password.to_string(), phc).await;
        if !good || enabled == 0 {
            // One statement, so concurrent failures cannot lose a count.
            let r = sqlx::query(
                "UPDATE users SET failed_logins = failed_logins + 1,
                   locked_until_ms = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until_ms END
                 WHERE id = $1 RETURNING failed_logins, locked_until_ms",
            )
            .bind(&user.id)
            .bind(MAX_FAILURES)
            .bind(now + LOCKOUT_MS)
            .fetch_one(&self.db.pool)
            .await?;
            let failures: i64 = r.try_get("failed_logins")?;
            tracing::warn!(user = %user.username, failures, "login failed");
            if failures >= MAX_FAILURES {
                sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                    .bind(&user.id)
                    .execute(&self.db.pool)
                    .await?;
                return Err(AuthError::Locked {
                    until_ms: now + LOCKOUT_MS,
                });
            }
            return Err(AuthError::BadCredentials);
        }
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until_ms = 0 WHERE id = $1")
            .bind(&user.id)
            .execute(&self.db.pool)
            .await?;
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let expires_ms = now + self.config.token_ttl_ms;
        sqlx::query("INSERT INTO auth_tokens (token_hash, user_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(&user.id)
            .bind(now)
            .bind(expires_ms)
            .execute(&self.db.pool)
            .await?;
        tracing::info!(user = %user.username, "login");
        Ok(Session {
            token,
            expires_ms,
            user,
        })
    }

    /// The user a token belongs to, if it is known and not expired.
    pub async fn authenticate(&self, token: &str, now: i64) -> Result<User, AuthError> {
        if token.len() != 64 {
            return Err(AuthError::BadToken);
        }
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.roles, u.region_scope, u.department_id, u.enabled
             FROM auth_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.expires_ms > $2"
        )
        .bind(token_hash(token))
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(AuthError::BadToken)?;
        let enabled: i64 = row.try_get("enabled")?;
        if enabled == 0 {
            return Err(AuthError::BadToken);
        }
        Ok(row_user(&row)?)
    }

    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Drops expired tokens; returns how many.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, AuthError> {
        Ok(
            sqlx::query("DELETE FROM auth_tokens WHERE expires_ms <= $1")
                .bind(now)
                .execute(&self.db.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, AuthError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(|r| row_user(&r)).transpose()?)
    }
}

/// The authenticated caller of a route.
pub struct AuthUser {
    pub user: User,
    pub token: String,
}

impl AuthUser {
    pub fn actor(&self) -> Actor {
        self.user.actor()
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Problem::unauthorized("missing bearer token"))?
            .to_string();
        let user = auth.authenticate(&token, now_ms()).await?;
        Ok(AuthUser { user, token })
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(auth): State<Auth>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Session>, Problem> {
    let Json(body) = body?;
    Ok(Json(
        auth.login(&body.username, &body.password, now_ms()).await?,
    ))
}

async fn logout(
    State(auth): State<Auth>,
    who: AuthUser,
) -> Result<axum::http::StatusCode, Problem> {
    auth.logout(&who.token).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn me(who: AuthUser) -> Json<User> {
    Json(who.user)
}

/// `/auth/login`, `/auth/logout`, `/auth/me`, to mount under `/api/v1`.
pub fn router(auth: Auth) -> Router<()> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .with_state(auth)
}

/// CTI logins with the same tokens as the REST API: a user with the agent role works as the
/// agent whose number is their user name; supervisors and admins may supervise.
pub struct CtiTokens {
    pub auth: Auth,
}

impl CtiTokens {
    async fn principal(
        auth: Auth,
        token: String,
    ) -> Result<crate::cti::session::Principal, String> {
        let user = auth
            .authenticate(&token, crate::store::now_ms())
            .await
            .map_err(|e| e.to_string())?;
        let is = |r: Role| user.roles.contains(&r);
        Ok(crate::cti::session::Principal {
            agent_no: is(Role::Agent).then(|| user.username.clone()),
            supervisor: is(Role::Supervisor) || is(Role::Admin),
            user: user.username,
        })
    }
}

impl crate::cti::session::TokenLookup for CtiTokens {
    fn lookup(&self, token: String) -> crate::cti::session::Verdict {
        Box::pin(Self::principal(self.auth.clone(), token))
    }
}
