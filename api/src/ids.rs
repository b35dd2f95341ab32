//! Identifiers: 26 characters of upper-case base32, as 1Password issues them.

use std::fmt;

use serde::{Deserialize, Serialize};

const ID_LEN: usize = 26;

/// Why a string is not an ID. The message names the problem so it can go straight to a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} ID: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn check_id(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let fail = |reason| {
        Err(InvalidId {
            kind,
            // Never echo back an unbounded string.
            value: value.chars().take(64).collect(),
            reason,
        })
    };
    if value.len() != ID_LEN {
        return fail("an ID is 26 characters long");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return fail("an ID uses only the letters A-Z and the digits 2-7");
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                check_id($kind, value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                check_id($kind, &value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// A user's ID, for example `IR7VJHJ36JHINBFAD7V2T5MP3E`.
    UserId,
    "user"
);
id_type!(
    /// An account's ID: the `{account_id}` in every Users API path.
    AccountId,
    "account"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_documented_id() {
        assert_eq!(
            UserId::parse("IR7VJHJ36JHINBFAD7V2T5MP3E")
                .unwrap()
                .as_str(),
            "IR7VJHJ36JHINBFAD7V2T5MP3E"
        );
    }

    #[test]
    fn refuses_wrong_length_and_alphabet() {
        let short = UserId::parse("ABC").unwrap_err();
        assert!(short.to_string().contains("26 characters"), "{short}");
        let lower = UserId::parse("ir7vjhj36jhinbfad7v2t5mp3e").unwrap_err();
        assert!(lower.to_string().contains("A-Z"), "{lower}");
        // 0, 1, 8 and 9 are not base32 digits.
        assert!(UserId::parse("IR7VJHJ36JHINBFAD7V2T5MP30").is_err());
    }

    #[test]
    fn deserialising_validates() {
        let bad: Result<UserId, _> = serde_json::from_str("\"nope\"");
        assert!(bad.is_err());
    }
}
