//! HTTP tests of the router against mocked ports: no database, no network.
//! Each module covers one part of the contract.

mod support;

mod accounts;
mod auth;
mod hostile_input;
mod operations;
mod recovery;
mod tasks;
