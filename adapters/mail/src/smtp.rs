//! [`SmtpMailer`]: the `Mailer` port over SMTP (lettre, rustls).

use std::time::Duration;

use application::ports::{Mail, MailError, Mailer};
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// What the SMTP mailer is built from.
#[derive(Debug)]
pub struct SmtpConfig {
    /// `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=required`,
    /// or (outside production) `smtp://localhost:2525`.
    pub url: SecretString,
    /// The sender, e.g. `Todo <no-reply@todo.example>`.
    pub from: String,
    /// Production refuses an SMTP URL without TLS.
    pub production: bool,
    /// Bound on one whole send (connect, TLS, dialogue).
    pub timeout: Duration,
    /// PEM CA certificates to trust *instead of* the Mozilla roots (a
    /// company relay's private CA, the tests' sink). Certificate and host
    /// name are verified either way.
    pub ca_pem: Option<Vec<u8>>,
}

/// Why the mail settings cannot be used; never holds the URL's secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpConfigError {
    #[error("mail.smtp_url is not a valid URL")]
    InvalidUrl,
    #[error("mail.smtp_url must be smtps://… or smtp://…?tls=required in production (plain smtp:// only outside production)")]
    PlainInProduction,
    #[error(
        "mail.smtp_url must use the smtp or smtps scheme, with tls=required or no tls parameter"
    )]
    UnsupportedScheme,
    #[error("mail.from is not a valid mailbox: {0}")]
    InvalidFrom(String),
    #[error("mail.smtp_ca_file: {0}")]
    InvalidCa(String),
    #[error(
        "mail.smtp_ca_file is set but mail.smtp_url is plain smtp://; use smtps:// or tls=required"
    )]
    CaWithoutTls,
}

/// How the URL secures the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    ImplicitTls,
    StartTls,
    Plain,
}

fn security_of(url: &Url) -> Result<Security, SmtpConfigError> {
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    match (url.scheme(), tls.as_deref()) {
        ("smtps", None) => Ok(Security::ImplicitTls),
        ("smtp", Some("required")) => Ok(Security::StartTls),
        ("smtp", None) => Ok(Security::Plain),
        _ => Err(SmtpConfigError::UnsupportedScheme),
    }
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Checks the settings under the production rule and builds the
    /// transport (no connection is opened until the first mail).
    ///
    /// # Errors
    /// A [`SmtpConfigError`] naming the setting at fault.
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpConfigError> {
        let url =
            Url::parse(config.url.expose_secret()).map_err(|_| SmtpConfigError::InvalidUrl)?;
        if url.host_str().is_none() {
            return Err(SmtpConfigError::InvalidUrl);
        }
        let security = security_of(&url)?;
        if security == Security::Plain && config.production {
            return Err(SmtpConfigError::PlainInProduction);
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                SmtpConfigError::InvalidFrom(e.to_string())
            })?;
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose_secret())
                .map_err(|_| SmtpConfigError::InvalidUrl)?
                .timeout(Some(config.timeout));
        if let Some(pem) = &config.ca_pem {
            let host = url.host_str().unwrap_or_default().to_owned();
            builder = match security {
                Security::ImplicitTls => {
                    builder.tls(Tls::Wrapper(private_ca_parameters(host, pem)?))
                }
                Security::StartTls => builder.tls(Tls::Required(private_ca_parameters(host, pem)?)),
                Security::Plain => return Err(SmtpConfigError::CaWithoutTls),
            };
        }
        let transport = builder.build();
        tracing::info!(
            host = url.host_str().unwrap_or("-"),
            port = url.port().unwrap_or(0),
            tls = ?security,
            private_ca = config.ca_pem.is_some(),
            "mail goes out over SMTP"
        );
        Ok(Self { transport, from })
    }
}

