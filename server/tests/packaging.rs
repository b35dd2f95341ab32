//! The Debian package's example configuration (`server/debian/keydesk.toml`, installed as
//! `/etc/keydesk/keydesk.toml`): as shipped it changes nothing, every key it names is one Keydesk
//! reads, and every value it states is the true default, unless it is an example of a setting
//! that has none. The package itself is tested by `tests/package/run`.

use keydesk_server::settings::Settings;

const EXAMPLE: &str = include_str!("../debian/keydesk.toml");

/// Settings whose value in the example is an example, not a default: they have none.
const EXAMPLES: &[&str] = &[
    "secret_header",
    "secret_file",
    "client_secret_file",
    "admin_console_url",
    "env",
    "pass_env",
    "account",
    "password_file",
    "ticket_pattern",
    "ticket_url",
    "keep",
    "anchor_file",
];

/// The example with every setting uncommented: in the file, prose is `# Text`, a setting
/// `#key = value` or `#[section]`, a continued array `#  "item",`.
fn uncommented() -> Vec<String> {
    EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if !is_prose(rest) => rest.to_owned(),
            _ => line.to_owned(),
        })
        .collect()
}

/// After `#`: one space, then words.
fn is_prose(rest: &str) -> bool {
    rest.strip_prefix(' ')
        .is_some_and(|after| !after.starts_with(' '))
}

fn parse(lines: &[String]) -> Result<Settings, toml::de::Error> {
    toml::from_str(&lines.join("\n"))
}

/// Each setting: its key and the lines it spans (an array may go on over several).
fn statements(lines: &[String]) -> Vec<(String, std::ops::Range<usize>)> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let line = &lines[at];
        let start = at;
        at += 1;
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if key.starts_with('#') || key.starts_with('[') {
            continue;
        }
        if value.trim_end().ends_with('[') {
            while at < lines.len() && lines[at].trim() != "]" {
                at += 1;
            }
            at += 1;
        }
        found.push((key.trim().to_owned(), start..at));
    }
    found
}

#[test]
fn the_example_configuration_as_shipped_is_the_defaults() {
    let shipped: Settings = toml::from_str(EXAMPLE).unwrap();
    assert_eq!(format!("{shipped:?}"), format!("{:?}", Settings::default()));
}

#[test]
fn every_setting_in_the_example_configuration_is_read_with_its_true_default() {
    let lines = uncommented();
    let all = parse(&lines).unwrap_or_else(|err| panic!("the example, uncommented: {err}"));
    let statements = statements(&lines);
    assert!(statements.len() > 40, "{statements:?}");
    for (key, range) in statements {
        let mut without = lines.clone();
        without.drain(range);
        match parse(&without) {
            // A setting that must be given when its section is.
            Err(_) => {}
            Ok(settings) if EXAMPLES.contains(&key.as_str()) => {
                assert_ne!(format!("{settings:?}"), format!("{all:?}"), "{key}");
            }
            Ok(settings) => assert_eq!(
                format!("{settings:?}"),
                format!("{all:?}"),
                "the example gives {key} a value other than its default"
            ),
        }
    }
}
