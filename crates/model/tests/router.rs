#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use model::route::Route;
use model::router::RouteTable;
use model::{Kind, State};
use serde_json::{Value, json};

fn route(id: &str, domains: &[&str]) -> Value {
    json!({
        "id": id, "name": id,
        "frontend": {"domains": domains},
        "backend": {"targets": [{"hostname": "up.internal", "port": 8080}]}
    })
}

fn build(routes: Vec<Value>) -> RouteTable {
    let routes: Vec<Arc<Route>> = routes
        .into_iter()
        .map(|v| Arc::new(serde_json::from_value(v).unwrap()))
        .collect();
    RouteTable::build(&routes)
}

fn no_headers(_: &str) -> Option<&'static str> {
    None
}

/// The id of the route chosen for GET host+path, no query, no headers.
fn get(table: &RouteTable, host: &str, path: &str) -> Option<String> {
    table
        .find(host, path, "GET", None, no_headers)
        .map(|m| m.route.id.clone())
}

#[test]
fn exact_host_wins_over_wildcard() {
    let t = build(vec![
        route("wild", &["*.oto.tools"]),
        route("exact", &["api.oto.tools"]),
    ]);
    assert_eq!(get(&t, "api.oto.tools", "/x").as_deref(), Some("exact"));
    assert_eq!(get(&t, "other.oto.tools", "/x").as_deref(), Some("wild"));
    assert_eq!(get(&t, "a.b.oto.tools", "/x").as_deref(), Some("wild"));
    // the wildcard needs at least one label in front
    assert_eq!(get(&t, "oto.tools", "/x"), None);
    assert_eq!(get(&t, "nope.tools", "/x"), None);
}

#[test]
fn deeper_wildcard_wins() {
    let t = build(vec![
        route("shallow", &["*.oto.tools"]),
        route("deep", &["*.b.oto.tools"]),
    ]);
    assert_eq!(get(&t, "a.b.oto.tools", "/").as_deref(), Some("deep"));
    assert_eq!(get(&t, "x.a.b.oto.tools", "/").as_deref(), Some("deep"));
    assert_eq!(get(&t, "b.oto.tools", "/").as_deref(), Some("shallow"));
    assert_eq!(get(&t, "c.oto.tools", "/").as_deref(), Some("shallow"));
}

#[test]
fn falls_back_to_wildcard_when_exact_host_has_no_matching_path() {
    let t = build(vec![
        route("users", &["api.oto.tools/users"]),
        route("wild", &["*.oto.tools"]),
    ]);
    assert_eq!(
        get(&t, "api.oto.tools", "/users/1").as_deref(),
        Some("users")
    );
    assert_eq!(get(&t, "api.oto.tools", "/other").as_deref(), Some("wild"));
    // and to a shallower wildcard when the deeper one has no match
    let t = build(vec![
        route("deep", &["*.b.oto.tools/only"]),
        route("shallow", &["*.oto.tools"]),
    ]);
    assert_eq!(get(&t, "a.b.oto.tools", "/only").as_deref(), Some("deep"));
    assert_eq!(
        get(&t, "a.b.oto.tools", "/else").as_deref(),
        Some("shallow")
    );
}

#[test]
fn falls_back_to_shorter_prefix_when_matchers_fail() {
    let mut posts = route("posts", &["api.oto.tools/users"]);
    posts["frontend"]["methods"] = json!(["POST"]);
    let t = build(vec![posts, route("root", &["api.oto.tools"])]);
    let m = t
        .find("api.oto.tools", "/users", "POST", None, no_headers)
        .unwrap();
    assert_eq!(m.route.id, "posts");
    assert_eq!(m.prefix, "/users");
    let m = t
        .find("api.oto.tools", "/users", "GET", None, no_headers)
        .unwrap();
    assert_eq!(m.route.id, "root");
    assert_eq!(m.prefix, "");
}