/// TLS parameters for `host` that trust only the CA certificates in `pem`
/// (at least one, each a valid trust anchor), verifying certificate and
/// host name as with the Mozilla roots.
fn private_ca_parameters(host: String, pem: &[u8]) -> Result<TlsParameters, SmtpConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| SmtpConfigError::InvalidCa(format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(SmtpConfigError::InvalidCa(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let mut builder = TlsParameters::builder(host).certificate_store(CertificateStore::None);
    for cert in certs {
        RootCertStore::empty().add(cert.clone()).map_err(|e| {
            SmtpConfigError::InvalidCa(format!("not a usable CA certificate ({e})"))
        })?;
        let cert = Certificate::from_der(cert.to_vec()).map_err(|e| {
            SmtpConfigError::InvalidCa(format!("not a usable CA certificate ({e})"))
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpConfigError::InvalidCa(format!("cannot build TLS settings ({e})")))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::Permanent(format!("recipient: {e}"))
            })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(MailError::Permanent(err.to_string())),
            // 4xx, connection, TLS, timeout: worth another attempt.
            Err(err) => Err(MailError::Transient(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, production: bool) -> SmtpConfig {
        SmtpConfig {
            url: SecretString::from(url.to_owned()),
            from: "Todo <no-reply@todo.example>".into(),
            production,
            timeout: Duration::from_secs(5),
            ca_pem: None,
        }
    }

    #[test]
    fn production_takes_implicit_tls_or_required_starttls_only() {
        assert!(SmtpMailer::new(&config("smtps://u:p@mail.example:465", true)).is_ok());
        assert!(SmtpMailer::new(&config("smtp://u:p@mail.example:587?tls=required", true)).is_ok());
        for plain in ["smtp://mail.example:25", "smtp://u:p@mail.example:587"] {
            assert_eq!(
                SmtpMailer::new(&config(plain, true)).err(),
                Some(SmtpConfigError::PlainInProduction),
                "{plain}"
            );
        }
    }

    #[test]
    fn plain_smtp_is_allowed_outside_production_for_local_sinks() {
        assert!(SmtpMailer::new(&config("smtp://127.0.0.1:2525", false)).is_ok());
    }

    #[test]
    fn opportunistic_tls_and_other_schemes_are_refused() {
        for url in [
            "smtp://mail.example:587?tls=opportunistic",
            "http://mail.example",
            "not a url",
        ] {
            assert!(SmtpMailer::new(&config(url, false)).is_err(), "{url}");
        }
    }

    #[test]
    fn errors_never_show_the_urls_password() {
        for url in [
            "smtp://u:hunter2@mail.example:587?tls=maybe",
            "smtp://u:hunter2@mail.example:25",
        ] {
            let err = SmtpMailer::new(&config(url, true)).err().unwrap();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(!format!("{:?}", config("smtps://u:hunter2@h", true)).contains("hunter2"));
    }

    #[test]
    fn a_ca_file_without_certificates_or_with_plain_smtp_is_refused() {
        let mut tls = config("smtps://mail.example", true);
        tls.ca_pem = Some(b"not a certificate".to_vec());
        assert!(matches!(
            SmtpMailer::new(&tls).err(),
            Some(SmtpConfigError::InvalidCa(_))
        ));
        let mut garbled = config("smtps://mail.example", true);
        garbled.ca_pem =
            Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec());
        assert!(matches!(
            SmtpMailer::new(&garbled).err(),
            Some(SmtpConfigError::InvalidCa(_))
        ));
        let mut plain = config("smtp://127.0.0.1:2525", false);
        plain.ca_pem = Some(Vec::new());
        assert_eq!(
            SmtpMailer::new(&plain).err(),
            Some(SmtpConfigError::CaWithoutTls)
        );
    }

    #[test]
    fn a_bad_sender_is_refused() {
        let mut bad = config("smtps://mail.example", true);
        bad.from = "not a mailbox".into();
        assert!(matches!(
            SmtpMailer::new(&bad).err(),
            Some(SmtpConfigError::InvalidFrom(_))
        ));
    }
}
