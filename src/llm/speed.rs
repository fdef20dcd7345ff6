//! How fast this machine runs each installed language model, and which one answers when the
//! user has not picked one.
//!
//! A measurement loads a model, reads a fixed English prompt of [`MEASURE_PROMPT_TOKENS`]
//! tokens and decodes [`MEASURE_DECODE_STEPS`] more: a few seconds for the small models. The
//! results are kept in `<models dir>/speeds.json`, keyed by the model file's size, this
//! engine's version, the CPU and the thread count, so a new model file, a new Hearth or another
//! machine measures again.
//!
//! The automatic choice ([`choose`]) takes, among the installed catalog models that carry an
//! answer-quality rank, the best ranked one whose expected time to the first token for a
//! typical prompt is within the budget (`llm.first_token_budget_s`); when none is, the
//! quickest. Unless the settings fix it, the evidence budget is chosen with it
//! ([`choose_evidence`]): the most evidence with which the best answerer that can start in
//! time still does (a better model with 200 evidence tokens beats a smaller one with 400). Imported models and catalog models without a rank (test models,
//! base models without a chat template) are measured and shown but only answer when chosen.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Llm;
use crate::error::{Error, Result};

/// Prompt length the expected first-token time is given for at the default evidence budget:
/// the median prompt over the evaluation suite's development questions was 565 tokens (400
/// tokens of evidence, the instructions and the question).
pub const TYPICAL_PROMPT_TOKENS: usize = 560;

/// Prompt tokens besides the evidence (instructions, template, question), as
/// [`TYPICAL_PROMPT_TOKENS`] counts them.
const PROMPT_OVERHEAD_TOKENS: usize = TYPICAL_PROMPT_TOKENS - 400;

/// The evidence budgets (`answer.source_tokens`) the automatic choice may give a prompt, most
/// first. Measured on the held-out questions with the 1.5B: 200 tokens were right and cited
/// about .03 less often than 400 on three corpora, at 2.4 s less to the first shown text, and
/// the 1.5B with 200 was right .13 more often than the 0.5B with 400.
pub const EVIDENCE_CHOICES: [usize; 2] = [400, 200];

/// Typical prompt tokens with `evidence` tokens of evidence.
pub fn typical_prompt_tokens(evidence: usize) -> usize {
    PROMPT_OVERHEAD_TOKENS + evidence
}

/// Prompt tokens read by a measurement.
pub const MEASURE_PROMPT_TOKENS: usize = 256;

/// Tokens decoded by a measurement.
pub const MEASURE_DECODE_STEPS: usize = 8;

/// The file, inside the models dir, that keeps the measurements.
pub const FILE_NAME: &str = "speeds.json";

/// The share of the machine's CPU time other programs may take while a model is measured
/// before the measurement counts as disturbed: a build on both cores halved the 1.5B's
/// measured prefill (56 against 128 tok/s, 2026-12-07) and flipped the automatic choice.
pub const BUSY_SHARE: f64 = 0.2;

/// Measurement attempts while other programs keep the machine busy (a second apart).
const MEASURE_ATTEMPTS: usize = 3;

/// The text measurement prompts are cut from (also `hearth bench llm`'s, and
/// `bench/llama_cpp_bench.py`'s, so the numbers compare).
pub const SAMPLE_TEXT: &str = "The quick brown fox jumps over the lazy dog. A journey of a \
thousand miles begins with a single step. In the middle of difficulty lies opportunity. The \
library was quiet except for the rustle of pages and the distant hum of the old radiator by the \
window. ";

/// Revision of the decode kernels, part of [`Machine::engine`]: raised when they change, so
/// that speeds measured before are measured again (2: the K-quant and Q4_1 mat-vecs and the
/// parallel decode attention, which made the 1.5B decode about 1.7x as fast; 3: the f16 KV
/// cache and attention in runs of positions; 4: the 32-value block mat-vecs with VNNI and
/// without the false dependency on their accumulator, the default model's decode about 1.1x).
const DECODE_KERNELS: u32 = 4;

