//! Idle is free: with nothing moving and no input, the app draws no frame at all.
//!
//! Bevy's reactive winit loop sleeps until an event or a `RequestRedraw` arrives. Four things
//! kept it from sleeping, and this plugin answers each:
//! - `WinitSettings::desktop_app()` still wakes every 5 s (60 s unfocused): the wait is now unbounded;
//! - bevy_egui 0.42 hands egui a `ModifiersChanged` event every frame, whether the modifiers
//!   changed or not; egui takes any event as a reason to repaint at once and wakes the loop, so
//!   each frame asked for the next. `drop_unchanged_modifiers` lets only real changes through;
//! - bevy_egui wakes the loop when egui asks for a repaint now, not when it asks for one later (a
//!   tooltip after its delay, a text cursor's blink), which the timers used to catch:
//!   `wake_egui_when_asked` wakes it for both;
//! - the systems that keep frames coming ask only while there is something to show: here while
//!   the scene loads (pipelines compiling, the forward pass running), and beside what they
//!   animate for a flight or a playing tour.
//!
//! And one thing doubled the frames while the pointer moves: egui repaints at once after any input
//! it is given, so each pointer move drew the frame it asked for and then egui's. Moves and wheel
//! turns over the scene alone, with egui neither under the pointer nor using it, are the scene's
//! (Bevy's input reaches the camera and the picking as before): `keep_scene_pointer_from_egui`
//! drops them from egui's input, and a drag step draws one frame, as the reference does.
//!
//! `LLMVIZ_FRAME_LOG=1` prints a line on stderr for each frame, for the test that counts frames
//! while the app is idle (tests/all/idle.rs).

use std::collections::HashMap;
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::RequestRedraw;
use bevy::winit::{EventLoopProxy, EventLoopProxyWrapper, UpdateMode, WinitSettings, WinitUserEvent};
use bevy_egui::{EguiContext, EguiInput, EguiInputSet, EguiPreUpdateSet, egui};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen::JsCast;

use crate::render::scene::blocks::{BlockScene, SceneValues, ValuesState};
use crate::render::scene::frame::FrameStep;
use crate::render::scene::stats::{FrameStats, RenderStats};

pub const FRAME_LOG_ENV: &str = "LLMVIZ_FRAME_LOG";

/// Reactive updates without a timer, and egui woken only by real input. Needs the `EguiPlugin`.
pub struct IdlePlugin;

impl Plugin for IdlePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(WinitSettings {
            focused_mode: UpdateMode::reactive(Duration::MAX),
            unfocused_mode: UpdateMode::reactive_low_power(Duration::MAX),
        })
        .add_systems(
            PreUpdate,
            (
                wake_egui_when_asked.after(EguiPreUpdateSet::InitContexts).before(EguiPreUpdateSet::BeginPass),
                drop_unchanged_modifiers.after(EguiInputSet::WriteEguiEvents).before(EguiPreUpdateSet::BeginPass),
                // After the unchanged modifiers are gone: they come with every frame's moves.
                keep_scene_pointer_from_egui.after(drop_unchanged_modifiers).before(EguiPreUpdateSet::BeginPass),
            ),
        )
        .add_systems(Update, keep_redrawing_while_loading.in_set(FrameStep::Report))
        .add_systems(Last, log_frame.run_if(|| std::env::var_os(FRAME_LOG_ENV).is_some()));
    }
}

/// Replaces bevy_egui's repaint callback on each new context with one that also honours delays.
fn wake_egui_when_asked(
    mut contexts: Query<&mut EguiContext, Added<EguiContext>>,
    proxy: Option<Res<EventLoopProxyWrapper>>,
) {
    let Some(proxy) = proxy else { return };
    for mut context in &mut contexts {
        let wake_after = waker((**proxy).clone());
        context.get_mut().set_request_repaint_callback(move |info| wake_after(info.delay));
    }
}

