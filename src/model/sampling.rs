//! Choosing the next token: greedy, or drawn from the output distribution reshaped by a
//! temperature, top-k and top-p, with a seeded generator of our own so that a seed gives the same
//! tokens on every platform, natively and in the page.
//!
//! Only the final softmax and the filtering change; the forward pass (the logits) does not.

use std::fmt;

/// How the output distribution is reshaped. Temperature 1 with no filter is the model's own
/// softmax, exactly.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// Divides the logits before the softmax: below 1 sharpens, above 1 flattens. More than 0.
    pub temperature: f32,
    /// Keep only the k likeliest tokens. At least 1.
    pub top_k: Option<usize>,
    /// Keep the likeliest tokens whose probabilities add up to at least p. In (0, 1].
    pub top_p: Option<f32>,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling { temperature: 1.0, top_k: None, top_p: None }
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "temperature {}", self.temperature)?;
        if let Some(k) = self.top_k {
            write!(f, ", top-k {k}")?;
        }
        if let Some(p) = self.top_p {
            write!(f, ", top-p {p}")?;
        }
        Ok(())
    }
}

/// Sampling settings that cannot be used, with the value given. Each caller names the setting in
/// its own words (the command line its flag, a tour its field).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// The temperature is not a number more than 0.
    #[error("temperature {0}: {rule}", rule = SamplingError::TEMPERATURE_RULE)]
    Temperature(f32),
    /// Top-k of 0 keeps no token.
    #[error("top-k 0: {rule}", rule = SamplingError::TOP_K_RULE)]
    TopK,
    /// Top-p outside (0, 1].
    #[error("top-p {0}: {rule}", rule = SamplingError::TOP_P_RULE)]
    TopP(f32),
}

impl SamplingError {
    pub const TEMPERATURE_RULE: &str = "must be more than 0";
    pub const TOP_K_RULE: &str = "must be at least 1";
    pub const TOP_P_RULE: &str = "must be more than 0 and at most 1";

    /// What the value must be, in plain words: "must be at least 1".
    pub fn rule(&self) -> &'static str {
        match self {
            SamplingError::Temperature(_) => Self::TEMPERATURE_RULE,
            SamplingError::TopK => Self::TOP_K_RULE,
            SamplingError::TopP(_) => Self::TOP_P_RULE,
        }
    }

    /// The value refused, as it was given.
    pub fn value(&self) -> String {
        match self {
            SamplingError::Temperature(t) => t.to_string(),
            SamplingError::TopK => "0".to_string(),
            SamplingError::TopP(p) => p.to_string(),
        }
    }
}

impl Sampling {
    /// The settings, or which of them is wrong.
    pub fn checked(self) -> Result<Sampling, SamplingError> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(SamplingError::Temperature(self.temperature));
        }
        if self.top_k == Some(0) {
            return Err(SamplingError::TopK);
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(SamplingError::TopP(p));
        }
        Ok(self)
    }

    /// Whether this is the model's own softmax.
    pub fn is_plain(&self) -> bool {
        *self == Sampling::default()
    }
}

/// One row of logits reshaped: the probabilities (0 for tokens cut off), and which were kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshaped {
    pub probs: Vec<f32>,
    pub kept: Vec<bool>,
    /// The row's largest logit, and Σ exp((l − max) / T) over the kept tokens: the softmax's
    /// statistics, as the hover card shows them.
    pub max: f32,
    pub sumexp: f32,
}

/// The softmax of `logits / temperature`, cut to the top-k and then the top-p tokens and
/// renormalised over those kept. In f64, and in the same order as the model's softmax.
pub fn reshape(logits: &[f32], sampling: &Sampling) -> Reshaped {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let t = sampling.temperature as f64;
    let weights: Vec<f64> = logits.iter().map(|&l| ((l as f64 - max as f64) / t).exp()).collect();
    let total: f64 = weights.iter().sum();
    // Likeliest first; equal ones by token, so the cut is the same everywhere.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    let mut kept = vec![false; logits.len()];
    let limit = sampling.top_k.unwrap_or(logits.len()).min(logits.len());
    let mut mass = 0.0;
    for &token in order.iter().take(limit) {
        kept[token] = true;
        mass += weights[token] / total;
        if sampling.top_p.is_some_and(|p| mass >= p as f64 - 1e-12) {
            break;
        }
    }
    let kept_total: f64 = weights.iter().zip(&kept).filter(|(_, k)| **k).map(|(w, _)| w).sum();
    let probs = weights.iter().zip(&kept).map(|(w, &k)| if k { (w / kept_total) as f32 } else { 0.0 }).collect();
    Reshaped { probs, kept, max, sumexp: kept_total as f32 }
}

/// The likeliest token; the first of equals.
pub fn greedy(probs: &[f32]) -> usize {
    probs.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best }).0
}

/// SplitMix64: a few lines of integer arithmetic, and the same numbers for a seed on every
/// platform and crate version: what a reproducible sample and a bit-identical training need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal, by Box–Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A token drawn with the given probabilities (which add up to 1, give or take rounding): the
/// first whose running total passes a uniform draw; the last kept one if rounding leaves a gap.
pub fn sample(probs: &[f32], rng: &mut SplitMix64) -> usize {
    let draw = rng.next_f64();
    let mut total = 0.0;
    let mut last_kept = greedy(probs);
    for (token, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last_kept = token;
            total += p as f64;
            if draw < total {
                return token;
            }
        }
    }
    last_kept
}

/// A seed for when none is given: from the clock, shown to the reader so the draw can be repeated.
pub fn fresh_seed() -> u64 {
    let nanos = web_time_nanos();
    SplitMix64::new(nanos).next_u64() % 1_000_000
}

#[cfg(not(target_arch = "wasm32"))]
fn web_time_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(target_arch = "wasm32")]
fn web_time_nanos() -> u64 {
    (js_sys::Date::now() * 1e6) as u64
}
