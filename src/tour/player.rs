//! The reader's place in a chapter: a tour time, whether it is playing, and how fast.
//!
//! Playing only moves the time; what is on screen is always `ChapterTimeline::evaluate(time)`.

use super::timeline::ChapterTimeline;

/// What Space did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continued {
    /// Playback runs on to the next break.
    Playing,
    /// Playback was already running: it jumped to the next break.
    Skipped,
    /// The chapter is over; the app opens the next one.
    ChapterDone,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Player {
    /// Seconds on the chapter's timeline.
    pub time: f32,
    pub playing: bool,
    /// Tour seconds per real second.
    pub speed: f32,
}

impl Default for Player {
    /// At the chapter's start, playing: the first paragraphs fade in and the first step plays.
    fn default() -> Player {
        Player { time: 0.0, playing: true, speed: 1.0 }
    }
}

impl Player {
    /// Paused at `time`, as after a deep link or a scrub.
    pub fn paused_at(time: f32) -> Player {
        Player { time, playing: false, speed: 1.0 }
    }

    /// Moves time on by `real_seconds × speed`, stopping at the next break. Returns whether it
    /// stopped there during this call.
    pub fn advance(&mut self, timeline: &ChapterTimeline, real_seconds: f32) -> bool {
        if !self.playing || real_seconds.is_nan() || real_seconds <= 0.0 {
            return false;
        }
        let stop = timeline.next_break_after(self.time);
        let next = self.time + real_seconds * self.speed.max(0.0);
        if next >= stop {
            self.time = stop;
            self.playing = false;
            true
        } else {
            self.time = next;
            false
        }
    }

    /// Space: play on to the next break; if already playing, finish the stretch at once.
    pub fn continue_playing(&mut self, timeline: &ChapterTimeline) -> Continued {
        if self.at_end(timeline) {
            self.playing = false;
            Continued::ChapterDone
        } else if self.playing {
            self.skip(timeline);
            Continued::Skipped
        } else {
            self.playing = true;
            Continued::Playing
        }
    }

    /// Backspace: back to the previous break, paused; Space then replays what came after it.
    pub fn back(&mut self, timeline: &ChapterTimeline) {
        self.time = timeline.previous_break_before(self.time);
        self.playing = false;
    }

    /// Skip: to the next break at once, paused there.
    pub fn skip(&mut self, timeline: &ChapterTimeline) {
        self.time = timeline.next_break_after(self.time);
        self.playing = false;
    }

    /// Dragging the timeline: to `time`, paused.
    pub fn seek(&mut self, timeline: &ChapterTimeline, time: f32) {
        self.time = if time.is_nan() { 0.0 } else { time.clamp(0.0, timeline.length) };
        self.playing = false;
    }

    /// A step's play/replay button: from where its paragraphs appear, playing.
    pub fn play_step(&mut self, timeline: &ChapterTimeline, step: usize) {
        self.time = timeline.steps[step.min(timeline.steps.len() - 1)].start;
        self.playing = true;
    }

    /// Going to a step (`--step`, the table of contents): its paragraphs shown, its actions about to run, paused.
    pub fn jump_to_step(&mut self, timeline: &ChapterTimeline, step: usize) {
        self.time = timeline.step_time(step);
        self.playing = false;
    }

    pub fn at_end(&self, timeline: &ChapterTimeline) -> bool {
        self.time >= timeline.length
    }

    /// Paused at a break with more to come: the "Press Space to continue" moment.
    pub fn waiting(&self, timeline: &ChapterTimeline) -> bool {
        !self.playing && !self.at_end(timeline) && timeline.breaks.contains(&self.time)
    }
}
