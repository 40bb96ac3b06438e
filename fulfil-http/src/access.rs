//! Who may use the API. With no token configured the API is open (as on a
//! developer's machine); with tokens, every route but `/healthz` and
//! `/readyz` needs `Authorization: Bearer TOKEN`: an analyst's token reads
//! (every `GET`), an operator's also writes (commands, rebuilds).
//!
//! Tokens are kept only as SHA-256 digests and compared digest to digest
//! in constant time, so neither a token's bytes nor its length leak through
//! timing; they are never logged, and `Debug` shows only how many there are.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};

use crate::AppState;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads: queries, metrics, audits, events.
    Analyst,
    /// Reads and writes: commands, rebuilds.
    Operator,
}

/// The shortest token accepted: a guessable token is no control.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why tokens cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// A token shorter than [`MIN_TOKEN_LEN`] (its text is not shown).
    #[error("an {role} token has {len} characters; tokens need at least {min}", min = MIN_TOKEN_LEN)]
    TooShort {
        /// `analyst` or `operator`.
        role: &'static str,
        /// Its length.
        len: usize,
    },
}

/// The tokens the API accepts, as digests with their roles.
#[derive(Clone, Default)]
pub struct Access {
    tokens: Vec<([u8; 32], Role)>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal digests, looking at every byte whatever the first difference.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Access {
    /// Access for these analysts' and operators' tokens; none at all
    /// leaves the API open.
    pub fn new(analysts: &[String], operators: &[String]) -> Result<Self, AccessError> {
        let mut tokens = Vec::new();
        for (list, role, name) in [
            (analysts, Role::Analyst, "analyst"),
            (operators, Role::Operator, "operator"),
        ] {
            for token in list {
                let token = token.trim();
                if token.len() < MIN_TOKEN_LEN {
                    return Err(AccessError::TooShort {
                        role: name,
                        len: token.len(),
                    });
                }
                tokens.push((digest(token), role));
            }
        }
        Ok(Self { tokens })
    }

    /// Whether anyone may call the API without a token.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The role of `token`, if it is one of ours. Every digest is compared.
    pub fn role(&self, token: &str) -> Option<Role> {
        let presented = digest(token);
        self.tokens.iter().fold(None, |found, (d, role)| {
            if same(d, &presented) {
                found.max(Some(*role))
            } else {
                found
            }
        })
    }
}

/// What a request needs: nothing for the probes, writes for `POST`, reads
/// for the rest.
fn needs(method: &Method, route: &str) -> Option<Role> {
    match route {
        "/healthz" | "/readyz" => None,
        _ if method == Method::POST => Some(Role::Operator),
        _ => Some(Role::Analyst),
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Lets a request through when its token's role suffices.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.access.is_open() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let Some(needed) = needs(request.method(), &route) else {
        return next.run(request).await;
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| state.access.role(t.trim())) {
        None => refused(
            StatusCode::UNAUTHORIZED,
            "this API needs a token: Authorization: Bearer TOKEN",
        ),
        Some(role) if role < needed => refused(
            StatusCode::FORBIDDEN,
            "an analyst's token reads; commands and rebuilds need an operator's",
        ),
        Some(_) => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_known_by_digest_with_their_roles_and_never_shown() {
        let analyst = "a-analyst-token-0001".to_owned();
        let operator = "o-operator-token-0001".to_owned();
        let access = Access::new(
            std::slice::from_ref(&analyst),
            std::slice::from_ref(&operator),
        )
        .unwrap();
        assert_eq!(access.role(&analyst), Some(Role::Analyst));
        assert_eq!(access.role(&operator), Some(Role::Operator));
        assert_eq!(access.role("o-operator-token-0002"), None);
        assert_eq!(access.role(""), None);
        assert!(!format!("{access:?}").contains("token-0001"));
        assert!(Access::default().is_open());
        let short = Access::new(&["short".into()], &[]).unwrap_err();
        assert!(!short.to_string().contains("short"), "{short}");
        assert_eq!(needs(&Method::GET, "/healthz"), None);
        assert_eq!(needs(&Method::POST, "/commands"), Some(Role::Operator));
        assert_eq!(needs(&Method::GET, "/orders"), Some(Role::Analyst));
    }
}
