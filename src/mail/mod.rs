//! E-mail: templates (one folder per message under `templates/mail/`,
//! compiled in), transports (SMTP through lettre, or `.eml` files when no
//! SMTP is set), and the outbox worker. This room decides how to send,
//! never what to send.

pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::i18n::{Lang, Value};
use crate::store::invites::InviteRow;

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A file sent along (the monthly usage CSV).
    pub attachment: Option<Attachment>,
}

/// A file attached to a message.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/csv; charset=utf-8`
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What the invitation templates see; every text comes from the Fluent
/// messages `mail.*` in the customer's language.
pub struct InviteMail<'a> {
    pub lang: Lang,
    pub username: &'a str,
    pub code: &'a str,
    pub software_type: &'a str,
    pub store_deleted_days: i64,
    pub vendor_name: &'a str,
    pub customer_name: &'a str,
    pub install_url: &'a str,
}

impl InviteMail<'_> {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    fn subject(&self) -> String {
        self.lang.fmt(
            "mail.invite.subject",
            &[("vendor", self.vendor_name.into())],
        )
    }

    fn opened(&self) -> String {
        self.lang.fmt(
            "mail.invite.opened",
            &[
                ("vendor", self.vendor_name.into()),
                ("customer", self.customer_name.into()),
            ],
        )
    }

    fn edition(&self) -> &'static str {
        if self.software_type == "server" {
            self.t("mail.invite.edition.server")
        } else {
            self.t("mail.invite.edition.standard")
        }
    }

    fn once(&self) -> String {
        self.lang.fmt(
            "mail.invite.once",
            &[("days", self.store_deleted_days.into())],
        )
    }

    /// A label of the plain-text body with its colon, padded so the values
    /// line up.
    fn label(&self, key: &str) -> String {
        format!("{:<18}", format!("{}:", self.t(key)))
    }
}

#[derive(Template)]
#[template(path = "mail/invite/subject.txt")]
struct InviteSubject<'a> {
    m: &'a InviteMail<'a>,
}

#[derive(Template)]
#[template(path = "mail/invite/body.txt")]
struct InviteText<'a> {
    m: &'a InviteMail<'a>,
}

#[derive(Template)]
#[template(path = "mail/invite/body.html")]
struct InviteHtml<'a> {
    m: &'a InviteMail<'a>,
}

/// The name a customer sees as the sender: the vendor's, or — while the
/// service is still unnamed — the host of the service's address (a real
/// name, never the "Default vendor" placeholder).
pub fn customer_facing_name<'a>(vendor_name: &'a str, service_url: &'a str) -> &'a str {
    if vendor_name != crate::domain::vendor::PLACEHOLDER_NAME {
        return vendor_name;
    }
    let rest = service_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(service_url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        "Command Center"
    } else {
        host
    }
}

/// The install link in the customer's language (`lang=fi|en` added, so
/// the page opens in the invitation's language).
fn install_link(install_url: &str, lang: &str) -> String {
    let sep = if install_url.contains('?') { '&' } else { '?' };
    format!("{install_url}{sep}lang={lang}")
}

/// Renders an invitation in the customer's language.
/// A password reset message, in English and Finnish (an operator has no
/// language of their own): the single-use link and what it does.
pub fn render_password_reset(public_url: &str, email: &str, token: &str) -> Rendered {
    let link = format!("{public_url}/password-reset/{token}");
    Rendered {
        subject: "Command Center: reset your password / nollaa salasanasi".into(),
        text: format!(
            "Someone (hopefully you) asked to reset the password of {email} in Command Center.\n\
             Open this link within 30 minutes to choose a new password. It works once; \
             using it signs you out everywhere:\n\n{link}\n\n\
             If you did not ask for this, ignore this message: your password stays as it is.\n\n\
             --\n\n\
             Joku (toivottavasti sinä) pyysi nollaamaan käyttäjän {email} salasanan Command Centerissä.\n\
             Avaa tämä linkki 30 minuutin kuluessa ja valitse uusi salasana. Linkki toimii kerran, \
             ja sen käyttö kirjaa sinut ulos kaikkialta:\n\n{link}\n\n\
             Jos et pyytänyt tätä, jätä viesti huomiotta: salasanasi pysyy ennallaan.\n"
        ),
        html: None,
        attachment: None,
    }
}

pub fn render_invite(row: &InviteRow, code: &str, install_url: &str) -> anyhow::Result<Rendered> {
    let link = install_link(
        install_url,
        if row.customer_language == "fi" {
            "fi"
        } else {
            "en"
        },
    );
    let m = InviteMail {
        lang: Lang::from_code(&row.customer_language).unwrap_or(Lang::En),
        username: &row.username,
        code,
        software_type: row.software_type.as_str(),
        store_deleted_days: row.store_deleted_days,
        vendor_name: customer_facing_name(&row.vendor_name, install_url),
        customer_name: &row.customer_name,
        install_url: &link,
    };
    Ok(Rendered {
        subject: InviteSubject { m: &m }.render()?.trim().to_string(),
        text: InviteText { m: &m }.render()?,
        html: Some(InviteHtml { m: &m }.render()?),
        attachment: None,
    })
}

