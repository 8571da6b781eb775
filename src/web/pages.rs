//! Source pages: templates, the stylesheet, and the form token.
//!
//! Pages are rendered on the server from templates compiled into the binary; there is no
//! script anywhere. The form token is a double-submit token: a random value in a
//! `SameSite=Strict` cookie that the form must echo, so that another site cannot make a
//! visitor's browser post to this one.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use minijinja::{context, Environment};

use super::{AppError, AppState};
use crate::i18n::Locale;
use fluent_bundle::types::{FluentNumber, FluentNumberOptions};
use fluent_bundle::{FluentArgs, FluentValue};

/// Name of the form-token cookie.
pub(crate) const CSRF_COOKIE: &str = "sanduq_csrf";

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("index.html", include_str!("../../templates/index.html")),
        ("thanks.html", include_str!("../../templates/thanks.html")),
        ("error.html", include_str!("../../templates/error.html")),
        ("login.html", include_str!("../../templates/login.html")),
        ("form.html", include_str!("../../templates/form.html")),
    ] {
        // The templates are part of the binary and covered by tests; a broken one is a
        // build defect, not a runtime condition.
        #[allow(clippy::expect_used)]
        env.add_template(name, src).expect("built-in template");
    }
    env.add_function("t", translate);
    env
});

/// What every page rendered for one request needs to know about the request.
#[derive(Debug, Clone)]
struct PageContext {
    /// The language: the first segment of the path, or the install's default.
    locale: Locale,
    /// Set if the request came through a Tor2web gateway: the onion address to point the
    /// source to (empty if not configured).
    tor2web: Option<Arc<str>>,
    /// The page's path without the locale and its slash (``, `login` or `form/<id>`), for
    /// the language picker's links.
    here: String,
}

tokio::task_local! {
    static PAGE: PageContext;
}

/// The install's settings that decide how a request's pages look.
#[derive(Debug, Clone)]
pub(crate) struct SiteSettings {
    /// The source site's onion address, if configured.
    pub(crate) onion: Option<Arc<str>>,
    /// The language of paths without a locale segment.
    pub(crate) default_locale: Locale,
}

/// Notes the request's language (from its path) and whether it came through a Tor2web
/// gateway, for every page rendered while answering it, error pages included.
pub(crate) async fn mark_request(
    State(site): State<SiteSettings>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let (locale, rest) = split_locale(path).unwrap_or((site.default_locale, path));
    // Only pages reached by a plain link keep their place when the language changes.
    let here = match rest.strip_prefix("/form/") {
        Some(id) if crate::forms::valid_id(id) => format!("form/{id}"),
        _ if rest == "/login" => "login".to_owned(),
        _ => String::new(),
    };
    let tor2web = via_tor2web(req.headers(), site.onion.as_deref())
        .then(|| site.onion.clone().unwrap_or_else(|| Arc::from("")));
    let page = PageContext {
        locale,
        tor2web,
        here,
    };
    PAGE.scope(page, next.run(req)).await
}

/// `/tg/login` → (Tajik, `/login`); `/tg` → (Tajik, ``); `/login` → None.
fn split_locale(path: &str) -> Option<(Locale, &str)> {
    let rest = path.strip_prefix('/')?;
    let (segment, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    Locale::from_code(segment).map(|l| (l, tail))
}

/// The language of the request being answered.
pub(crate) fn current_locale() -> Locale {
    PAGE.try_with(|p| p.locale)
        .unwrap_or_else(|_| Locale::english())
}

/// The front page in the request's language.
pub(crate) fn home() -> String {
    format!("/{}/", current_locale().code())
}

/// `GET /tg`: the front page lives at `/tg/`.
pub(crate) async fn to_home() -> Response {
    axum::response::Redirect::to(&home()).into_response()
}

/// The `t(key, name=value, …)` function of the templates: the message in the page's language.
fn translate(
    state: &minijinja::State<'_, '_>,
    key: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    let locale = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Locale::from_code))
        .unwrap_or_else(Locale::english);
    let mut args = FluentArgs::new();
    let names: Vec<String> = kwargs.args().map(str::to_owned).collect();
    for name in names {
        let value: minijinja::Value = kwargs.get(&name)?;
        match i64::try_from(value.clone()) {
            Ok(n) => args.set(name, n),
            Err(_) => args.set(name, value.to_string()),
        }
    }
    kwargs.assert_all_used()?;
    Ok(locale.message(key, Some(&args)))
}

