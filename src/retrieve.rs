//! Search: vector, full-text (BM25) and hybrid (reciprocal rank fusion of the two).

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Nearest neighbours of the query's embedding.
    Vector,
    /// BM25 over the chunk text.
    Text,
    /// Both, fused by reciprocal rank (the default).
    #[default]
    Hybrid,
}

impl FromStr for SearchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vector" => Ok(SearchMode::Vector),
            "text" | "fts" | "bm25" => Ok(SearchMode::Text),
            "hybrid" => Ok(SearchMode::Hybrid),
            other => Err(Error::InvalidRequest(format!(
                "unknown search mode '{other}' (use vector, text or hybrid)"
            ))),
        }
    }
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// What to look for.
    pub query: String,
    /// How many hits at most.
    pub limit: usize,
    /// Which retriever.
    pub mode: SearchMode,
}

impl SearchRequest {
    /// A hybrid search for `query` returning up to 10 hits.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            limit: 10,
            mode: SearchMode::Hybrid,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.query.trim().is_empty() {
            return Err(Error::InvalidRequest("the query is empty".into()));
        }
        if self.limit == 0 || self.limit > 1000 {
            return Err(Error::InvalidRequest(format!(
                "limit must be between 1 and 1000, got {}",
                self.limit
            )));
        }
        Ok(())
    }
}

/// One search result: a chunk and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Absolute path of the document.
    pub path: String,
    /// 1-based page for PDFs, `null` otherwise.
    pub page: Option<u32>,
    /// Higher is better. Vector: cosine similarity; text: BM25; hybrid: fused RRF score.
    pub score: f32,
    /// The chunk's text.
    pub text: String,
    /// Heading path (may be empty).
    pub heading: String,
    /// Char offset of the chunk within its page (or document).
    pub char_start: u64,
    /// Char offset just past the chunk.
    pub char_end: u64,
    /// Chunk id.
    pub chunk_id: String,
}

/// The constant of reciprocal rank fusion (Cormack et al.): score = Σ 1 / (K + rank).
pub const RRF_K: f32 = 60.0;

/// Fuse ranked lists by reciprocal rank. Each list is best-first; a hit's fused score is the sum
/// over lists of `1 / (RRF_K + rank)` (rank from 1). Returns best-first, ties by first list.
pub fn reciprocal_rank_fusion(lists: Vec<Vec<Hit>>, limit: usize) -> Vec<Hit> {
    let mut fused: HashMap<String, (f32, usize, Hit)> = HashMap::new();
    let mut order = 0usize;
    for list in lists {
        for (rank, hit) in list.into_iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f32 + 1.0);
            fused
                .entry(hit.chunk_id.clone())
                .and_modify(|e| e.0 += add)
                .or_insert_with(|| {
                    order += 1;
                    (add, order, hit)
                });
        }
    }
    let mut hits: Vec<(f32, usize, Hit)> = fused.into_values().collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    hits.into_iter()
        .take(limit)
        .map(|(score, _, mut hit)| {
            hit.score = score;
            hit
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> Hit {
        Hit {
            path: format!("/{id}"),
            page: None,
            score: 0.0,
            text: id.into(),
            heading: String::new(),
            char_start: 0,
            char_end: 1,
            chunk_id: id.into(),
        }
    }

    #[test]
    fn rrf_rewards_agreement() {
        let vector = vec![hit("a"), hit("b"), hit("c")];
        let text = vec![hit("c"), hit("d"), hit("b")];
        let fused = reciprocal_rank_fusion(vec![vector, text], 10);
        let ids: Vec<_> = fused.iter().map(|h| h.chunk_id.as_str()).collect();
        // b: 1/62 + 1/63, c: 1/63 + 1/61 -> c first, then b, then a (1/61), d (1/62)
        assert_eq!(ids, vec!["c", "b", "a", "d"]);
        assert!((fused[0].score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(
            reciprocal_rank_fusion(vec![vec![hit("x")], vec![]], 1).len(),
            1
        );
    }

    #[test]
    fn modes_parse_and_requests_validate() {
        assert_eq!("TEXT".parse::<SearchMode>().unwrap(), SearchMode::Text);
        assert!("nope".parse::<SearchMode>().is_err());
        assert!(SearchRequest::new("  ").validate().is_err());
        let mut r = SearchRequest::new("q");
        r.limit = 0;
        assert!(r.validate().is_err());
    }
}