/// One alert line of an alert e-mail or a digest (numbers already put in
/// words by the caller).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AlertItem {
    /// overdue, failing, client_limit, storage_90, expires_30, expires_7
    pub kind: String,
    pub customer: String,
    pub host: String,
    pub username: String,
    /// failing: runs failed in a row; expiry: days left.
    pub count: i64,
    pub percent: i64,
    /// "45.2 GB"
    pub used: String,
    pub limit: String,
    /// overdue: the last success; expiry: Valid to.
    pub date: String,
    pub message: String,
    /// Where the console shows it.
    pub link: String,
}

/// What the alert templates see.
pub struct AlertMail<'a> {
    pub lang: Lang,
    pub vendor_name: &'a str,
    pub digest: bool,
    pub items: &'a [AlertItem],
}

impl AlertMail<'_> {
    fn count(&self) -> Value<'static> {
        Value::from(self.items.len())
    }

    fn subject(&self) -> String {
        let l = self.lang;
        match self.items {
            [a] if !self.digest => {
                let kind = if a.kind.starts_with("expires") {
                    "expires"
                } else {
                    a.kind.as_str()
                };
                l.fmt(&format!("mail.alert.subject.{kind}"), &self.args(a))
            }
            _ => l.fmt(
                "mail.alert.subject.many",
                &[("count", self.count()), ("vendor", self.vendor_name.into())],
            ),
        }
    }

    fn intro(&self) -> String {
        let key = if self.digest {
            "mail.alert.intro.digest"
        } else if self.items.len() > 1 {
            "mail.alert.intro.many"
        } else {
            "mail.alert.intro.one"
        };
        self.lang.fmt(
            key,
            &[("count", self.count()), ("vendor", self.vendor_name.into())],
        )
    }

    /// One alert in words, in the recipient's language.
    fn line(&self, a: &AlertItem) -> String {
        let kind = match a.kind.as_str() {
            "overdue" | "failing" | "client_limit" | "storage_90" => a.kind.as_str(),
            _ => "expires",
        };
        let mut s = self
            .lang
            .fmt(&format!("mail.alert.line.{kind}"), &self.args(a));
        if kind == "failing" && !a.message.is_empty() {
            s.push(' ');
            s.push_str(&self.lang.fmt(
                "mail.alert.last_error",
                &[("message", a.message.as_str().into())],
            ));
        }
        s
    }

    fn args<'b>(&self, a: &'b AlertItem) -> Vec<(&'static str, Value<'b>)> {
        let l = self.lang;
        vec![
            ("customer", a.customer.as_str().into()),
            ("host", a.host.as_str().into()),
            ("username", a.username.as_str().into()),
            ("count", a.count.into()),
            ("percent", a.percent.into()),
            ("used", l.decimal(&a.used).into()),
            ("limit", l.decimal(&a.limit).into()),
            ("date", alert_date(l, &a.date).into()),
        ]
    }
}

/// An alert's date in the recipient's language: a day (`2026-12-31`), a
/// time (`2026-11-30 22:47 UTC`, as alert details store it) or a dash.
fn alert_date(lang: Lang, s: &str) -> String {
    match s.strip_suffix(" UTC") {
        Some(t) if t.len() == 16 => lang.time(&format!("{}:00Z", t.replacen(' ', "T", 1))),
        _ if s.len() == 10 => lang.date(s),
        _ => s.to_string(),
    }
}

#[derive(Template)]
#[template(path = "mail/alert/subject.txt")]
struct AlertSubject<'a> {
    m: &'a AlertMail<'a>,
}

#[derive(Template)]
#[template(path = "mail/alert/body.txt")]
struct AlertText<'a> {
    m: &'a AlertMail<'a>,
}

/// Renders one alert, or a digest of several, in the recipient's language.
pub fn render_alerts(m: &AlertMail<'_>) -> anyhow::Result<Rendered> {
    Ok(Rendered {
        subject: AlertSubject { m }.render()?.trim().to_string(),
        text: AlertText { m }.render()?,
        html: None,
        attachment: None,
    })
}

/// Builds the MIME message (text, and HTML when there is one).
pub fn build_message(
    from: &str,
    to: &str,
    r: &Rendered,
    message_id: &str,
) -> Result<Message, SendError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::permanent(format!("bad CC_MAIL_FROM: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| SendError::permanent(format!("bad recipient address: {e}")))?;
    let domain = from.email.domain().to_string();
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(r.subject.clone())
        .message_id(Some(format!("<{message_id}@{domain}>")));
    let result = match (&r.html, &r.attachment) {
        (Some(html), _) => builder.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(r.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
        ),
        (None, Some(a)) => {
            let kind = ContentType::parse(&a.content_type)
                .map_err(|e| SendError::permanent(format!("bad attachment type: {e}")))?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(r.text.clone()),
                    )
                    .singlepart(
                        lettre::message::Attachment::new(a.filename.clone())
                            .body(a.body.clone(), kind),
                    ),
            )
        }
        (None, None) => builder.header(ContentType::TEXT_PLAIN).body(r.text.clone()),
    };
    result.map_err(|e| SendError::permanent(format!("cannot build message: {e}")))
}

