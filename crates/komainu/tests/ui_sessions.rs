//! The admin UI's sign-in, sessions and the bridge to the admin API, over
//! plain HTTP against a real node (the browser tests cover the pages).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::ui::{ADMIN_LOGIN, ADMIN_PASSWORD, UiClient, admin_user_args};
use common::{Node, leader};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

fn node() -> (Node, tempfile::TempDir) {
    Node::start(&[&admin_user_args()])
}

#[tokio::test]
async fn pages_need_a_session_and_api_calls_get_401() {
    let (node, _dir) = node();
    let ui = UiClient::new(&node);
    let page = ui.get("/routes?q=x").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/routes%3Fq%3Dx");
    let (status, body) = ui.api(Method::GET, "/api/routes", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");
    let login = ui.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text.contains("id=\"login-form\""), "{}", login.text);
    let csp = login.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_user_signs_in_and_signing_out_ends_the_session() {
    let (node, _dir) = node();
    let mut ui = UiClient::new(&node);
    let page = ui.login(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag: {cookie}"
    );
    let routes = ui.get("/routes").await;
    assert_eq!(routes.status, StatusCode::OK);
    assert!(routes.text.contains(ADMIN_LOGIN));
    let csrf = routes.csrf();
    let out = ui.logout(&csrf).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, replayed, is dead: it was revoked, not just cleared.
    assert_eq!(ui.get("/routes").await.status, StatusCode::SEE_OTHER);
    let (status, _) = ui.api(Method::GET, "/api/routes", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn writes_through_the_ui_need_the_csrf_token() {
    let (node, _dir) = node();
    let mut ui = UiClient::new(&node);
    ui.sign_in_as_admin().await;
    let route = common::route("from-ui", "ui.oto.tools");
    let (status, body) = ui
        .api(Method::POST, "/api/routes", Some(&route), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "csrf_token_invalid");
    let (status, _) = ui
        .api(Method::POST, "/api/routes", Some(&route), Some("forged"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        node.get_json("/api/routes/from-ui").await.0,
        404,
        "nothing written"
    );
    let csrf = ui.get("/").await.csrf();
    let (status, body) = ui
        .api(Method::POST, "/api/routes", Some(&route), Some(&csrf))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(node.get_json("/api/routes/from-ui").await.0, 200);
    // An editor page does not rely on this node's snapshot (another leader
    // may have just written the entity): it loads it through the API.
    let editor = ui.get("/routes/written-elsewhere").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(
        editor.text.contains("data-id=\"written-elsewhere\""),
        "{}",
        editor.text
    );
    // The API's own validation answers through the bridge, by field.
    let bad = json!({"id": "bad", "frontend": {"domains": []}, "backend": {"targets": [{"hostname": "h", "port": 0}]}});
    let (status, body) = ui
        .api(Method::POST, "/api/routes", Some(&bad), Some(&csrf))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let paths: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"backend.targets[0].port"), "{body}");
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_then_throttled() {
    let (node, _dir) = node();
    let mut ui = UiClient::new(&node);
    let unknown = ui.login("nobody", "x").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let wrong = ui.login(ADMIN_LOGIN, "wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("Wrong name or password."));
    assert!(unknown.text.contains("Wrong name or password."));
    assert!(ui.cookie.is_none());
    for _ in 0..9 {
        assert_eq!(
            ui.login(ADMIN_LOGIN, "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Ten failures: even the right password waits out the window.
    let throttled = ui.login(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.text
    );
    let retry: u64 = throttled.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    assert!(ui.cookie.is_none());
    // Another name is not affected.
    let other = ui.login("someone-else", "x").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_foreign_site_cannot_post_the_login_form() {
    let (node, _dir) = node();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(node.url("/login"))
        .header(header::HOST, common::ui::UI_HOST)
        .header(header::ORIGIN, "http://evil.example")
        .form(&[("username", ADMIN_LOGIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn admin_api_keys_sign_in_read_only_ones_only_read_and_a_deleted_key_ends_its_session() {
    let (node, _dir) = node();
    let viewer = json!({
        "clientId": "viewer", "clientSecret": "viewer-secret", "clientName": "viewer",
        "readOnly": true, "authorizedEntities": ["group_admin-api-group"],
    });
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &viewer)
            .await
            .0,
        201
    );
    let mut ui = UiClient::new(&node);
    assert_eq!(
        ui.login("viewer", "viewer-secret").await.status,
        StatusCode::SEE_OTHER
    );
    let home = ui.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("(read-only)"));
    let (status, _) = ui.api(Method::GET, "/api/routes", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let route = common::route("nope", "nope.oto.tools");
    let (status, body) = ui
        .api(
            Method::POST,
            "/api/routes",
            Some(&route),
            Some(&home.csrf()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );
    // A key that is not an admin key does not sign in.
    let plain = json!({"clientId": "plain", "clientSecret": "plain-secret", "clientName": "plain"});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &plain).await.0,
        201
    );
    let mut other = UiClient::new(&node);
    assert_eq!(
        other.login("plain", "plain-secret").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Deleting the key ends the sessions opened with it.
    assert_eq!(
        node.send_json(Method::DELETE, "/api/apikeys/viewer", &json!({}))
            .await
            .0,
        200
    );
    assert_eq!(ui.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_bridge_serves_pages_the_members_but_not_the_workers_endpoints() {
    let (leader, _dir) = leader(&[&admin_user_args()]);
    let mut ui = UiClient::new(&leader);
    ui.sign_in_as_admin().await;
    let (status, members) = ui
        .api(Method::GET, "/api/cluster/members", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_eq!(members[0]["type"], "Leader");
    let (status, _) = ui.api(Method::GET, "/api/cluster/state", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let cluster = ui.get("/cluster").await;
    assert!(cluster.text.contains("id=\"members-table\""));
    // The state export holds every secret: not for read-only admin keys.
    let viewer = json!({
        "clientId": "viewer", "clientSecret": "viewer-secret", "clientName": "viewer",
        "readOnly": true, "authorizedEntities": ["group_admin-api-group"],
    });
    assert_eq!(
        leader
            .send_json(Method::POST, "/api/apikeys", &viewer)
            .await
            .0,
        201
    );
    let state = leader
        .anonymous(Method::GET, "/api/cluster/state")
        .basic_auth("viewer", Some("viewer-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), 403);
    assert_eq!(
        leader
            .admin(Method::GET, "/api/cluster/state")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(ui.get("/").await.text.contains("id=\"cluster-tiles\""));
}

#[tokio::test]
async fn the_first_admin_password_is_random_and_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir.path(), &[]);
    let line = node
        .stdout
        .iter()
        .find(|l| l.starts_with("admin user created: "))
        .unwrap_or_else(|| panic!("{:?}", node.stdout));
    let password = line
        .strip_prefix(&format!("admin user created: {ADMIN_LOGIN} / "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_string();
    assert!(password.len() >= 20, "{line}");
    let mut ui = UiClient::new(&node);
    assert_eq!(
        ui.login(ADMIN_LOGIN, &password).await.status,
        StatusCode::SEE_OTHER
    );
    drop(node);
    let again = Node::start_in(dir.path(), &[]);
    assert!(
        !again
            .stdout
            .iter()
            .any(|l| l.starts_with("admin user created")),
        "{:?}",
        again.stdout
    );
    // The session survives the restart: the signing key is in the datastore.
    let mut replay = UiClient::new(&again);
    replay.cookie = ui.cookie.clone();
    let ui = replay;
    assert_eq!(ui.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_the_ui_disabled_its_host_is_ordinary_traffic() {
    let (node, _dir) = Node::start(&["-Dui.enabled=false"]);
    let ui = UiClient::new(&node);
    let page = ui.get("/login").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text.contains("\"not_found\""), "{}", page.text);
    assert!(!node.stdout.iter().any(|l| l.starts_with("admin UI")));
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure() {
    let (node, _dir) = node();
    let port = node.https_port.unwrap();
    // The node made a certificate for the UI host at its first start.
    let (status, cert) = node
        .get_json("/api/certificates/komainu-ui-certificate")
        .await;
    assert_eq!(status, 200, "{cert}");
    assert_eq!(cert["sans"], json!([common::ui::UI_HOST]));
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(common::ui::UI_HOST, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let url = format!("https://{}:{port}/login", common::ui::UI_HOST);
    let response = client
        .post(&url)
        .form(&[("username", ADMIN_LOGIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Behind a load balancer that ends TLS, the operator says so.
    let (behind, _d) = Node::start(&[&admin_user_args(), "-Dui.secureCookies=true"]);
    let mut plain = UiClient::new(&behind);
    let page = plain.login(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    assert!(
        page.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let home = client
        .get(format!("https://{}:{port}/", common::ui::UI_HOST))
        .header(header::COOKIE, cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_browser_signing_in_over_http2_is_not_taken_for_another_site() {
    let (node, _dir) = node();
    // HTTP/2 carries the host as :authority, with no Host header.
    let url = format!("http://{}:{}/login", common::ui::UI_HOST, node.port);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(common::ui::UI_HOST, ([127, 0, 0, 1], node.port).into())
        .build()
        .unwrap();
    let response = client
        .post(&url)
        .header(
            header::ORIGIN,
            format!("http://{}:{}", common::ui::UI_HOST, node.port),
        )
        .form(&[("username", ADMIN_LOGIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers().get(header::SET_COOKIE).is_some());
}

#[tokio::test]
async fn next_never_leads_off_the_site() {
    let (node, _dir) = node();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for next in [
        "/\t/evil.example",
        "//evil.example",
        "https://evil.example",
        "/\n",
    ] {
        let response = client
            .post(node.url("/login"))
            .header(header::HOST, common::ui::UI_HOST)
            .form(&[
                ("username", ADMIN_LOGIN),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()[header::LOCATION], "/", "{next:?}");
    }
}

#[tokio::test]
async fn read_only_admins_see_no_admin_secret_and_a_demotion_applies_at_once() {
    let (node, _dir) = node();
    let writer = json!({
        "clientId": "writer", "clientSecret": "writer-secret", "clientName": "writer",
        "authorizedEntities": ["group_admin-api-group"],
    });
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &writer)
            .await
            .0,
        201
    );
    let plain = json!({"clientId": "plain", "clientSecret": "plain-secret", "clientName": "plain"});
    assert_eq!(
        node.send_json(Method::POST, "/api/apikeys", &plain).await.0,
        201
    );
    let mut ui = UiClient::new(&node);
    assert_eq!(
        ui.login("writer", "writer-secret").await.status,
        StatusCode::SEE_OTHER
    );
    let csrf = ui.get("/").await.csrf();
    let route = common::route("before", "before.oto.tools");
    let (status, _) = ui
        .api(Method::POST, "/api/routes", Some(&route), Some(&csrf))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Made read-only: the open session loses its writes at once.
    let (status, body) = node
        .send_json(
            Method::PATCH,
            "/api/apikeys/writer",
            &json!({"readOnly": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let route = common::route("after", "after.oto.tools");
    let (status, _) = ui
        .api(Method::POST, "/api/routes", Some(&route), Some(&csrf))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(ui.get("/").await.text.contains("read-only-notice"));

    // Every key's secret is hidden from it.
    let (_, admin_key) = ui
        .api(Method::GET, "/api/apikeys/test-admin", None, None)
        .await;
    assert_eq!(admin_key["clientSecret"], "********", "{admin_key}");
    let (_, plain) = ui.api(Method::GET, "/api/apikeys/plain", None, None).await;
    assert_eq!(plain["clientSecret"], "********", "{plain}");
    let (_, list) = ui.api(Method::GET, "/api/apikeys", None, None).await;
    assert!(!list.to_string().contains("test-admin-secret"), "{list}");
    let (_, export) = ui.api(Method::GET, "/api/otoroshi.json", None, None).await;
    assert!(!export.to_string().contains("test-admin-secret"));
    let (_, full) = node.get_json("/api/apikeys/test-admin").await;
    assert_eq!(
        full["clientSecret"],
        common::ADMIN_SECRET,
        "writers still see it"
    );
}

#[tokio::test]
async fn a_worker_answers_its_ui_host_itself_and_forwards_no_session_cookie() {
    let (leader, _dir) = leader(&[]);
    let backend = common::upstream::start("wildcard").await;
    leader
        .create_route(&common::route_to("all", "*.oto.tools", &[backend.port]))
        .await;
    let worker = common::worker(&[leader.base_url()], &[]);
    let ready = common::eventually(std::time::Duration::from_secs(10), || async {
        worker.status_of("any.oto.tools", "/").await == 200
    })
    .await;
    assert!(ready.is_some());
    let hits = backend.hits();
    let mut ui = UiClient::new(&worker);
    ui.cookie = Some("komainu-session=stolen".into());
    let page = ui.get("/").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text.contains("cluster worker"), "{}", page.text);
    assert!(page.text.contains(&leader.base_url()), "{}", page.text);
    assert_eq!(backend.hits(), hits, "the UI host never reaches a backend");
}

#[tokio::test]
async fn admin_users_are_managed_through_the_api_and_a_new_password_ends_old_sessions() {
    let (node, _dir) = node();
    let (status, body) = node
        .send_json(
            Method::POST,
            "/api/admins/simple",
            &json!({"username": "ops", "password": "short"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["path"], "password");
    let ops = json!({"username": "ops", "password": "ops-password-1", "label": "Ops"});
    let (status, body) = node
        .send_json(Method::POST, "/api/admins/simple", &ops)
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("password").is_none(), "{body}");
    assert_eq!(
        node.send_json(Method::POST, "/api/admins/simple", &ops)
            .await
            .0,
        409
    );
    let (_, list) = node.get_json("/api/admins/simple").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(
        !list.to_string().contains("$2"),
        "no hash is ever listed: {list}"
    );

    let mut ui = UiClient::new(&node);
    assert_eq!(
        ui.login("ops", "ops-password-1").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(ui.get("/").await.status, StatusCode::OK);
    let (status, body) = node
        .send_json(
            Method::PUT,
            "/api/admins/simple/ops",
            &json!({"password": "ops-password-2", "label": "Ops"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ui.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the old session ended"
    );
    let mut again = UiClient::new(&node);
    assert_eq!(
        again.login("ops", "ops-password-1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again.login("ops", "ops-password-2").await.status,
        StatusCode::SEE_OTHER
    );

    // The last user who may write stays.
    assert_eq!(
        node.send_json(Method::DELETE, "/api/admins/simple/ops", &json!({}))
            .await
            .0,
        200
    );
    let (status, body) = node
        .send_json(
            Method::DELETE,
            &format!("/api/admins/simple/{ADMIN_LOGIN}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(node.get_json("/api/admins/simple/ops").await.0, 404);
}
