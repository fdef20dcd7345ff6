//! One output buffer shared by the barrier pool's workers, each writing only its own part.
//!
//! `candle_core::utils::barrier_pool().execute_chunked` hands each worker a range of work
//! items through one shared closure, so the closure cannot hold the `&mut` borrow of the
//! output. [`Disjoint`] holds it instead: the pointer keeps the borrow's provenance and
//! lifetime (no address passed as an integer), every part is checked against the buffer's
//! length, and the one promise left to the caller — no two workers touch the same element —
//! is stated where each part is taken.

use std::marker::PhantomData;
use std::ops::Range;

/// A `&'a mut [T]` whose parts workers may write at once, each its own.
pub(crate) struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: a `Disjoint` is only a way to reach a `&mut [T]`; sending it, or sharing it between
// threads, is sound when `T` may be sent (each element is written by one thread, as every
// method's contract requires).
unsafe impl<T: Send> Send for Disjoint<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    pub(crate) fn new(out: &'a mut [T]) -> Self {
        Self {
            ptr: out.as_mut_ptr(),
            len: out.len(),
            _borrow: PhantomData,
        }
    }

    /// Elements `range` as a slice of their own.
    ///
    /// # Safety
    /// While the slice lives, no other part that overlaps it is taken (by this thread or
    /// another): each worker takes only the items it was handed.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn part(&self, range: Range<usize>) -> &mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "part {range:?} of {}",
            self.len
        );
        // SAFETY: in bounds (checked above) of the borrowed buffer, which outlives `self`;
        // not aliased, by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }

    /// Writes element `at`.
    ///
    /// # Safety
    /// No other thread reads or writes element `at` at the same time.
    pub(crate) unsafe fn write(&self, at: usize, v: T) {
        assert!(at < self.len, "element {at} of {}", self.len);
        // SAFETY: in bounds (checked above); not raced, by the caller's promise.
        unsafe { self.ptr.add(at).write(v) }
    }

    /// The buffer's start, for kernels that write with strides (the pointer comes from the
    /// exclusive borrow, so writing through it is allowed while `self` lives).
    pub(crate) fn ptr(&self) -> *mut T {
        self.ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_fill_their_own_parts() {
        let mut out = vec![0u32; 1000];
        let shared = Disjoint::new(&mut out);
        candle_core::utils::barrier_pool().execute_chunked(10, |items| {
            for i in items {
                // SAFETY: item i is handed to one worker only
                let part = unsafe { shared.part(i * 100..(i + 1) * 100) };
                for (j, v) in part.iter_mut().enumerate() {
                    *v = (i * 100 + j) as u32;
                }
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32));
    }

    #[test]
    #[should_panic(expected = "part 990..1010 of 1000")]
    fn a_part_past_the_end_is_refused() {
        let mut out = vec![0u8; 1000];
        let shared = Disjoint::new(&mut out);
        // SAFETY: nothing else is taken
        let _ = unsafe { shared.part(990..1010) };
    }
}