/// A gateway adds `X-Tor2web`; one that does not still shows its own host name, not the
/// onion address.
fn via_tor2web(headers: &HeaderMap, onion: Option<&str>) -> bool {
    if headers.contains_key("x-tor2web") {
        return true;
    }
    let Some(onion) = onion else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
    // `name.onion.` (a fully qualified name with its root dot) is the same address.
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.eq_ignore_ascii_case(onion)
}

/// A page's template failed to render (a bug: the templates are compiled in).
#[derive(Debug, thiserror::Error)]
#[error("template {name}")]
struct TemplateError {
    name: String,
    #[source]
    cause: minijinja::Error,
}

pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
    let page = PAGE.try_with(Clone::clone).ok();
    let locale = page.as_ref().map_or_else(Locale::english, |p| p.locale);
    let tor2web = page.as_ref().and_then(|p| p.tor2web.clone());
    let dir = |l: Locale| if l.rtl() { "rtl" } else { "ltr" };
    let languages: Vec<minijinja::Value> = Locale::all()
        .map(|l| context! { code => l.code(), name => l.message("language-name", None), dir => dir(l) })
        .collect();
    let ctx = context! {
        lang => locale.code(),
        dir => dir(locale),
        languages,
        here => page.as_ref().map_or("", |p| p.here.as_str()),
        tor2web => tor2web.is_some(),
        onion => tor2web.as_deref().filter(|o| !o.is_empty()),
        ..ctx
    };
    ENV.get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|cause| {
            AppError::internal(TemplateError {
                name: name.to_owned(),
                cause,
            })
        })
}

/// An error page: `title` and `sentence` are message keys. Falls back to plain text if even
/// that fails.
pub(crate) fn error_page(title: &str, sentence: &str) -> Response {
    match render("error.html", context! { title, sentence }) {
        Ok(html) => html.into_response(),
        Err(_) => current_locale().message(sentence, None).into_response(),
    }
}

