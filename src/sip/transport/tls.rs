//! TLS material: PEM certificate/key loading and the rustls server and client configs (ring backend).
//!
//! No built-in web PKI roots: the hosts run offline, so outbound TLS trusts only the CA files named in
//! the config (a carrier's CA, or our own).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("{path}: CA certificate rejected: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("TLS listener configured but {0} is not set")]
    Missing(&'static str),
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn open(path: &Path) -> Result<BufReader<File>, TlsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Every certificate in a PEM file, in file order (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: path.to_owned(),
        })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Explicit provider: does not depend on which rustls backends other crates switch on.
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server config for TLS listeners from PEM files. No client certificates are requested.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_from(load_certs(cert)?, load_key(key)?)
}

/// Server config from already-loaded DER material.
pub fn server_config_from(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(cfg))
}

/// Client config for outbound TLS that trusts exactly the certificates in `ca_files`.
pub fn client_config(ca_files: &[PathBuf]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for path in ca_files {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::BadCa {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    client_config_from(roots)
}

/// Client config from a prepared root store.
pub fn client_config_from(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
        let p = dir.path().join(name);
        let mut f = File::create(&p).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        p
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load_certs(Path::new("/nonexistent/cert.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn file_without_pem_blocks_is_an_error_not_an_empty_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "x.pem", "not a certificate\n");
        assert!(matches!(
            load_certs(&p),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(load_key(&p), Err(TlsError::NoKey { .. })));
    }

    #[test]
    fn empty_ca_list_gives_a_client_config_that_trusts_nothing() {
        let cfg = client_config(&[]).unwrap();
        assert!(cfg.alpn_protocols.is_empty());
    }
}
