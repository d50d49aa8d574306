//! The one integration-test crate: one binary to build and link, with a module per part of llmviz.

mod cli;
mod gpu;
mod house;
mod idle;
mod explain;
mod fetch;
mod gpt2;
mod layout;
mod model;
mod pick;
mod render;
mod soak;
mod tour;
mod tour_player;
mod train;
mod web;
