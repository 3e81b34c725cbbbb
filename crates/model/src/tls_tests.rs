//! Certificate parsing and SNI resolution, with certificates made by rcgen.

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::json;

use crate::Kind;
use crate::certificate::Certificate;
use crate::normalize::{decode_value, normalize};
use crate::tls_index::TlsIndex;

struct Pem {
    chain: String,
    key: String,
}

fn self_signed(names: &[&str]) -> Pem {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "test");
    let cert = params.self_signed(&key).unwrap();
    Pem {
        chain: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn entity(id: &str, pem: &Pem) -> Certificate {
    let value = normalize(
        Kind::Certificate,
        json!({"id": id, "chain": pem.chain, "privateKey": pem.key}),
        None,
    )
    .unwrap()
    .value;
    decode_value(value).unwrap()
}

#[test]
fn derived_fields_come_from_the_leaf_and_ignore_the_client() {
    let pem = self_signed(&["a.example.com", "127.0.0.1"]);
    let value = normalize(
        Kind::Certificate,
        json!({"id": "c1", "chain": pem.chain, "privateKey": pem.key,
               "sans": ["evil.com"], "subject": "CN=lie", "to": 1, "future": 1}),
        None,
    )
    .unwrap()
    .value;
    assert_eq!(value["sans"], json!(["a.example.com", "127.0.0.1"]));
    assert_eq!(value["subject"], "CN=test");
    assert_eq!(value["issuer"], "CN=test");
    assert!(value["to"].as_u64().unwrap() > value["from"].as_u64().unwrap());
    assert!(!value["serialNumber"].as_str().unwrap().is_empty());
    assert_eq!(value["future"], 1, "unknown fields are kept");
}

#[test]
fn common_name_stands_in_when_there_is_no_san() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "cn.example.com");
    let cert = params.self_signed(&key).unwrap();
    let pem = Pem {
        chain: cert.pem(),
        key: key.serialize_pem(),
    };
    assert_eq!(entity("c1", &pem).sans, vec!["cn.example.com"]);
}

#[test]
fn garbage_and_mismatched_keys_are_reported_on_their_field() {
    let pem = self_signed(&["a.example.com"]);
    let other = self_signed(&["b.example.com"]);
    let cases = [
        (
            json!({"chain": "nope", "privateKey": pem.key}),
            "chain",
            "is not a PEM certificate",
        ),
        (
            json!({"chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "privateKey": pem.key}),
            "chain",
            "is not a PEM certificate",
        ),
        (
            json!({"chain": pem.chain, "privateKey": "nope"}),
            "privateKey",
            "is not a PEM private key",
        ),
        (
            json!({"chain": pem.chain}),
            "privateKey",
            "is not a PEM private key",
        ),
        (
            json!({"chain": pem.chain, "privateKey": other.key}),
            "privateKey",
            "does not match the certificate (chain[0])",
        ),
    ];
    for (body, path, message) in cases {
        let errors = normalize(Kind::Certificate, body, Some("c1")).unwrap_err();
        assert_eq!(errors.0[0].path, path, "{errors}");
        assert!(errors.0[0].message.contains(message), "{errors}");
        assert!(
            !errors.to_string().contains("PRIVATE KEY-----\nM"),
            "no key material in errors"
        );
    }
}

#[test]
fn resolve_matches_exact_names_then_one_label_wildcards() {
    let exact = entity("exact", &self_signed(&["x.a.com"]));
    let wild = entity("wild", &self_signed(&["*.a.com"]));
    let (index, skipped) = TlsIndex::build([&exact, &wild]);
    assert!(skipped.is_empty());
    let chain_of = |name: &str| index.resolve(Some(name)).map(|k| k.cert[0].clone());
    let exact_der = index.chain("exact").unwrap()[0].clone();
    let wild_der = index.chain("wild").unwrap()[0].clone();
    assert_eq!(chain_of("X.A.com"), Some(exact_der));
    assert_eq!(chain_of("y.a.com"), Some(wild_der));
    assert_eq!(chain_of("a.com"), None);
    assert_eq!(chain_of("y.x.a.com"), None);
    assert!(index.resolve(None).is_none());
}

#[test]
fn ca_and_client_certificates_are_not_served_and_bad_ones_are_skipped() {
    let mut ca = entity("ca", &self_signed(&["ca.a.com"]));
    ca.ca = true;
    let mut broken = entity("broken", &self_signed(&["broken.a.com"]));
    broken.private_key = self_signed(&["other"]).key;
    let (index, skipped) = TlsIndex::build([&ca, &broken]);
    assert!(index.resolve(Some("ca.a.com")).is_none());
    assert!(index.resolve(Some("broken.a.com")).is_none());
    assert!(
        index.chain("ca").is_some(),
        "CA chains serve as trust roots"
    );
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "broken");
    assert!(index.expired(0).is_empty());
    assert_eq!(index.expired(u64::MAX).len(), 2);
}
