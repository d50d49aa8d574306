//! The one integration-test crate: one binary to build and link, with a module per part of llmviz.

mod ablation;
mod cli;
mod compute;
mod connectors;
mod decode;
mod docs;
mod explain;
mod fetch;
mod free_region;
mod fuzz;
mod gpt2;
mod gpu;
mod gpu_compute;
mod gpu_failure;
mod grad;
mod house;
mod idle;
mod labels;
mod languages;
mod layout;
mod lens;
mod llama;
mod model;
mod model_map;
mod nonfinite;
mod pages;
mod pick;
mod render;
mod sampling;
mod scratch;
mod soak;
mod tour;
mod tour_player;
mod tour_session;
mod tour_views;
mod train;
mod transfer;
mod web;
mod writing;

/// Per-thread counts of the bytes allocated, so that a fuzz case can tell how much memory a reader
/// took for its input (tests/all/fuzz.rs). It wraps every allocation of every test, so it only adds
/// and compares: const thread-locals of plain `Cell`s, which never allocate or run destructors.
pub mod memory {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct CountingAllocator;

    thread_local! {
        // Signed: memory freed on another thread than the one that allocated it counts down here.
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn grow(bytes: usize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get().wrapping_add(bytes as isize);
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    fn shrink(bytes: usize) {
        let _ = LIVE.try_with(|live| live.set(live.get().wrapping_sub(bytes as isize)));
    }

    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let pointer = unsafe { System.alloc(layout) };
            if !pointer.is_null() {
                grow(layout.size());
            }
            pointer
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let pointer = unsafe { System.alloc_zeroed(layout) };
            if !pointer.is_null() {
                grow(layout.size());
            }
            pointer
        }

        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            unsafe { System.dealloc(pointer, layout) };
            shrink(layout.size());
        }

        unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let moved = unsafe { System.realloc(pointer, layout, new_size) };
            if !moved.is_null() {
                shrink(layout.size());
                grow(new_size);
            }
            moved
        }
    }

    /// Runs `f` and returns its result with the most bytes this thread held at once meanwhile, above
    /// what it held before (the result's own memory included). Not nested: an inner call restarts the peak.
    pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let start = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(start));
        let result = f();
        let peak = PEAK.with(Cell::get);
        (result, peak.saturating_sub(start).max(0) as usize)
    }
}

#[global_allocator]
static ALLOCATOR: memory::CountingAllocator = memory::CountingAllocator;
