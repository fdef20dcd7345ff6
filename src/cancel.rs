//! [`Cancel`]: the flag a caller sets to stop a running job (an ingest, a generation, a
//! summary) at its next safe point.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation flag shared between the caller and a running job.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    /// The token this one was made from: cancelling it cancels this one too.
    parent: Option<Arc<AtomicBool>>,
}

impl Cancel {
    /// A fresh, not-cancelled token.
    pub fn new() -> Self {
        Self::default()
    }
    /// A token that is cancelled when this one is, and can also be cancelled on its own (a
    /// part of a job the job itself may stop, while the caller can still stop everything).
    pub fn child(&self) -> Cancel {
        Cancel {
            flag: Arc::new(AtomicBool::new(false)),
            parent: Some(self.flag.clone()),
        }
    }
    /// Ask the job to stop at the next safe point.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst)
    }
    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
            || self
                .parent
                .as_ref()
                .is_some_and(|p| p.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_stops_with_its_parent_and_alone() {
        let parent = Cancel::new();
        let child = parent.child();
        child.cancel();
        assert!(child.is_cancelled() && !parent.is_cancelled());
        let child = parent.child();
        parent.cancel();
        assert!(child.is_cancelled());
    }
}