/// Bytes per second this machine's memory streams into the engine's worker pool, the ceiling
/// of decoding (a step reads every weight once): a 256 MiB buffer, far past any cache, summed
/// by all workers in chunks; the best of seven passes.
pub fn stream_bandwidth() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    const WORDS: usize = 32 << 20;
    const CHUNK: usize = 1 << 15;
    let buf: Vec<u64> = (0..WORDS as u64).collect();
    let total = AtomicU64::new(0);
    let mut best = 0f64;
    for _ in 0..7 {
        let t = Instant::now();
        candle_core::utils::barrier_pool().execute_chunked(WORDS / CHUNK, |chunks| {
            let part = &buf[chunks.start * CHUNK..chunks.end * CHUNK];
            total.fetch_add(part.iter().copied().fold(0, u64::wrapping_add), Relaxed);
        });
        best = best.max((WORDS * 8) as f64 / t.elapsed().as_secs_f64());
    }
    std::hint::black_box(total.load(Relaxed));
    best
}

/// What a measurement depends on besides the model: results taken elsewhere do not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name (`/proc/cpuinfo`), or the architecture where that is not known.
    pub cpu: String,
    /// Threads the kernels run on.
    pub threads: usize,
    /// Hearth version and the kernels it picked on this processor (they change between
    /// versions, and with VNNI).
    pub engine: String,
}

impl Machine {
    /// This machine, this build (read once per process).
    pub fn this() -> Machine {
        static THIS: std::sync::OnceLock<Machine> = std::sync::OnceLock::new();
        THIS.get_or_init(Machine::read).clone()
    }

    fn read() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Machine {
            cpu,
            threads: rayon::current_num_threads(),
            engine: format!(
                "{} ({}, decode {DECODE_KERNELS})",
                env!("CARGO_PKG_VERSION"),
                super::qgemm::kernels_id()
            ),
        }
    }
}

/// One model measured on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// Catalog id or imported model name.
    pub model: String,
    /// Size of the GGUF file measured.
    pub file_size: u64,
    /// Where it was measured.
    pub machine: Machine,
    /// Prompt tokens read per second.
    pub prefill_tok_s: f64,
    /// Tokens decoded per second.
    pub decode_tok_s: f64,
    /// Seconds to load the model.
    pub load_s: f64,
    /// When (seconds since the Unix epoch, given by the caller).
    pub measured_at: u64,
    /// The share of the machine's CPU time that other programs used while it was measured
    /// (0 where that is not known).
    #[serde(default)]
    pub busy: f64,
}

impl Speed {
    /// Whether other programs took enough of the machine to slow the measurement down: it
    /// does not replace an undisturbed one and is taken again on the next start.
    pub fn disturbed(&self) -> bool {
        self.busy > BUSY_SHARE
    }

    /// Expected seconds to the first answer token for a prompt of `prompt_tokens` tokens (the
    /// model already loaded): the prompt, then one decode step.
    pub fn first_token_s(&self, prompt_tokens: usize) -> f64 {
        prompt_tokens as f64 / self.prefill_tok_s.max(1e-9) + 1.0 / self.decode_tok_s.max(1e-9)
    }
}

