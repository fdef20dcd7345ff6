//! The HaluEval QA set, as `hearth bench` and `hearth eval` read it.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where `hearth models fetch halueval-qa` puts the HaluEval QA set.
pub(crate) fn default_dataset(models_dir: &Path) -> PathBuf {
    models_dir.join("halueval-qa/dataset_halueval_qa.jsonl")
}

/// One HaluEval QA row.
pub(crate) struct QaRow {
    /// The passage that answers the question.
    pub knowledge: String,
    /// The question.
    pub question: String,
    /// The gold answer.
    pub answer: String,
}

/// The first `n` rows of HaluEval QA.
pub(crate) fn load_halueval(path: &Path, n: usize) -> Result<Vec<QaRow>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "{} (fetch it with `hearth models fetch halueval-qa`)",
            path.display()
        )
    })?;
    let mut rows = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(n) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        rows.push(QaRow {
            knowledge: field("knowledge"),
            question: field("question"),
            answer: field("right_answer"),
        });
    }
    Ok(rows)
}