#[test]
fn longest_prefix_wins() {
    let t = build(vec![
        route("root", &["api.oto.tools"]),
        route("users", &["api.oto.tools/users"]),
        route("admins", &["api.oto.tools/users/admins"]),
    ]);
    assert_eq!(get(&t, "api.oto.tools", "/").as_deref(), Some("root"));
    assert_eq!(get(&t, "api.oto.tools", "/users").as_deref(), Some("users"));
    assert_eq!(
        get(&t, "api.oto.tools", "/users/1").as_deref(),
        Some("users")
    );
    assert_eq!(
        get(&t, "api.oto.tools", "/users/admins/2").as_deref(),
        Some("admins")
    );
    assert_eq!(get(&t, "api.oto.tools", "/user").as_deref(), Some("root"));
    let m = t
        .find("api.oto.tools", "/users/admins", "GET", None, no_headers)
        .unwrap();
    assert_eq!(m.prefix, "/users/admins");
}

#[test]
fn prefix_is_plain_starts_with() {
    let t = build(vec![route("users", &["api.oto.tools/users"])]);
    assert_eq!(get(&t, "api.oto.tools", "/users").as_deref(), Some("users"));
    assert_eq!(
        get(&t, "api.oto.tools", "/users/1").as_deref(),
        Some("users")
    );
    assert_eq!(
        get(&t, "api.oto.tools", "/usersx").as_deref(),
        Some("users")
    );
    assert_eq!(get(&t, "api.oto.tools", "/user"), None);
    assert_eq!(
        get(&t, "api.oto.tools", "/USERS/1").as_deref(),
        Some("users"),
        "prefixes ignore ASCII case: a case-insensitive backend serves /USERS as /users"
    );
    assert_eq!(get(&t, "api.oto.tools", "/"), None);
    assert_eq!(get(&t, "api.oto.tools", ""), None);
}

#[test]
fn trailing_slash_of_domain_prefix_is_dropped() {
    let t = build(vec![
        route("users", &["api.oto.tools/users/"]),
        route("root", &["root.oto.tools/"]),
    ]);
    let m = t
        .find("api.oto.tools", "/users", "GET", None, no_headers)
        .unwrap();
    assert_eq!((m.route.id.as_str(), m.prefix), ("users", "/users"));
    let m = t
        .find("root.oto.tools", "/anything", "GET", None, no_headers)
        .unwrap();
    assert_eq!((m.route.id.as_str(), m.prefix), ("root", ""));
}

#[test]
fn exact_flag_requires_the_whole_path() {
    let mut exact = route("exact", &["api.oto.tools/users"]);
    exact["frontend"]["exact"] = json!(true);
    let t = build(vec![exact]);
    assert_eq!(get(&t, "api.oto.tools", "/users").as_deref(), Some("exact"));
    assert_eq!(
        get(&t, "api.oto.tools", "/users/").as_deref(),
        Some("exact")
    );
    assert_eq!(get(&t, "api.oto.tools", "/users/1"), None);
    assert_eq!(get(&t, "api.oto.tools", "/usersx"), None);

    // an exact route and a prefix route on the same prefix
    let mut exact = route("b-exact", &["api.oto.tools/users"]);
    exact["frontend"]["exact"] = json!(true);
    let t = build(vec![route("a-prefix", &["api.oto.tools/users"]), exact]);
    assert_eq!(
        get(&t, "api.oto.tools", "/users").as_deref(),
        Some("b-exact")
    );
    assert_eq!(
        get(&t, "api.oto.tools", "/users/1").as_deref(),
        Some("a-prefix")
    );

    // exact without path: only the root
    let mut root = route("root", &["root.oto.tools"]);
    root["frontend"]["exact"] = json!(true);
    let t = build(vec![root]);
    assert_eq!(get(&t, "root.oto.tools", "/").as_deref(), Some("root"));
    assert_eq!(get(&t, "root.oto.tools", "/x"), None);
}

