//! Samplers: strategies that propose the next point of a [`SearchSpace`] from the trials
//! finished so far. [`RandomSampler`] ignores them; [`TpeSampler`] models them with the
//! Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio and Kégl 2011, "Algorithms for
//! Hyper-Parameter Optimization").

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use rand::rngs::StdRng;
use rand::Rng;

use super::space::{Assignment, Param, SearchSpace};

/// A finished trial as samplers see it.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The point that was tried.
    pub params: Assignment,
    /// Its objective, to MINIMIZE (the caller negates a metric that is maximized). A NaN
    /// (a diverged run) counts as the worst value.
    pub value: f64,
}

/// A strategy that proposes the next point to try.
///
/// ```
/// use rand::SeedableRng;
/// use zoo_experiments::search::sampler::{Observation, Sampler, TpeSampler};
/// use zoo_experiments::search::space::SearchSpace;
///
/// let table: toml::Table = toml::from_str(r#"x = { uniform = [-1.0, 1.0] }"#).unwrap();
/// let space = SearchSpace::parse(&table).unwrap();
/// let sampler = TpeSampler::default();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut observations = Vec::new();
/// for _ in 0..30 {
///     let params = sampler.suggest(&space, &observations, &mut rng);
///     let x = params["x"].as_float().unwrap();
///     observations.push(Observation { params, value: (x - 0.5).powi(2) });
/// }
/// let best = observations.iter().map(|o| o.value).fold(f64::INFINITY, f64::min);
/// assert!(best < 0.01);
/// ```
pub trait Sampler: Send {
    /// The next point to try, given every finished trial (in the order they finished).
    /// Deterministic for a given `rng` state.
    fn suggest(
        &self,
        space: &SearchSpace,
        observations: &[Observation],
        rng: &mut StdRng,
    ) -> Assignment;
}

/// Uniform random search: every suggestion is [`SearchSpace::sample`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomSampler;

impl Sampler for RandomSampler {
    fn suggest(&self, space: &SearchSpace, _: &[Observation], rng: &mut StdRng) -> Assignment {
        space.sample(rng)
    }
}

/// The Tree-structured Parzen Estimator, independent per parameter.
///
/// With fewer than `n_startup` observations it samples at random. Then it splits the
/// observations into the best `ceil(gamma * n)` (at least one), "good", and the rest, "bad",
/// models each parameter's good values with a density `l(x)` and its bad values with `g(x)`,
/// draws `n_candidates` values from `l` and keeps the one with the largest `l(x) / g(x)`.
///
/// Continuous parameters (and `int`, rounded back onto its step grid) are modelled in their
/// own scale (`log_uniform` in log space) by a Parzen estimator: an equal-weight mixture of
/// Gaussians truncated to the range, one per observed value plus a prior one at the centre
/// of the range with the range's width as sigma; each observation's sigma is the larger gap
/// to its neighbours (the prior included), clipped to `[range / min(100, 1 + n), range]`.
/// `choice` parameters use category frequencies with one prior count per category.
#[derive(Clone, Debug)]
pub struct TpeSampler {
    /// Observations sampled at random before the model takes over (10).
    pub n_startup: usize,
    /// Fraction of the observations that count as good (0.25).
    pub gamma: f64,
    /// Candidates drawn from the good density per parameter and suggestion (24).
    pub n_candidates: usize,
}

impl Default for TpeSampler {
    fn default() -> Self {
        TpeSampler {
            n_startup: 10,
            gamma: 0.25,
            n_candidates: 24,
        }
    }
}

impl Sampler for TpeSampler {
    fn suggest(
        &self,
        space: &SearchSpace,
        observations: &[Observation],
        rng: &mut StdRng,
    ) -> Assignment {
        let n = observations.len();
        if n == 0 || n < self.n_startup {
            return space.sample(rng);
        }
        // Best first; NaN is the worst; ties keep their order (stable sort).
        let rank = |i: usize| {
            let value = observations[i].value;
            if value.is_nan() {
                f64::INFINITY
            } else {
                value
            }
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| rank(a).total_cmp(&rank(b)));
        let n_good = if self.gamma.is_finite() {
            ((self.gamma * n as f64).ceil() as usize).clamp(1, n)
        } else {
            1
        };
        let (good, bad) = order.split_at(n_good);
        let n_candidates = self.n_candidates.max(1);

        let mut point = Assignment::new();
        for (key, param) in &space.params {
            let values = |indices: &[usize]| -> Vec<&toml::Value> {
                indices
                    .iter()
                    .filter_map(|&i| observations[i].params.get(key))
                    .collect()
            };
            let (good, bad) = (values(good), values(bad));
            let value = match param {
                Param::Choice(choices) => suggest_choice(choices, &good, &bad, n_candidates, rng),
                _ => suggest_numeric(param, &good, &bad, n_candidates, rng),
            };
            point.insert(key.clone(), value);
        }
        point
    }
}

