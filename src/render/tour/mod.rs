//! The tour room: playing a guided tour in the scene (the player, its tweens, its calculations and
//! flights, the side panel, the caption and the map of the model).

pub mod caption;
pub mod compute;
pub mod map;
pub mod panel;
pub mod player;
pub mod tweens;
