//! Prompt-lookup speculative decoding.
//!
//! A RAG answer copies runs of words from its sources. After each token the decoder looks for
//! the last few tokens (an n-gram) earlier in the prompt or the answer, and drafts the tokens
//! that followed them there. The network then runs the real token and the draft in one batch
//! (weights read once for all of them), and keeps the drafted tokens as long as each is the
//! one greedy decoding would have picked; the first miss is replaced by the network's own
//! pick. Because the batch computes every token exactly as a run of that token alone would
//! (`Transformer::forward_each`), the result is token for token the greedy output.

/// Longest n-gram looked up; shorter ones are tried down to [`MIN_NGRAM`].
const MAX_NGRAM: usize = 6;
/// Shortest n-gram that may start a draft. On the real-document answers (24 questions, 2,873
/// answer tokens, the default model), the whole set decoded 1.11–1.13x faster with drafts
/// from 3-grams on, 1.05x from 2-grams (whose chance matches soon stopped an answer's
/// drafting, see [`PROBATION`]) and 1.05x from 4-grams.
const MIN_NGRAM: usize = 3;
/// Draft length bounds; the length adapts to how many drafted tokens are being accepted.
pub const MIN_DRAFT: usize = 2;
/// See [`MIN_DRAFT`]. Checking a token costs 0.4–0.5 of a decode step on the default model
/// (`hearth bench llm`), so long drafts lose more than they win: the same set decoded 1.11x
/// faster with at most 4, 1.14–1.16x with 6, 1.13x with 8 and 1.07x with 16.
pub const MAX_DRAFT: usize = 6;
/// Drafted tokens after which an answer keeps drafting only while it keeps at least
/// [`MIN_ACCEPTANCE`] of them: a drafted token costs 0.4–0.5 of a decode step to check, so
/// an answer that keeps fewer than about half of its drafts decodes slower than one token at a
/// time. On the real-document answers, drafting to the end regardless made the whole set 1.11x
/// faster against 1.13x with this probation.
pub const PROBATION: usize = 8;
/// See [`PROBATION`]. On the real-document answers, alternating with speculation off: 0.5
/// made Qwen2.5-1.5B decode 0.95x as fast (its answers keep 0.53 of their drafts; those that
/// kept less than 0.6 decoded at 0.93x), 0.6 made it 1.02x, with the default model at 1.10x.
pub const MIN_ACCEPTANCE: f64 = 0.6;

/// Up to `max` tokens that followed the most recent earlier occurrence of `history`'s last
/// n-gram (longest first), or nothing.
pub fn draft(history: &[u32], max: usize) -> Vec<u32> {
    if max == 0 {
        return Vec::new();
    }
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        if history.len() <= n {
            continue;
        }
        let tail = &history[history.len() - n..];
        // latest earlier occurrence whose continuation is non-empty
        for start in (0..history.len() - n).rev() {
            if &history[start..start + n] == tail {
                let from = start + n;
                let to = (from + max).min(history.len());
                if from < to {
                    return history[from..to].to_vec();
                }
            }
        }
    }
    Vec::new()
}

/// candle's repeat penalty, in place: each token of `context` (once, however often it
/// occurs) has a positive logit divided by `penalty`, a negative one multiplied.
pub fn penalise(logits: &mut [f32], penalty: f32, context: &[u32]) {
    if penalty == 1.0 {
        return;
    }
    for (i, &t) in context.iter().enumerate() {
        if context[..i].contains(&t) {
            continue;
        }
        if let Some(v) = logits.get_mut(t as usize) {
            *v = if *v >= 0.0 {
                *v / penalty
            } else {
                *v * penalty
            };
        }
    }
}

/// Greedy pick after [`penalise`] (which it applies to `logits`): the first largest logit.
pub fn greedy(logits: &mut [f32], penalty: f32, context: &[u32]) -> u32 {
    penalise(logits, penalty, context);
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, &v) in logits.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0 as u32
}

/// The next draft length after `accepted` of `drafted` tokens were kept.
pub fn adapt(len: usize, drafted: usize, accepted: usize) -> usize {
    if accepted == drafted {
        (len + 2).min(MAX_DRAFT)
    } else if accepted == 0 {
        (len / 2).max(MIN_DRAFT)
    } else {
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_continue_the_latest_earlier_occurrence() {
        // "a b c d e f ... a b c" -> "d e f"
        let h = [1, 2, 3, 4, 5, 6, 9, 1, 2, 3];
        assert_eq!(draft(&h, 3), vec![4, 5, 6]);
        assert_eq!(draft(&h, 10), vec![4, 5, 6, 9, 1, 2, 3]);
        // the longest n-gram wins over a later shorter match
        let h = [7, 1, 2, 3, 4, 8, 5, 2, 3, 4, 6, 1, 2, 3, 4];
        assert_eq!(draft(&h, 2), vec![8, 5]);
        // two shared tokens are not enough
        assert!(draft(&[1, 2, 3, 4, 1, 2], 4).is_empty());
        assert!(draft(&[1, 2, 3], 4).is_empty());
        assert!(draft(&h, 0).is_empty());
    }

    #[test]
    fn greedy_applies_the_repeat_penalty() {
        let logits = [0.5, 2.0, 1.9, -1.0];
        assert_eq!(greedy(&mut logits.clone(), 1.0, &[1]), 1);
        assert_eq!(greedy(&mut logits.clone(), 1.1, &[1]), 2);
        assert_eq!(greedy(&mut [-1.0, -1.05], 1.1, &[0]), 1);
    }

    #[test]
    fn draft_length_adapts() {
        assert_eq!(adapt(4, 4, 4), 6);
        assert_eq!(adapt(8, 8, 8), MAX_DRAFT);
        assert_eq!(adapt(4, 4, 0), MIN_DRAFT);
        assert_eq!(adapt(6, 6, 3), 6);
    }
}
