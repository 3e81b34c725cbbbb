#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use model::State;
use model::apikey::ApiKey;
use model::route::Route;
use proxy::apikey::{
    KeyError, KeySource, Presented, check, presented, strip_credentials, strip_query_credentials,
};
use serde_json::json;
use sha2::Sha256;

const NOW: u64 = 1_700_000_000_000;

fn key(id: &str, secret: &str, extra: serde_json::Value) -> ApiKey {
    let mut value = json!({
        "clientId": id, "clientSecret": secret, "clientName": id,
        "authorizedEntities": ["route_route_1"],
    });
    for (k, v) in extra.as_object().unwrap() {
        value[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn state() -> State {
    let mut state = State::default();
    for key in [
        key("k1", "secret-1", json!({})),
        key("open", "secret-open", json!({"allowClientIdOnly": true})),
        key("off", "secret-off", json!({"enabled": false})),
        key("old", "secret-old", json!({"validUntil": NOW - 1})),
        key("later", "secret-later", json!({"validUntil": NOW + 60_000})),
        key(
            "elsewhere",
            "secret-else",
            json!({"authorizedEntities": ["route_other"]}),
        ),
        key(
            "grouped",
            "secret-g",
            json!({"authorizedEntities": ["group_team"]}),
        ),
        key("a:b", "secret:with:colons", json!({})),
    ] {
        state.apikeys.insert(key.client_id.clone(), Arc::new(key));
    }
    state
}

fn route() -> Route {
    serde_json::from_value(json!({
        "id": "route_1", "groups": ["default", "team"],
        "frontend": {"domains": ["api.oto.tools"]},
        "backend": {"targets": [{"hostname": "b", "port": 80}]}
    }))
    .unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn run(headers: &HeaderMap, query: Option<&str>) -> Result<String, KeyError> {
    check(headers, query, &state(), &route(), NOW).map(|k| k.client_id.clone())
}

fn pair(id: &str, secret: &str) -> HeaderMap {
    headers(&[
        ("Otoroshi-Client-Id", id),
        ("Otoroshi-Client-Secret", secret),
    ])
}

fn basic(text: &str, padded: bool) -> HeaderMap {
    let mut encoded = STANDARD.encode(text);
    if !padded {
        encoded = encoded.trim_end_matches('=').to_string();
    }
    headers(&[("Authorization", &format!("Basic {encoded}"))])
}

fn jwt(header: serde_json::Value, claims: serde_json::Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn bearer(token: &str) -> HeaderMap {
    headers(&[("Authorization", &format!("Bearer {token}"))])
}

fn hs256() -> serde_json::Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

#[test]
fn nothing_presented_is_missing() {
    assert_eq!(run(&HeaderMap::new(), None), Err(KeyError::Missing));
    assert_eq!(
        run(&headers(&[("Authorization", "Digest abc")]), Some("a=1")),
        Err(KeyError::Missing)
    );
}

#[test]
fn statuses() {
    assert_eq!(KeyError::Missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(KeyError::Invalid.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(KeyError::Disabled.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(KeyError::Expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(KeyError::NotAuthorized.status(), StatusCode::FORBIDDEN);
    assert_eq!(KeyError::Invalid.to_string(), "invalid API key");
}

#[test]
fn header_pair() {
    assert_eq!(run(&pair("k1", "secret-1"), None), Ok("k1".into()));
    assert_eq!(run(&pair("k1", "secret-2"), None), Err(KeyError::Invalid));
    assert_eq!(run(&pair("k1", ""), None), Err(KeyError::Invalid));
    assert_eq!(
        run(&pair("nobody", "secret-1"), None),
        Err(KeyError::Invalid)
    );
    // The id alone needs its secret, even for a key allowing client id only.
    let id_only = headers(&[("Otoroshi-Client-Id", "open")]);
    assert_eq!(run(&id_only, None), Err(KeyError::Invalid));
    let secret_only = headers(&[("Otoroshi-Client-Secret", "secret-1")]);
    assert_eq!(run(&secret_only, None), Err(KeyError::Invalid));
}

#[test]
fn basic_with_and_without_padding() {
    assert!(STANDARD.encode("k1:secret-1").ends_with('='));
    assert_eq!(run(&basic("k1:secret-1", true), None), Ok("k1".into()));
    assert_eq!(run(&basic("k1:secret-1", false), None), Ok("k1".into()));
    let lower = headers(&[(
        "Authorization",
        &format!("basic {}", STANDARD.encode("k1:secret-1")),
    )]);
    assert_eq!(run(&lower, None), Ok("k1".into()));
    assert_eq!(run(&basic("k1:wrong", true), None), Err(KeyError::Invalid));
    assert_eq!(
        run(&basic("nobody:secret-1", true), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&basic("k1secret-1", true), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&headers(&[("Authorization", "Basic !!!")]), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&headers(&[("Authorization", "Basic")]), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&headers(&[("Authorization", "Bearer")]), None),
        Err(KeyError::Invalid)
    );
}

#[test]
fn basic_with_colons_in_id_and_secret() {
    assert_eq!(
        run(&basic("a:b:secret:with:colons", false), None),
        Ok("a:b".into())
    );
    assert_eq!(
        run(&basic("a:b:secret", false), None),
        Err(KeyError::Invalid)
    );
}

#[test]
fn bearer_jwt_with_iss_or_client_id() {
    let iss = jwt(hs256(), json!({"iss": "k1"}), "secret-1");
    assert_eq!(run(&bearer(&iss), None), Ok("k1".into()));
    let claim = jwt(
        hs256(),
        json!({"iss": "https://issuer.example", "clientId": "k1", "exp": NOW / 1000 + 60, "nbf": NOW / 1000 - 60}),
        "secret-1",
    );
    assert_eq!(run(&bearer(&claim), None), Ok("k1".into()));
}

#[test]
fn bearer_jwt_failures() {
    let wrong_secret = jwt(hs256(), json!({"iss": "k1"}), "secret-2");
    assert_eq!(run(&bearer(&wrong_secret), None), Err(KeyError::Invalid));
    let unknown = jwt(hs256(), json!({"iss": "nobody"}), "secret-1");
    assert_eq!(run(&bearer(&unknown), None), Err(KeyError::Invalid));
    let expired = jwt(
        hs256(),
        json!({"iss": "k1", "exp": NOW / 1000 - 1}),
        "secret-1",
    );
    assert_eq!(run(&bearer(&expired), None), Err(KeyError::Invalid));
    let early = jwt(
        hs256(),
        json!({"iss": "k1", "nbf": NOW / 1000 + 60}),
        "secret-1",
    );
    assert_eq!(run(&bearer(&early), None), Err(KeyError::Invalid));
    let no_id = jwt(hs256(), json!({"sub": "k1"}), "secret-1");
    assert_eq!(run(&bearer(&no_id), None), Err(KeyError::Invalid));
    let hs512 = jwt(json!({"alg": "HS512"}), json!({"iss": "k1"}), "secret-1");
    assert_eq!(run(&bearer(&hs512), None), Err(KeyError::Invalid));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"iss":"k1"}"#)
    );
    assert_eq!(run(&bearer(&none), None), Err(KeyError::Invalid));
    // A none token carrying a valid HS256 signature is still refused.
    let signed = jwt(hs256(), json!({"iss": "k1"}), "secret-1");
    let signature = signed.rsplit('.').next().unwrap();
    assert_eq!(
        run(&bearer(&format!("{none}{signature}")), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(run(&bearer("opaque-token"), None), Err(KeyError::Invalid));
}

#[test]
fn client_id_only_from_header_and_query() {
    let header = headers(&[("x-api-key", "open")]);
    assert_eq!(run(&header, None), Ok("open".into()));
    assert_eq!(
        run(&HeaderMap::new(), Some("a=1&apikey=open")),
        Ok("open".into())
    );
    assert_eq!(
        run(&HeaderMap::new(), Some("apikey=op%65n&b")),
        Ok("open".into())
    );
    assert_eq!(
        presented(&header, None, &state()),
        Some(Presented {
            client_id: "open".into(),
            secret: None,
            source: KeySource::ClientIdOnly
        })
    );
}

#[test]
fn client_id_only_refused_unless_the_key_allows_it() {
    assert_eq!(
        run(&headers(&[("x-api-key", "k1")]), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&HeaderMap::new(), Some("apikey=k1")),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&headers(&[("x-api-key", "nobody")]), None),
        Err(KeyError::Invalid)
    );
    assert_eq!(
        run(&HeaderMap::new(), Some("apikey=")),
        Err(KeyError::Missing)
    );
    // A refused client id does not hide real credentials.
    let mut both = pair("k1", "secret-1");
    both.insert("x-api-key", HeaderValue::from_static("something-else"));
    assert_eq!(run(&both, None), Ok("k1".into()));
}

#[test]
fn sources_are_taken_in_otoroshi_order() {
    let state = state();
    let mut all = basic("k1:secret-1", true);
    all.insert("Otoroshi-Client-Id", HeaderValue::from_static("grouped"));
    all.insert(
        "Otoroshi-Client-Secret",
        HeaderValue::from_static("secret-g"),
    );
    let found = presented(&all, None, &state).unwrap();
    assert_eq!(found.source, KeySource::Headers);
    assert_eq!(found.client_id, "grouped");
    assert_eq!(found.secret.as_deref(), Some("secret-g"));
    all.insert("x-api-key", HeaderValue::from_static("open"));
    assert_eq!(
        presented(&all, None, &state).unwrap().source,
        KeySource::ClientIdOnly
    );
    // The first source present decides: a wrong pair is not rescued by Basic.
    let mut wrong_pair = basic("k1:secret-1", true);
    wrong_pair.insert("Otoroshi-Client-Id", HeaderValue::from_static("k1"));
    wrong_pair.insert("Otoroshi-Client-Secret", HeaderValue::from_static("nope"));
    assert_eq!(run(&wrong_pair, None), Err(KeyError::Invalid));
    let token = jwt(hs256(), json!({"iss": "k1"}), "secret-1");
    assert_eq!(
        presented(&bearer(&token), None, &state),
        Some(Presented {
            client_id: "k1".into(),
            secret: None,
            source: KeySource::Bearer
        })
    );
    assert_eq!(
        presented(&basic("k1:secret-1", false), None, &state)
            .unwrap()
            .source,
        KeySource::Basic
    );
    assert_eq!(presented(&HeaderMap::new(), None, &state), None);
}

#[test]
fn disabled_and_expired_keys() {
    assert_eq!(
        run(&pair("off", "secret-off"), None),
        Err(KeyError::Disabled)
    );
    // Without the secret, nothing is revealed about the key.
    assert_eq!(run(&pair("off", "guess"), None), Err(KeyError::Invalid));
    assert_eq!(
        run(&pair("old", "secret-old"), None),
        Err(KeyError::Expired)
    );
    assert_eq!(
        run(&basic("old:secret-old", true), None),
        Err(KeyError::Expired)
    );
    assert_eq!(
        run(&pair("later", "secret-later"), None),
        Ok("later".into())
    );
}

#[test]
fn authorization_by_route_or_group() {
    assert_eq!(
        run(&pair("elsewhere", "secret-else"), None),
        Err(KeyError::NotAuthorized)
    );
    assert_eq!(
        run(&pair("grouped", "secret-g"), None),
        Ok("grouped".into())
    );
    let token = jwt(hs256(), json!({"iss": "elsewhere"}), "secret-else");
    assert_eq!(run(&bearer(&token), None), Err(KeyError::NotAuthorized));
}

#[test]
fn strip_credentials_removes_every_key_header() {
    let mut map = headers(&[
        ("x-api-key", "open"),
        ("Otoroshi-Client-Id", "k1"),
        ("Otoroshi-Client-Secret", "secret-1"),
        ("Authorization", "Bearer abc"),
        ("Accept", "*/*"),
        ("X-Custom", "kept"),
    ]);
    strip_credentials(&mut map);
    let mut left: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, vec!["accept", "x-custom"]);
    let mut basic = basic("k1:secret-1", true);
    strip_credentials(&mut basic);
    assert!(basic.get(header::AUTHORIZATION).is_none());
    // Other schemes are for the backend.
    let mut digest = headers(&[("Authorization", "Digest username=x")]);
    strip_credentials(&mut digest);
    assert_eq!(
        digest.get(header::AUTHORIZATION).unwrap(),
        "Digest username=x"
    );
}

#[test]
fn strip_query_credentials_removes_the_apikey_parameter() {
    assert_eq!(strip_query_credentials("a=1&b=2"), "a=1&b=2");
    assert!(matches!(
        strip_query_credentials("a=1&b=2"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(strip_query_credentials("apikey=open"), "");
    assert_eq!(strip_query_credentials("a=1&apikey=open&b=2"), "a=1&b=2");
    assert_eq!(strip_query_credentials("apikeys=1&apikey"), "apikeys=1");
}