/// A failed send: permanent ones are not retried.
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub reason: String,
}

impl SendError {
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            reason: reason.into(),
        }
    }
    pub fn temporary(reason: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            reason: reason.into(),
        }
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    /// SMTP from `CC_SMTP_URL` (`smtp://`, `smtps://`, `?tls=required`
    /// for STARTTLS; user and password in the URL), else `.eml` files.
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("CC_SMTP_URL is not usable: {e}"))?
                    .timeout(Some(Duration::from_secs(30)))
                    // One connection per send in flight, kept open between
                    // messages (a new SMTP session per message costs more
                    // than the message).
                    .pool_config(
                        lettre::transport::smtp::PoolConfig::new()
                            .max_size(worker::WINDOW as u32)
                            .idle_timeout(Duration::from_secs(30)),
                    )
                    .build();
                Ok(Transport::Smtp(t))
            }
            None => {
                let dir = data_dir.join("outbox");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                Ok(Transport::Files(dir))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "SMTP (CC_SMTP_URL)".into(),
            Transport::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends one message. `Ok` means the SMTP server accepted it (or the
    /// file is safely on disk).
    pub async fn send(&self, id: &str, msg: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(t) => t.send(msg).await.map(|_| ()).map_err(|e| {
                let reason = e.to_string();
                if e.is_permanent() {
                    SendError::permanent(reason)
                } else {
                    SendError::temporary(reason)
                }
            }),
            Transport::Files(dir) => {
                let bytes = msg.formatted();
                let tmp = dir.join(format!(".{id}.tmp"));
                let path = dir.join(format!("{id}.eml"));
                let write = async {
                    tokio::fs::write(&tmp, &bytes).await?;
                    tokio::fs::File::open(&tmp).await?.sync_all().await?;
                    tokio::fs::rename(&tmp, &path).await
                };
                write.await.map_err(|e| {
                    SendError::temporary(format!("cannot write {}: {e}", path.display()))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lang: &str) -> InviteRow {
        use crate::domain::invite::SoftwareType;
        use crate::domain::{CustomerId, InviteId, LicenseId, VendorId};
        InviteRow {
            id: InviteId::new(),
            license_id: LicenseId::new(),
            customer_id: CustomerId::new(),
            customer_name: "Testiasiakas Oy".into(),
            customer_language: lang.into(),
            encryption_key_enc: None,
            vendor_id: VendorId::new(),
            vendor_name: "Nexetic <Partner>".into(),
            username: "timo.virtanen@testiasiakas.fi".into(),
            email: "timo.virtanen@testiasiakas.fi".into(),
            software_type: SoftwareType::Standard,
            store_deleted_days: 30,
            code_enc: String::new(),
            code_hash: String::new(),
            created_at: 0,
            expires_at: 0,
            sent_at: None,
            delivery_state: crate::domain::invite::DeliveryState::Queued,
            delivery_error: None,
            next_attempt_at: None,
            used_at: None,
            revoked_at: None,
            replaces_installation_id: None,
        }
    }

    #[test]
    fn a_customer_never_sees_the_placeholder_name() {
        assert_eq!(
            customer_facing_name("Nexetic Oy", "https://x.example"),
            "Nexetic Oy"
        );
        assert_eq!(
            customer_facing_name("Default vendor", "https://backup.example.fi/install"),
            "backup.example.fi"
        );
        assert_eq!(
            customer_facing_name("Default vendor", "http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        );
        let mut r = row("fi");
        r.vendor_name = "Default vendor".into();
        let fi = render_invite(&r, "ABCD-EFGH-JKMN-PQRS", "https://b.example/install").unwrap();
        for part in [&fi.subject, &fi.text, fi.html.as_ref().unwrap()] {
            assert!(!part.contains("Default vendor"), "{part}");
            assert!(part.contains("b.example"), "{part}");
        }
    }

    #[test]
    fn invitation_in_both_languages() {
        let en = render_invite(
            &row("en"),
            "ABCD-EFGH-JKMN-PQRS",
            "https://cc.example/install",
        )
        .unwrap();
        assert!(en.subject.contains("Nexetic <Partner>"), "{}", en.subject);
        assert!(
            en.text.contains("ABCD-EFGH-JKMN-PQRS")
                && en.text.contains("timo.virtanen@testiasiakas.fi")
        );
        assert!(en.text.contains("https://cc.example/install"));
        let html = en.html.unwrap();
        assert!(
            html.contains("Nexetic &#60;Partner&#62;") || html.contains("Nexetic &lt;Partner&gt;"),
            "HTML is escaped: {html}"
        );
        let fi = render_invite(
            &row("fi"),
            "ABCD-EFGH-JKMN-PQRS",
            "https://cc.example/install",
        )
        .unwrap();
        assert!(fi.text.contains("Aktivointikoodi"), "{}", fi.text);
        let msg = build_message(
            "Command Center <cc@example.com>",
            "timo.virtanen@testiasiakas.fi",
            &fi,
            "m1",
        )
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"));
    }
}
