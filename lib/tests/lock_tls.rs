//! `rediss://`: the lock over TLS, against a `redis-server` with a certificate authority made
//! for the test.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use redmutex::testing::{RedisServer, free_port};
use redmutex::{Algorithm, Lock};

/// A CA and a server certificate it signed for 127.0.0.1, written into `dir`; answers the CA's
/// PEM.
fn make_certificates(dir: &Path) -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    ca.pem()
}

/// A server with a TLS port beside its plain one (the plain port is how the test harness sees
/// that it started). Answers the server, the TLS port and the CA's PEM.
fn tls_server(dir: &Path) -> (RedisServer, u16, String) {
    let ca = make_certificates(dir);
    let tls_port = free_port().unwrap();
    let file = |name: &str| dir.join(name).display().to_string();
    let server = RedisServer::builder()
        .arg("--tls-port")
        .arg(tls_port.to_string())
        .arg("--tls-cert-file")
        .arg(file("server.pem"))
        .arg("--tls-key-file")
        .arg(file("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(file("ca.pem"))
        .arg("--tls-auth-clients")
        .arg("no")
        .start()
        .expect("start redis-server with TLS (Debian's is built with it)");
    (server, tls_port, ca)
}

#[tokio::test]
async fn a_lock_over_rediss_acquires_and_releases_with_every_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls_port, ca) = tls_server(dir.path());
    let url = format!("rediss://127.0.0.1:{tls_port}");
    for algorithm in Algorithm::ALL {
        let builder = Lock::builder("tls").algorithm(algorithm).tls_root_ca(ca.clone());
        let lock = builder.clone().connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        let other = builder.connect(&url).await.unwrap();
        let guard = lock.acquire().await.unwrap();
        // A second client waits (notify blocks in BLPOP, on its own TLS connection) and gets
        // the lock when the first releases it.
        let waiting = tokio::spawn(async move { other.acquire().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(guard.release().await.unwrap().owned, "{algorithm}");
        let next = waiting.await.unwrap().unwrap();
        assert!(next.release().await.unwrap().owned, "{algorithm}");
    }
    drop(server);
}

/// Without the test's CA the server's certificate is not trusted: no silent fallback.
#[tokio::test]
async fn a_certificate_from_an_unknown_authority_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls_port, _ca) = tls_server(dir.path());
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let refused = Lock::builder("tls").connect(&url).await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    drop(server);
}
