//! HTTPS through the SDK's built-in client: a TLS-terminating relay in front of the
//! sandbox, with a self-signed certificate for `localhost`. Trusted through
//! `SSL_CERT_FILE` (read by the platform verifier on Linux) the exchange goes through;
//! untrusted, it is refused before any request reaches WeChat.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::support::World;

/// A TLS relay to the sandbox on `https://localhost:PORT/`; returns the base URL and the
/// certificate (PEM).
async fn tls_relay(world: &World) -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = world.sandbox_addr();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                // A refused handshake is the client's doing; nothing to relay then.
                let Ok(mut tls) = acceptor.accept(inbound).await else {
                    return;
                };
                if let Ok(mut outbound) = TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                }
            });
        }
    });
    (format!("https://localhost:{port}/"), cert_pem)
}

#[tokio::test]
async fn exchange_goes_through_https_when_the_certificate_is_trusted() {
    let world = World::new().await;
    let (base, cert) = tls_relay(&world).await;
    let ca_file = world.dir.path().join("ca.pem");
    std::fs::write(&ca_file, cert).unwrap();

    let env = [
        ("WECHAT_API_BASE", Some(base.as_str())),
        ("SSL_CERT_FILE", ca_file.to_str()),
        ("SSL_CERT_DIR", None),
    ];
    let token = world.exchange_with_env("alice", &env).await.0.json();

    assert_eq!(token["openid"], world.openid("alice"));
    assert_eq!(world.hits("/sns/oauth2/access_token"), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_anything_is_sent() {
    let world = World::new().await;
    let (base, _cert) = tls_relay(&world).await;

    let env = [
        ("WECHAT_API_BASE", Some(base.as_str())),
        ("SSL_CERT_FILE", None),
        ("SSL_CERT_DIR", None),
    ];
    let (failed, code) = world.exchange_with_env("alice", &env).await;

    failed.assert_failed_with(5);
    assert!(failed.mentions("certificate"), "{failed:#?}");
    assert!(!failed.mentions(&code), "{failed:#?}");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 0);
}