/// Load `path` and time a fixed prompt and a few decode steps. `measured_at` is the wall-clock
/// time to record (the engine reads no clock of its own for it).
pub fn measure(name: &str, path: &Path, measured_at: u64) -> Result<Speed> {
    let file_size = std::fs::metadata(path)
        .map_err(|e| Error::ModelMissing {
            path: path.to_path_buf(),
            hint: format!("cannot read the model file: {e}"),
        })?
        .len();
    let t = Instant::now();
    let llm = Llm::load(path, name, 1024)?;
    let load_s = t.elapsed().as_secs_f64();
    let ids = sample_ids(&llm, MEASURE_PROMPT_TOKENS)?;
    // a short first pass wakes the thread pool and faults in the code paths
    llm.forward_fresh(&ids[..16], 1)?;
    // Other programs on the machine slow a measurement down and would keep the answerer it
    // chooses for good: measure again while they take more than BUSY_SHARE of the CPU; the
    // first undisturbed attempt counts, else the fastest.
    let mut best: Option<(f64, f64, f64)> = None;
    for attempt in 0..MEASURE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let before = CpuTicks::read();
        let (prefill, decode) = llm.forward_fresh(&ids, MEASURE_DECODE_STEPS)?;
        let busy = match (before, CpuTicks::read()) {
            (Some(a), Some(b)) => a.others_share(&b),
            _ => 0.0,
        };
        if busy <= BUSY_SHARE {
            best = Some((prefill, decode, busy));
            break;
        }
        if best.is_none_or(|(p, _, _)| prefill > p) {
            best = Some((prefill, decode, busy));
        }
    }
    let (prefill_tok_s, decode_tok_s, busy) =
        best.ok_or_else(|| Error::Internal("no measurement was taken".into()))?;
    Ok(Speed {
        model: name.to_string(),
        file_size,
        machine: Machine::this(),
        prefill_tok_s,
        decode_tok_s,
        load_s,
        measured_at,
        busy,
    })
}

/// A measurement and the one that counts after it was recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// What was just measured.
    pub measured: Speed,
    /// What the table holds now: `measured`, or an earlier undisturbed measurement when this
    /// one was disturbed.
    pub kept: Speed,
}

/// [`measure`], then [`SpeedTable::record`] the result in `models_dir`.
pub fn measure_and_record(
    models_dir: &Path,
    name: &str,
    path: &Path,
    measured_at: u64,
) -> Result<Recorded> {
    let measured = measure(name, path, measured_at)?;
    let table = SpeedTable::record(models_dir, measured.clone())?;
    let kept = table
        .get(&measured.model, measured.file_size, &measured.machine)
        .cloned()
        .unwrap_or_else(|| measured.clone());
    Ok(Recorded { measured, kept })
}

/// CPU time counters (Linux `/proc`, in clock ticks): of the whole machine and of this
/// process, to tell how much of the machine other programs used in between two readings.
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    /// Every CPU's time, idle included.
    all: u64,
    /// Every CPU's time not idle or waiting for the disk (a hypervisor's steal included).
    busy: u64,
    /// This process's user and system time.
    own: u64,
}

impl CpuTicks {
    fn read() -> Option<CpuTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .map_while(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user and nice)
        let all: u64 = v.get(..8)?.iter().sum();
        let busy = all - v[3] - v[4];
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // after the command name: state is field 0, utime 11, stime 12
        let fields: Vec<&str> = own_stat.rsplit_once(')')?.1.split_whitespace().collect();
        let own = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(CpuTicks { all, busy, own })
    }

    /// The share of the machine's CPU time from `self` to `later` that other programs used.
    fn others_share(&self, later: &CpuTicks) -> f64 {
        let all = later.all.saturating_sub(self.all);
        let own = later.own.saturating_sub(self.own);
        let others = later.busy.saturating_sub(self.busy).saturating_sub(own);
        if all == 0 {
            0.0
        } else {
            others as f64 / all as f64
        }
    }
}

/// The first `n` tokens of [`SAMPLE_TEXT`] repeated.
pub fn sample_ids(llm: &Llm, n: usize) -> Result<Vec<u32>> {
    let one = llm
        .tokenizer()
        .encode(SAMPLE_TEXT, false)
        .map_err(|e| Error::Generation(format!("tokenizer: {e}")))?;
    let one = one.get_ids();
    if one.is_empty() {
        return Err(Error::Generation("the sample text has no tokens".into()));
    }
    Ok(one.iter().copied().cycle().take(n).collect())
}

/// The measurements kept in a models dir.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SpeedTable {
    /// One entry per model and machine.
    pub speeds: Vec<Speed>,
}

