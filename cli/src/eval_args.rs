//! The arguments of `hearth eval`, shared by the evaluations it runs.

use std::path::PathBuf;

use serde::Deserialize;

use crate::scoring::{parse_method, Method};

/// Which evaluation sets `hearth eval` runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSet {
    /// HaluEval QA (short Wikipedia passages; its questions reuse their passages' words).
    Halueval,
    /// Real documents: PDF and HTML manuals nobody at Hearth wrote, paraphrased questions.
    Docs,
    /// Both (not the held-out set).
    All,
    /// The held-out real documents (Octave and Mnesia manuals, git's pages): for checking what
    /// was tuned on `docs`, with its own corpus (`eval/fetch-corpus.sh --heldout`).
    Heldout,
    /// Every corpus of the suite (manuals, news, letters, mail, reports), the `--split` part of
    /// each (`eval/fetch-corpus.sh`, `eval/fetch-corpus.sh --heldout`, `eval/fetch-suite.sh`).
    Suite,
    /// `hearth summarize` on news articles with reference summaries: ROUGE against them and
    /// against the lead-3 baseline, unsupported sentences, seconds per article.
    Summaries,
}

/// Arguments of `hearth eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Which set(s) to run.
    #[arg(long, value_enum, default_value_t = EvalSet::All)]
    pub set: EvalSet,
    /// The real-document corpus [default: <models dir>/eval-real, made by eval/fetch-corpus.sh]
    #[arg(long)]
    pub docs_dir: Option<PathBuf>,
    /// Questions for the real documents [default: the built-in eval/real-questions.jsonl]
    #[arg(long)]
    pub docs_questions: Option<PathBuf>,
    /// The folder holding the suite's corpora (eval-real, eval-heldout, eval-suite/)
    /// [default: the models dir]
    #[arg(long)]
    pub corpora_dir: Option<PathBuf>,
    /// Only these corpora of the suite (manuals, news, letters, mail, reports). Repeatable.
    #[arg(long = "corpus")]
    pub corpora: Vec<String>,
    /// Which part of the suite's questions: dev (tune on it), heldout (report only) or all.
    #[arg(long, value_enum, default_value_t = Split::Dev)]
    pub split: Split,
    /// Also score these rankings: fusions of the vector and BM25 lists (rrf[:TEXT_WEIGHT],
    /// convex[:VECTOR_WEIGHT], zscore[:VECTOR_WEIGHT]) or the default fusion reranked
    /// (rerank:WEIGHT). Repeatable.
    #[arg(long = "method", value_parser = parse_method)]
    pub methods: Vec<Method>,
    /// HaluEval QA jsonl [default: <models dir>/halueval-qa/dataset_halueval_qa.jsonl]
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Questions to ask.
    #[arg(long, default_value_t = 2000)]
    pub questions: usize,
    /// Passages to index (questions are taken from these rows).
    #[arg(long, default_value_t = 10000)]
    pub passages: usize,
    /// Keep the index here (reused when it exists) instead of a temp dir; each question's
    /// candidates (and answers, with --answers) are written here as JSON lines too.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Instead of retrieval metrics, ask this many questions with the language model (and as
    /// many whose passage is not indexed) and score the answers.
    #[arg(long, default_value_t = 0)]
    pub answers: usize,
    /// Instead of answers, choose each answerable question's evidence as `ask` would, without
    /// generating, and score it: the gold file and a gold answer in the prompt, and in the
    /// sentence a quote would use (seconds per corpus; for tuning the evidence).
    #[arg(long, conflicts_with = "answers")]
    pub evidence: bool,
    /// Language model for --answers.
    #[arg(long)]
    pub model: Option<String>,
    /// With --answers: keep what the language model writes for each prompt in this file, and
    /// replay it when a later run builds the same prompt (the answer check, quotes and declines
    /// run for real on it; timings are the recorded ones).
    #[arg(long)]
    pub tape: Option<PathBuf>,
    /// Articles to summarize with --set summaries (0: all 100).
    #[arg(long, default_value_t = 0)]
    pub summaries: usize,
}

/// A part of the evaluation suite: its questions, tuned on or held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// What retrieval, evidence, answers and declines may be tuned on.
    Dev,
    /// Only for reporting what was tuned on the development part.
    Heldout,
    /// Both.
    All,
}

impl Split {
    pub(crate) fn admits(self, part: Split) -> bool {
        self == Split::All || self == part
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::Heldout => "heldout",
            Split::All => "all",
        }
    }
}