/// A numeric parameter in the continuous space the Parzen estimators live in: the value
/// itself (`uniform`), its logarithm (`log_uniform`), or for `int` the value with the range
/// widened by half a step on each side, so each grid point owns a bin of one step.
struct Numeric {
    /// The continuous domain.
    low: f64,
    high: f64,
    /// For `int`: `(low, step, number of grid points)`.
    grid: Option<(i64, i64, usize)>,
    log: bool,
}

impl Numeric {
    fn new(param: &Param) -> Self {
        match param {
            Param::LogUniform { low, high } => Numeric {
                low: low.ln(),
                high: high.ln(),
                grid: None,
                log: true,
            },
            Param::Uniform { low, high } => Numeric {
                low: *low,
                high: *high,
                grid: None,
                log: false,
            },
            Param::Int { low, step, .. } => {
                let count = param.n_values().expect("int is discrete").max(1);
                let half = *step as f64 / 2.0;
                let last = *low as f64 + (count - 1) as f64 * *step as f64;
                Numeric {
                    low: *low as f64 - half,
                    high: last + half,
                    grid: Some((*low, *step, count)),
                    log: false,
                }
            }
            Param::Choice(_) => unreachable!("choice is not numeric"),
        }
    }

    /// The grid index nearest to a point of the continuous space (`int` only).
    fn index(&self, x: f64) -> usize {
        let (low, step, count) = self.grid.expect("int parameter");
        let index = ((x - low as f64) / step as f64).round();
        index.clamp(0.0, (count - 1) as f64) as usize
    }

    /// Where an observed value sits in the continuous space; `None` if it is not a number
    /// (or not positive on a log scale). Out-of-range values are clipped into the domain.
    fn internal(&self, value: &toml::Value) -> Option<f64> {
        let x = match value {
            toml::Value::Float(x) if x.is_finite() => *x,
            toml::Value::Integer(i) => *i as f64,
            _ => return None,
        };
        if let Some((low, step, _)) = self.grid {
            return Some(low as f64 + self.index(x) as f64 * step as f64);
        }
        let x = if self.log {
            if x <= 0.0 {
                return None;
            }
            x.ln()
        } else {
            x
        };
        Some(x.clamp(self.low, self.high))
    }

    /// The TOML value of a point of the continuous space.
    fn external(&self, x: f64) -> toml::Value {
        if let Some((low, step, _)) = self.grid {
            return toml::Value::Integer(low + self.index(x) as i64 * step);
        }
        if self.log {
            let (low, high) = (self.low.exp(), self.high.exp());
            toml::Value::Float(x.exp().clamp(low, high))
        } else {
            toml::Value::Float(x.clamp(self.low, self.high))
        }
    }
}

/// TPE for one `uniform`, `log_uniform` or `int` parameter.
fn suggest_numeric(
    param: &Param,
    good: &[&toml::Value],
    bad: &[&toml::Value],
    n_candidates: usize,
    rng: &mut StdRng,
) -> toml::Value {
    let space = Numeric::new(param);
    let points = |values: &[&toml::Value]| -> Vec<f64> {
        values.iter().filter_map(|v| space.internal(v)).collect()
    };
    let l = Parzen::new(&points(good), space.low, space.high);
    let g = Parzen::new(&points(bad), space.low, space.high);
    let score = |x: f64| match space.grid {
        Some((low, step, _)) => {
            let centre = low as f64 + space.index(x) as f64 * step as f64;
            let half = step as f64 / 2.0;
            let (a, b) = (centre - half, centre + half);
            l.log_mass(a, b) - g.log_mass(a, b)
        }
        None => l.log_pdf(x) - g.log_pdf(x),
    };
    let mut best = l.sample(rng);
    let mut best_score = score(best);
    for _ in 1..n_candidates {
        let x = l.sample(rng);
        let s = score(x);
        if s > best_score {
            (best, best_score) = (x, s);
        }
    }
    space.external(best)
}

