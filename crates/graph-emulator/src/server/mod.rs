//! The HTTP side: a hyper HTTP/1.1 server with its own accept loop (so a fault can reset a
//! connection or cut a body), routing, auth, rate limiting, fault injection and the
//! `/__emulator/` admin routes.
//!
//! Each request is answered synchronously into one buffer under short-lived locks; the only
//! `.await`s are the optional latency sleep and the admin routes. No lock is held across an
//! `.await`.
//!
//! A Graph request goes through [`pipeline`], one named step per room:
//! [`parse`] (path, version, parameters) → [`auth`] (token, `appsecret_proof`, grant,
//! permissions) → [`route`] (node or edge, and its unit) → [`admit`] (rate limits, usage) →
//! [`faults`] (resets, injected errors, cut bodies) → [`answer`] / [`list`] / [`accounts`]
//! (the body) → [`response`] (stats and headers). [`conn`] accepts connections and hands
//! each request to the pipeline or to [`admin`]; [`delay`] draws the simulated network time.
//!
//! Imports run one way: this file only declares the rooms and names what the crate uses;
//! every room takes shared state from [`types`], and no room imports one that imports it.

mod accounts;
mod admin;
mod admit;
mod answer;
mod auth;
mod body;
mod conn;
mod delay;
mod faults;
mod list;
mod parse;
mod pipeline;
mod response;
mod route;
mod types;

pub(crate) use auth::appsecret_proof;
pub(crate) use conn::accept_loop;
pub(crate) use types::Shared;
