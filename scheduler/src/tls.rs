//! TLS client settings shared by every connection the worker makes (FTPS, the SMT API over
//! HTTPS): rustls on ring, the server verified against a configured CA file or the system's
//! roots, an optional client certificate, and an explicit, logged way to skip verification.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What a connection's TLS needs from the worker's configuration.
#[derive(Debug, Clone, Copy)]
pub struct TlsSettings<'a> {
    /// What is connected to, for the log (`FTPS`, `SMT API`).
    pub what: &'a str,
    /// Host name, for the log.
    pub server: &'a str,
    /// PEM file of the CA(s) the server certificate must chain to; `None`: the system's roots.
    pub ca_file: Option<&'a Path>,
    /// PEM certificate (chain) presented to the server; needs `client_key`.
    pub client_cert: Option<&'a Path>,
    pub client_key: Option<&'a Path>,
    /// Accept any server certificate. Only for tests and emergencies; logged at warn.
    pub insecure_skip_verify: bool,
}

/// A TLS client configuration on ring: the server verified against `ca_file` (else the system's
/// roots) unless `insecure_skip_verify` (logged at warn), with the client certificate if given.
pub fn client_config(config: &TlsSettings<'_>) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if config.insecure_skip_verify {
        tracing::warn!(
            server = %config.server,
            "insecure_skip_verify is set: the {} server certificate is NOT verified",
            config.what
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
    } else {
        builder.with_root_certificates(root_store(config.ca_file)?)
    };
    let tls = match (config.client_cert, config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("reading client certificate {}", cert.display()))?;
            if chain.is_empty() {
                bail!("no certificate in {}", cert.display());
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("reading client key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("client certificate and key do not match")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("client_cert and client_key must be given together"),
    };
    Ok(tls)
}

fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("reading CA file {}", path.display()))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                bail!("no usable CA certificate in {}", path.display());
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "loading system CA certificates");
            }
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                bail!("no CA file configured and no system CA certificates found");
            }
        }
    }
    Ok(roots)
}

/// The verifier behind `insecure_skip_verify`: any certificate, but handshake signatures are
/// still checked (against whatever key the server presents).
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