#[test]
fn methods_matcher() {
    let mut r = route("writes", &["api.oto.tools"]);
    r["frontend"]["methods"] = json!(["POST", "PUT"]);
    let t = build(vec![r]);
    assert!(
        t.find("api.oto.tools", "/", "POST", None, no_headers)
            .is_some()
    );
    assert!(
        t.find("api.oto.tools", "/", "PUT", None, no_headers)
            .is_some()
    );
    assert!(
        t.find("api.oto.tools", "/", "GET", None, no_headers)
            .is_none()
    );
    assert!(
        t.find("api.oto.tools", "/", "post", None, no_headers)
            .is_none()
    );
}

#[test]
fn headers_matcher() {
    let mut r = route("v2", &["api.oto.tools"]);
    r["frontend"]["headers"] = json!({"X-Version": "2", "x-tenant": "acme"});
    let t = build(vec![r, route("default", &["api.oto.tools"])]);
    let headers: HashMap<&str, &str> = [("x-version", "2"), ("x-tenant", "acme")].into();
    let m = t
        .find("api.oto.tools", "/", "GET", None, |n| {
            headers.get(n).copied()
        })
        .unwrap();
    assert_eq!(m.route.id, "v2");
    let wrong: HashMap<&str, &str> = [("x-version", "3"), ("x-tenant", "acme")].into();
    let m = t
        .find("api.oto.tools", "/", "GET", None, |n| wrong.get(n).copied())
        .unwrap();
    assert_eq!(m.route.id, "default");
    let partial: HashMap<&str, &str> = [("x-version", "2")].into();
    let m = t
        .find("api.oto.tools", "/", "GET", None, |n| {
            partial.get(n).copied()
        })
        .unwrap();
    assert_eq!(m.route.id, "default");
}

#[test]
fn query_matcher() {
    let mut r = route("beta", &["api.oto.tools"]);
    r["frontend"]["query"] = json!({"channel": "beta", "q": "a b"});
    let t = build(vec![r, route("default", &["api.oto.tools"])]);
    let find = |q: Option<&str>| {
        t.find("api.oto.tools", "/", "GET", q, no_headers)
            .map(|m| m.route.id.clone())
            .unwrap()
    };
    assert_eq!(find(Some("channel=beta&q=a+b")), "beta");
    assert_eq!(find(Some("q=a%20b&x=1&channel=beta")), "beta");
    assert_eq!(find(Some("channel=stable&channel=beta&q=a%20b")), "beta");
    assert_eq!(find(Some("channel=beta")), "default");
    assert_eq!(find(Some("channel=betax&q=a+b")), "default");
    assert_eq!(find(None), "default");
    // odd input does not crash
    for q in [
        "",
        "&&&",
        "=",
        "%",
        "%zz=%",
        "channel",
        "channel=%E2%82",
        "q=%ff%",
    ] {
        assert_eq!(find(Some(q)), "default", "{q}");
    }
}

#[test]
fn disabled_routes_are_skipped() {
    let mut off = route("a-off", &["api.oto.tools"]);
    off["enabled"] = json!(false);
    let t = build(vec![off, route("b-on", &["api.oto.tools"])]);
    assert_eq!(t.len(), 1);
    assert_eq!(get(&t, "api.oto.tools", "/").as_deref(), Some("b-on"));

    let mut off = route("only", &["solo.oto.tools"]);
    off["enabled"] = json!(false);
    let t = build(vec![off]);
    assert!(t.is_empty());
    assert_eq!(get(&t, "solo.oto.tools", "/"), None);
}

#[test]
fn host_case_and_port_are_ignored() {
    let t = build(vec![
        route("exact", &["API.Oto.Tools/users"]),
        route("wild", &["*.Example.COM"]),
    ]);
    for host in [
        "api.oto.tools",
        "API.OTO.TOOLS",
        "api.oto.tools:8080",
        "Api.Oto.Tools:443",
        "api.oto.tools.",
    ] {
        assert_eq!(get(&t, host, "/users").as_deref(), Some("exact"), "{host}");
    }
    assert_eq!(get(&t, "A.EXAMPLE.com:9999", "/").as_deref(), Some("wild"));
    assert_eq!(get(&t, "example.com", "/"), None);
}

