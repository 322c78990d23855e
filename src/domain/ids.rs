//! Typed ids. Every id is a UUID (v7 for new rows, so ids sort by creation
//! time and serve as keyset-pagination cursors), stored as lower-case text.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7())
            }
            /// The stored text form.
            pub fn to_db(&self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.hyphenated())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s.trim()).map($name)
            }
        }
    };
}

id_type!(
    /// A reseller.
    VendorId
);
id_type!(
    /// A person who signs in (admin, operator or viewer).
    OperatorId
);
id_type!(
    /// A customer (organisation).
    CustomerId
);
id_type!(
    /// A license; its UUID is the license Number shown to people.
    LicenseId
);
id_type!(
    /// An API token.
    TokenId
);
id_type!(
    /// An audit-log row.
    AuditId
);
id_type!(
    /// An invite (a future installation).
    InviteId
);
id_type!(
    /// A message in the outbox.
    MessageId
);
id_type!(
    /// An activated backup client.
    InstallationId
);
id_type!(
    /// An alert (a condition that started to hold).
    AlertId
);
