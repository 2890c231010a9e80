//! HTTPS on loopback: a TLS-terminating relay in front of the sandbox, with a self-signed
//! certificate made for this run. Real WeChat is only reachable over TLS, so the HTTPS rows
//! put every client through a handshake and record encryption, as in production.
//!
//! The relay runs as its own process (`bench-client tls-relay`) pinned beside the sandbox,
//! so the clients' CPU accounting holds only their own side of TLS. Each accepted TLS
//! connection gets one plain TCP connection to the sandbox, so keep-alive on the client's
//! side is keep-alive all the way through.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The names the certificate is valid for: clients connect to `127.0.0.1` (an IP SAN), so
/// no resolver decides between `::1` and `127.0.0.1` for them.
pub const CERT_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A fresh self-signed certificate for [`CERT_NAMES`]: the rustls server config, and the
/// certificate in PEM (what clients are told to trust).
pub fn self_signed() -> anyhow::Result<(rustls::ServerConfig, String)> {
    let certified = rcgen::generate_simple_self_signed(CERT_NAMES.map(str::to_owned).to_vec())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, certified.cert.pem()))
}

/// Binds 127.0.0.1 on a free port, writes the certificate's PEM to `cert_out`, and returns
/// the listener and the acceptor; [`relay`] then serves it.
pub async fn bind(cert_out: &Path) -> anyhow::Result<(TcpListener, TlsAcceptor)> {
    let (config, pem) = self_signed()?;
    std::fs::write(cert_out, pem).with_context(|| format!("writing {}", cert_out.display()))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok((listener, TlsAcceptor::from(Arc::new(config))))
}

/// Accepts TLS connections on `listener` and relays each, decrypted, to `target`; runs
/// until the process ends.
pub async fn relay(listener: TcpListener, acceptor: TlsAcceptor, target: SocketAddr) {
    while let Ok((inbound, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            // A refused handshake is the client's doing; there is nothing to relay then.
            let Ok(mut tls) = acceptor.accept(inbound).await else {
                return;
            };
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
            }
        });
    }
}

/// A running relay process (`bench-client tls-relay`), pinned beside the sandbox.
#[derive(Debug)]
pub struct TlsRelay {
    url: String,
    cert: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl TlsRelay {
    /// Starts the relay in front of the sandbox at `sandbox_url` (`http://127.0.0.1:PORT`),
    /// its certificate written to `cert`.
    pub async fn spawn(
        bench_client: &Path,
        pin: crate::procs::Pinning,
        sandbox_url: &str,
        cert: &Path,
    ) -> anyhow::Result<Self> {
        use tokio::io::AsyncBufReadExt as _;
        let target = sandbox_url
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let mut cmd = pin.command(crate::procs::Pinning::SERVER_CORE, bench_client);
        cmd.args(["tls-relay", "--target", target])
            .arg("--cert-out")
            .arg(cert)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawning the TLS relay")?;
        let stdout = child.stdout.take().context("relay stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .context("the TLS relay did not start within 30 s")??
            .context("the TLS relay exited before listening")?;
        let url = first
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line from the relay: {first:?}"))?
            .to_owned();
        Ok(TlsRelay {
            url,
            cert: cert.to_owned(),
            _child: child,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The certificate (PEM) to trust: `SSL_CERT_FILE` for Rust, `NODE_EXTRA_CA_CERTS` for node.
    pub fn cert(&self) -> &Path {
        &self.cert
    }
}
