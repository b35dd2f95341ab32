//! The real binary beside a 1Password account, killed with SIGKILL at random moments while
//! admins change people through it and others change people in "the admin console" (the cloud
//! itself). Whatever the moment, once Keydesk has read the account again, replaying its audit
//! trail (the changes it made, and those it saw made elsewhere) from the first reading gives
//! every person's state in 1Password.

use std::time::Duration;

use rand::Rng;

use super::{OP_PASSWORD, Setup, eventually, start_cloud, upstream_settings};
use crate::common::{
    OAUTH_SECRET,
    process::{self, Process, churn, differences, replay, states},
};

const NO_LIMITS: &str = "[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n";

/// How many kills: 8 by default, `KEYDESK_FAULT_KILLS` for more or fewer.
fn kills() -> u32 {
    std::env::var("KEYDESK_FAULT_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_the_trail_still_replays_to_1passwords_states() {
    let setup = Setup {
        cloud_settings: NO_LIMITS,
        ..Setup::default().set("refresh_interval", "\"1s\"")
    };
    let (cloud, proxy) = start_cloud(&setup).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("client-secret", OAUTH_SECRET),
        ("password", OP_PASSWORD),
        ("op-password", OP_PASSWORD),
    ] {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let settings = format!(
        "{}\n{}",
        process::SETTINGS,
        upstream_settings(&cloud, &proxy.url(), &setup)
    );
    let cloud_db = cloud.config.database_path();
    // What Keydesk's first reading finds: nothing changes before it is done.
    let first = states(&cloud_db);
    let trail = dir.path().join("data/audit.db");
    let start = || Process::start_with(dir.path(), &settings, &[], None);
    let read = async |keydesk: &Process| {
        let users = process::users_url(&keydesk.url);
        eventually("a reading", Duration::from_secs(15), async || {
            let answer = reqwest::get(&users).await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
    };
    read(&start()).await;

    let mut answers = 0;
    for _ in 0..kills() {
        let keydesk = start();
        read(&keydesk).await;
        let through_keydesk = tokio::spawn(churn(keydesk.url.clone(), 2, Duration::from_secs(4)));
        let in_the_console = tokio::spawn(churn(cloud.url(""), 1, Duration::from_secs(4)));
        let after = Duration::from_millis(rand::rng().random_range(100..2500));
        tokio::time::sleep(after).await;
        keydesk.kill();
        answers += through_keydesk.await.unwrap().count(200);
        in_the_console.await.unwrap();
    }
    assert!(answers > 0, "nothing was changed through Keydesk");

    // Once it has read the account again and settled what it could not know.
    let keydesk = start();
    let outcome = eventually("the trail replays", Duration::from_secs(30), async || {
        let (expected, replayed) = replay(&trail, &first);
        differences(&states(&cloud_db), &expected)
            .is_empty()
            .then_some(replayed)
    })
    .await;
    keydesk.stop();
    let (expected, replayed) = replay(&trail, &first);
    assert!(
        differences(&states(&cloud_db), &expected).is_empty(),
        "{:#?}",
        differences(&states(&cloud_db), &expected)
    );
    let observed = process::records(&trail)
        .iter()
        .filter(|r| r.outcome == "observed")
        .count();
    eprintln!(
        "{} kills: {answers} changes through Keydesk, {replayed} replayed ({observed} seen in 1Password), settled after {outcome} replayed",
        kills()
    );
    assert!(observed > 0, "nothing was seen changed in the console");
}
