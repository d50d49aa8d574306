//! The one integration-test crate: one binary to build and link, with a module per part of llmviz.

mod cli;
mod connectors;
mod gpu;
mod gpu_failure;
mod house;
mod idle;
mod explain;
mod fetch;
mod gpt2;
mod labels;
mod layout;
mod model;
mod model_map;
mod nonfinite;
mod pick;
mod render;
mod tour;
mod tour_player;
mod train;
mod web;