impl SpeedTable {
    /// Read `<models_dir>/speeds.json`; a missing or unreadable file is an empty table (the
    /// measurements are a cache: they are taken again).
    pub fn load(models_dir: &Path) -> SpeedTable {
        std::fs::read(models_dir.join(FILE_NAME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The measurement of `model` (a file of `file_size` bytes) on `machine`, if there is one.
    pub fn get(&self, model: &str, file_size: u64, machine: &Machine) -> Option<&Speed> {
        self.speeds
            .iter()
            .find(|s| s.model == model && s.file_size == file_size && &s.machine == machine)
    }

    /// Record `speed` (replacing an older measurement of the same model on the same machine,
    /// unless `speed` was [disturbed](Speed::disturbed) and the older one was not) and write
    /// the table back: to a temporary file, synced, then renamed over the old one.
    pub fn record(models_dir: &Path, speed: Speed) -> Result<SpeedTable> {
        let mut table = SpeedTable::load(models_dir);
        if speed.disturbed()
            && table
                .get(&speed.model, speed.file_size, &speed.machine)
                .is_some_and(|old| !old.disturbed())
        {
            return Ok(table);
        }
        table
            .speeds
            .retain(|s| !(s.model == speed.model && s.machine == speed.machine));
        table.speeds.push(speed);
        let path = models_dir.join(FILE_NAME);
        let tmp = models_dir.join(format!("{FILE_NAME}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&table).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Config(format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(table)
    }
}

/// A model the automatic choice may take.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Catalog id.
    pub id: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Answer quality rank from the catalog: higher answers better.
    pub rank: u32,
    /// This machine's measurement, if taken.
    pub speed: Option<Speed>,
}

/// The model the automatic choice took, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoChoice {
    /// Catalog id.
    pub id: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Expected first-token time for a typical prompt, when measured.
    pub first_token_s: Option<f64>,
    /// One line for people: why this model.
    pub reason: String,
}

/// Pick among `candidates` (see the module docs). Unmeasured candidates are passed over while
/// another one is measured; with none measured the catalog's default (`default_id`) answers if
/// it is a candidate, else the best ranked. `None` when there is no candidate.
/// `evidence` is the prompt's evidence budget (`answer.source_tokens`).
pub fn choose(
    candidates: &[Candidate],
    budget_s: f64,
    default_id: &str,
    evidence: usize,
) -> Option<AutoChoice> {
    let prompt = typical_prompt_tokens(evidence);
    let expected = |c: &Candidate| c.speed.as_ref().map(|s| s.first_token_s(prompt));
    let measured: Vec<(&Candidate, f64)> = candidates
        .iter()
        .filter_map(|c| expected(c).map(|t| (c, t)))
        .collect();
    let pick = |c: &Candidate, t: Option<f64>, reason: String| AutoChoice {
        id: c.id.clone(),
        path: c.path.clone(),
        first_token_s: t,
        reason,
    };
    if measured.is_empty() {
        let c = candidates
            .iter()
            .find(|c| c.id == default_id)
            .or_else(|| candidates.iter().max_by_key(|c| c.rank))?;
        return Some(pick(
            c,
            None,
            "not measured on this machine yet: the default".into(),
        ));
    }
    let within = measured
        .iter()
        .filter(|(_, t)| *t <= budget_s)
        .max_by(|a, b| a.0.rank.cmp(&b.0.rank).then(b.1.total_cmp(&a.1)));
    if let Some((c, t)) = within {
        return Some(pick(
            c,
            Some(*t),
            format!(
                "the best model whose first token is expected within {budget_s:.1} s \
                 ({t:.1} s for a {prompt}-token prompt, {evidence} of them evidence)"
            ),
        ));
    }
    let (c, t) = measured.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(pick(
        c,
        Some(*t),
        format!(
            "no model is expected within {budget_s:.1} s here: the quickest \
             ({t:.1} s for a {prompt}-token prompt, {evidence} of them evidence)"
        ),
    ))
}

/// The evidence budget for the automatic choice: of [`EVIDENCE_CHOICES`], the one that lets
/// the best ranked measured candidate start within `budget_s`, the most evidence among equals;
/// the most evidence when none is measured or none fits at any budget.
pub fn choose_evidence(candidates: &[Candidate], budget_s: f64) -> usize {
    let best_rank = |evidence: usize| {
        let prompt = typical_prompt_tokens(evidence);
        candidates
            .iter()
            .filter(|c| {
                c.speed
                    .as_ref()
                    .is_some_and(|s| s.first_token_s(prompt) <= budget_s)
            })
            .map(|c| c.rank)
            .max()
    };
    EVIDENCE_CHOICES
        .into_iter()
        .max_by_key(|&e| (best_rank(e), e))
        .unwrap_or(EVIDENCE_CHOICES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, rank: u32, prefill: Option<f64>) -> Candidate {
        Candidate {
            id: id.into(),
            path: PathBuf::from(format!("/m/{id}.gguf")),
            rank,
            speed: prefill.map(|p| Speed {
                model: id.into(),
                file_size: 1,
                machine: Machine::this(),
                prefill_tok_s: p,
                decode_tok_s: 1000.0,
                load_s: 0.0,
                measured_at: 0,
                busy: 0.0,
            }),
        }
    }

    #[test]
    fn the_best_model_within_the_budget_answers() {
        // 560 tokens: 1.5B at 200 tok/s = 2.8 s, 0.5B at 500 tok/s = 1.1 s
        let c = [
            candidate("big", 3, Some(200.0)),
            candidate("small", 2, Some(500.0)),
        ];
        assert_eq!(choose(&c, 3.0, "small", 400).unwrap().id, "big");
        // a tighter budget: only the small one fits
        let pick = choose(&c, 1.5, "small", 400).unwrap();
        assert_eq!(pick.id, "small");
        assert!(pick.reason.contains("within 1.5 s"), "{}", pick.reason);
    }

    #[test]
    fn a_better_model_gets_less_evidence_when_that_lets_it_start_in_time() {
        // 1.5B at 140 tok/s: 4.0 s with 400 evidence tokens (560), 2.6 s with 200 (360);
        // 0.5B at 300 tok/s: 1.9 s with 400
        let c = [
            candidate("big", 3, Some(140.0)),
            candidate("small", 2, Some(300.0)),
        ];
        assert_eq!(choose_evidence(&c, 3.5), 200);
        let pick = choose(&c, 3.5, "small", 200).unwrap();
        assert_eq!(pick.id, "big");
        assert!(
            pick.reason.contains("200 of them evidence"),
            "{}",
            pick.reason
        );
        // with 400 the big one does not fit, so the choice is consistent only with 200
        assert_eq!(choose(&c, 3.5, "small", 400).unwrap().id, "small");
        // a machine fast enough for both at 400 keeps 400
        let fast = [
            candidate("big", 3, Some(300.0)),
            candidate("small", 2, Some(900.0)),
        ];
        assert_eq!(choose_evidence(&fast, 3.5), 400);
        // one too slow for the big one even at 200 keeps 400 for the small one
        let slow = [
            candidate("big", 3, Some(80.0)),
            candidate("small", 2, Some(300.0)),
        ];
        assert_eq!(choose_evidence(&slow, 3.5), 400);
        // nothing measured, or nothing fits: 400
        let unmeasured = [candidate("big", 3, None), candidate("small", 2, None)];
        assert_eq!(choose_evidence(&unmeasured, 3.5), 400);
        assert_eq!(choose_evidence(&slow, 0.1), 400);
    }

    #[test]
    fn when_nothing_fits_the_quickest_answers() {
        let c = [
            candidate("big", 3, Some(30.0)),
            candidate("small", 2, Some(90.0)),
        ];
        let pick = choose(&c, 3.0, "big", 400).unwrap();
        assert_eq!(pick.id, "small");
        assert!(pick.reason.contains("quickest"), "{}", pick.reason);
        assert!(
            (pick.first_token_s.unwrap() - (TYPICAL_PROMPT_TOKENS as f64 / 90.0 + 0.001)).abs()
                < 1e-6
        );
    }

    #[test]
    fn unmeasured_models_fall_back_to_the_default() {
        let c = [candidate("big", 3, None), candidate("small", 2, None)];
        assert_eq!(choose(&c, 3.0, "small", 400).unwrap().id, "small");
        assert_eq!(choose(&c, 3.0, "gone", 400).unwrap().id, "big");
        // one measured: the measured one is judged, the other waits for its measurement
        let c = [candidate("big", 3, None), candidate("small", 2, Some(50.0))];
        assert_eq!(choose(&c, 3.0, "big", 400).unwrap().id, "small");
        assert!(choose(&[], 3.0, "small", 400).is_none());
    }

    #[test]
    fn measurements_are_kept_per_model_file_and_machine() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SpeedTable::load(dir.path()).speeds.is_empty());
        let here = Machine::this();
        let mut s = candidate("m", 1, Some(10.0)).speed.unwrap();
        s.file_size = 42;
        SpeedTable::record(dir.path(), s.clone()).unwrap();
        s.prefill_tok_s = 20.0;
        let table = SpeedTable::record(dir.path(), s.clone()).unwrap();
        assert_eq!(table.speeds.len(), 1, "a new measurement replaces the old");
        let table = SpeedTable::load(dir.path());
        assert_eq!(table.get("m", 42, &here).unwrap().prefill_tok_s, 20.0);
        assert!(table.get("m", 43, &here).is_none(), "another file");
        let elsewhere = Machine {
            threads: here.threads + 1,
            ..here.clone()
        };
        assert!(table.get("m", 42, &elsewhere).is_none(), "another machine");
        // a damaged file is an empty cache, and is replaced on the next record
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(SpeedTable::load(dir.path()).speeds.is_empty());
        SpeedTable::record(dir.path(), s).unwrap();
        assert_eq!(SpeedTable::load(dir.path()).speeds.len(), 1);
    }

    #[test]
    fn a_disturbed_measurement_does_not_replace_a_quiet_one() {
        let dir = tempfile::tempdir().unwrap();
        let here = Machine::this();
        let quiet = candidate("m", 1, Some(128.0)).speed.unwrap();
        let busy = Speed {
            prefill_tok_s: 56.0,
            busy: 0.5,
            ..quiet.clone()
        };
        assert!(busy.disturbed() && !quiet.disturbed());
        // the first measurement counts even when disturbed (there is nothing better) ...
        SpeedTable::record(dir.path(), busy.clone()).unwrap();
        let table = SpeedTable::load(dir.path());
        assert_eq!(table.get("m", 1, &here).unwrap().prefill_tok_s, 56.0);
        // ... a quiet one replaces it, and a disturbed one after that does not
        SpeedTable::record(dir.path(), quiet.clone()).unwrap();
        let table = SpeedTable::record(dir.path(), busy).unwrap();
        assert_eq!(table.get("m", 1, &here).unwrap().prefill_tok_s, 128.0);
        assert_eq!(
            SpeedTable::load(dir.path())
                .get("m", 1, &here)
                .unwrap()
                .prefill_tok_s,
            128.0
        );
        // a quiet one replaces a quiet one (the machine may have become slower)
        let slower = Speed {
            prefill_tok_s: 100.0,
            ..quiet
        };
        let table = SpeedTable::record(dir.path(), slower).unwrap();
        assert_eq!(table.get("m", 1, &here).unwrap().prefill_tok_s, 100.0);
    }

    #[test]
    fn other_programs_share_of_the_cpu() {
        let a = CpuTicks {
            all: 1000,
            busy: 300,
            own: 100,
        };
        // 200 ticks of two CPUs: this process used 150 of the 190 busy ones
        let b = CpuTicks {
            all: 1200,
            busy: 490,
            own: 250,
        };
        assert!((a.others_share(&b) - 0.2).abs() < 1e-9);
        assert_eq!(a.others_share(&a), 0.0);
        // this machine can be read (Linux), and this process's own time is not "others"
        let now = CpuTicks::read().expect("/proc/stat and /proc/self/stat");
        assert!(now.all >= now.busy && now.busy > 0);
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 300 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let later = CpuTicks::read().unwrap();
        assert!(
            later.own > now.own,
            "300 ms of spinning is counted as own time"
        );
    }
}
