//! `[[desk]]` and `forms_dir` checked together: every desk's name is valid and unique, its
//! retention within bounds, and every form a desk offers exists (built in, or a file in
//! `forms_dir` that replaces the built-in form of the same id).

use std::path::Path;
use std::sync::Arc;

use super::{valid_desk_name, Desk, Invalid, RawDesk, MAX_RETENTION_DAYS};
use crate::forms::Form;

/// The checked desks, and every form some desk offers.
pub(super) fn validate(
    raw: Vec<RawDesk>,
    forms_dir: Option<&str>,
    base: &Path,
) -> Result<(Vec<Desk>, Vec<Arc<Form>>), Invalid> {
    let invalid = |key: &str, message: String| Err((key.to_owned(), message));
    if raw.is_empty() {
        return invalid(
            "desk",
            "at least one [[desk]] is needed, e.g. [[desk]] name = \"default\"".into(),
        );
    }
    let known = known_forms(forms_dir, base)?;
    let mut forms: Vec<Arc<Form>> = Vec::new();
    let mut desks: Vec<Desk> = Vec::new();
    for d in raw {
        if !valid_desk_name(&d.name) {
            return invalid(
                "desk.name",
                format!("{:?}: use 1 to 32 characters of a-z, 0-9 and '-'", d.name),
            );
        }
        if desks.iter().any(|x| x.name == d.name) {
            return invalid(
                "desk.name",
                format!("{:?} is used by two desks; names must be unique", d.name),
            );
        }
        let offered = d.forms.unwrap_or_else(|| vec!["detention".to_owned()]);
        for (i, id) in offered.iter().enumerate() {
            if offered[..i].contains(id) {
                return invalid(
                    "desk.forms",
                    format!("desk {:?} lists {id:?} twice", d.name),
                );
            }
            let Some(form) = known.iter().find(|k| &k.id == id) else {
                return invalid(
                    "desk.forms",
                    format!("desk {:?} offers {id:?}, but no form has that id", d.name),
                );
            };
            if !forms.iter().any(|f| &f.id == id) {
                forms.push(Arc::new(form.clone()));
            }
        }
        let retention_days = d.retention_days.unwrap_or(0);
        if retention_days > MAX_RETENTION_DAYS {
            return invalid(
                "desk.retention_days",
                format!(
                    "desk {:?}: {retention_days} is more than {MAX_RETENTION_DAYS} days; \
                     use 0 to keep items until an editor deletes them",
                    d.name
                ),
            );
        }
        desks.push(Desk {
            title: d.title.unwrap_or_else(|| d.name.clone()),
            name: d.name,
            forms: offered,
            retention_days,
        });
    }
    Ok((desks, forms))
}

/// The built-in form, replaced by a file in `forms_dir` with the same id, and the others
/// `forms_dir` holds.
fn known_forms(forms_dir: Option<&str>, base: &Path) -> Result<Vec<Form>, Invalid> {
    let mut known = vec![Form::detention()];
    let Some(dir) = forms_dir else {
        return Ok(known);
    };
    let mut from_dir = std::collections::HashSet::new();
    let loaded =
        crate::forms::load_dir(&base.join(dir)).map_err(|e| ("forms_dir".into(), e.to_string()))?;
    for f in loaded {
        if !from_dir.insert(f.id.clone()) {
            return Err((
                "forms_dir".into(),
                format!("two forms have the id {:?}", f.id),
            ));
        }
        known.retain(|k| k.id != f.id);
        known.push(f);
    }
    Ok(known)
}
