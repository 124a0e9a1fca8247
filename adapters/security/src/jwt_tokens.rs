//! HS256 bearer tokens naming a session.
//!
//! The algorithm is pinned: only HS256 is accepted, so `alg: none`, other
//! HMAC sizes and public-key algorithms are refused before any signature
//! check. Expiry is judged at the `now` the caller passes (from the clock
//! port), never at the system clock, and with no leeway.

use application::ports::{Principal, TokenError, TokenService};
use domain::{Session, SessionId, Timestamp, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Shortest HS256 secret accepted: as many bytes as the HMAC output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Longest token even looked at; a real one is ~350 bytes. Saves decoding
/// work on hostile multi-kilobyte headers.
const MAX_TOKEN_BYTES: usize = 4096;

const ALGORITHM: Algorithm = Algorithm::HS256;

/// Why a token service could not be built. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtConfigError {
    #[error("JWT secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    SecretTooShort(usize),
    #[error("JWT issuer must not be empty")]
    EmptyIssuer,
    #[error("JWT audience must not be empty")]
    EmptyAudience,
}

/// The claims, typed: a time claim of another JSON type (`"exp": "9999"`)
/// fails to decode, so it can never be skipped (GHSA-h395-gr6q-cpjc).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
    /// We never issue one, but a token that carries it is not valid before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    iss: String,
    aud: String,
}

