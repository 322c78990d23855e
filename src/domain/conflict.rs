//! The refusals of the product's rules: each a stable code (what the APIs
//! answer in a problem document's `code`, and the key `error.<code>` under
//! which the console finds its words) and an English sentence.

/// A rule refused the operation given the current state (HTTP 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conflict {
    /// A unique value that no more specific refusal names.
    AlreadyExists,
    EmailTaken,
    LastAdmin,
    VendorNameTaken,
    UsernameTaken,
    CustomerHasInstallations,
    SeatsBelowUsed,
    InviteNotRevocable,
    InviteUsed,
    InviteExpired,
    LicenseExpired,
    LicenseInactive,
    SeatsExhausted,
    NotATrial,
    InstallationInactive,
    InstallationActive,
    /// The installation was replaced: its repository belongs to the new one.
    InstallationReplaced,
    /// A password reset link that is unknown, used or expired.
    ResetLinkInvalid,
    TotpAlreadyEnabled,
    TotpNotStarted,
}

impl Conflict {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Conflict::AlreadyExists => "conflict",
            Conflict::EmailTaken => "email_taken",
            Conflict::LastAdmin => "last_admin",
            Conflict::VendorNameTaken => "vendor_name_taken",
            Conflict::UsernameTaken => "username_taken",
            Conflict::CustomerHasInstallations => "customer_has_installations",
            Conflict::SeatsBelowUsed => "seats_below_used",
            Conflict::InviteNotRevocable => "invite_not_revocable",
            Conflict::InviteUsed => "invite_used",
            Conflict::InviteExpired => "invite_expired",
            Conflict::LicenseExpired => "license_expired",
            Conflict::LicenseInactive => "license_inactive",
            Conflict::SeatsExhausted => "seats_exhausted",
            Conflict::NotATrial => "not_a_trial",
            Conflict::InstallationInactive => "installation_inactive",
            Conflict::InstallationActive => "installation_active",
            Conflict::InstallationReplaced => "installation_replaced",
            Conflict::ResetLinkInvalid => "reset_link_invalid",
            Conflict::TotpAlreadyEnabled => "totp_already_enabled",
            Conflict::TotpNotStarted => "totp_not_started",
        }
    }

    /// The usual English sentence (an operation may say more).
    pub fn message(self) -> &'static str {
        match self {
            Conflict::AlreadyExists => "This already exists.",
            Conflict::EmailTaken => "An operator with this e-mail already exists.",
            Conflict::LastAdmin => "The last enabled administrator cannot be disabled or demoted.",
            Conflict::VendorNameTaken => "A vendor with this name already exists.",
            Conflict::UsernameTaken => "This username is taken.",
            Conflict::CustomerHasInstallations => "The customer has active installations.",
            Conflict::SeatsBelowUsed => "Seats cannot be set below the seats in use.",
            Conflict::InviteNotRevocable => "This invite can no longer be revoked.",
            Conflict::InviteUsed => "This activation code has been used already.",
            Conflict::InviteExpired => "This invite has expired; ask for a new one.",
            Conflict::LicenseExpired => "The license has expired.",
            Conflict::LicenseInactive => "The license is not active.",
            Conflict::SeatsExhausted => "All seats of this type on the license are in use.",
            Conflict::NotATrial => "That installation is not a live trial client.",
            Conflict::InstallationInactive => "The installation has been deactivated already.",
            Conflict::InstallationActive => {
                "Deactivate the installation before deleting its backups."
            }
            Conflict::ResetLinkInvalid => {
                "This password reset link is used or expired; ask for a new one."
            }
            Conflict::InstallationReplaced => {
                "This computer was replaced: its backups belong to the computer that replaced it."
            }
            Conflict::TotpAlreadyEnabled => {
                "Two-factor sign-in is on already; turn it off before setting it up again."
            }
            Conflict::TotpNotStarted => "Start setting up two-factor sign-in first.",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
