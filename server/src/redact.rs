//! How secrets appear when a configuration is shown (`check-config`): never. Settings that hold
//! one name these in `serialize_with`, so no way of printing them can forget.

use std::collections::BTreeMap;

use serde::Serializer;

pub const REDACTED: &str = "(redacted)";

pub fn redacted<S: Serializer, T>(_: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

/// A map of variables whose names are shown and whose values are not.
pub fn redacted_values<S: Serializer>(
    map: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.keys().map(|name| (name, REDACTED)))
}

/// `smtps://user:password@host` → `smtps://user:(redacted)@host`.
pub fn url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:{REDACTED}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            super::url_password("smtps://ops:s3cret@mail.example.com:465/x"),
            "smtps://ops:(redacted)@mail.example.com:465/x"
        );
        assert_eq!(
            super::url_password("smtp://mail.internal:25"),
            "smtp://mail.internal:25"
        );
    }
}
