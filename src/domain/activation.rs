//! The activation rule, decided for a whole batch at once: which attempts
//! take a seat, and why the others are refused. Pure: the writer
//! (`service/clients/activation_writer.rs`) reads the invites and licenses
//! once, calls [`decide`], and writes what it granted.
//!
//! Which is the truth about seats: the database. A license row's guarded
//! `UPDATE … SET used = used + n WHERE used + n <= seats`
//! (`store::installations::take_seats`) is the judge, and CHECK
//! constraints forbid `used > seats` whatever the code does. [`decide`]
//! forecasts from one read with the same arithmetic
//! ([`crate::domain::license::Seats::free`]); when another instance took
//! seats since that read, the UPDATE refuses and the writer takes seats
//! one at a time, so the forecast can only ever be too generous, never
//! oversell.

use std::collections::{HashMap, HashSet};

use super::conflict::Conflict;
use super::invite::SoftwareType;
use super::license::{LicenseState, Seats};
use super::{InviteId, LicenseId, Millis};

/// One activation attempt: a username and the keyed hash of the code typed.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// Lower-case.
    pub username: &'a str,
    pub code_hash: &'a str,
}

/// What the rule needs of an invite (read beside its license).
#[derive(Debug, Clone)]
pub struct InviteTerms {
    pub id: InviteId,
    /// Lower-case.
    pub username: String,
    pub code_hash: String,
    pub used: bool,
    pub expires_at: Millis,
    pub software_type: SoftwareType,
    pub license_id: LicenseId,
    /// The invite replaces a live installation of the same license and
    /// type: the new installation takes over that seat, needing no free one.
    pub inherits_seat: bool,
}

/// What the rule needs of a license.
#[derive(Debug, Clone)]
pub struct LicenseTerms {
    pub id: LicenseId,
    /// As saved (a past Valid to is checked here, not stored).
    pub state: LicenseState,
    pub valid_to: time::Date,
    pub standard: Seats,
    pub server: Seats,
}

impl LicenseTerms {
    pub fn seats(&self, kind: SoftwareType) -> Seats {
        match kind {
            SoftwareType::Standard => self.standard,
            SoftwareType::Server => self.server,
        }
    }
}

/// Why an activation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown username or wrong code: the same answer for both.
    InvalidCredentials,
    Conflict(Conflict),
}

/// The outcome of one attempt: the index of its invite in `found`, or why not.
pub type Decision = Result<usize, Refusal>;

