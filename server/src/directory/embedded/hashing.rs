//! Argon2id hashing for the public recovery-accept route, with a memory ceiling.
//!
//! Each hash needs 19 MiB of working memory. Done on tokio's blocking threads, 50 people (or one
//! attacker) accepting at once took 1.5 GB, and glibc kept most of it after the load ended (each
//! thread's arena held on to what it freed; `main` now has such large blocks returned at once).
//! Here a fixed set of threads, one per core, does all the hashing: it never holds more than
//! `cores × 19 MiB`. A short queue absorbs bursts; beyond it, or when a hash has waited too long,
//! the caller is told to try again.

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::Duration,
};

use argon2::{Argon2, PasswordHasher, password_hash::SaltString};
use tokio::sync::oneshot;

use crate::directory::DirectoryError;

/// Hashes waiting beyond the ones being computed: a burst of about a hundred accepts waits its
/// turn (a few seconds on two cores) rather than being turned away.
const QUEUE: usize = 256;
/// How long a caller waits for its hash before being told to try again.
const WAIT: Duration = Duration::from_secs(10);

struct Job {
    secret: String,
    reply: oneshot::Sender<Result<String, DirectoryError>>,
}

pub struct Hasher {
    jobs: SyncSender<Job>,
}

impl Hasher {
    /// One thread per core; each ends when the hasher is dropped.
    pub fn start() -> Hasher {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        for n in 0..cores {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("keydesk-argon2-{n}"))
                .spawn(move || work(&queue));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a hashing thread");
            }
        }
        Hasher { jobs }
    }

    /// The PHC string of `secret` hashed with Argon2id and a fresh salt.
    pub async fn hash(&self, secret: String) -> Result<String, DirectoryError> {
        let busy = || DirectoryError::Upstream {
            message: "Keydesk is busy setting other people's passwords; try again in a moment"
                .into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { secret, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(busy()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(DirectoryError::Internal(
                    "the hashing threads stopped".into(),
                ));
            }
        }
        match tokio::time::timeout(WAIT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DirectoryError::Internal("a hashing thread stopped".into())),
            Err(_) => Err(busy()),
        }
    }
}

/// One hashing thread: Argon2id with its default parameters (19 MiB, 2 passes), a fresh salt.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock().expect("not poisoned").recv() {
            Ok(job) => job,
            Err(_) => return, // the hasher is gone
        };
        // A caller that gave up does not need its hash.
        if job.reply.is_closed() {
            continue;
        }
        let hashed = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(job.secret.as_bytes(), &salt)
                    .map(|hash| hash.to_string())
            })
            .map_err(|err| DirectoryError::Internal(format!("hashing: {err}")));
        let _ = job.reply.send(hashed);
    }
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHash, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hashes_verify_as_argon2id_phc_strings() {
        let hasher = Hasher::start();
        let hash = hasher
            .hash("correct horse battery staple".into())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        let again = hasher
            .hash("correct horse battery staple".into())
            .await
            .unwrap();
        assert_ne!(again, hash, "a fresh salt each time");
    }
}
