//! The outbox as the SMTP delivery loop sees it.

use std::sync::Arc;

use rusqlite::params;

use super::{SqliteDirectory, users::now};
use crate::directory::DirectoryError;

/// One email waiting for SMTP delivery.
pub struct QueuedMail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The outbox as the SMTP delivery loop sees it.
impl SqliteDirectory {
    /// Wakes when an email is queued.
    pub fn mail_queued(&self) -> Arc<tokio::sync::Notify> {
        self.mail_queued.clone()
    }

    pub async fn undelivered_mail(&self) -> Result<Vec<QueuedMail>, DirectoryError> {
        self.run(|conn, _| {
            let mut statement = conn.prepare_cached(
                "SELECT id, to_address, subject, body FROM outbox WHERE sent_time IS NULL
                 ORDER BY id LIMIT 50",
            )?;
            let mail = statement
                .query_map([], |row| {
                    Ok(QueuedMail {
                        id: row.get(0)?,
                        to: row.get(1)?,
                        subject: row.get(2)?,
                        body: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(mail)
        })
        .await
    }

    /// Delivered: the body and link, which hold a live recovery link, are not kept.
    pub async fn mark_delivered(&self, id: i64) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE outbox SET sent_time = ?1, body = '', link = NULL, last_error = NULL
                 WHERE id = ?2",
                params![now(), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_failed(&self, id: i64, error: String) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE outbox SET last_error = ?1 WHERE id = ?2",
                params![error, id],
            )?;
            Ok(())
        })
        .await
    }
}