#[test]
fn ipv6_host_literal() {
    let t = build(vec![
        route("v6", &["[::1]/api"]),
        route("v6bare", &["2001:db8::1"]),
        route("v4", &["127.0.0.1"]),
    ]);
    assert_eq!(get(&t, "[::1]:8080", "/api/x").as_deref(), Some("v6"));
    assert_eq!(get(&t, "[::1]", "/api").as_deref(), Some("v6"));
    assert_eq!(get(&t, "[::1]:8080", "/other"), None);
    assert_eq!(get(&t, "[2001:DB8::1]:443", "/").as_deref(), Some("v6bare"));
    assert_eq!(get(&t, "127.0.0.1:8080", "/").as_deref(), Some("v4"));
}

#[test]
fn upstream_path_joins_with_one_slash() {
    // (domain, strip_path, root, request path, expected upstream path)
    let cases = [
        ("h/users", true, "/", "/users/1", "/1"),
        ("h/users", true, "/", "/users", "/"),
        ("h/users", true, "/", "/users/", "/"),
        ("h/users", true, "/api/", "/users/1", "/api/1"),
        ("h/users", true, "/api", "/users/1", "/api/1"),
        ("h/users", true, "/api", "/users", "/api"),
        ("h/users", true, "/api/", "/users", "/api/"),
        ("h/users", true, "/api", "/users/", "/api/"),
        ("h/users", true, "/api", "/usersx", "/api/x"),
        ("h/users", false, "/", "/users/1", "/users/1"),
        ("h/users", false, "/api", "/users/1", "/api/users/1"),
        ("h/users", false, "/api/", "/users", "/api/users"),
        ("h", true, "/", "/", "/"),
        ("h", true, "/", "/a/b", "/a/b"),
        ("h", true, "/api", "/a", "/api/a"),
        ("h", true, "/api", "/", "/api/"),
        ("h", false, "/", "/a?", "/a?"),
        ("h", true, "/", "", "/"),
        ("h", true, "/api", "", "/api"),
        ("h", true, "", "/a", "/a"),
        ("h", true, "", "", "/"),
        ("h", true, "api", "/a", "/api/a"),
        ("h", true, "api/", "", "/api/"),
        ("h", true, "//", "/a", "/a"),
        ("h/a", true, "/x", "/a//b", "/x//b"),
    ];
    for (domain, strip, root, path, expected) in cases {
        let mut r = route("r", &[domain]);
        r["frontend"]["strip_path"] = json!(strip);
        r["backend"]["root"] = json!(root);
        let t = build(vec![r]);
        let m = t
            .find("h", path, "GET", None, no_headers)
            .unwrap_or_else(|| panic!("no match for {domain} {path}"));
        let got = m.upstream_path(path);
        assert_eq!(
            got, expected,
            "{domain} strip={strip} root={root:?} path={path:?}"
        );
        assert!(got.starts_with('/'));
    }
}

#[test]
fn same_prefix_choice_is_deterministic() {
    let mut headers = route("z-header", &["api.oto.tools/x"]);
    headers["frontend"]["headers"] = json!({"x-a": "1"});
    let mut two = route("y-two", &["api.oto.tools/x"]);
    two["frontend"]["headers"] = json!({"x-a": "1"});
    two["frontend"]["methods"] = json!(["GET"]);
    let plain_b = route("b-plain", &["api.oto.tools/x"]);
    let plain_a = route("a-plain", &["api.oto.tools/x"]);
    let all = [headers, two, plain_b, plain_a];
    let h = |n: &str| (n == "x-a").then_some("1");
    // whatever the load order, the same route is chosen
    for rotation in 0..all.len() {
        let mut v = all.to_vec();
        v.rotate_left(rotation);
        let t = build(v.clone());
        let id = |m: &str, with: bool| {
            let m = if with {
                t.find("api.oto.tools", "/x", m, None, h)
            } else {
                t.find("api.oto.tools", "/x", m, None, no_headers)
            };
            m.unwrap().route.id.clone()
        };
        assert_eq!(id("GET", true), "y-two");
        assert_eq!(id("POST", true), "z-header");
        assert_eq!(id("GET", false), "a-plain");
        v.reverse();
        let t2 = build(v);
        assert_eq!(
            t2.find("api.oto.tools", "/x", "GET", None, no_headers)
                .unwrap()
                .route
                .id,
            "a-plain"
        );
    }
}