/// TPE for one `choice` parameter: smoothed category frequencies of the good and the bad.
fn suggest_choice(
    choices: &[toml::Value],
    good: &[&toml::Value],
    bad: &[&toml::Value],
    n_candidates: usize,
    rng: &mut StdRng,
) -> toml::Value {
    let weights = |values: &[&toml::Value]| -> Vec<f64> {
        let mut weights = vec![1.0; choices.len()];
        for value in values {
            if let Some(i) = choices.iter().position(|c| c == *value) {
                weights[i] += 1.0;
            }
        }
        weights
    };
    let (l, g) = (weights(good), weights(bad));
    let (l_total, g_total): (f64, f64) = (l.iter().sum(), g.iter().sum());
    let score = |i: usize| (l[i] / l_total).ln() - (g[i] / g_total).ln();
    let draw = |rng: &mut StdRng| {
        let mut u = rng.random::<f64>() * l_total;
        for (i, w) in l.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        l.len() - 1
    };
    let mut best = draw(rng);
    for _ in 1..n_candidates {
        let i = draw(rng);
        if score(i) > score(best) {
            best = i;
        }
    }
    choices[best].clone()
}

/// A Parzen estimator on `[low, high]`: an equal-weight mixture of truncated Gaussians.
struct Parzen {
    low: f64,
    high: f64,
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// Per component: `ln(weight / truncation mass)`.
    log_coefs: Vec<f64>,
}

impl Parzen {
    /// One component per point plus the prior (centre of the range, sigma = its width), with
    /// Bergstra's bandwidths: the larger neighbour gap, clipped to
    /// `[width / min(100, 1 + n), width]`.
    fn new(points: &[f64], low: f64, high: f64) -> Self {
        let width = high - low;
        let prior_mu = low + width / 2.0;
        let mut sorted: Vec<(f64, bool)> = points.iter().map(|&x| (x, false)).collect();
        sorted.push((prior_mu, true));
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let min_sigma = width / (1.0 + points.len() as f64).min(100.0);
        let mut mus = Vec::with_capacity(sorted.len());
        let mut sigmas = Vec::with_capacity(sorted.len());
        for (i, &(mu, is_prior)) in sorted.iter().enumerate() {
            let left = (i > 0).then(|| mu - sorted[i - 1].0);
            let right = sorted.get(i + 1).map(|next| next.0 - mu);
            let sigma = if is_prior {
                width
            } else {
                let gap = left.into_iter().chain(right).fold(0.0, f64::max);
                gap.clamp(min_sigma, width)
            };
            mus.push(mu);
            sigmas.push(sigma);
        }
        let log_weight = -(mus.len() as f64).ln();
        let log_coefs = mus
            .iter()
            .zip(&sigmas)
            .map(|(&mu, &sigma)| {
                log_weight - log_normal_mass((low - mu) / sigma, (high - mu) / sigma)
            })
            .collect();
        Parzen {
            low,
            high,
            mus,
            sigmas,
            log_coefs,
        }
    }