/// A function that wakes the event loop after a delay. Natively one thread per context holds the
/// earliest deadline asked for and sleeps until it, without a frame in between.
#[cfg(not(target_arch = "wasm32"))]
fn waker(proxy: EventLoopProxy<WinitUserEvent>) -> impl Fn(Duration) + Send + Sync + 'static {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Instant;
    let (deadlines, received) = std::sync::mpsc::channel::<Instant>();
    let wake = proxy.clone();
    std::thread::spawn(move || {
        let mut next: Option<Instant> = None;
        loop {
            let asked = match next {
                None => received.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => received.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match asked {
                Ok(at) => next = Some(next.map_or(at, |next| next.min(at))),
                Err(RecvTimeoutError::Timeout) => {
                    next = None;
                    if wake.send_event(WinitUserEvent::WakeUp).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    move |delay: Duration| {
        if delay.is_zero() {
            let _ = proxy.send_event(WinitUserEvent::WakeUp);
        } else if delay < Duration::from_secs(3600) {
            let _ = deadlines.send(Instant::now() + delay);
        }
    }
}

/// In the page, a `setTimeout` per delayed request.
#[cfg(target_arch = "wasm32")]
fn waker(proxy: EventLoopProxy<WinitUserEvent>) -> impl Fn(Duration) + Send + Sync + 'static {
    move |delay: Duration| {
        if delay.is_zero() {
            let _ = proxy.send_event(WinitUserEvent::WakeUp);
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let later = proxy.clone();
        let wake = wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = later.send_event(WinitUserEvent::WakeUp);
        });
        let milliseconds = delay.as_millis().min(i32::MAX as u128) as i32;
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(wake.unchecked_ref(), milliseconds);
    }
}

/// Keeps a context's `ModifiersChanged` event only when the modifiers differ from those egui
/// last received. A focus change makes egui forget its modifiers, so the next ones go through.
fn drop_unchanged_modifiers(
    mut inputs: Query<(Entity, &mut EguiInput)>,
    mut told: Local<HashMap<Entity, egui::Modifiers>>,
) {
    for (context, mut input) in &mut inputs {
        let input = &mut input.0;
        if input.events.iter().any(|event| matches!(event, egui::Event::WindowFocused(_))) {
            told.remove(&context);
        }
        input.events.retain(|event| match event {
            egui::Event::ModifiersChanged(modifiers) => told.insert(context, *modifiers) != Some(*modifiers),
            _ => true,
        });
    }
}

/// Drops a context's pointer moves and wheel turns when they are all the input it has this frame
/// and all of them happen over the scene: egui was not under the pointer, is not using it, and no
/// new position is over one of its areas. egui's last pointer position then stays over the scene,
/// where it hovers nothing; the first move onto a panel goes through.
fn keep_scene_pointer_from_egui(mut contexts: Query<(&mut EguiContext, &mut EguiInput)>) {
    for (mut context, mut input) in &mut contexts {
        let ctx = context.get_mut();
        if scene_pointer_only(ctx, &input.0.events) {
            input.0.events.clear();
        }
    }
}

/// Whether `events` are only pointer moves and wheel turns over the scene, none of which egui has a
/// use for (see `keep_scene_pointer_from_egui`). The background layer, the root `Ui` that spans the
/// window, is the scene's: llmviz draws every panel in an area of its own.
pub fn scene_pointer_only(ctx: &egui::Context, events: &[egui::Event]) -> bool {
    let over_egui = |pos: egui::Pos2| ctx.layer_id_at(pos).is_some_and(|layer| layer.order != egui::Order::Background);
    if events.is_empty() || ctx.egui_is_using_pointer() || ctx.dragged_id().is_some() || ctx.is_pointer_over_egui() {
        return false;
    }
    events.iter().all(|event| match event {
        egui::Event::PointerMoved(pos) => !over_egui(*pos),
        egui::Event::MouseMoved(_) | egui::Event::MouseWheel { .. } => true,
        _ => false,
    })
}

/// Whether the scene is on screen as it will stay: spawned, its values computed (or none to
/// compute), no pipeline compiling and at least one block drawn.
pub fn scene_ready(scene: Option<&BlockScene>, values: &SceneValues, stats: &FrameStats) -> bool {
    scene.is_some_and(|scene| scene.pages_waiting == 0)
        && matches!(values.state, ValuesState::Ready | ValuesState::StructureOnly)
        && stats.waiting_pipelines == 0
        && stats.batches > 0
}

/// Until the scene is ready, frames keep coming, so that compiling pipelines and the forward
/// pass's result are picked up without waiting for input. Once a scene has been ready it stays so
/// (a view with no block in it draws no batch, and must not count as loading) until its values
/// are recomputed or another scene replaces it. A pass that failed waits for new input.
fn keep_redrawing_while_loading(
    scene: Option<Res<BlockScene>>,
    values: Res<SceneValues>,
    stats: Res<RenderStats>,
    mut ready_scene: Local<Option<usize>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let id = scene.as_deref().map(BlockScene::id);
    if matches!(values.state, ValuesState::Computing(_)) {
        *ready_scene = None;
    } else if scene_ready(scene.as_deref(), &values, &stats.get()) {
        *ready_scene = id;
    }
    let settled = id.is_some() && *ready_scene == id;
    if !settled && !matches!(values.state, ValuesState::Failed(_)) {
        redraw.write(RequestRedraw);
    }
}

/// `frame N ready|loading`, N counting the frames rendered.
fn log_frame(scene: Option<Res<BlockScene>>, values: Res<SceneValues>, stats: Res<RenderStats>) {
    let stats = stats.get();
    let ready = scene_ready(scene.as_deref(), &values, &stats);
    eprintln!("llmviz frame {} {}", stats.frames, if ready { "ready" } else { "loading" });
}
