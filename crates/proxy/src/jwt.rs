//! HS256 JSON Web Tokens, as API keys present them in
//! `Authorization: Bearer <JWT>`: signed with the key's client secret, the
//! client id in a claim.
//!
//! Only `HS256` is accepted: `none`, every other algorithm and a header with
//! `crit` extensions are refused. Segments are base64url, padding tolerated.
//! The signature is checked in constant time (`hmac`'s `verify_slice`).
//! `exp` and `nbf` (seconds since the epoch, integer or fractional) are
//! checked when present, without leeway: a token is refused from the second
//! of its `exp` on and before its `nbf`.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Claims that may carry the client id, in the order they are looked at:
/// explicit client-id claims first, `iss` (what Otoroshi issues) last.
const CLIENT_ID_CLAIMS: [&str; 4] = ["clientId", "client_id", "cid", "iss"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Not three base64url segments of JSON objects.
    Malformed,
    /// `alg` is not `HS256` (including `none`), or `crit` is present.
    Algorithm,
    /// No client id claim.
    NoClientId,
    BadSignature,
    Expired,
    NotYetValid,
}

/// A token whose header and claims were decoded but whose signature is not
/// checked yet: the client id tells which secret to check it with.
#[derive(Debug)]
pub(crate) struct Unverified<'t> {
    token: &'t str,
    signing_input_len: usize,
    signature: Vec<u8>,
    claims: serde_json::Map<String, Value>,
}

/// Decodes a compact JWS and checks its header; does not verify anything else.
pub(crate) fn decode(token: &str) -> Result<Unverified<'_>, JwtError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = json_object(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    if header.contains_key("crit") {
        return Err(JwtError::Algorithm);
    }
    let claims = json_object(payload)?;
    let signature = BASE64URL
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    Ok(Unverified {
        token,
        signing_input_len: header_len(token),
        signature,
        claims,
    })
}

fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn json_object(segment: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = BASE64URL.decode(segment).map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

impl Unverified<'_> {
    /// The client id the token claims to be for.
    pub(crate) fn client_id(&self) -> Result<&str, JwtError> {
        CLIENT_ID_CLAIMS
            .iter()
            .find_map(|claim| self.claims.get(*claim).and_then(Value::as_str))
            .filter(|id| !id.is_empty())
            .ok_or(JwtError::NoClientId)
    }

    /// Checks the signature with `secret`, then `exp` and `nbf` against
    /// `now_ms`.
    pub(crate) fn verify(&self, secret: &[u8], now_ms: u64) -> Result<(), JwtError> {
        let signing_input = self
            .token
            .get(..self.signing_input_len)
            .ok_or(JwtError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| JwtError::BadSignature)?;
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&self.signature)
            .map_err(|_| JwtError::BadSignature)?;
        let now = now_ms as f64 / 1000.0;
        match self.claims.get("exp") {
            None | Some(Value::Null) => {}
            Some(exp) => match exp.as_f64() {
                Some(exp) if now < exp => {}
                Some(_) => return Err(JwtError::Expired),
                None => return Err(JwtError::Malformed),
            },
        }
        match self.claims.get("nbf") {
            None | Some(Value::Null) => {}
            Some(nbf) => match nbf.as_f64() {
                Some(nbf) if now >= nbf => {}
                Some(_) => return Err(JwtError::NotYetValid),
                None => return Err(JwtError::Malformed),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn sign(header: &str, claims: &str, secret: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn valid_token_verifies() {
        let token = sign(HS256, r#"{"iss":"abc","exp":2000}"#, "s3cret");
        let jwt = decode(&token).unwrap();
        assert_eq!(jwt.client_id(), Ok("abc"));
        assert_eq!(jwt.verify(b"s3cret", 1_999_999), Ok(()));
        assert_eq!(jwt.verify(b"s3cret", 2_000_000), Err(JwtError::Expired));
        assert_eq!(jwt.verify(b"other", 1_000), Err(JwtError::BadSignature));
    }

    #[test]
    fn client_id_claim_wins_over_iss() {
        let token = sign(HS256, r#"{"iss":"https://issuer","clientId":"abc"}"#, "s");
        assert_eq!(decode(&token).unwrap().client_id(), Ok("abc"));
        let token = sign(HS256, r#"{"sub":"x"}"#, "s");
        assert_eq!(
            decode(&token).unwrap().client_id(),
            Err(JwtError::NoClientId)
        );
    }

    #[test]
    fn nbf_is_checked() {
        let token = sign(HS256, r#"{"iss":"abc","nbf":10.5}"#, "s");
        let jwt = decode(&token).unwrap();
        assert_eq!(jwt.verify(b"s", 10_499), Err(JwtError::NotYetValid));
        assert_eq!(jwt.verify(b"s", 10_500), Ok(()));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(br#"{"iss":"abc"}"#)
        );
        assert_eq!(decode(&none).err(), Some(JwtError::Algorithm));
        let hs512 = sign(r#"{"alg":"HS512"}"#, r#"{"iss":"abc"}"#, "s");
        assert_eq!(decode(&hs512).err(), Some(JwtError::Algorithm));
        let crit = sign(r#"{"alg":"HS256","crit":["x"]}"#, r#"{"iss":"abc"}"#, "s");
        assert_eq!(decode(&crit).err(), Some(JwtError::Algorithm));
        assert_eq!(decode("a.b").err(), Some(JwtError::Malformed));
        assert_eq!(decode("a.b.c.d").err(), Some(JwtError::Malformed));
        assert_eq!(decode("!!.!!.!!").err(), Some(JwtError::Malformed));
        let array = sign(HS256, "[1]", "s");
        assert_eq!(decode(&array).err(), Some(JwtError::Malformed));
        let bad_exp = sign(HS256, r#"{"iss":"abc","exp":"soon"}"#, "s");
        assert_eq!(
            decode(&bad_exp).unwrap().verify(b"s", 0),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn tampered_payload_fails() {
        let token = sign(HS256, r#"{"iss":"abc"}"#, "s");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(br#"{"iss":"admin"}"#);
        parts[1] = &forged;
        let forged = parts.join(".");
        let jwt = decode(&forged).unwrap();
        assert_eq!(jwt.verify(b"s", 0), Err(JwtError::BadSignature));
    }
}
