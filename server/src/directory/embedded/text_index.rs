//! Everyone's folded search text in memory, with an index of every three-byte sequence in it.
//!
//! `q` lists the people whose search text contains the folded query. A text that contains the
//! query contains each of the query's three-byte sequences, so the people holding the query's
//! rarest sequence are the only ones worth testing, and testing one is a `memmem` over about
//! 50 bytes already in memory. Bytes rather than characters: UTF-8 is self-synchronising, so a
//! byte substring of one valid text in another is a character substring too, and a one-character
//! query in a three-byte script ("山") gets an index of its own.
//!
//! This replaced an SQLite FTS5 trigram table. FTS5 answered the same question from the database
//! file, and at 100,000 people a common name cost about 1.5 ms per search in reading postings;
//! here it costs a few microseconds, for about 25 MB of memory at 100,000 people.

use std::collections::HashMap;

use memchr::memmem::Finder;
use rusqlite::Connection;

use crate::directory::DirectoryError;

/// The texts and their index, as of one version of the users' search texts.
pub struct TextIndex {
    pub version: i64,
    /// Every text, one after another in rowid order.
    text: Vec<u8>,
    /// Rowid `r`'s text is `text[starts[r]..starts[r + 1]]`: empty for a rowid nobody has.
    starts: Vec<usize>,
    /// Each three-byte sequence's number: its rowids are
    /// `postings[posting_starts[n]..posting_starts[n + 1]]`, ascending.
    sequences: HashMap<u32, u32, foldhash::fast::RandomState>,
    posting_starts: Vec<usize>,
    postings: Vec<u32>,
}

impl TextIndex {
    /// Read every search text (about 0.4 s at 100,000 people, most of it indexing).
    pub fn read(conn: &Connection, version: i64) -> Result<TextIndex, DirectoryError> {
        let mut statement = conn.prepare("SELECT rowid, search_key FROM users ORDER BY rowid")?;
        let mut rows = statement.query([])?;
        let mut builder = Builder::default();
        while let Some(row) = rows.next()? {
            let rowid = u32::try_from(row.get::<_, i64>(0)?)
                .map_err(|_| DirectoryError::Internal("a rowid beyond 2^32".to_owned()))?;
            let text = row.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
            builder.add(rowid, text);
        }
        Ok(builder.finish(version))
    }

    /// Who might contain `needle`: those holding its rarest three-byte sequence. `None` for a
    /// needle shorter than three bytes, which anyone might contain.
    pub fn candidates(&self, needle: &[u8]) -> Option<&[u32]> {
        needle
            .windows(3)
            .map(|sequence| match self.sequences.get(&key(sequence)) {
                Some(&number) => {
                    let number = number as usize;
                    &self.postings[self.posting_starts[number]..self.posting_starts[number + 1]]
                }
                None => &[],
            })
            .min_by_key(|rowids| rowids.len())
    }

    /// Whether rowid's text contains the needle `finder` looks for.
    pub fn contains(&self, rowid: i64, finder: &Finder) -> bool {
        let Ok(rowid) = usize::try_from(rowid) else {
            return false;
        };
        match (self.starts.get(rowid), self.starts.get(rowid + 1)) {
            (Some(&start), Some(&end)) => finder.find(&self.text[start..end]).is_some(),
            _ => false,
        }
    }
}

/// A three-byte sequence as a number, which hashes faster than the bytes.
fn key(sequence: &[u8]) -> u32 {
    u32::from_be_bytes([0, sequence[0], sequence[1], sequence[2]])
}

/// Builds the postings in two passes, counting then placing, because pushing onto one growing
/// list per sequence took a second at 100,000 people: every push landed somewhere else in
/// memory.
#[derive(Default)]
struct Builder {
    text: Vec<u8>,
    starts: Vec<usize>,
    sequences: HashMap<u32, u32, foldhash::fast::RandomState>,
    /// By sequence number: how many texts hold it, and the last rowid counted.
    counts: Vec<usize>,
    last_rowid: Vec<u32>,
    /// Each text's distinct sequence numbers, text after text, and where each text's end.
    held: Vec<u32>,
    texts: Vec<(u32, usize)>,
}