#[test]
fn route_with_several_domains() {
    let t = build(vec![route(
        "multi",
        &["a.oto.tools/one", "b.oto.tools", "*.c.oto.tools/two"],
    )]);
    assert_eq!(t.len(), 1);
    assert_eq!(get(&t, "a.oto.tools", "/one/x").as_deref(), Some("multi"));
    assert_eq!(get(&t, "a.oto.tools", "/two"), None);
    assert_eq!(get(&t, "b.oto.tools", "/").as_deref(), Some("multi"));
    let m = t
        .find("x.c.oto.tools", "/two/3", "GET", None, no_headers)
        .unwrap();
    assert_eq!(m.prefix, "/two");
    assert_eq!(m.upstream_path("/two/3"), "/3");
}

#[test]
fn non_ascii_paths_do_not_panic() {
    let t = build(vec![route("r", &["h/é"]), route("root", &["h"])]);
    assert_eq!(get(&t, "h", "/é/x").as_deref(), Some("r"));
    // "/\u{e9}" is 3 bytes; a 2-byte prefix probe would split it
    let t = build(vec![route("r", &["h/a"]), route("root", &["h"])]);
    assert_eq!(get(&t, "h", "/é").as_deref(), Some("root"));
    assert_eq!(get(&t, "héé", "/"), None);
}

#[test]
fn state_builder_compiles_the_table() {
    let mut b = State::builder(7);
    b.add(
        Kind::Route,
        route("r1", &["api.oto.tools/users"]).to_string().as_bytes(),
    )
    .unwrap();
    b.add(
        Kind::Route,
        route("r0", &["*.oto.tools"]).to_string().as_bytes(),
    )
    .unwrap();
    let state = b.build();
    assert_eq!(state.router.len(), 2);
    assert_eq!(
        get(&state.router, "api.oto.tools", "/users").as_deref(),
        Some("r1")
    );
    assert_eq!(
        get(&state.router, "x.oto.tools", "/").as_deref(),
        Some("r0")
    );
    assert!(State::default().router.is_empty());
}

#[test]
fn hundred_thousand_routes() {
    let n = 100_000;
    let routes: Vec<Arc<Route>> = (0..n)
        .map(|i| {
            // 1000 hosts with 100 prefixes each, plus a wildcard per 100 hosts
            let domain = format!("svc{}.oto.tools/api/v{}", i % 1000, i / 1000);
            let mut v = route(&format!("r{i:06}"), &[&domain]);
            if i % 10_000 == 0 {
                v["frontend"]["domains"] =
                    json!([domain, format!("*.zone{}.oto.tools", i / 10_000)]);
            }
            Arc::new(serde_json::from_value(v).unwrap())
        })
        .collect();
    let t = RouteTable::build(&routes);
    assert_eq!(t.len(), n);
    let mut found = 0;
    for k in 0..10_000usize {
        let i = (k * 7919) % n;
        let host = format!("svc{}.oto.tools", i % 1000);
        let path = format!("/api/v{}/items/{k}", i / 1000);
        let m = t.find(&host, &path, "GET", None, no_headers).unwrap();
        assert_eq!(m.route.id, format!("r{i:06}"));
        found += 1;
    }
    assert_eq!(found, 10_000);
    // prefix v1 vs v10..v19: the longest one that is a prefix wins
    assert_eq!(
        get(&t, "svc5.oto.tools", "/api/v1/x").as_deref(),
        Some("r001005")
    );
    assert_eq!(
        get(&t, "svc5.oto.tools", "/api/v15/x").as_deref(),
        Some("r015005")
    );
    assert_eq!(get(&t, "svc5.oto.tools", "/other"), None);
    assert_eq!(
        get(&t, "a.zone3.oto.tools", "/anything").as_deref(),
        Some("r030000")
    );
    assert_eq!(get(&t, "unknown.oto.tools", "/api/v1"), None);
}

