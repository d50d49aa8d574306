//! A chapter's tracks as bevy_tweening sequences, which the player seeks to the tour time whenever
//! it moves, with `set_elapsed`, instead of ticking them, so what they write depends on the time alone.
//!
//! Each track becomes one `Sequence` that covers the whole chapter without a hole: a hold (a tween
//! that writes one value) up to its first move, its moves (tweens with the move's easing), holds
//! between them, and a last hold that runs a day past the chapter's end. Seeking a bevy_tweening
//! sequence applies only the tween the time falls in, and a `Delay` applies nothing, so a hole
//! would leave whatever an earlier seek wrote; and a sequence seeked past its end applies nothing
//! either. A move that the next one interrupts is cut there: it runs linearly over what is left
//! of it and its lens samples the move's own curve, so the value is the one `Track::value` gives.
//!
//! `ChapterTimeline::evaluate` stays the definition of the scene at a time; tests hold the two to
//! each other.

use std::any::TypeId;
use std::time::Duration;

use bevy::ecs::change_detection::Mut;
use bevy::ecs::component::{Component, Mutable};
use bevy::ecs::entity::Entity;
use bevy::math::curve::EaseFunction;
use bevy_tweening::{Lens, Sequence, Tween, Tweenable};

use crate::tour::timeline::{BlockState, CameraPose, ChapterTimeline, Interpolate, Segment, Track};

/// How long the last hold outlasts the chapter, so that a seek to the chapter's end (or past it)
/// still lands inside a tween.
const PAST_THE_END: f32 = 86_400.0;

/// What one tween of a track writes.
#[derive(Clone, Copy)]
enum Shape<T> {
    Hold(T),
    /// A whole move, eased by its tween.
    Move {
        from: T,
        to: T,
    },
    /// The part of `segment` up to `until` seconds into it, where the next move takes over.
    Cut {
        segment: Segment<T>,
        until: f32,
    },
}

/// Writes a track's value into one field of a component.
struct TrackLens<C, T> {
    field: fn(&mut C) -> &mut T,
    shape: Shape<T>,
}

impl<C: 'static, T: Interpolate + Send + Sync + 'static> Lens<C> for TrackLens<C, T> {
    fn lerp(&mut self, mut target: Mut<'_, C>, ratio: f32) {
        let value = match self.shape {
            Shape::Hold(value) => value,
            Shape::Move { from, to } => from.interpolate(&to, ratio),
            Shape::Cut { segment, until } => {
                segment.from.interpolate(&segment.to, segment.easing.sample(ratio * until / segment.duration))
            }
        };
        *(self.field)(&mut target) = value;
    }
}

fn seconds(value: f32) -> Duration {
    Duration::from_secs_f64(value.max(0.0) as f64)
}

/// `track` as one sequence writing `field` of a `C`, for a chapter `length` seconds long.
pub fn track_sequence<C, T>(track: &Track<T>, length: f32, field: fn(&mut C) -> &mut T) -> Sequence
where
    C: Component<Mutability = Mutable>,
    T: Interpolate + Send + Sync + 'static,
{
    let tween = |ease: EaseFunction, duration: f32, shape: Shape<T>| {
        Tween::new::<C, _>(ease, seconds(duration), TrackLens { field, shape })
    };
    let mut tweens = Vec::new();
    // Time covered so far, and the value there.
    let mut covered = 0.0_f32;
    let segments = track.segments();
    for (index, segment) in segments.iter().enumerate() {
        if segment.start > covered {
            tweens.push(tween(EaseFunction::Linear, segment.start - covered, Shape::Hold(track.value(covered))));
            covered = segment.start;
        }
        let next_start = segments.get(index + 1).map_or(f32::INFINITY, |next| next.start);
        let end = segment.end().min(next_start);
        // An instant move, or one the next replaces at once, leaves only its end value, which
        // the hold after it writes.
        if end <= segment.start {
            continue;
        }
        tweens.push(if end >= segment.end() {
            tween(segment.easing.ease_function(), segment.duration, Shape::Move { from: segment.from, to: segment.to })
        } else {
            tween(
                EaseFunction::Linear,
                end - segment.start,
                Shape::Cut { segment: *segment, until: end - segment.start },
            )
        });
        covered = end;
    }
    let last = (length - covered).max(0.0) + PAST_THE_END;
    tweens.push(tween(EaseFunction::Linear, last, Shape::Hold(track.value(covered))));
    Sequence::new(tweens)
}

/// Seeks `sequence` to tour time `time` and writes the value there into `target`.
pub fn seek<C: Component<Mutability = Mutable>>(sequence: &mut Sequence, time: f32, target: Mut<C>) {
    sequence.set_elapsed(seconds(if time.is_nan() { 0.0 } else { time }));
    // A zero step applies the seeked tween without moving it; nothing here waits for the
    // completion notices bevy_tweening's own system sends.
    sequence.step(Entity::PLACEHOLDER, Duration::ZERO, target.into(), &TypeId::of::<C>(), &mut || {});
}

/// The camera as the tour's tweens leave it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct TweenedCamera(pub CameraPose);

/// One block of one of the chapter's models, as the tour's tweens leave it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct TweenedBlock {
    /// An index into `ChapterTimeline::models`.
    pub model: usize,
    /// An index into that model's `Layout::blocks`.
    pub block: usize,
    pub state: BlockState,
}

/// The sequences that write one `TweenedCamera` or `TweenedBlock`.
#[derive(Component)]
pub struct TourTweens(pub Vec<Sequence>);

/// The camera's sequence and each animated block's five, with the components they write: what
/// the player spawns for a chapter.
pub fn chapter_tweens(timeline: &ChapterTimeline) -> (TweenedCamera, TourTweens, Vec<(TweenedBlock, TourTweens)>) {
    let length = timeline.length;
    let camera = TourTweens(vec![track_sequence(&timeline.camera, length, |camera: &mut TweenedCamera| &mut camera.0)]);
    let mut blocks = Vec::new();
    for (model, tracks) in timeline.blocks.iter().enumerate() {
        for (&block, tracks) in tracks {
            let sequences = vec![
                track_sequence(&tracks.opacity, length, |b: &mut TweenedBlock| &mut b.state.opacity),
                track_sequence(&tracks.highlight, length, |b: &mut TweenedBlock| &mut b.state.highlight),
                track_sequence(&tracks.offset, length, |b: &mut TweenedBlock| &mut b.state.offset),
                track_sequence(&tracks.scale, length, |b: &mut TweenedBlock| &mut b.state.scale),
                track_sequence(&tracks.reveal, length, |b: &mut TweenedBlock| &mut b.state.reveal),
            ];
            blocks.push((TweenedBlock { model, block, state: BlockState::default() }, TourTweens(sequences)));
        }
    }
    (TweenedCamera(timeline.camera.initial), camera, blocks)
}
