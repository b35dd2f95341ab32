//! Reading the configuration file the way `serve` does, but finding every problem in one pass:
//! serde stops at the first unknown key or wrong value, so each one found is noted with its line
//! and taken out of a copy of the file, and the copy is read again, until it reads.

use std::ops::Range;

use toml_edit::{DocumentMut, Item, Table, Value};

use super::Problem;
use crate::settings::Settings;

/// The most problems one file is read for: each one costs a reading of the whole file.
const MOST_PROBLEMS: usize = 100;

/// A key's place in the file: table keys, and indexes into arrays of tables.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The settings as `serve` would read them with the bad keys left out, and the problems found.
/// `None` when the file cannot be read as TOML, or a problem cannot be taken out.
pub fn read(text: &str) -> (Option<Settings>, Vec<Problem>) {
    let original = match toml_edit::Document::parse(text) {
        Ok(document) => document,
        Err(err) => {
            let line = err.span().map(|span| line_of(text, span.start));
            let problem = Problem::at(line, format!("this is not TOML: {}", err.message()));
            return (None, vec![problem.fix("correct the syntax at that line")]);
        }
    };
    let mut working = text.to_owned();
    let mut problems = Vec::new();
    while problems.len() < MOST_PROBLEMS {
        let err = match toml::from_str::<Settings>(&working) {
            Ok(settings) => return (Some(settings), problems),
            Err(err) => err,
        };
        let message = err.message().trim().to_owned();
        let path = err.span().and_then(|span| {
            let document = toml_edit::Document::parse(working.as_str()).ok()?;
            path_at(document.as_table(), span.start)
        });
        let Some(path) = path else {
            // Nothing to take out (a required key is missing, say): this is the last problem.
            let line = err.span().map(|span| line_of(&working, span.start));
            problems.push(Problem::at(line, message).fix(fix_for(&err)));
            return (None, problems);
        };
        let line = span_of(original.as_table(), &path).map(|span| line_of(text, span.start));
        problems
            .push(Problem::at(line, format!("{}: {message}", dotted(&path))).fix(fix_for(&err)));
        let mut document: DocumentMut = match working.parse() {
            Ok(document) => document,
            Err(_) => return (None, problems),
        };
        if !remove(document.as_table_mut(), &path) {
            return (None, problems);
        }
        working = document.to_string();
    }
    (None, problems)
}

/// The line (from 1) of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// Where `path` is written in `table`: its key, or its table's header.
pub fn span_of(table: &Table, path: &[Step]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Step::Key(name) = first else { return None };
    let (key, item) = table.get_key_value(name)?;
    match (rest.first(), item) {
        (None, _) => key.span().or_else(|| item.span()),
        (Some(Step::Index(index)), Item::ArrayOfTables(array)) => {
            let table = array.get(*index)?;
            if rest.len() == 1 {
                table.span()
            } else {
                span_of(table, &rest[1..])
            }
        }
        (Some(_), Item::Table(inner)) => span_of(inner, rest),
        (Some(_), Item::Value(Value::InlineTable(inner))) => {
            let (key, value) = inner.get_key_value(match &rest[0] {
                Step::Key(name) => name,
                Step::Index(_) => return None,
            })?;
            key.span().or_else(|| value.span())
        }
        _ => None,
    }
}

/// The innermost key whose name or value covers `offset`.
fn path_at(table: &Table, offset: usize) -> Option<Vec<Step>> {
    for (name, item) in table.iter() {
        let key_span = table.key(name).and_then(toml_edit::Key::span);
        let covers = |span: Option<Range<usize>>| span.is_some_and(|span| span.contains(&offset));
        let inner = match item {
            Item::Table(inner) => path_at(inner, offset),
            Item::ArrayOfTables(array) => array.iter().enumerate().find_map(|(index, inner)| {
                path_at(inner, offset).map(|mut path| {
                    path.insert(0, Step::Index(index));
                    path
                })
            }),
            Item::Value(Value::InlineTable(inner)) => inner.iter().find_map(|(key, value)| {
                let span = inner.key(key).and_then(toml_edit::Key::span);
                (covers(span) || covers(value.span())).then(|| vec![Step::Key(key.to_owned())])
            }),
            _ => None,
        };
        if let Some(mut path) = inner {
            path.insert(0, Step::Key(name.to_owned()));
            return Some(path);
        }
        if covers(key_span) || covers(item.span()) {
            return Some(vec![Step::Key(name.to_owned())]);
        }
    }
    None
}

fn remove(table: &mut Table, path: &[Step]) -> bool {
    let Some((Step::Key(name), rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(name).is_some();
    }
    match (table.get_mut(name), &rest[0]) {
        (Some(Item::ArrayOfTables(array)), Step::Index(index)) if rest.len() == 1 => {
            *index < array.len() && {
                array.remove(*index);
                true
            }
        }
        (Some(Item::ArrayOfTables(array)), Step::Index(index)) => array
            .get_mut(*index)
            .is_some_and(|inner| remove(inner, &rest[1..])),
        (Some(Item::Table(inner)), _) => remove(inner, rest),
        (Some(Item::Value(Value::InlineTable(inner))), Step::Key(key)) if rest.len() == 1 => {
            inner.remove(key).is_some()
        }
        _ => false,
    }
}

/// `auth.proxy.trusted_proxies`, `oauth.clients[1].scopes`.
pub fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(name) if out.is_empty() => out.push_str(name),
            Step::Key(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// What to write instead, from what serde says it expected.
fn fix_for(err: &toml::de::Error) -> String {
    let message = err.message();
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'));
    if let Some((name, rest)) = unknown {
        let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let nearest = expected
            .iter()
            .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        return match nearest {
            Some((_, candidate)) => format!("did you mean `{candidate}`?"),
            None if expected.is_empty() => "remove it".to_owned(),
            None => format!("remove it, or use one of: {}", expected.join(", ")),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((_, expected)) = rest.split_once("expected ")
    {
        return format!("write one of {expected}");
    }
    if message.starts_with("missing field") {
        return "add it: see the commented example configuration".to_owned();
    }
    "correct the value: see the commented example configuration".to_owned()
}
