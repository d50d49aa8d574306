//! The GPU as something that can be missing or go away: which backends the renderer asks wgpu
//! for, a check that there is an adapter before Bevy starts (Bevy panics deep in its renderer
//! without one), and what happens when the device is lost or wgpu reports an error while the app
//! runs: the reason is kept and the app exits with it, instead of Bevy's default of logging the
//! error every frame while the app waits for an exit nobody reads.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::error_handler::{ErrorType, RenderErrorHandler, RenderErrorPolicy};
use bevy::render::render_resource::PollType;
use bevy::render::renderer::RenderDevice;
use bevy::render::settings::{Backends, WgpuSettings};
use bevy::render::{Render, RenderApp, RenderPlugin, RenderSystems};

use crate::render::RenderError;

/// The renderer's settings: Bevy's, except that natively wgpu is asked only for its primary
/// backends (Vulkan, Metal, DX12). Its GL fallback, which it would take without a Vulkan driver,
/// cannot build Bevy 0.19's pipelines (for the SSAO depth pass naga writes a `textureGatherOffset`
/// on a depth texture that GLSL has no overload for), so it would only fail later and less
/// clearly. `WGPU_BACKEND` still chooses, as Bevy reads it.
pub fn wgpu_settings() -> WgpuSettings {
    let mut settings = WgpuSettings::default();
    if cfg!(not(target_arch = "wasm32")) {
        settings.backends = Some(Backends::from_env().unwrap_or(Backends::PRIMARY));
    } else {
        // The page asks for no limit beyond WebGPU's defaults (Bevy would ask for all the adapter
        // has): the value pages are cut to fit them (`pages::PAGE_WORDS`).
        settings.constrained_limits = Some(bevy::render::settings::WgpuLimits::default());
    }
    settings
}

/// Bevy's render plugin with `wgpu_settings`.
pub fn render_plugin() -> RenderPlugin {
    RenderPlugin { render_creation: wgpu_settings().into(), ..default() }
}

/// Fails with one line when wgpu finds no adapter for the backends `wgpu_settings` asks for, as
/// Bevy would ask: the same instance flags, power preference and fallback choice. Bevy itself
/// panics in that case, on its render thread, with a message about Linux dependencies.
#[cfg(not(target_arch = "wasm32"))]
pub fn require_adapter() -> Result<(), RenderError> {
    let settings = wgpu_settings();
    let backends = settings.backends.unwrap_or(Backends::PRIMARY);
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        flags: settings.instance_flags,
        memory_budget_thresholds: settings.instance_memory_budget_thresholds,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let force_fallback_adapter = std::env::var("WGPU_FORCE_FALLBACK_ADAPTER")
        .map_or(settings.force_fallback_adapter, |value| !(value.is_empty() || value == "0" || value == "false"));
    let options = wgpu::RequestAdapterOptions {
        power_preference: settings.power_preference,
        compatible_surface: None,
        force_fallback_adapter,
    };
    match bevy::tasks::block_on(instance.request_adapter(&options)) {
        Ok(_) => Ok(()),
        Err(error) => Err(RenderError::NoAdapter(why_no_adapter(&error.to_string()))),
    }
}

/// wgpu's reason without its preamble and without the backends that were not asked for or not
/// built in: "vulkan drivers/libraries could not be loaded".
#[cfg(not(target_arch = "wasm32"))]
fn why_no_adapter(wgpu_message: &str) -> String {
    let reasons = wgpu_message.split_once("; ").map_or(wgpu_message, |(_, reasons)| reasons);
    let relevant: Vec<&str> = reasons
        .split(", ")
        .filter(|reason| !reason.ends_with("not requested") && !reason.ends_with("not compiled in"))
        .collect();
    if relevant.is_empty() { wgpu_message.to_string() } else { relevant.join(", ") }
}

/// In the browser the page asks for WebGPU before the app starts, and says so when there is none.
#[cfg(target_arch = "wasm32")]
pub fn require_adapter() -> Result<(), RenderError> {
    Ok(())
}

/// Why the GPU stopped, once it has: kept outside the app's world so that it can be read after
/// `App::run` has consumed the app.
#[derive(Resource, Clone, Default)]
pub struct GpuFailure(Arc<Mutex<Option<String>>>);

impl GpuFailure {
    pub fn get(&self) -> Option<String> {
        self.0.lock().map(|failure| failure.clone()).unwrap_or_default()
    }

    /// Ok while the GPU works; the error the app stopped with once it does not.
    pub fn check(&self) -> Result<(), RenderError> {
        self.get().map_or(Ok(()), |message| Err(RenderError::Gpu(message)))
    }

    fn set_once(&self, message: String) -> bool {
        let Ok(mut failure) = self.0.lock() else { return false };
        if failure.is_some() {
            return false;
        }
        *failure = Some(message);
        true
    }
}

/// What a render error from Bevy says, as one line.
fn failure_message(ty: ErrorType, description: &str) -> String {
    let description = description.trim();
    match ty {
        ErrorType::DeviceLost if description.is_empty() => "the GPU device was lost (wgpu gave no reason)".into(),
        ErrorType::DeviceLost => format!("the GPU device was lost: {description}"),
        ErrorType::OutOfMemory => "the GPU is out of memory".into(),
        _ if description.is_empty() => format!("the GPU reported an error ({ty:?})"),
        _ => format!("the GPU reported an error ({ty:?}): {description}"),
    }
}

/// Bevy's `RenderErrorHandler` for this app: the first error is kept in `GpuFailure` and the app
/// exits with an error; rendering stops (Bevy cannot recreate its device after a loss, and a
/// validation error would only repeat every frame). Bevy calls it every frame from then on.
fn on_render_error(
    error: &bevy::render::error_handler::RenderError,
    main_world: &mut World,
    _render_world: &mut World,
) -> RenderErrorPolicy {
    let failure = main_world.get_resource::<GpuFailure>().cloned().unwrap_or_default();
    if failure.set_once(failure_message(error.ty, &error.description)) {
        main_world.write_message(AppExit::error());
    }
    RenderErrorPolicy::StopRendering
}

/// `LLMVIZ_TEST_LOSE_DEVICE=N`: a test hook that destroys the GPU device after N rendered frames,
/// as a driver reset or an unplugged GPU would lose it, so that tests can check what the app does
/// then.
pub const LOSE_DEVICE_ENV: &str = "LLMVIZ_TEST_LOSE_DEVICE";

/// Render errors and device loss end the app with their reason (`GpuFailure`); `LOSE_DEVICE_ENV`
/// forces a loss.
pub struct GpuPlugin;

impl Plugin for GpuPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<GpuFailure>().insert_resource(RenderErrorHandler(on_render_error));
        let lose_after = std::env::var(LOSE_DEVICE_ENV).ok().and_then(|text| text.parse::<u32>().ok());
        if let (Some(frames), Some(render_app)) = (lose_after, app.get_sub_app_mut(RenderApp)) {
            render_app.add_systems(Render, lose_device_after(frames).in_set(RenderSystems::Cleanup));
        }
    }
}

/// Destroys the device once `frames` frames have been rendered and submitted, then waits for the
/// GPU so that wgpu reports the loss before the next frame is extracted: the render thread never
/// builds a frame on the destroyed device (wgpu panics on some uses of one, such as a buffer
/// created with its data).
fn lose_device_after(frames: u32) -> impl FnMut(Res<RenderDevice>, Local<u32>) {
    move |device, mut rendered| {
        *rendered += 1;
        if *rendered == frames {
            device.wgpu_device().destroy();
            let _ = device.poll(PollType::wait_indefinitely());
        }
    }
}
