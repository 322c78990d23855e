//! The one integration-test binary: every test starts the real app on
//! port 0 with a fresh database. The backend comes from the environment:
//! SQLite by default, PostgreSQL when `CC_TEST_DATABASE=postgres`
//! (server at `CC_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod alerts;
mod api_contract;
mod api_tokens;
mod attacks;
mod auth;
mod browser;
mod clients;
mod console_backup;
mod crash;
mod customers_licenses;
mod delivery_load;
mod demo;
mod exports;
mod import;
mod installation_page;
mod invites;
mod mail;
mod mail_speed;
mod monitoring;
mod operators_vendors;
mod passkeys;
mod password_reset;
mod platform;
mod readers;
mod repositories;
mod repository_crash;
mod tenancy;
mod two_factor;
mod usage;
mod webhooks;
mod working_day;
