//! `keydesk-server check-config`: read the configuration the way `serve` would, and say either
//! what Keydesk would run with (secrets redacted) or every problem at once, each with its line
//! and what to write instead. `--online` also asks 1Password, and `op`, whether they agree.

mod effective;
mod file;
mod online;
mod rules;

use std::fmt;

use crate::Config;

/// One thing that would stop Keydesk, or make it unsafe.
#[derive(Debug)]
pub struct Problem {
    pub line: Option<usize>,
    pub what: String,
    pub fix: Option<String>,
}

impl Problem {
    pub fn at(line: Option<usize>, what: impl Into<String>) -> Problem {
        Problem {
            line,
            what: what.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Problem {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.what)?,
            None => write!(f, "{}", self.what)?,
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n    write instead: {fix}")?;
        }
        Ok(())
    }
}

/// What a check found: problems fail it; notes are worth knowing and do not.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    /// The effective configuration, secrets redacted, when the file could be read.
    pub effective: Option<String>,
}

/// Check, print what was found, and say whether the configuration is fit to serve.
pub async fn run(config: &Config, online: bool) -> bool {
    let report = check(config, online).await;
    let source = config
        .settings_file
        .as_ref()
        .map_or("no configuration file (defaults)".to_owned(), |path| {
            path.display().to_string()
        });
    if let Some(effective) = &report.effective
        && report.problems.is_empty()
    {
        println!("# The configuration Keydesk would run with ({source}), secrets redacted\n");
        println!("{effective}");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.problems.is_empty() {
        println!("configuration OK: {source}");
        return true;
    }
    let count = report.problems.len();
    let plural = if count == 1 { "" } else { "s" };
    println!("{source}: {count} problem{plural}");
    for problem in &report.problems {
        println!("- {problem}");
    }
    false
}

pub async fn check(config: &Config, online: bool) -> Report {
    let mut report = Report::default();
    let text = match &config.settings_file {
        None => String::new(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => {
                report.problems.push(
                    Problem::at(None, format!("cannot read {}: {err}", path.display()))
                        .fix("the path of a readable keydesk.toml (KEYDESK_CONFIG or --config)"),
                );
                return report;
            }
        },
    };
    let (settings, problems) = file::read(&text);
    report.problems.extend(problems);
    let Some(settings) = settings else {
        return report;
    };
    let lines = Lines::new(&text);
    report
        .problems
        .extend(rules::check(config, &settings, &lines));
    if online {
        online::check(&settings, &lines, &mut report).await;
    }
    // In the order of the file, as an operator reads it; what has no line, last.
    report
        .problems
        .sort_by_key(|problem| problem.line.unwrap_or(usize::MAX));
    report.effective = Some(effective::render(config, &settings));
    report
}

/// Where a key is in the file, for problems found after reading it.
pub struct Lines<'a> {
    text: &'a str,
    document: Option<toml_edit::Document<&'a str>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            text,
            document: toml_edit::Document::parse(text).ok(),
        }
    }

    /// The line of `auth.proxy.trusted_proxies`, or of the nearest table that is written.
    pub fn of(&self, dotted: &str) -> Option<usize> {
        let document = self.document.as_ref()?;
        let mut path: Vec<file::Step> = dotted
            .split('.')
            .map(|key| file::Step::Key(key.to_owned()))
            .collect();
        while !path.is_empty() {
            if let Some(span) = file::span_of(document.as_table(), &path) {
                return Some(file::line_of(self.text, span.start));
            }
            path.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests;