/// Issues and verifies HS256 JWTs with `sub`, `sid`, `iat`, `exp`, `iss`
/// and `aud`. Its `Debug` shows the issuer and audience, never the secret.
#[derive(Clone)]
pub struct JwtTokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtTokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokenService")
            .field("algorithm", &ALGORITHM)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl JwtTokenService {
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_BYTES`], or an empty issuer or
    /// audience.
    pub fn new(
        secret: &[u8],
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwtConfigError> {
        let (issuer, audience) = (issuer.into(), audience.into());
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtConfigError::SecretTooShort(secret.len()));
        }
        if issuer.is_empty() {
            return Err(JwtConfigError::EmptyIssuer);
        }
        if audience.is_empty() {
            return Err(JwtConfigError::EmptyAudience);
        }

        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        // Expiry is checked against the caller's `now` in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
            audience,
        })
    }
}

impl TokenService for JwtTokenService {
    fn issue(
        &self,
        session: &Session,
        issued_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: session.user_id.as_uuid(),
            sid: session.id.as_uuid(),
            iat: issued_at.timestamp(),
            // Never past the session, whatever the caller asked.
            exp: expires_at.min(session.expires_at).timestamp(),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| TokenError::Internal(format!("signing token: {e}")))
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        // `exp` is whole seconds, floored from the session's expiry, so the
        // token never outlives its session. Expired from `exp` on, no leeway.
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Invalid);
        }
        if claims.nbf.is_some_and(|nbf| now.timestamp() < nbf) {
            return Err(TokenError::Invalid);
        }
        Ok(Principal {
            user_id: UserId::from_uuid(claims.sub),
            session_id: SessionId::from_uuid(claims.sid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use chrono::{Duration, TimeZone, Utc};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
    const ISSUER: &str = "todo-test";
    const AUDIENCE: &str = "todo-api-test";

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn service() -> JwtTokenService {
        JwtTokenService::new(SECRET, ISSUER, AUDIENCE).unwrap()
    }

    /// A token for the whole of `session`, issued when it starts.
    fn issued(service: &JwtTokenService, session: &Session) -> String {
        service
            .issue(session, session.created_at, session.expires_at)
            .unwrap()
    }

    #[test]
    fn a_short_access_token_expires_before_its_session_and_never_after() {
        let service = service();
        let session = session();
        let short = service
            .issue(&session, t0(), t0() + Duration::minutes(15))
            .unwrap();
        assert!(service.verify(&short, t0() + Duration::minutes(14)).is_ok());
        assert_invalid(service.verify(&short, t0() + Duration::minutes(15)));
        let long = service
            .issue(&session, t0(), t0() + Duration::days(2))
            .unwrap();
        assert_invalid(service.verify(&long, session.expires_at));
    }

    fn session() -> Session {
        Session::start(UserId::new(), t0(), Duration::hours(1))
    }

    fn claims_json(session: &Session, iss: &str, aud: &str) -> serde_json::Value {
        serde_json::json!({
            "sub": session.user_id.to_string(),
            "sid": session.id.to_string(),
            "iat": session.created_at.timestamp(),
            "exp": session.expires_at.timestamp(),
            "iss": iss,
            "aud": aud,
        })
    }

    /// A token assembled by hand: any header, HS256-signed with `SECRET`
    /// (or unsigned when `sign` is false).
    fn hand_made(header: &serde_json::Value, claims: &serde_json::Value, sign: bool) -> String {
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{head}.{body}");
        let signature = if sign {
            jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &EncodingKey::from_secret(SECRET),
                Algorithm::HS256,
            )
            .unwrap()
        } else {
            String::new()
        };
        format!("{message}.{signature}")
    }

    fn assert_invalid(result: Result<Principal, TokenError>) {
        assert!(
            matches!(result, Err(TokenError::Invalid)),
            "expected Invalid, got {result:?}"
        );
    }

    #[test]
    fn issued_token_verifies_to_its_user_and_session() {
        let service = service();
        let session = session();
        let token = issued(&service, &session);
        let principal = service.verify(&token, t0()).unwrap();
        assert_eq!(principal.user_id, session.user_id);
        assert_eq!(principal.session_id, session.id);
    }

    #[test]
    fn issued_token_carries_every_claim_and_an_hs256_header() {
        let session = session();
        let token = issued(&service(), &session);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims, claims_json(&session, ISSUER, AUDIENCE));
    }

    #[test]
    fn hand_made_hs256_token_with_right_claims_is_accepted() {
        // Guards the negative tests below: they fail for the reason they name.
        let session = session();
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        let token = hand_made(&header, &claims_json(&session, ISSUER, AUDIENCE), true);
        assert_eq!(
            service().verify(&token, t0()).unwrap().session_id,
            session.id
        );
    }

    #[test]
    fn token_is_valid_until_the_second_it_expires() {
        let service = service();
        let token = issued(&service, &session());
        let expiry = t0() + Duration::hours(1);
        assert!(service
            .verify(&token, expiry - Duration::seconds(1))
            .is_ok());
        assert_invalid(service.verify(&token, expiry));
        assert_invalid(service.verify(&token, expiry + Duration::days(365)));
    }

    #[test]
    fn expiry_uses_the_passed_now_not_the_system_clock() {
        // A session far in the past: valid at its own time, expired today.
        let service = service();
        let old = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
        let session = Session::start(UserId::new(), old, Duration::hours(1));
        let token = issued(&service, &session);
        assert!(service.verify(&token, old + Duration::minutes(30)).is_ok());
        assert_invalid(service.verify(&token, Utc::now()));
    }

    #[test]
    fn tampered_signature_is_invalid() {
        let service = service();
        let token = issued(&service, &session());
        let (message, signature) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[0] ^= 0x01;
        let tampered = format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert_invalid(service.verify(&tampered, t0()));
    }

    #[test]
    fn tampered_payload_is_invalid() {
        let service = service();
        let session = session();
        let token = issued(&service, &session);
        let signature = token.rsplit_once('.').unwrap().1;
        let mut claims = claims_json(&session, ISSUER, AUDIENCE);
        claims["sub"] = serde_json::json!(UserId::new().to_string());
        let forged = hand_made(&serde_json::json!({"alg": "HS256"}), &claims, false);
        let forged = format!("{}{signature}", forged);
        assert_invalid(service.verify(&forged, t0()));
    }

    #[test]
    fn alg_none_is_invalid() {
        let session = session();
        let claims = claims_json(&session, ISSUER, AUDIENCE);
        for alg in ["none", "None", "NONE"] {
            let token = hand_made(
                &serde_json::json!({"alg": alg, "typ": "JWT"}),
                &claims,
                false,
            );
            assert_invalid(service().verify(&token, t0()));
        }
    }

    #[test]
    fn hs512_token_signed_with_the_same_secret_is_invalid() {
        let session = session();
        let claims = claims_json(&session, ISSUER, AUDIENCE);
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            assert_invalid(service().verify(&token, t0()));
        }
    }

    #[test]
    fn rs256_header_is_invalid_even_with_a_valid_hmac() {
        let session = session();
        let claims = claims_json(&session, ISSUER, AUDIENCE);
        for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
            let token = hand_made(
                &serde_json::json!({"alg": alg, "typ": "JWT"}),
                &claims,
                true,
            );
            assert_invalid(service().verify(&token, t0()));
        }
    }

    #[test]
    fn token_signed_with_another_secret_is_invalid() {
        let other = JwtTokenService::new(&[7u8; 32], ISSUER, AUDIENCE).unwrap();
        let token = issued(&other, &session());
        assert_invalid(service().verify(&token, t0()));
    }

    #[test]
    fn wrong_audience_is_invalid() {
        let other = JwtTokenService::new(SECRET, ISSUER, "another-api").unwrap();
        let token = issued(&other, &session());
        assert_invalid(service().verify(&token, t0()));
    }

    #[test]
    fn wrong_issuer_is_invalid() {
        let other = JwtTokenService::new(SECRET, "someone-else", AUDIENCE).unwrap();
        let token = issued(&other, &session());
        assert_invalid(service().verify(&token, t0()));
    }

    #[test]
    fn missing_or_malformed_claims_are_invalid() {
        let session = session();
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        for claim in ["sub", "sid", "exp", "iss", "aud"] {
            let mut claims = claims_json(&session, ISSUER, AUDIENCE);
            claims.as_object_mut().unwrap().remove(claim);
            let token = hand_made(&header, &claims, true);
            assert_invalid(service().verify(&token, t0()));
        }
        let mut claims = claims_json(&session, ISSUER, AUDIENCE);
        claims["sid"] = serde_json::json!("not-a-uuid");
        assert_invalid(service().verify(&hand_made(&header, &claims, true), t0()));
    }

    #[test]
    fn time_claims_of_another_json_type_are_invalid() {
        // GHSA-h395-gr6q-cpjc: jsonwebtoken < 10.3 skipped the exp/nbf
        // checks of a claim that was not a number.
        let session = session();
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        let far = (t0() + Duration::days(3650)).timestamp();
        for (claim, value) in [
            ("exp", serde_json::json!(far.to_string())),
            ("exp", serde_json::json!(null)),
            ("exp", serde_json::json!([far])),
            ("nbf", serde_json::json!("0")),
            ("nbf", serde_json::json!({"at": 0})),
            ("nbf", serde_json::json!(true)),
        ] {
            let mut claims = claims_json(&session, ISSUER, AUDIENCE);
            claims[claim] = value;
            let token = hand_made(&header, &claims, true);
            assert_invalid(service().verify(&token, t0()));
        }
    }

    #[test]
    fn a_token_is_invalid_before_its_nbf() {
        let session = session();
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        let mut claims = claims_json(&session, ISSUER, AUDIENCE);
        claims["nbf"] = serde_json::json!((t0() + Duration::minutes(1)).timestamp());
        let token = hand_made(&header, &claims, true);
        assert_invalid(service().verify(&token, t0()));
        let principal = service()
            .verify(&token, t0() + Duration::minutes(1))
            .unwrap();
        assert_eq!(principal.session_id, session.id);
    }

    #[test]
    fn garbage_is_invalid() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "not a token",
            "ey.ey.ey",
            "\0",
            huge.as_str(),
        ] {
            assert_invalid(service().verify(token, t0()));
        }
    }

    #[test]
    fn short_secret_is_refused() {
        let err = JwtTokenService::new(&[1u8; 31], ISSUER, AUDIENCE).unwrap_err();
        assert_eq!(err, JwtConfigError::SecretTooShort(31));
        assert!(JwtTokenService::new(&[1u8; 32], ISSUER, AUDIENCE).is_ok());
        assert_eq!(
            JwtTokenService::new(SECRET, "", AUDIENCE).unwrap_err(),
            JwtConfigError::EmptyIssuer
        );
        assert_eq!(
            JwtTokenService::new(SECRET, ISSUER, "").unwrap_err(),
            JwtConfigError::EmptyAudience
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", service());
        assert!(!shown.contains("test-secret"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
