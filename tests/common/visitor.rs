//! The source's side, as a browser without JavaScript sends it: multipart bodies, the form
//! token and its cookie, logins, and what a page shows (codename, session, token).

use super::Server;

/// One part of a multipart form.
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a [u8]>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn text(name: &'a str, data: &'a [u8]) -> Self {
        Part {
            name,
            filename: None,
            content_type: None,
            data,
        }
    }
    pub fn file(filename: &'a [u8], data: &'a [u8]) -> Self {
        Part {
            name: "file",
            filename: Some(filename),
            content_type: Some("application/octet-stream"),
            data,
        }
    }
}

pub const BOUNDARY: &str = "----sanduqtestboundary7MA4YWxkTrZu0gW";

/// A multipart/form-data body.
pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut b = Vec::new();
    for p in parts {
        b.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        b.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{}\"", p.name).as_bytes(),
        );
        if let Some(f) = p.filename {
            b.extend_from_slice(b"; filename=\"");
            b.extend_from_slice(f);
            b.extend_from_slice(b"\"");
        }
        b.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(p.data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A browser-like session on the source site: the form token and its cookie.
pub struct Visitor {
    pub client: reqwest::Client,
    pub token: String,
    pub cookie: String,
}

impl Visitor {
    pub async fn new(server: &Server) -> Visitor {
        Visitor::with_client(
            server,
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
        .await
    }

    /// A visitor using `client` (for a chosen source address or user agent).
    pub async fn with_client(server: &Server, client: reqwest::Client) -> Visitor {
        let res = client.get(server.source_url("/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let cookie = res
            .headers()
            .get("set-cookie")
            .expect("form cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = res.text().await.unwrap();
        let token = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf_token in form")
            .to_owned();
        Visitor {
            client,
            token,
            cookie,
        }
    }

    /// Posts the parts (the form token is put first) and returns status and page.
    pub async fn submit(&self, server: &Server, parts: &[Part<'_>]) -> (u16, String) {
        self.submit_in(server, "", parts).await
    }

    /// As [`Visitor::submit`], to `/<lang>/submit` (the default language for "").
    pub async fn submit_in(
        &self,
        server: &Server,
        lang: &str,
        parts: &[Part<'_>],
    ) -> (u16, String) {
        let mut all = vec![Part::text("csrf_token", self.token.as_bytes())];
        all.extend(parts.iter().map(|p| Part {
            name: p.name,
            filename: p.filename,
            content_type: p.content_type,
            data: p.data,
        }));
        let path = if lang.is_empty() {
            "/submit".to_owned()
        } else {
            format!("/{lang}/submit")
        };
        self.post_raw_to(server, &path, multipart(&all)).await
    }

    pub async fn post_raw(&self, server: &Server, body: Vec<u8>) -> (u16, String) {
        self.post_raw_to(server, "/submit", body).await
    }

    async fn post_raw_to(&self, server: &Server, path: &str, body: Vec<u8>) -> (u16, String) {
        let res = self
            .client
            .post(server.source_url(path))
            .header("content-type", content_type())
            .header("cookie", &self.cookie)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

/// The codename shown on a confirmation page.
pub fn codename_in(page: &str) -> String {
    page.split("id=\"codename\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the codename is shown in id=\"codename\"")
        .to_owned()
}

/// A client that shows redirects instead of following them.
pub fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The start page as the holder of `cookie` sees it.
pub async fn page_with(server: &Server, cookie: &str) -> String {
    no_redirect()
        .get(server.source_url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn login(server: &Server, v: &Visitor, codename: &str) -> reqwest::Response {
    let client = no_redirect();
    client
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[("csrf_token", v.token.as_str()), ("codename", codename)])
        .send()
        .await
        .unwrap()
}

pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sanduq_session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

pub fn logged_in_page_token(page: &str) -> String {
    page.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}