impl Builder {
    /// Rowids must come in ascending order.
    fn add(&mut self, rowid: u32, text: &[u8]) {
        // Rowids nobody has get empty texts.
        while self.starts.len() <= rowid as usize {
            self.starts.push(self.text.len());
        }
        self.text.extend_from_slice(text);
        for window in text.windows(3) {
            let next = self.sequences.len() as u32;
            let number = *self.sequences.entry(key(window)).or_insert(next) as usize;
            if number == self.counts.len() {
                self.counts.push(0);
                self.last_rowid.push(u32::MAX);
            }
            if self.last_rowid[number] != rowid {
                self.last_rowid[number] = rowid;
                self.counts[number] += 1;
                self.held.push(number as u32);
            }
        }
        self.texts.push((rowid, self.held.len()));
    }

    fn finish(mut self, version: i64) -> TextIndex {
        self.starts.push(self.text.len());
        let mut posting_starts = Vec::with_capacity(self.counts.len() + 1);
        let mut total = 0;
        for count in &self.counts {
            posting_starts.push(total);
            total += count;
        }
        posting_starts.push(total);
        let mut next = posting_starts.clone();
        let mut postings = vec![0; total];
        let mut from = 0;
        for (rowid, end) in self.texts {
            for &number in &self.held[from..end] {
                postings[next[number as usize]] = rowid;
                next[number as usize] += 1;
            }
            from = end;
        }
        TextIndex {
            version,
            text: self.text,
            starts: self.starts,
            sequences: self.sequences,
            posting_starts,
            postings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(texts: &[(u32, &str)]) -> TextIndex {
        let mut builder = Builder::default();
        for (rowid, text) in texts {
            builder.add(*rowid, text.as_bytes());
        }
        builder.finish(1)
    }

    /// Who contains `needle`, through the index, as every list of `q` finds them.
    fn search(index: &TextIndex, needle: &str) -> Vec<i64> {
        let finder = Finder::new(needle.as_bytes());
        let everyone: Vec<u32> = (0..index.starts.len() as u32 - 1).collect();
        let candidates = index.candidates(needle.as_bytes()).unwrap_or(&everyone);
        candidates
            .iter()
            .map(|&rowid| rowid as i64)
            .filter(|&rowid| index.contains(rowid, &finder))
            .collect()
    }

    #[test]
    fn finds_exactly_the_texts_containing_the_needle() {
        let texts = [
            (1, "zoe lefevre\nzoe.lefevre@example.com"),
            (2, "山田 太郎\nyamada@example.com"),
            (5, "ada abara\nada.abara.0@example.com"),
            (6, "lefe\nl@example.com"),
        ];
        let index = index(&texts);
        for needle in [
            "lefevre",
            "lef",
            "zoe",
            "e",
            "ev",
            "山",
            "田 太",
            "@example.com",
            "a.0@",
            "\n",
            "efe\nl",
            "nobody",
            "zoe lefevre\nzoe.lefevre@example.com",
        ] {
            let expected: Vec<i64> = texts
                .iter()
                .filter(|(_, text)| text.contains(needle))
                .map(|(rowid, _)| *rowid as i64)
                .collect();
            assert_eq!(search(&index, needle), expected, "{needle:?}");
        }
    }

    #[test]
    fn rowids_nobody_has_contain_nothing() {
        let index = index(&[(3, "abc"), (7, "abcd")]);
        let finder = Finder::new(b"a");
        assert!(!index.contains(0, &finder));
        assert!(!index.contains(4, &finder));
        assert!(index.contains(3, &Finder::new(b"bc")));
        assert!(!index.contains(8, &finder));
        assert!(!index.contains(-1, &finder));
        assert_eq!(index.candidates(b"bcd"), Some(&[7][..]));
        assert_eq!(index.candidates(b"zzz"), Some(&[][..]));
        assert_eq!(index.candidates(b"ab"), None);
    }
}
