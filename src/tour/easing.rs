//! Easing curves for tour animations, by the names Bevy's `EaseFunction` gives them.
//!
//! Sampled through `bevy_math`'s own `EasingCurve`, which the renderer's tweens sample too, so a
//! value the timeline computes is the value a tween seeked to the same time holds.

use bevy_math::curve::{Curve, EaseFunction, EasingCurve};
use serde::{Deserialize, Serialize};

/// The easing curves a tour may name: a small, readable subset of `EaseFunction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Easing {
    Linear,
    QuadraticIn,
    QuadraticOut,
    QuadraticInOut,
    CubicIn,
    CubicOut,
    CubicInOut,
    SineIn,
    SineOut,
    SineInOut,
    SmoothStep,
    SmootherStep,
    ExponentialIn,
    ExponentialOut,
    ExponentialInOut,
    BackOut,
}

impl Easing {
    /// Every easing, for documentation and tests.
    pub const ALL: [Easing; 16] = [
        Easing::Linear,
        Easing::QuadraticIn,
        Easing::QuadraticOut,
        Easing::QuadraticInOut,
        Easing::CubicIn,
        Easing::CubicOut,
        Easing::CubicInOut,
        Easing::SineIn,
        Easing::SineOut,
        Easing::SineInOut,
        Easing::SmoothStep,
        Easing::SmootherStep,
        Easing::ExponentialIn,
        Easing::ExponentialOut,
        Easing::ExponentialInOut,
        Easing::BackOut,
    ];

    /// The `EaseFunction` of the same name: what the renderer's tween for this action is built with.
    pub fn ease_function(self) -> EaseFunction {
        match self {
            Easing::Linear => EaseFunction::Linear,
            Easing::QuadraticIn => EaseFunction::QuadraticIn,
            Easing::QuadraticOut => EaseFunction::QuadraticOut,
            Easing::QuadraticInOut => EaseFunction::QuadraticInOut,
            Easing::CubicIn => EaseFunction::CubicIn,
            Easing::CubicOut => EaseFunction::CubicOut,
            Easing::CubicInOut => EaseFunction::CubicInOut,
            Easing::SineIn => EaseFunction::SineIn,
            Easing::SineOut => EaseFunction::SineOut,
            Easing::SineInOut => EaseFunction::SineInOut,
            Easing::SmoothStep => EaseFunction::SmoothStep,
            Easing::SmootherStep => EaseFunction::SmootherStep,
            Easing::ExponentialIn => EaseFunction::ExponentialIn,
            Easing::ExponentialOut => EaseFunction::ExponentialOut,
            Easing::ExponentialInOut => EaseFunction::ExponentialInOut,
            Easing::BackOut => EaseFunction::BackOut,
        }
    }

    /// The eased fraction at `progress` (clamped to 0..=1); 0 at the start and 1 at the end.
    pub fn sample(self, progress: f32) -> f32 {
        let progress = if progress.is_nan() { 0.0 } else { progress.clamp(0.0, 1.0) };
        EasingCurve::new(0.0_f32, 1.0, self.ease_function()).sample_clamped(progress)
    }
}
