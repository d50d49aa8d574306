//! The view room: where the camera is and how the reader moves it, what the pointer is over, and
//! sleeping while nothing moves.

pub mod camera;
pub mod free_region;
pub mod idle;
pub mod pick;
pub mod viewpoint;

use bevy::app::{PluginGroup, PluginGroupBuilder};

/// The camera's controls, picking and idling: the window's and the page's.
pub struct ViewPlugins;

impl PluginGroup for ViewPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(camera::CameraPlugin)
            .add(free_region::FreeRegionPlugin)
            .add(pick::PickPlugin)
            .add(idle::IdlePlugin)
    }
}
