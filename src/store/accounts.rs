//! SIP accounts of agent extensions: provisioned with a password, stored only as digest HA1 values.

use super::{now_ms, Db, StoreError};

/// What the registrar needs to check a digest response; never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccount {
    pub extension: String,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub display_name: String,
    pub enabled: bool,
}

/// HA1 = H(username:realm:password) for MD5 and SHA-256 (RFC 7616 §3.4.2).
pub fn ha1(extension: &str, realm: &str, password: &str) -> (String, String) {
    use crate::sip::auth::{ha1, Algorithm};
    (
        ha1(Algorithm::Md5, extension, realm, password),
        ha1(Algorithm::Sha256, extension, realm, password),
    )
}

/// Creates or replaces the account of `extension`.
pub async fn upsert(
    db: &Db,
    extension: &str,
    realm: &str,
    password: &str,
    display_name: &str,
) -> Result<(), StoreError> {
    let (md5, sha) = ha1(extension, realm, password);
    sqlx::query(
        "INSERT INTO sip_accounts (extension, realm, ha1_md5, ha1_sha256, display_name, enabled, created_ms)
         VALUES ($1, $2, $3, $4, $5, 1, $6)
         ON CONFLICT (extension) DO UPDATE SET realm = excluded.realm, ha1_md5 = excluded.ha1_md5,
             ha1_sha256 = excluded.ha1_sha256, display_name = excluded.display_name",
    )
    .bind(extension)
    .bind(realm)
    .bind(md5)
    .bind(sha)
    .bind(display_name)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, extension: &str) -> Result<Option<SipAccount>, StoreError> {
    let row: Option<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT extension, realm, ha1_md5, ha1_sha256, display_name, enabled FROM sip_accounts WHERE extension = $1",
    )
    .bind(extension)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(
        |(extension, realm, ha1_md5, ha1_sha256, display_name, enabled)| SipAccount {
            extension,
            realm,
            ha1_md5,
            ha1_sha256,
            display_name,
            enabled: enabled != 0,
        },
    ))
}

/// Every account (the registrar keeps them in memory; a centre has hundreds, not millions).
pub async fn all(db: &Db) -> Result<Vec<SipAccount>, StoreError> {
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT extension, realm, ha1_md5, ha1_sha256, display_name, enabled FROM sip_accounts ORDER BY extension",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(extension, realm, ha1_md5, ha1_sha256, display_name, enabled)| SipAccount {
                extension,
                realm,
                ha1_md5,
                ha1_sha256,
                display_name,
                enabled: enabled != 0,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[test]
    fn ha1_matches_rfc_7616_example() {
        // RFC 7616 §3.9.1's user, realm and password; values from Python's hashlib.
        let (md5, sha) = ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(md5, "3d78807defe7de2157e2b0b6573a855f");
        assert_eq!(
            sha,
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
        // MD5("Mufasa:testrealm@host.com:Circle Of Life") from RFC 2617 §3.5.
        let (md5, _) = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(md5, "939e7578ed9e3c518a452acee763bce9");
    }

    async fn roundtrip(db: Db) {
        upsert(&db, "1001", "hotline.local", "pw", "坐席")
            .await
            .unwrap();
        upsert(&db, "1001", "hotline.local", "pw2", "坐席一")
            .await
            .unwrap();
        let a = get(&db, "1001").await.unwrap().expect("account");
        assert_eq!(a.ha1_md5, ha1("1001", "hotline.local", "pw2").0);
        assert_eq!(a.display_name, "坐席一");
        assert!(a.enabled);
        assert!(get(&db, "9999").await.unwrap().is_none());
        upsert(&db, "1002", "hotline.local", "pw", "")
            .await
            .unwrap();
        let every: Vec<String> = all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.extension)
            .collect();
        assert_eq!(every, vec!["1001".to_string(), "1002".to_string()]);
        let plain: Option<(String,)> = sqlx::query_as(
            "SELECT extension FROM sip_accounts WHERE ha1_md5 = 'pw2' OR ha1_sha256 = 'pw2'",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        assert!(plain.is_none(), "the password itself is never stored");
    }

    #[tokio::test]
    async fn accounts_on_sqlite() {
        roundtrip(testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn accounts_on_postgres() {
        if let Some(db) = testing::postgres("accounts").await {
            roundtrip(db).await;
        }
    }
}
