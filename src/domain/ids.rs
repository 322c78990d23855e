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

        /// How a stored id decodes (`#[sqlx(try_from = "String")]`).
        impl TryFrom<String> for $name {
            type Error = uuid::Error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
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

/// The lowest UUIDv7 text of a millisecond: every v7 id made at `ms` or
/// later sorts at or after it, every id made earlier sorts before it (the
/// 48-bit time leads the id). So "created before T" is `id < floor(T)`,
/// a range on the primary key instead of a scan of a time column.
pub fn uuid_v7_floor(ms: crate::domain::Millis) -> String {
    // 48 bits of time; before the epoch there is nothing to compare with.
    let t = (ms.max(0) as u64) & 0xffff_ffff_ffff;
    format!("{:08x}-{:04x}-7000-8000-000000000000", t >> 16, t & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_floor_orders_ids_by_millisecond() {
        let ms: i64 = 1_764_300_000_123;
        let floor = uuid_v7_floor(ms);
        assert!(uuid::Uuid::parse_str(&floor).is_ok(), "{floor}");
        let at = |m: i64, rand: u128| {
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                (m / 1000) as u64,
                ((m % 1000) * 1_000_000) as u32,
            );
            let base = uuid::Uuid::new_v7(ts).as_u128();
            // keep the time, version and variant bits; vary the rest
            let mask: u128 = ((1u128 << 62) - 1) | (0xfffu128 << 64);
            uuid::Uuid::from_u128((base & !mask) | (rand & mask))
                .hyphenated()
                .to_string()
        };
        for r in [0u128, 1, u128::MAX] {
            assert!(at(ms - 1, r) < floor, "1 ms earlier sorts before");
            assert!(at(ms, r) >= floor, "the same ms sorts at or after");
            assert!(at(ms + 1, r) > floor);
        }
        assert_eq!(at(ms, 0), floor, "the floor is the lowest id of its ms");
        assert_eq!(uuid_v7_floor(0), "00000000-0000-7000-8000-000000000000");
    }
}
