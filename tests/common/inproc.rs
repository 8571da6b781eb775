//! sanduq in process: the two public routers of a fresh install, driven with
//! `tower::ServiceExt::oneshot`. No socket, no process: what a request turns into (routing,
//! pages, headers, languages, the API's authentication) is the same as behind a listener,
//! and a test pays milliseconds for it instead of the four processes of a real install.
//! What only a listener or a process shows (limits, timeouts, TLS, crashes) stays on
//! [`super::Server`].

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use sanduq::config::Config;
use sanduq::store::{Editor, SourceInfo};
use sanduq::web::{AppState, Listing};
use tower::ServiceExt as _;

use super::config::TestConfig;
use super::{content_type, multipart, Part};

/// A fresh install in a temp folder, with its state and both routers.
pub struct App {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    source: Router,
    api: Router,
}

/// An editor registered in process: its identity and API token.
pub struct InEditor {
    pub identity: age::x25519::Identity,
    pub token: String,
}

/// What a router answered: status, headers and the body, as bytes and as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub body: String,
}

impl Answer {
    /// The `Location` header of a redirect.
    pub fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// The `sanduq_session` cookie this answer sets, if it sets one.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("sanduq_session=") && !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

impl App {
    /// An install with the test defaults, `edit` applied to its configuration.
    pub async fn new(edit: impl FnOnce(&mut TestConfig)) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut pepper = [0u8; 32];
        getrandom::fill(&mut pepper).unwrap();
        let mut cfg =
            TestConfig::template(&base64::engine::general_purpose::STANDARD.encode(pepper));
        cfg.test_cost();
        edit(&mut cfg);
        let path = dir.path().join("sanduq.toml");
        std::fs::write(&path, cfg.text()).unwrap();
        let config = Config::load(&path).expect("the test configuration is valid");
        let state = AppState::open(config).await.expect("open the install");
        App {
            source: sanduq::web::source_router(state.clone()),
            api: sanduq::web::api_router(state.clone()),
            state,
            dir,
        }
    }

    /// An install with the default configuration.
    pub async fn default() -> App {
        App::new(|_| {}).await
    }

    /// Registers editor `name` of `desk` (the default desk if `None`) with a new key.
    pub async fn add_editor(&self, name: &str, desk: Option<&str>) -> InEditor {
        let identity = age::x25519::Identity::generate();
        let (token, hash) = sanduq::tokens::generate();
        let desk = desk.map_or_else(
            || self.state.config.default_desk().name.clone(),
            str::to_owned,
        );
        self.state
            .meta
            .add_editor(&Editor {
                name: name.to_owned(),
                desk,
                recipient: identity.to_public().to_string(),
                token_hash: hash,
            })
            .await
            .unwrap();
        InEditor { identity, token }
    }

    /// Sends `req` to the source site.
    pub async fn source(&self, req: Request<Body>) -> Answer {
        answer(self.source.clone(), req).await
    }

    /// Sends `req` to the editor API.
    pub async fn api(&self, req: Request<Body>) -> Answer {
        answer(self.api.clone(), req).await
    }

    /// GET `path` on the source site with `headers`.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.source(req.body(Body::empty()).unwrap()).await
    }

    /// GET `path` on the source site.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// GET `path` on the source site, the page's text.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.body
    }

    /// GET `path` on the editor API with `token` as bearer, if any.
    pub async fn api_get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.api(req.body(Body::empty()).unwrap()).await
    }

    /// The listing the editor's API token reads.
    pub async fn listing(&self, ed: &InEditor) -> Listing {
        let a = self.api_get("/api/v1/items", Some(&ed.token)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }

    /// Replies `text` to the first source of the editor's desk as `sanduq reply` and
    /// `sanduq push` do: encrypted to the source's reply key and the desk's editors, posted
    /// to the API.
    pub async fn reply(&self, ed: &InEditor, text: &str) {
        let listing = self.listing(ed).await;
        let source: &SourceInfo = listing.sources.first().expect("a source to answer");
        let mut recipients = vec![source.reply_recipient.clone().expect("a reply key")];
        recipients.extend(listing.editors.iter().cloned());
        let enc = sanduq::crypto::encryptor(&recipients).unwrap();
        let ct = sanduq::crypto::encrypt_to_vec(enc, text.as_bytes()).unwrap();
        let req = Request::post(format!("/api/v1/sources/{}/replies", source.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", ed.token))
            .body(Body::from(ct))
            .unwrap();
        let a = self.api(req).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
}

/// `req` through `router`, with the one `Host` header every HTTP/1.1 client sends (the routers
/// refuse a request without one).
async fn answer(router: Router, mut req: Request<Body>) -> Answer {
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, header::HeaderValue::from_static("localhost"));
    }
    let res = router.oneshot(req).await.expect("routers are infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("the body is read whole");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes: bytes.to_vec(),
    }
}

/// A browser-like visitor of the source site: the form token and its cookie.
pub struct InVisitor {
    pub token: String,
    pub cookie: String,
}

impl InVisitor {
    /// Opens the front page, as a browser would before sending the form.
    pub async fn new(app: &App) -> InVisitor {
        let a = app.get("/").await;
        assert_eq!(a.status, 200);
        let cookie = a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let token = super::logged_in_page_token(&a.body);
        InVisitor { token, cookie }
    }

    /// Posts `parts` (the form token first) to `/<lang>/submit`, or `/submit` for "".
    pub async fn submit_in(&self, app: &App, lang: &str, parts: &[Part<'_>]) -> Answer {
        let mut all = vec![Part::text("csrf_token", self.token.as_bytes())];
        all.extend(parts.iter().map(|p| Part { ..*p }));
        let path = match lang {
            "" => "/submit".to_owned(),
            l => format!("/{l}/submit"),
        };
        self.post(app, &path, &content_type(), multipart(&all))
            .await
    }

    /// As [`InVisitor::submit_in`], in the default language.
    pub async fn submit(&self, app: &App, parts: &[Part<'_>]) -> Answer {
        self.submit_in(app, "", parts).await
    }

    /// Posts the codename to `/<lang>/login` (`/login` for "").
    pub async fn login_in(&self, app: &App, lang: &str, codename: &str) -> Answer {
        let path = match lang {
            "" => "/login".to_owned(),
            l => format!("/{l}/login"),
        };
        let body = format!(
            "csrf_token={}&codename={}",
            form_encode(&self.token),
            form_encode(codename)
        );
        self.post(
            app,
            &path,
            "application/x-www-form-urlencoded",
            body.into_bytes(),
        )
        .await
    }

    /// Posts `body` of type `ty` to `path` with this visitor's cookie.
    pub async fn post(&self, app: &App, path: &str, ty: &str, body: Vec<u8>) -> Answer {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, ty)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap();
        app.source(req).await
    }
}

/// `s` encoded for an `application/x-www-form-urlencoded` body.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
