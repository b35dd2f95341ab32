//! Opaque, signed page tokens for keyset pagination.
//!
//! A token names the last row of the previous page (its sort key and ID) and the query it belongs
//! to. It is signed with a key kept in the database, so a token survives a restart, and one that
//! was altered, or reused with a different query, is refused instead of silently skipping people.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directory::{DirectoryError, ListQuery};

type HmacSha256 = Hmac<Sha256>;

/// Where the next page starts: after this row, in this query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fingerprint of the query (filters, text and order), not of the page size.
    #[serde(rename = "q")]
    pub query: String,
    /// The sort key of the last row.
    #[serde(rename = "k")]
    pub key: String,
    /// The ID of the last row.
    #[serde(rename = "i")]
    pub id: String,
}

pub struct PageTokens {
    key: Vec<u8>,
}

const TAMPERED: &str = "page_token is not valid: it was altered or does not come from this server; \
     start again without page_token";

impl PageTokens {
    pub fn new(key: Vec<u8>) -> Self {
        PageTokens { key }
    }

    /// What a query's tokens must carry: changing any filter or the order invalidates them.
    pub fn fingerprint(query: &ListQuery) -> String {
        let mut text = format!(
            "{:?}|{:?}|{:?}|{}",
            query.filter, query.state, query.text, query.order
        );
        if query.api_states {
            text.push_str("|api");
        }
        let digest = Sha256::digest(text.as_bytes());
        BASE64URL_NOPAD.encode(&digest[..12])
    }

    pub fn issue(&self, cursor: &Cursor) -> String {
        let payload =
            BASE64URL_NOPAD.encode(&serde_json::to_vec(cursor).expect("cursor serialises"));
        let signature = BASE64URL_NOPAD.encode(&self.mac(payload.as_bytes()));
        format!("{payload}.{signature}")
    }

    /// The cursor of a token issued for this query.
    pub fn open(&self, token: &str, query: &ListQuery) -> Result<Cursor, DirectoryError> {
        let invalid = || DirectoryError::InvalidArgument(TAMPERED.into());
        let (payload, signature) = token.split_once('.').ok_or_else(invalid)?;
        let signature = BASE64URL_NOPAD
            .decode(signature.as_bytes())
            .map_err(|_| invalid())?;
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let bytes = BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.query != Self::fingerprint(query) {
            return Err(DirectoryError::InvalidArgument(
                "page_token belongs to a different query: filter, state, q or order_by changed \
                 since it was issued; start again without page_token"
                    .into(),
            ));
        }
        Ok(cursor)
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(query: &ListQuery) -> Cursor {
        Cursor {
            query: PageTokens::fingerprint(query),
            key: "ann".into(),
            id: "IR7VJHJ36JHINBFAD7V2T5MP3E".into(),
        }
    }

    #[test]
    fn a_token_opens_for_its_own_query() {
        let tokens = PageTokens::new(b"secret".to_vec());
        let query = ListQuery::default();
        let token = tokens.issue(&cursor(&query));
        assert_eq!(tokens.open(&token, &query).unwrap(), cursor(&query));
    }

    #[test]
    fn an_altered_token_is_refused() {
        let tokens = PageTokens::new(b"secret".to_vec());
        let query = ListQuery::default();
        let token = tokens.issue(&cursor(&query));
        let forged_payload = BASE64URL_NOPAD.encode(br#"{"q":"x","k":"zzz","i":"A"}"#);
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{forged_payload}.{signature}");
        assert!(matches!(
            tokens.open(&forged, &query),
            Err(DirectoryError::InvalidArgument(_))
        ));
        assert!(tokens.open("garbage", &query).is_err());
        // Signed by another server.
        let other = PageTokens::new(b"other".to_vec()).issue(&cursor(&query));
        assert!(tokens.open(&other, &query).is_err());
    }

    #[test]
    fn a_token_from_another_query_is_refused() {
        let tokens = PageTokens::new(b"secret".to_vec());
        let query = ListQuery::default();
        let token = tokens.issue(&cursor(&query));
        let other_query = ListQuery {
            text: Some("bob".into()),
            ..ListQuery::default()
        };
        let err = tokens.open(&token, &other_query).unwrap_err();
        assert!(err.to_string().contains("different query"), "{err}");
    }
}
