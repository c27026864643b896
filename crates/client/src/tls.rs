//! TLS for `https://` and `wss://` (the `rustls` feature): rustls on ring with the webpki
//! roots, handed to reqwest and tungstenite explicitly. reqwest built with
//! `rustls-no-provider` (as some dependency trees build it) otherwise panics when it picks a
//! crypto provider itself; an explicit configuration never asks.

use crate::ClientError;

/// A `reqwest` builder with this crate's TLS (none without the `rustls` feature).
pub(crate) fn http_client_builder() -> Result<reqwest::ClientBuilder, ClientError> {
    let builder = reqwest::Client::builder();
    #[cfg(feature = "rustls")]
    let builder = builder.tls_backend_preconfigured((*rustls::config()?).clone());
    Ok(builder)
}

/// The WebSocket connector matching [`http_client_builder`].
pub(crate) fn ws_connector() -> Result<Option<tokio_tungstenite::Connector>, ClientError> {
    #[cfg(feature = "rustls")]
    return Ok(Some(
        tokio_tungstenite::Connector::Rustls(rustls::config()?),
    ));
    #[cfg(not(feature = "rustls"))]
    Ok(None)
}

#[cfg(feature = "rustls")]
mod rustls {
    use std::sync::{Arc, OnceLock};

    use ::rustls::{ClientConfig, RootCertStore};

    use crate::ClientError;

    /// One configuration per process (building the root store is not free).
    pub(super) fn config() -> Result<Arc<ClientConfig>, ClientError> {
        static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let provider = Arc::new(::rustls::crypto::ring::default_provider());
                ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|builder| {
                        Arc::new(builder.with_root_certificates(roots).with_no_client_auth())
                    })
                    .map_err(|err| err.to_string())
            })
            .clone()
            .map_err(ClientError::Tls)
    }
}