#[test]
fn many_prefixes_on_one_host() {
    // more than a handful of prefixes: the host is indexed by prefix length
    let mut routes: Vec<Value> = (0..20)
        .map(|i| route(&format!("p{i:02}"), &[&format!("h/p{i}")]))
        .collect();
    routes.push(route("deep", &["h/p1/deep"]));
    routes.push(route("accent", &["h/é"]));
    routes.push(route("root", &["h"]));
    let mut post = route("post", &["h/p1/deep/x"]);
    post["frontend"]["methods"] = json!(["POST"]);
    routes.push(post);
    let mut exact = route("exact", &["h/p2/only"]);
    exact["frontend"]["exact"] = json!(true);
    routes.push(exact);
    let t = build(routes);
    assert_eq!(get(&t, "h", "/p1").as_deref(), Some("p01"));
    assert_eq!(get(&t, "h", "/p15/a").as_deref(), Some("p15"));
    assert_eq!(get(&t, "h", "/p1x").as_deref(), Some("p01"));
    assert_eq!(get(&t, "h", "/p1/deep/y").as_deref(), Some("deep"));
    assert_eq!(get(&t, "h", "/p1/deep/x").as_deref(), Some("deep"));
    let m = t.find("h", "/p1/deep/x", "POST", None, no_headers).unwrap();
    assert_eq!((m.route.id.as_str(), m.prefix), ("post", "/p1/deep/x"));
    assert_eq!(get(&t, "h", "/p2/only").as_deref(), Some("exact"));
    assert_eq!(get(&t, "h", "/p2/only/").as_deref(), Some("exact"));
    assert_eq!(get(&t, "h", "/p2/only/x").as_deref(), Some("p02"));
    assert_eq!(get(&t, "h", "/é/x").as_deref(), Some("accent"));
    // "/\u{e8}\u{e8}" is 5 bytes: the prefix length 4 falls inside a character
    assert_eq!(get(&t, "h", "/\u{e8}\u{e8}").as_deref(), Some("root"));
    assert_eq!(get(&t, "h", "/zzz").as_deref(), Some("root"));
    assert_eq!(get(&t, "h", "").as_deref(), Some("root"));
}

#[test]
fn few_prefixes_fall_back_in_length_order() {
    let mut get_only = route("get-only", &["h/a/b/c"]);
    get_only["frontend"]["methods"] = json!(["GET"]);
    let t = build(vec![
        get_only,
        route("ab", &["h/a/b"]),
        route("a", &["h/a"]),
        route("xyz", &["h/xyz"]),
    ]);
    assert_eq!(get(&t, "h", "/a/b/c/d").as_deref(), Some("get-only"));
    let m = t.find("h", "/a/b/c/d", "PUT", None, no_headers).unwrap();
    assert_eq!((m.route.id.as_str(), m.prefix), ("ab", "/a/b"));
    assert_eq!(get(&t, "h", "/a/x").as_deref(), Some("a"));
    assert_eq!(get(&t, "h", "/xyz").as_deref(), Some("xyz"));
    assert_eq!(get(&t, "h", "/b"), None);
}

#[test]
fn prefixes_of_any_case_match_and_strip() {
    let mut upper = route("upper", &["api.oto.tools/Admin"]);
    upper["frontend"]["strip_path"] = json!(true);
    let t = build(vec![route("root", &["api.oto.tools"]), upper]);
    for path in ["/admin", "/ADMIN/x", "/aDmIn"] {
        assert_eq!(
            get(&t, "api.oto.tools", path).as_deref(),
            Some("upper"),
            "{path}"
        );
    }
    let found = t
        .find("api.oto.tools", "/ADMIN/x", "GET", None, no_headers)
        .unwrap();
    assert_eq!(found.upstream_path("/ADMIN/x"), "/x");
    assert_eq!(get(&t, "api.oto.tools", "/adm").as_deref(), Some("root"));
}