    /// One draw: a component uniformly, then its truncated Gaussian (by rejection: every
    /// component keeps at least a third of its mass inside the range).
    fn sample(&self, rng: &mut StdRng) -> f64 {
        let i = rng.random_range(0..self.mus.len());
        let (mu, sigma) = (self.mus[i], self.sigmas[i]);
        for _ in 0..64 {
            let x = mu + sigma * standard_normal(rng);
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        mu
    }

    /// `ln` of the density at `x`.
    fn log_pdf(&self, x: f64) -> f64 {
        log_sum_exp(self.mus.iter().zip(&self.sigmas).zip(&self.log_coefs).map(
            |((&mu, &sigma), &coef)| {
                let z = (x - mu) / sigma;
                coef - 0.5 * z * z - LN_SQRT_2PI - sigma.ln()
            },
        ))
    }

    /// `ln` of the mass of `[a, b]` (clipped to the range).
    fn log_mass(&self, a: f64, b: f64) -> f64 {
        let (a, b) = (a.max(self.low), b.min(self.high));
        log_sum_exp(self.mus.iter().zip(&self.sigmas).zip(&self.log_coefs).map(
            |((&mu, &sigma), &coef)| coef + log_normal_mass((a - mu) / sigma, (b - mu) / sigma),
        ))
    }
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln(Φ(zb) - Φ(za))` for the standard normal, accurate in the tails too.
fn log_normal_mass(za: f64, zb: f64) -> f64 {
    if zb <= za {
        return f64::NEG_INFINITY;
    }
    let log_density_times_width = |z: f64| -0.5 * z * z - LN_SQRT_2PI + (zb - za).ln();
    if zb - za < 1e-3 {
        return log_density_times_width((za + zb) / 2.0);
    }
    // Difference of upper-tail probabilities on the side where they are small.
    let mass = if za >= 0.0 {
        upper_tail(za) - upper_tail(zb)
    } else if zb <= 0.0 {
        upper_tail(-zb) - upper_tail(-za)
    } else {
        1.0 - upper_tail(-za) - upper_tail(zb)
    };
    if mass > 0.0 {
        mass.ln()
    } else {
        // Both ends so far in a tail that the probabilities underflow.
        log_density_times_width(if za > 0.0 { za } else { zb })
    }
}

/// `P(Z > z)` for a standard normal `Z`.
fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z * FRAC_1_SQRT_2)
}

/// The complementary error function, with relative error below 1.2e-7 everywhere (the
/// Chebyshev fit of Press et al., "Numerical Recipes", section 6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + terms.map(|t| (t - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn space(text: &str) -> SearchSpace {
        SearchSpace::parse(&toml::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn erfc_matches_known_values() {
        for (x, expected) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (-1.0, 1.842_700_792_949_715),
            (5.0, 1.537_459_794_428_035e-12),
        ] {
            let got = erfc(x);
            assert!(
                ((got - expected) / expected).abs() < 2e-7,
                "{x}: {got} {expected}"
            );
        }
        // Φ(1) - Φ(-1), and a far-tail interval that would underflow as a plain difference.
        assert!((log_normal_mass(-1.0, 1.0).exp() - 0.682_689_492_137_085_9).abs() < 1e-7);
        let far = log_normal_mass(40.0, 41.0);
        assert!(far.is_finite() && far < -790.0, "{far}");
    }

    #[test]
    fn parzen_density_integrates_to_one_over_the_range() {
        let parzen = Parzen::new(&[0.1, 0.15, 0.9, 1.0, 1.0], 0.0, 1.0);
        let steps = 20_000;
        let h = 1.0 / steps as f64;
        let integral: f64 = (0..steps)
            .map(|i| parzen.log_pdf((i as f64 + 0.5) * h).exp() * h)
            .sum();
        assert!((integral - 1.0).abs() < 1e-4, "{integral}");
        // Bin masses sum to one too.
        let total: f64 = (0..10)
            .map(|i| {
                parzen
                    .log_mass(i as f64 / 10.0, (i + 1) as f64 / 10.0)
                    .exp()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Draws stay in the range.
        let mut rng = StdRng::seed_from_u64(0);
        assert!((0..1000).all(|_| (0.0..=1.0).contains(&parzen.sample(&mut rng))));
    }

    #[test]
    fn tpe_starts_random_then_stays_in_bounds_and_is_deterministic() {
        let space = space(
            r#"
            lr = { log_uniform = [1e-4, 1e-1] }
            d = { uniform = [0.0, 0.6] }
            e = { int = [2, 11], step = 3 }
            c = { choice = ["a", "b", [1, 2]] }
            "#,
        );
        let tpe = TpeSampler::default();
        // Before n_startup observations: exactly random sampling.
        let mut a = StdRng::seed_from_u64(9);
        let mut b = StdRng::seed_from_u64(9);
        assert_eq!(tpe.suggest(&space, &[], &mut a), space.sample(&mut b));

        let mut rng = StdRng::seed_from_u64(4);
        let mut observations = Vec::new();
        for i in 0..40 {
            let params = tpe.suggest(&space, &observations, &mut rng);
            let lr = params["lr"].as_float().unwrap();
            let d = params["d"].as_float().unwrap();
            let e = params["e"].as_integer().unwrap();
            assert!((1e-4..=1e-1).contains(&lr) && (0.0..=0.6).contains(&d));
            assert!([2, 5, 8, 11].contains(&e), "{e}");
            let Some(Param::Choice(choices)) = space.get("c") else {
                panic!("c is a choice");
            };
            assert!(choices.contains(&params["c"]), "{}", params["c"]);
            // A diverged trial now and then: NaN must not break the ordering.
            let value = if i % 7 == 3 {
                f64::NAN
            } else {
                lr * d + e as f64
            };
            observations.push(Observation { params, value });
        }
        // Same observations and rng state, same suggestion.
        let mut a = StdRng::seed_from_u64(11);
        let mut b = StdRng::seed_from_u64(11);
        assert_eq!(
            tpe.suggest(&space, &observations, &mut a),
            tpe.suggest(&space, &observations, &mut b)
        );
        // Observations that lack a key, or hold a value of the wrong type, are skipped for it.
        let mut odd = observations.clone();
        for o in odd.iter_mut().take(15) {
            o.params.remove("lr");
            o.params.insert("c".into(), "zzz".into());
            o.params.insert("d".into(), "oops".into());
        }
        let point = tpe.suggest(&space, &odd, &mut a);
        assert_eq!(point.len(), 4);
    }

    #[test]
    fn tpe_favours_the_good_int_and_choice_values() {
        let space = space(
            r#"
            e = { int = [0, 20], step = 2 }
            c = { choice = ["a", "b", "c", "d"] }
            "#,
        );
        let mut rng = StdRng::seed_from_u64(1);
        let observations: Vec<Observation> = (0..60)
            .map(|_| {
                let params = space.sample(&mut rng);
                let e = params["e"].as_integer().unwrap() as f64;
                let c = params["c"].as_str().unwrap();
                let value = (e - 14.0).abs() + if c == "c" { 0.0 } else { 5.0 };
                Observation { params, value }
            })
            .collect();
        let tpe = TpeSampler::default();
        let (mut near, mut right) = (0, 0);
        for _ in 0..100 {
            let point = tpe.suggest(&space, &observations, &mut rng);
            near += usize::from((point["e"].as_integer().unwrap() - 14).abs() <= 2);
            right += usize::from(point["c"].as_str() == Some("c"));
        }
        // Random search would give ~27 and ~25.
        assert!(near >= 70 && right >= 70, "near {near}, right {right}");
    }

    /// A cheap synthetic objective where every parameter matters about equally: lr's
    /// optimum is 10^-2.5 (the term is at most 2.25), d's is 0.3 (at most 2.25), and any
    /// choice but "b" costs 2.
    fn objective(p: &Assignment) -> f64 {
        let lr = p["lr"].as_float().unwrap();
        let d = p["d"].as_float().unwrap();
        let c = p["c"].as_str().unwrap();
        (lr.log10() + 2.5).powi(2) + 25.0 * (d - 0.3).powi(2) + if c == "b" { 0.0 } else { 2.0 }
    }

    /// Best objective found in `trials` sequential trials (suggest, evaluate, observe).
    fn best_of(sampler: &dyn Sampler, space: &SearchSpace, seed: u64, trials: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut observations: Vec<Observation> = Vec::new();
        for _ in 0..trials {
            let params = sampler.suggest(space, &observations, &mut rng);
            let value = objective(&params);
            observations.push(Observation { params, value });
        }
        observations
            .iter()
            .map(|o| o.value)
            .fold(f64::INFINITY, f64::min)
    }

    /// A sign-test style comparison over 20 seeds, not one lucky run. Measured over 3000
    /// seeds, TPE's best after 40 trials beats random search's in about 87% of seeds (mean
    /// best ~0.05 vs ~0.21), so 15 of 20 holds for ~97% of 20-seed blocks, while a sampler
    /// no better than random passes with probability ~2%.
    #[test]
    fn tpe_beats_random_search_over_many_seeds() {
        let space = space(
            r#"
            lr = { log_uniform = [1e-4, 1e-1] }
            d = { uniform = [0.0, 0.6] }
            c = { choice = ["a", "b", "c"] }
            "#,
        );
        let seeds = 20;
        let (mut tpe_wins, mut tpe_sum, mut random_sum) = (0, 0.0, 0.0);
        for seed in 0..seeds {
            // Same seed for both: the 10 startup trials are the same points (paired design).
            let tpe = best_of(&TpeSampler::default(), &space, seed, 40);
            let random = best_of(&RandomSampler, &space, seed, 40);
            tpe_wins += usize::from(tpe < random);
            tpe_sum += tpe;
            random_sum += random;
        }
        let (tpe_mean, random_mean) = (tpe_sum / seeds as f64, random_sum / seeds as f64);
        eprintln!(
            "TPE better in {tpe_wins}/{seeds} seeds; mean best {tpe_mean:.4} vs {random_mean:.4}"
        );
        assert!(
            tpe_wins >= 15 && tpe_mean < random_mean,
            "TPE better in {tpe_wins}/{seeds} seeds; mean best {tpe_mean} vs random {random_mean}"
        );
    }
}
