//! The page built into the binary (`--features embed-page`): all of `dist/` as scripts/build
//! leaves it, precompressed twins included, read at compile time by rust-embed.

use super::memory::MemoryFile;

#[derive(rust_embed::Embed)]
#[folder = "../dist/"]
struct Dist;

pub fn get(name: &str) -> Option<MemoryFile> {
    Dist::get(name).map(|file| MemoryFile {
        sha256: file.metadata.sha256_hash(),
        data: file.data,
    })
}