/// Renders a page that carries the form token, setting the token's cookie if the visitor
/// has none yet.
pub(crate) fn with_csrf_cookie(
    st: &AppState,
    headers: &HeaderMap,
    page: impl FnOnce(&str) -> Result<Html<String>, AppError>,
) -> Response {
    let (token, fresh) = match csrf_cookie(st, headers) {
        Some(t) => (t, false),
        None => (new_token(), true),
    };
    let mut res = match page(&token) {
        Ok(p) => p.into_response(),
        Err(e) => return e.into_response(),
    };
    if fresh {
        let cookie =
            super::session::set_cookie_header(CSRF_COOKIE, &token, st.config.secure_cookies, false);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    res
}

/// How long what a source sends is kept: for its own desk when logged in; else one line if
/// every desk keeps things as long, or one line per desk, titled.
fn retention_notes(cfg: &crate::config::Config, desk: Option<&str>) -> Vec<minijinja::Value> {
    let desks: Vec<_> = cfg
        .desks
        .iter()
        .filter(|d| desk.is_none_or(|name| d.name == name))
        .collect();
    let same = desks
        .windows(2)
        .all(|w| w[0].retention_days == w[1].retention_days);
    if same {
        return desks
            .first()
            .map(|d| context! { days => d.retention_days })
            .into_iter()
            .collect();
    }
    desks
        .iter()
        .map(|d| context! { title => d.title, days => d.retention_days })
        .collect()
}

/// `GET /`: the submission form, for a new or a logged-in source.
pub(crate) async fn index(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let cfg = &st.config;
    let desks: Vec<_> = cfg
        .desks
        .iter()
        .map(|d| context! { name => d.name, title => d.title })
        .collect();
    let session = match st.sessions.for_request(&headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let forms = super::forms::offered(&st, session.as_ref().map(|s| s.desk.as_str()));
    let retention = retention_notes(cfg, session.as_ref().map(|s| s.desk.as_str()));
    let render_index = |token: &str, logged_in: bool, replies: Vec<minijinja::Value>| {
        render(
            "index.html",
            context! {
                title => "index-title",
                csrf_token => token,
                logged_in,
                replies,
                desks,
                forms,
                retention,
                max_files => cfg.max_files,
                max_size => human_size(cfg.max_request_bytes),
            },
        )
    };
    match session {
        Some(s) => {
            let replies = match super::replies::read_all(&st, &s).await {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            match render_index(&s.csrf, true, replies) {
                Ok(p) => p.into_response(),
                Err(e) => e.into_response(),
            }
        }
        None => with_csrf_cookie(&st, &headers, |token| {
            render_index(token, false, Vec::new())
        }),
    }
}

/// The login form.
pub(crate) fn login_page(token: &str) -> Result<Html<String>, AppError> {
    render(
        "login.html",
        context! { title => "login-title", csrf_token => token },
    )
}

/// The confirmation page after a stored submission.
pub(crate) fn thanks(count: usize, codename: Option<&str>) -> Result<Html<String>, AppError> {
    render(
        "thanks.html",
        context! { title => "thanks-title", count, codename },
    )
}

/// `GET /static/style.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
        .into_response()
}

/// Anything else on the source listener, `/api/…` included.
pub(crate) async fn not_found() -> Response {
    AppError::NotFound.into_response()
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    crate::ids::fill_random(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The form token from the request's cookie, if well-formed.
pub(crate) fn csrf_cookie(st: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = super::session::cookie_name(CSRF_COOKIE, st.config.secure_cookies);
    super::session::cookie(headers, &name)
}

/// `2147483648` → `2 GiB`, `1572864` → `1.5 MiB`, in the request's language: `1,5 МБ` in
/// Russian, `۱٫۵ مگابایت` in Farsi (the number is written by the language's formatter).
pub(crate) fn human_size(n: u64) -> String {
    size_in(current_locale(), n)
}

fn size_in(locale: Locale, n: u64) -> String {
    const UNITS: [&str; 4] = ["size-bytes", "size-kib", "size-mib", "size-gib"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let one_decimal = FluentNumberOptions {
        maximum_fraction_digits: Some(1),
        ..Default::default()
    };
    let mut args = FluentArgs::new();
    args.set("n", FluentValue::Number(FluentNumber::new(v, one_decimal)));
    locale.message(UNITS[u], Some(&args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cookies() {
        assert_eq!(human_size(2 * 1024 * 1024 * 1024), "2 GiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1000), "1,000 bytes");
        let in_ = |code, n| size_in(Locale::from_code(code).unwrap(), n);
        assert_eq!(in_("ru", 3 * 512 * 1024), "1,5 МБ");
        assert_eq!(in_("tg", 3 * 512 * 1024), "1,5 МБ");
        assert_eq!(in_("uz", 3 * 512 * 1024), "1,5 MB");
        assert_eq!(in_("uz-Cyrl", 3 * 512 * 1024), "1,5 МБ");
        assert_eq!(in_("fa", 3 * 512 * 1024), "۱٫۵ مگابایت");
        assert_eq!(in_("fa", 2 << 30), "۲ گیگابایت");
        let t = new_token();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {CSRF_COOKIE}={t}")).unwrap(),
        );
        assert_eq!(super::super::session::cookie(&h, CSRF_COOKIE), Some(t));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("sanduq_csrf=short"),
        );
        assert_eq!(super::super::session::cookie(&h, CSRF_COOKIE), None);
    }

    #[test]
    fn tor2web_is_told_by_header_or_host() {
        let onion = "a".repeat(56) + ".onion";
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert!(!via_tor2web(&with(&[("host", "127.0.0.1:8080")]), None));
        assert!(via_tor2web(&with(&[("x-tor2web", "1")]), None));
        assert!(!via_tor2web(&with(&[("host", &onion)]), Some(&onion)));
        let upper = onion.to_ascii_uppercase() + ":80";
        assert!(!via_tor2web(&with(&[("host", &upper)]), Some(&onion)));
        let rooted = onion.clone() + ".:80";
        assert!(!via_tor2web(&with(&[("host", &rooted)]), Some(&onion)));
        let gateway = onion.replace(".onion", ".onion.example");
        assert!(via_tor2web(&with(&[("host", &gateway)]), Some(&onion)));
        assert!(via_tor2web(&with(&[]), Some(&onion)));
    }

    #[test]
    fn every_template_renders_without_script() {
        for (name, ctx) in [
            (
                "index.html",
                context! { title => "t", csrf_token => "x", desks => vec![context!{name=>"a", title=>"A"}, context!{name=>"b", title=>"B"}], max_files => 3, max_size => "1 GiB" },
            ),
            (
                "thanks.html",
                context! { title => "t", count => 2, codename => "a b c d e f g" },
            ),
            ("login.html", context! { title => "t", csrf_token => "x" }),
            (
                "error.html",
                context! { title => "t", sentence => "<b>s</b>" },
            ),
        ] {
            let html = render(name, ctx).unwrap().0;
            assert!(!html.contains("<script"), "{name}");
            assert!(!html.contains("<b>s</b>"), "{name} must escape");
        }
    }
}