/// Decides each attempt in order as if it were alone: an invite or a seat
/// granted to an earlier attempt of the batch is gone for the later ones.
/// `found` are the live (not revoked) invites of the attempts' usernames
/// with their licenses. `same` compares secrets in constant time.
pub fn decide(
    attempts: &[Attempt<'_>],
    found: &[(InviteTerms, LicenseTerms)],
    now: Millis,
    today: time::Date,
    same: impl Fn(&str, &str) -> bool,
) -> Vec<Decision> {
    let by_username: HashMap<&str, usize> = found
        .iter()
        .enumerate()
        .map(|(i, (inv, _))| (inv.username.as_str(), i))
        .collect();
    let mut granted: HashSet<usize> = HashSet::new();
    let mut free: HashMap<(LicenseId, SoftwareType), i64> = HashMap::new();
    attempts
        .iter()
        .map(|a| {
            let i = *by_username
                .get(a.username)
                .ok_or(Refusal::InvalidCredentials)?;
            let (invite, license) = &found[i];
            if !same(&invite.code_hash, a.code_hash) {
                return Err(Refusal::InvalidCredentials);
            }
            let refuse = |c| Err(Refusal::Conflict(c));
            if invite.used || granted.contains(&i) {
                return refuse(Conflict::InviteUsed);
            }
            if invite.expires_at <= now {
                return refuse(Conflict::InviteExpired);
            }
            if today > license.valid_to {
                return refuse(Conflict::LicenseExpired);
            }
            if license.state != LicenseState::Active {
                return refuse(Conflict::LicenseInactive);
            }
            if invite.inherits_seat {
                granted.insert(i);
                return Ok(i);
            }
            let left = free
                .entry((license.id, invite.software_type))
                .or_insert_with(|| license.seats(invite.software_type).free());
            if *left <= 0 {
                return refuse(Conflict::SeatsExhausted);
            }
            *left -= 1;
            granted.insert(i);
            Ok(i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 06 - 15);
    const NOW: Millis = 1_781_500_000_000;

    fn license(id: LicenseId, standard: (i64, i64), server: (i64, i64)) -> LicenseTerms {
        LicenseTerms {
            id,
            state: LicenseState::Active,
            valid_to: TODAY,
            standard: Seats {
                seats: standard.0,
                used: standard.1,
            },
            server: Seats {
                seats: server.0,
                used: server.1,
            },
        }
    }

    fn invite(name: &str, kind: SoftwareType, lic: &LicenseTerms) -> (InviteTerms, LicenseTerms) {
        (
            InviteTerms {
                id: InviteId::new(),
                username: name.into(),
                code_hash: format!("h-{name}"),
                used: false,
                expires_at: NOW + 1,
                software_type: kind,
                license_id: lic.id,
                inherits_seat: false,
            },
            lic.clone(),
        )
    }

    fn at<'a>(name: &'a str, hash: &'a str) -> Attempt<'a> {
        Attempt {
            username: name,
            code_hash: hash,
        }
    }

    fn run(attempts: &[Attempt<'_>], found: &[(InviteTerms, LicenseTerms)]) -> Vec<Decision> {
        decide(attempts, found, NOW, TODAY, |a, b| a == b)
    }

    const EXHAUSTED: Refusal = Refusal::Conflict(Conflict::SeatsExhausted);

    #[test]
    fn seats_run_out_in_order_per_pool() {
        let l = license(LicenseId::new(), (2, 1), (1, 0));
        let found = vec![
            invite("a", SoftwareType::Standard, &l),
            invite("b", SoftwareType::Standard, &l),
            invite("s", SoftwareType::Server, &l),
        ];
        let d = run(&[at("a", "h-a"), at("b", "h-b"), at("s", "h-s")], &found);
        // One standard seat was free: the first takes it; the server pool is apart.
        assert_eq!(d, vec![Ok(0), Err(EXHAUSTED), Ok(2)]);
    }

    #[test]
    fn a_replacement_takes_over_the_replaced_seat() {
        // Every standard seat is in use; the invite replaces one of them.
        let l = license(LicenseId::new(), (2, 2), (0, 0));
        let mut r = invite("r", SoftwareType::Standard, &l);
        r.0.inherits_seat = true;
        let found = vec![r, invite("n", SoftwareType::Standard, &l)];
        let d = run(&[at("r", "h-r"), at("n", "h-n"), at("r", "h-r")], &found);
        assert_eq!(
            d,
            vec![
                Ok(0),
                Err(EXHAUSTED),
                Err(Refusal::Conflict(Conflict::InviteUsed))
            ]
        );
    }

    #[test]
    fn one_invite_is_granted_once_in_a_batch() {
        let l = license(LicenseId::new(), (5, 0), (0, 0));
        let found = vec![invite("a", SoftwareType::Standard, &l)];
        let d = run(&[at("a", "h-a"), at("a", "h-a")], &found);
        assert_eq!(d, vec![Ok(0), Err(Refusal::Conflict(Conflict::InviteUsed))]);
    }

    #[test]
    fn unknown_user_and_wrong_code_are_the_same_refusal() {
        let l = license(LicenseId::new(), (5, 0), (0, 0));
        let found = vec![invite("a", SoftwareType::Standard, &l)];
        let d = run(&[at("nobody", "h-a"), at("a", "wrong")], &found);
        assert_eq!(
            d,
            vec![
                Err(Refusal::InvalidCredentials),
                Err(Refusal::InvalidCredentials)
            ]
        );
    }

    #[test]
    fn a_refused_attempt_takes_nothing() {
        let l = license(LicenseId::new(), (1, 0), (0, 0));
        let found = vec![
            invite("a", SoftwareType::Standard, &l),
            invite("b", SoftwareType::Standard, &l),
        ];
        // A wrong code for a, then b: b gets the one seat.
        let d = run(&[at("a", "wrong"), at("b", "h-b")], &found);
        assert_eq!(d, vec![Err(Refusal::InvalidCredentials), Ok(1)]);
    }

    #[test]
    fn invite_and_license_rules() {
        let mut expired = license(LicenseId::new(), (5, 0), (0, 0));
        expired.valid_to = TODAY.previous_day().unwrap();
        let mut suspended = license(LicenseId::new(), (5, 0), (0, 0));
        suspended.state = LicenseState::Suspended;
        let ok = license(LicenseId::new(), (5, 0), (0, 0));
        let mut used = invite("u", SoftwareType::Standard, &ok);
        used.0.used = true;
        let mut old = invite("o", SoftwareType::Standard, &ok);
        old.0.expires_at = NOW;
        let found = vec![
            invite("e", SoftwareType::Standard, &expired),
            invite("s", SoftwareType::Standard, &suspended),
            used,
            old,
            invite("t", SoftwareType::Standard, &ok),
        ];
        let d = run(
            &[
                at("e", "h-e"),
                at("s", "h-s"),
                at("u", "h-u"),
                at("o", "h-o"),
                at("t", "h-t"),
            ],
            &found,
        );
        let c = |c| Err(Refusal::Conflict(c));
        assert_eq!(
            d,
            vec![
                c(Conflict::LicenseExpired),
                c(Conflict::LicenseInactive),
                c(Conflict::InviteUsed),
                c(Conflict::InviteExpired),
                Ok(4),
            ]
        );
    }

    #[test]
    fn valid_to_today_still_activates() {
        let l = license(LicenseId::new(), (1, 0), (0, 0));
        let found = vec![invite("a", SoftwareType::Standard, &l)];
        assert_eq!(run(&[at("a", "h-a")], &found), vec![Ok(0)]);
    }

    #[test]
    fn two_licenses_keep_their_own_seats() {
        let l1 = license(LicenseId::new(), (1, 0), (0, 0));
        let l2 = license(LicenseId::new(), (1, 0), (0, 0));
        let found = vec![
            invite("a", SoftwareType::Standard, &l1),
            invite("b", SoftwareType::Standard, &l1),
            invite("c", SoftwareType::Standard, &l2),
        ];
        let d = run(&[at("a", "h-a"), at("b", "h-b"), at("c", "h-c")], &found);
        assert_eq!(d, vec![Ok(0), Err(EXHAUSTED), Ok(2)]);
    }
}
