//! Where the forward pass computes: on a real GPU, burn's wgpu backend on the very device Bevy
//! renders with (no second device, no second copy of the driver's state); on a software adapter
//! (lavapipe, SwiftShader), the CPU through burn's ndarray backend, which is quicker there: the
//! software rasterizer runs the same compute on the same cores, through more layers (figures in
//! docs/benchmarks.md). The reader can force either (`--compute`).
//!
//! Natively only. The page's WebGPU device belongs to its main thread and cannot be handed to the
//! Web Worker that runs the pass, which stays on the CPU there.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::RenderApp;
use bevy::render::renderer::{RenderAdapter, RenderAdapterInfo, RenderDevice, RenderInstance, RenderQueue};
use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, WgpuSetup, init_device};

/// What the reader asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeChoice {
    /// A real GPU computes; a software adapter leaves the pass to the CPU.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// Whether the pass runs on the GPU for `choice` and an adapter of `kind`.
pub fn computes_on_gpu(choice: ComputeChoice, kind: wgpu::DeviceType) -> bool {
    match choice {
        ComputeChoice::Auto => kind != wgpu::DeviceType::Cpu,
        ComputeChoice::Cpu => false,
        ComputeChoice::Gpu => true,
    }
}

/// What was decided, for the model card and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ComputedOn {
    /// The renderer has no device yet.
    #[default]
    Undecided,
    Cpu {
        /// The adapter the scene is drawn with, which was not given the pass.
        adapter: String,
    },
    Gpu {
        adapter: String,
    },
}

/// The choice, and once the renderer has its device, where passes run: shared by the main world,
/// the render world (which has the device) and the forward thread (which runs the passes).
#[derive(Clone, Default, Resource)]
pub struct Compute(Arc<Mutex<ComputeState>>);

#[derive(Default)]
struct ComputeState {
    choice: ComputeChoice,
    on: ComputedOn,
    device: Option<WgpuDevice>,
    /// Passes the forward thread has run on `device`.
    gpu_passes: u64,
}

impl Compute {
    /// Sets the choice; it takes effect when the app finishes building, with the renderer's device.
    pub fn choose(&self, choice: ComputeChoice) {
        self.0.lock().expect("compute lock").choice = choice;
    }

    /// burn's device for the renderer's GPU, when passes run there.
    pub fn gpu(&self) -> Option<WgpuDevice> {
        self.0.lock().expect("compute lock").device.clone()
    }

    pub fn computed_on(&self) -> ComputedOn {
        self.0.lock().expect("compute lock").on.clone()
    }

    /// How many passes have run on the GPU so far.
    pub fn gpu_passes(&self) -> u64 {
        self.0.lock().expect("compute lock").gpu_passes
    }

    /// Called by the forward thread for each pass it ran on the GPU.
    pub fn ran_on_gpu(&self) {
        self.0.lock().expect("compute lock").gpu_passes += 1;
    }

    /// Decides for the renderer's adapter and, for the GPU, gives burn the renderer's device.
    fn decide(&self, setup: WgpuSetup) {
        let info = setup.adapter.get_info();
        let adapter = info.name.clone();
        let mut state = self.0.lock().expect("compute lock");
        // burn checks the device's limits and features as it takes it; a device it refuses leaves
        // the passes on the CPU rather than the app without them.
        let device = computes_on_gpu(state.choice, info.device_type)
            .then(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init_device(setup, RuntimeOptions::default())))
            })
            .and_then(|device| device.map_err(|_| warn!("burn could not use {adapter}: the CPU computes")).ok());
        state.on = match device {
            Some(_) => ComputedOn::Gpu { adapter },
            None => ComputedOn::Cpu { adapter },
        };
        state.device = device;
        info!("forward passes compute on {:?} ({:?}, {:?})", state.on, info.device_type, info.backend);
    }
}

/// Hands the renderer's device to the forward passes when they are to run on it.
pub struct ComputePlugin;

impl Plugin for ComputePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Compute>();
    }

    /// After the renderer's own `finish`, which made its device, and before the first update, which
    /// asks for the first pass.
    fn finish(&self, app: &mut App) {
        let compute = app.world().resource::<Compute>().clone();
        let Some(render) = app.get_sub_app(RenderApp) else { return };
        let world = render.world();
        let (Some(instance), Some(adapter), Some(device), Some(queue), Some(info)) = (
            world.get_resource::<RenderInstance>(),
            world.get_resource::<RenderAdapter>(),
            world.get_resource::<RenderDevice>(),
            world.get_resource::<RenderQueue>(),
            world.get_resource::<RenderAdapterInfo>(),
        ) else {
            return;
        };
        compute.decide(WgpuSetup {
            instance: (**instance.0).clone(),
            adapter: (**adapter.0).clone(),
            device: device.wgpu_device().clone(),
            queue: (**queue.0).clone(),
            backend: info.0.backend,
        });
    }
}
