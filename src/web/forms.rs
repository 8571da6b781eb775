//! Form pages: a desk's testimony forms, shown empty or sent back with the source's answers.
//!
//! A form that fails the server's checks comes back with every answer the source gave and a
//! sentence per question saying what to correct, in the page's language. Only files cannot be
//! kept (no browser lets a page fill a file box); the page says so.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use fluent_bundle::FluentArgs;
use minijinja::context;

use super::{pages, AppError, AppState};
use crate::forms::answers::{Draft, Problem, Problems};
use crate::forms::{Form, Kind};
use crate::i18n::Locale;

/// `GET /form/{id}`: an empty form.
pub(crate) async fn page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = match st.sessions.for_request(&headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Some(form) = st.config.form(&id).cloned() else {
        return AppError::NotFound.into_response();
    };
    let desks = desks_offering(
        &st,
        &form.id,
        session.as_ref().map(|s| s.desk.as_str()),
        None,
    );
    if desks.is_empty() {
        return AppError::NotFound.into_response();
    }
    let view = View {
        form: &form,
        draft: None,
        problems: None,
        had_files: false,
        desks,
        logged_in: session.is_some(),
    };
    match session {
        Some(s) => match render(&st, &view, &s.csrf) {
            Ok(p) => p.into_response(),
            Err(e) => e.into_response(),
        },
        None => pages::with_csrf_cookie(&st, &headers, |token| render(&st, &view, token)),
    }
}

/// The form sent back, with the source's answers and what to correct: 422.
pub(crate) fn sent_back(
    st: &AppState,
    draft: &Draft<'_>,
    problems: &Problems,
    had_files: bool,
    desk: &str,
    logged_in: bool,
    token: &str,
) -> Response {
    let form = draft.form();
    let desks = if logged_in {
        Vec::new()
    } else {
        desks_offering(st, &form.id, None, Some(desk))
    };
    let view = View {
        form,
        draft: Some(draft),
        problems: Some(problems),
        had_files,
        desks,
        logged_in,
    };
    match render(st, &view, token) {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The forms a source may choose on the front page: its desk's, or every desk's.
pub(crate) fn offered(st: &AppState, desk: Option<&str>) -> Vec<minijinja::Value> {
    let locale = pages::current_locale();
    let mut ids: Vec<&str> = Vec::new();
    for d in &st.config.desks {
        if desk.is_none_or(|name| name == d.name) {
            for id in &d.forms {
                if !ids.contains(&id.as_str()) {
                    ids.push(id);
                }
            }
        }
    }
    ids.into_iter()
        .filter_map(|id| st.config.form(id))
        .map(|f| context! { id => f.id, title => f.title.get(locale) })
        .collect()
}

/// The desks that offer `form`: only `only` if a session fixes it; `selected` is marked.
fn desks_offering(
    st: &AppState,
    form: &str,
    only: Option<&str>,
    selected: Option<&str>,
) -> Vec<minijinja::Value> {
    st.config
        .desks
        .iter()
        .filter(|d| only.is_none_or(|o| o == d.name) && d.forms.iter().any(|f| f == form))
        .map(|d| {
            context! { name => d.name, title => d.title, selected => selected == Some(d.name.as_str()) }
        })
        .collect()
}

struct View<'a> {
    form: &'a Form,
    draft: Option<&'a Draft<'a>>,
    problems: Option<&'a Problems>,
    had_files: bool,
    desks: Vec<minijinja::Value>,
    logged_in: bool,
}

fn render(st: &AppState, view: &View<'_>, token: &str) -> Result<Html<String>, AppError> {
    let locale = pages::current_locale();
    let empty = BTreeMap::new();
    let problems = view.problems.unwrap_or(&empty);
    let mut fields = Vec::new();
    let mut file_fields = Vec::new();
    for f in &view.form.fields {
        let values: Vec<&str> = view
            .draft
            .map(|d| d.values(&f.name).collect())
            .unwrap_or_default();
        let options: Vec<minijinja::Value> = f
            .options
            .iter()
            .map(|o| {
                context! {
                    value => o.value,
                    label => o.label.get(locale),
                    checked => values.contains(&o.value.as_str()),
                }
            })
            .collect();
        let value = match f.kind {
            Kind::Checkbox => minijinja::Value::from(!values.is_empty()),
            _ => minijinja::Value::from(values.first().copied().unwrap_or_default()),
        };
        let ctx = context! {
            id => format!("f-{}", f.name),
            name => f.name,
            kind => f.kind,
            label => f.label.get(locale),
            help => f.help.as_ref().map(|h| h.get(locale)),
            required => f.required,
            options,
            value,
            error => problems.get(&f.name).map(|p| explain(locale, *p)),
        };
        if f.kind == Kind::File {
            file_fields.push(ctx);
        } else {
            fields.push(ctx);
        }
    }
    // The list of problems at the top links to every marked question, files included.
    let all_fields: Vec<minijinja::Value> = fields.iter().chain(&file_fields).cloned().collect();
    pages::render(
        "form.html",
        context! {
            page_title => view.form.title.get(locale),
            form_title => view.form.title.get(locale),
            form_intro => view.form.intro.as_ref().map(|t| t.get(locale)),
            form_id => view.form.id,
            csrf_token => token,
            desks => view.desks,
            logged_in => view.logged_in,
            fields => all_fields,
            file_fields,
            problems => !problems.is_empty(),
            had_files => view.had_files,
            max_files => st.config.max_files,
            max_size => pages::human_size(st.config.max_request_bytes),
        },
    )
}

/// What to correct, in the page's language.
fn explain(locale: Locale, p: Problem) -> String {
    let mut args = FluentArgs::new();
    let key = match p {
        Problem::Required => "form-error-required",
        Problem::TooLong { max } => {
            args.set("max", max);
            "form-error-too-long"
        }
        Problem::Date => "form-error-date",
        Problem::Number {
            min: Some(min),
            max: Some(max),
        } => {
            args.set("min", min);
            args.set("max", max);
            "form-error-number"
        }
        Problem::Number { .. } => "form-error-number-any",
        Problem::Choice => "form-error-option",
    };
    locale.message(key, Some(&args))
}
