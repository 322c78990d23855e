//! Messages the outbox carries.

/// What an outbox message is; the mail worker renders each kind its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// An invitation, rendered when sent (it carries the activation code,
    /// which is never stored in the outbox).
    Invite,
    /// A test message from Settings.
    Test,
    /// One alert.
    Alert,
    /// A vendor's daily digest.
    Digest,
    /// A password reset link, rendered when sent (the link is a secret,
    /// never stored in the outbox).
    PasswordReset,
    /// A vendor's monthly usage CSV, attached (rendered when queued: the
    /// month is over, and the file carries no secret).
    UsageReport,
}

impl MessageKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageKind::Invite => "invite",
            MessageKind::Test => "test",
            MessageKind::Alert => "alert",
            MessageKind::Digest => "digest",
            MessageKind::PasswordReset => "password_reset",
            MessageKind::UsageReport => "usage_report",
        }
    }
    pub fn parse(s: &str) -> Option<MessageKind> {
        match s {
            "invite" => Some(MessageKind::Invite),
            "test" => Some(MessageKind::Test),
            "alert" => Some(MessageKind::Alert),
            "digest" => Some(MessageKind::Digest),
            "password_reset" => Some(MessageKind::PasswordReset),
            "usage_report" => Some(MessageKind::UsageReport),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [
            MessageKind::Invite,
            MessageKind::Test,
            MessageKind::Alert,
            MessageKind::Digest,
            MessageKind::PasswordReset,
        ] {
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MessageKind::parse("fax"), None);
    }
}
