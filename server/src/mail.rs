//! Delivering queued emails by SMTP. Emails are queued in the embedded directory's outbox in the
//! same transaction as the change they announce; this loop only carries them out, so a mail
//! server that is down delays an email but never undoes or half-applies a change.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox,
    message::header::ContentType,
};

use crate::directory::embedded::SqliteDirectory;

/// How often undelivered mail is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// Check the SMTP settings now, then deliver in the background for as long as the server runs.
pub fn spawn_delivery(
    directory: Arc<SqliteDirectory>,
    smtp_url: &str,
    from: &str,
) -> anyhow::Result<()> {
    let from: Mailbox = from
        .parse()
        .with_context(|| format!("KEYDESK_MAIL_FROM '{from}' is not an address"))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
        .context("KEYDESK_SMTP_URL is not a valid smtp:// or smtps:// URL")?
        .timeout(Some(Duration::from_secs(15)))
        .build();
    tokio::spawn(async move {
        let queued = directory.mail_queued();
        loop {
            deliver_pending(&directory, &transport, &from).await;
            tokio::select! {
                () = queued.notified() => {}
                () = tokio::time::sleep(RETRY_EVERY) => {}
            }
        }
    });
    Ok(())
}

async fn deliver_pending(
    directory: &SqliteDirectory,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
) {
    let mail = match directory.undelivered_mail().await {
        Ok(mail) => mail,
        Err(err) => {
            tracing::warn!(%err, "reading the outbox");
            return;
        }
    };
    for mail in mail {
        let message = mail
            .to
            .parse::<Mailbox>()
            .map_err(|err| err.to_string())
            .and_then(|to| {
                Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&mail.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.body.clone())
                    .map_err(|err| err.to_string())
            });
        let outcome = match message {
            Ok(message) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string()),
            Err(err) => Err(err),
        };
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(to = ?mail.to, "email delivered");
                directory.mark_delivered(mail.id).await
            }
            Err(err) => {
                tracing::warn!(to = ?mail.to, %err, "email not delivered; will try again");
                directory.mark_failed(mail.id, err).await
            }
        };
        if let Err(err) = recorded {
            tracing::warn!(%err, "recording an email's delivery");
        }
    }
}
