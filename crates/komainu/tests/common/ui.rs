//! A client of the admin UI host: signs in with the login form, keeps the
//! session cookie, reads the CSRF token from a page, follows no redirect (so
//! tests see them).

use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use super::Node;

pub const UI_HOST: &str = "otoroshi.oto.tools";
pub const ADMIN_LOGIN: &str = "admin@otoroshi.io";
pub const ADMIN_PASSWORD: &str = "ui-test-password";

/// `-D` arguments giving the first admin user a known password.
pub fn admin_user_args() -> String {
    format!("-Dapp.adminPassword={ADMIN_PASSWORD}")
}

pub struct UiClient {
    base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token a signed-in page carries in its head.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf-token\" content=\"";
        let start = self.text.find(marker).expect("page has a CSRF token") + marker.len();
        let end = self.text[start..].find('"').unwrap() + start;
        self.text[start..end].to_string()
    }
}

impl UiClient {
    pub fn new(node: &Node) -> Self {
        UiClient {
            base: node.base_url(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(header::HOST, UI_HOST);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.request(Method::GET, path).send().await.unwrap()).await
    }

    /// Posts the login form; keeps the session cookie it sets.
    pub async fn login(&mut self, name: &str, password: &str) -> Page {
        let page = Self::page(
            self.request(Method::POST, "/login")
                .form(&[("username", name), ("password", password), ("next", "/")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        if let Some(set) = page.headers.get(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
        page
    }

    pub async fn sign_in_as_admin(&mut self) {
        let page = self.login(ADMIN_LOGIN, ADMIN_PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    }

    /// An admin API call through the UI host, with or without the CSRF token.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn logout(&self, csrf: &str) -> Page {
        Self::page(
            self.request(Method::POST, "/logout")
                .form(&[("_csrf", csrf)])
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}
