//! The one integration-test crate: one binary to build and link, with a module per part of llmviz.

mod cli;
mod explain;
mod layout;
mod model;
mod render;
mod tour;
mod train;
mod web;
