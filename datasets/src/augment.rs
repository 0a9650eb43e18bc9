//! On-the-fly, seeded data augmentation of grey-level images: random rotation and
//! translation in one affine pass, then random erasing.
//!
//! Meant for training batches only (see
//! [`ImageBatcher::with_augmentation`](crate::ImageBatcher::with_augmentation)); validation and
//! test batches stay untouched.

use rand::Rng;

/// Smallest erased area, as a fraction of the image (Zhong et al. 2017 use 0.02).
const ERASE_MIN_FRACTION: f32 = 0.02;
/// Aspect ratio (height / width) range of the erased rectangle (Zhong et al. 2017).
const ERASE_ASPECT: (f32, f32) = (0.3, 3.3);
/// Rectangles drawn before random erasing gives up on an image (as torchvision does).
const ERASE_ATTEMPTS: usize = 10;
/// Largest accepted `translate`.
const MAX_TRANSLATE: usize = 8;
/// Largest accepted `rotate_degrees`.
const MAX_ROTATE_DEGREES: f32 = 45.0;

/// Which random transforms to apply to each training image, and how strongly.
///
/// The default turns everything off. In a recipe (TOML), missing fields take their default
/// and an unknown field is an error:
///
/// ```
/// use zoo_datasets::AugmentConfig;
///
/// let config = AugmentConfig { translate: 2, rotate_degrees: 10.0, ..AugmentConfig::default() };
/// assert!(!config.is_off());
/// assert!(config.validate().is_ok());
/// assert!(AugmentConfig::default().is_off());
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Largest shift in pixels along each axis (a whole number of pixels drawn uniformly in
    /// `-translate..=translate`, independently for rows and columns); 0 turns it off.
    /// Recipes use 2. At most 8.
    pub translate: usize,
    /// Largest rotation angle in degrees (the angle is drawn uniformly in
    /// `[-rotate_degrees, rotate_degrees]`, about the image centre); 0 turns it off.
    /// At most 45.
    pub rotate_degrees: f32,
    /// Probability of random erasing (Zhong et al. 2017, "Random Erasing Data
    /// Augmentation"): a random rectangle of the image is set to 0. 0 turns it off.
    pub erase_probability: f32,
    /// Largest erased area as a fraction of the image, in `(0, 1]` (default 0.2); the area
    /// fraction is drawn uniformly in `[0.02, erase_max_fraction]`.
    pub erase_max_fraction: f32,
}

impl Default for AugmentConfig {
    /// Everything off (`erase_max_fraction` 0.2, used once erasing is turned on).
    fn default() -> Self {
        AugmentConfig {
            translate: 0,
            rotate_degrees: 0.0,
            erase_probability: 0.0,
            erase_max_fraction: 0.2,
        }
    }
}

impl AugmentConfig {
    /// Whether no transform is enabled (images pass through unchanged).
    pub fn is_off(&self) -> bool {
        self.translate == 0 && self.rotate_degrees == 0.0 && self.erase_probability == 0.0
    }

    /// Checks every field; the error is one line naming the offending field.
    ///
    /// Accepted: `translate <= 8`, `0 <= rotate_degrees <= 45`,
    /// `0 <= erase_probability <= 1`, `0 < erase_max_fraction <= 1`.
    ///
    /// ```
    /// use zoo_datasets::AugmentConfig;
    ///
    /// let bad = AugmentConfig { rotate_degrees: 90.0, ..AugmentConfig::default() };
    /// assert!(bad.validate().unwrap_err().contains("rotate_degrees"));
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        if self.translate > MAX_TRANSLATE {
            return Err(format!(
                "translate is {}, expected 0..={MAX_TRANSLATE} pixels",
                self.translate
            ));
        }
        if !(0.0..=MAX_ROTATE_DEGREES).contains(&self.rotate_degrees) {
            return Err(format!(
                "rotate_degrees is {}, expected 0..={MAX_ROTATE_DEGREES} degrees",
                self.rotate_degrees
            ));
        }
        if !(0.0..=1.0).contains(&self.erase_probability) {
            return Err(format!(
                "erase_probability is {}, expected a probability in [0, 1]",
                self.erase_probability
            ));
        }
        if !(self.erase_max_fraction > 0.0 && self.erase_max_fraction <= 1.0) {
            return Err(format!(
                "erase_max_fraction is {}, expected a fraction in (0, 1]",
                self.erase_max_fraction
            ));
        }
        Ok(())
    }
}

/// Applies the configured random transforms to one image in place: `pixels` is
/// `channels * rows * cols` grey levels, channel-major then row-major, with
/// `shape = [channels, rows, cols]`.
///
/// In order:
/// 1. one affine pass for rotation and translation: every output pixel is mapped back
///    (inverse mapping about the image centre) and bilinearly interpolated from the input,
///    with 0 outside the image; a translation alone moves whole pixels and copies them
///    exactly;
/// 2. random erasing, with probability `erase_probability`: a rectangle of area fraction in
///    `[0.02, erase_max_fraction]` and aspect ratio (height / width) in `[0.3, 3.3]` is set
///    to 0 in every channel.
///
/// Every channel gets the same transform. A config that is [off](AugmentConfig::is_off)
/// leaves the bytes unchanged and draws nothing from `rng`. Out-of-range values (see
/// [`AugmentConfig::validate`]) are clamped rather than rejected. The random draws depend
/// only on `rng`, so a seeded generator gives the same images every run.
///
/// # Panics
///
/// If `pixels.len()` is not `channels * rows * cols`.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use zoo_datasets::{augment_image, AugmentConfig};
///
/// let mut image = vec![0u8; 28 * 28];
/// image[14 * 28 + 14] = 255;
/// let config = AugmentConfig { translate: 2, ..AugmentConfig::default() };
/// augment_image(&mut image, [1, 28, 28], &config, &mut StdRng::seed_from_u64(7));
/// assert_eq!(image.iter().filter(|&&p| p == 255).count(), 1); // moved, not blurred
/// ```
pub fn augment_image(
    pixels: &mut [u8],
    shape: [usize; 3],
    config: &AugmentConfig,
    rng: &mut impl Rng,
) {
    let mut scratch = Vec::new();
    augment_image_with(pixels, shape, config, rng, &mut scratch);
}

/// [`augment_image`] with a caller-owned scratch buffer, so that a batch of images needs a
/// single allocation.
pub(crate) fn augment_image_with(
    pixels: &mut [u8],
    shape: [usize; 3],
    config: &AugmentConfig,
    rng: &mut impl Rng,
    scratch: &mut Vec<u8>,
) {
    let [channels, rows, cols] = shape;
    assert_eq!(
        Some(pixels.len()),
        channels.checked_mul(rows).and_then(|n| n.checked_mul(cols)),
        "augment_image: {} pixels for a {channels}x{rows}x{cols} image",
        pixels.len()
    );
    if config.is_off() || pixels.is_empty() {
        return;
    }

    let max_shift = config.translate.min(MAX_TRANSLATE) as i32;
    let (dx, dy) = if max_shift > 0 {
        (
            rng.random_range(-max_shift..=max_shift) as isize,
            rng.random_range(-max_shift..=max_shift) as isize,
        )
    } else {
        (0, 0)
    };
    let max_degrees = sanitize(config.rotate_degrees, MAX_ROTATE_DEGREES);
    let angle = if max_degrees > 0.0 {
        (rng.random::<f32>() * 2.0 - 1.0) * max_degrees.to_radians()
    } else {
        0.0
    };
    if angle != 0.0 {
        rotate_translate(pixels, shape, angle, dx, dy, scratch);
    } else if dx != 0 || dy != 0 {
        shift(pixels, shape, dx, dy, scratch);
    }

    let probability = sanitize(config.erase_probability, 1.0);
    if probability > 0.0 && rng.random::<f32>() < probability {
        let max_fraction = sanitize(config.erase_max_fraction, 1.0);
        if max_fraction > 0.0 {
            erase(pixels, shape, max_fraction, rng);
        }
    }
}

/// `value` clamped to `[0, max]`, with NaN read as 0.
fn sanitize(value: f32, max: f32) -> f32 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, max)
    }
}

/// Moves every channel by whole pixels: output `(y, x)` takes input `(y - dy, x - dx)`, 0
/// where that falls outside.
fn shift(pixels: &mut [u8], shape: [usize; 3], dx: isize, dy: isize, scratch: &mut Vec<u8>) {
    let [_, rows, cols] = shape;
    let plane = rows * cols;
    // The columns of an output row that read inside the input row, and where they read.
    let x_lo = dx.clamp(0, cols as isize) as usize;
    let x_hi = (cols as isize + dx).clamp(0, cols as isize) as usize;
    let src_lo = (x_lo as isize - dx) as usize;
    for channel in pixels.chunks_exact_mut(plane) {
        scratch.clear();
        scratch.extend_from_slice(channel);
        for (y, out) in channel.chunks_exact_mut(cols).enumerate() {
            let sy = y as isize - dy;
            if sy < 0 || sy >= rows as isize || x_lo >= x_hi {
                out.fill(0);
                continue;
            }
            let src = &scratch[sy as usize * cols..(sy as usize + 1) * cols];
            out[..x_lo].fill(0);
            out[x_lo..x_hi].copy_from_slice(&src[src_lo..src_lo + (x_hi - x_lo)]);
            out[x_hi..].fill(0);
        }
    }
}

/// Fractional bits of the fixed-point source coordinates in [`rotate_translate`].
const FRAC_BITS: u32 = 16;

/// Rotates every channel by `angle` radians about the image centre, then moves it by
/// `(dx, dy)` pixels, in one pass: output pixel `p` reads the input at
/// `R(-angle) (p - c - d) + c` with bilinear interpolation, 0 outside the input.
///
/// The input channel is copied into `scratch` with a one-pixel border of zeros, so every
/// source point whose four neighbours touch the image reads them without bounds tests of its
/// own; source coordinates advance in 16.16 fixed point along each row and the interpolation
/// weights have 8 bits, so the inner loop is integer-only.
fn rotate_translate(
    pixels: &mut [u8],
    shape: [usize; 3],
    angle: f32,
    dx: isize,
    dy: isize,
    scratch: &mut Vec<u8>,
) {
    let [_, rows, cols] = shape;
    let plane = rows * cols;
    let stride = cols + 2;
    let one = (1u32 << FRAC_BITS) as f32;
    let (sin, cos) = angle.sin_cos();
    let cx = (cols as f32 - 1.0) / 2.0;
    let cy = (rows as f32 - 1.0) / 2.0;
    // Each step right along an output row moves the source point by (cos, -sin).
    let (step_x, step_y) = ((cos * one).round() as i32, (-sin * one).round() as i32);
    for channel in pixels.chunks_exact_mut(plane) {
        scratch.clear();
        scratch.resize(stride * (rows + 2), 0);
        for (padded, row) in scratch[stride..]
            .chunks_exact_mut(stride)
            .zip(channel.chunks_exact(cols))
        {
            padded[1..=cols].copy_from_slice(row);
        }
        let src = &scratch[..];
        for (y, out) in channel.chunks_exact_mut(cols).enumerate() {
            // Source point of the row's first pixel.
            let u = -cx - dx as f32;
            let v = y as f32 - cy - dy as f32;
            let mut sx = ((cos * u + sin * v + cx) * one).round() as i32;
            let mut sy = ((-sin * u + cos * v + cy) * one).round() as i32;
            for value in out.iter_mut() {
                // Arithmetic shifts floor, negative coordinates included; +1 for the border.
                let px = (sx >> FRAC_BITS) + 1;
                let py = (sy >> FRAC_BITS) + 1;
                *value = if (px as u32) <= cols as u32 && (py as u32) <= rows as u32 {
                    let wx = ((sx >> (FRAC_BITS - 8)) & 0xff) as u32;
                    let wy = ((sy >> (FRAC_BITS - 8)) & 0xff) as u32;
                    let i = py as usize * stride + px as usize;
                    let (p00, p01) = (src[i] as u32, src[i + 1] as u32);
                    let (p10, p11) = (src[i + stride] as u32, src[i + stride + 1] as u32);
                    let top = p00 * (256 - wx) + p01 * wx;
                    let bottom = p10 * (256 - wx) + p11 * wx;
                    // At most 255 * 2^16 before rounding: the result fits a byte.
                    ((top * (256 - wy) + bottom * wy + (1 << 15)) >> 16) as u8
                } else {
                    0
                };
                sx += step_x;
                sy += step_y;
            }
        }
    }
}

/// Random erasing: draws up to [`ERASE_ATTEMPTS`] rectangles until one fits inside the image,
/// then sets it to 0 in every channel.
fn erase(pixels: &mut [u8], shape: [usize; 3], max_fraction: f32, rng: &mut impl Rng) {
    let [_, rows, cols] = shape;
    let area = (rows * cols) as f32;
    let min_fraction = ERASE_MIN_FRACTION.min(max_fraction);
    let (log_lo, log_hi) = (ERASE_ASPECT.0.ln(), ERASE_ASPECT.1.ln());
    for _ in 0..ERASE_ATTEMPTS {
        let fraction = min_fraction + (max_fraction - min_fraction) * rng.random::<f32>();
        let aspect = (log_lo + (log_hi - log_lo) * rng.random::<f32>()).exp();
        let target = fraction * area;
        let height = (target * aspect).sqrt().round() as usize;
        let width = (target / aspect).sqrt().round() as usize;
        if height == 0 || width == 0 || height >= rows || width >= cols {
            continue;
        }
        let top = rng.random_range(0..=rows - height);
        let left = rng.random_range(0..=cols - width);
        for channel in pixels.chunks_exact_mut(rows * cols) {
            for row in channel.chunks_exact_mut(cols).skip(top).take(height) {
                row[left..left + width].fill(0);
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SHAPE: [usize; 3] = [1, 28, 28];

    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..len).map(|_| rng.random()).collect()
    }

    /// A disc of `value` with radius `radius` centred at (`cy`, `cx`).
    fn disc(cy: f32, cx: f32, radius: f32, value: u8) -> Vec<u8> {
        let mut image = vec![0u8; 784];
        for y in 0..28 {
            for x in 0..28 {
                let (ddy, ddx) = (y as f32 - cy, x as f32 - cx);
                if ddy * ddy + ddx * ddx <= radius * radius {
                    image[y * 28 + x] = value;
                }
            }
        }
        image
    }

    fn total(image: &[u8]) -> f64 {
        image.iter().map(|&p| p as f64).sum()
    }

    /// Intensity-weighted centre `(row, col)`.
    fn mass_centre(image: &[u8], cols: usize) -> (f64, f64) {
        let mut sum = (0.0, 0.0);
        for (i, &p) in image.iter().enumerate() {
            sum.0 += (i / cols) as f64 * p as f64;
            sum.1 += (i % cols) as f64 * p as f64;
        }
        let t = total(image);
        (sum.0 / t, sum.1 / t)
    }

    fn all_on() -> AugmentConfig {
        AugmentConfig {
            translate: 2,
            rotate_degrees: 15.0,
            erase_probability: 0.5,
            erase_max_fraction: 0.2,
        }
    }

    #[test]
    fn default_is_off_and_valid() {
        let config = AugmentConfig::default();
        assert!(config.is_off());
        assert_eq!(config.erase_max_fraction, 0.2);
        assert_eq!(config.validate(), Ok(()));
        assert!(!all_on().is_off());
        assert_eq!(all_on().validate(), Ok(()));
        let only_fraction = AugmentConfig {
            erase_max_fraction: 0.5,
            ..AugmentConfig::default()
        };
        assert!(
            only_fraction.is_off(),
            "the fraction alone turns nothing on"
        );
    }

    #[test]
    fn identity_when_off() {
        let original = noise(1, 3 * 28 * 28);
        let mut image = original.clone();
        let mut rng = StdRng::seed_from_u64(5);
        let mut untouched = rng.clone();
        augment_image(&mut image, [3, 28, 28], &AugmentConfig::default(), &mut rng);
        assert_eq!(image, original);
        assert_eq!(
            rng.random::<u64>(),
            untouched.random::<u64>(),
            "nothing drawn from the generator"
        );
    }

    #[test]
    fn translation_moves_the_mass_centre_by_at_most_the_limit() {
        let original = disc(13.0, 14.0, 5.0, 200);
        let (cy, cx) = mass_centre(&original, 28);
        let config = AugmentConfig {
            translate: 2,
            ..AugmentConfig::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..400 {
            let mut image = original.clone();
            augment_image(&mut image, SHAPE, &config, &mut StdRng::seed_from_u64(seed));
            assert_eq!(
                total(&image),
                total(&original),
                "whole-pixel moves, no loss"
            );
            let (ny, nx) = mass_centre(&image, 28);
            let (moved_y, moved_x) = (ny - cy, nx - cx);
            assert!(
                moved_y.abs() <= 2.0 + 1e-9 && moved_x.abs() <= 2.0 + 1e-9,
                "seed {seed}: moved by ({moved_y}, {moved_x})"
            );
            assert!((moved_y - moved_y.round()).abs() < 1e-9);
            seen.insert((moved_y.round() as i64, moved_x.round() as i64));
        }
        assert_eq!(
            seen.len(),
            25,
            "every shift in -2..=2 x -2..=2 occurs: {seen:?}"
        );
    }

    #[test]
    fn shift_clips_at_the_border_and_fills_with_zero() {
        // 1x2x3 image, shifted right by 1 and down by 1.
        let mut image = vec![1, 2, 3, 4, 5, 6];
        let mut scratch = Vec::new();
        shift(&mut image, [1, 2, 3], 1, 1, &mut scratch);
        assert_eq!(image, vec![0, 0, 0, 0, 1, 2]);
        let mut image = vec![1, 2, 3, 4, 5, 6];
        shift(&mut image, [1, 2, 3], -2, 0, &mut scratch);
        assert_eq!(image, vec![3, 0, 0, 6, 0, 0]);
        let mut image = vec![1, 2, 3, 4, 5, 6];
        shift(&mut image, [1, 2, 3], 3, 0, &mut scratch);
        assert_eq!(
            image,
            vec![0; 6],
            "a shift past the width empties the image"
        );
    }

    #[test]
    fn rotation_preserves_a_centred_disc() {
        let original = disc(13.5, 13.5, 8.0, 200);
        let config = AugmentConfig {
            rotate_degrees: 45.0,
            ..AugmentConfig::default()
        };
        let before = total(&original);
        for seed in 0..50 {
            let mut image = original.clone();
            augment_image(&mut image, SHAPE, &config, &mut StdRng::seed_from_u64(seed));
            let after = total(&image);
            assert!(
                ((after - before) / before).abs() < 0.03,
                "seed {seed}: {before} -> {after}"
            );
            let (cy, cx) = mass_centre(&image, 28);
            assert!((cy - 13.5).abs() < 0.1 && (cx - 13.5).abs() < 0.1);
        }
    }

    #[test]
    fn quarter_turn_maps_a_horizontal_bar_to_a_vertical_one() {
        let mut image = vec![0u8; 784];
        for x in 4..24 {
            image[13 * 28 + x] = 255;
            image[14 * 28 + x] = 255;
        }
        let mut scratch = Vec::new();
        rotate_translate(
            &mut image,
            SHAPE,
            std::f32::consts::FRAC_PI_2,
            0,
            0,
            &mut scratch,
        );
        let mut expected = vec![0u8; 784];
        for y in 4..24 {
            expected[y * 28 + 13] = 255;
            expected[y * 28 + 14] = 255;
        }
        assert_eq!(image, expected);
    }

    #[test]
    fn rotation_and_translation_in_one_pass_keep_an_inner_disc() {
        let original = disc(13.5, 13.5, 6.0, 180);
        let config = AugmentConfig {
            translate: 2,
            rotate_degrees: 30.0,
            ..AugmentConfig::default()
        };
        let mut changed = 0;
        for seed in 0..50 {
            let mut image = original.clone();
            augment_image(&mut image, SHAPE, &config, &mut StdRng::seed_from_u64(seed));
            let ratio = total(&image) / total(&original);
            assert!((ratio - 1.0).abs() < 0.03, "seed {seed}: ratio {ratio}");
            let (cy, cx) = mass_centre(&image, 28);
            assert!((cy - 13.5).abs() <= 2.1 && (cx - 13.5).abs() <= 2.1);
            changed += usize::from(image != original);
        }
        assert!(changed > 40);
    }

    #[test]
    fn every_channel_gets_the_same_transform() {
        let plane = noise(3, 784);
        let mut image = [plane.clone(), plane.clone(), plane].concat();
        augment_image(
            &mut image,
            [3, 28, 28],
            &AugmentConfig {
                erase_probability: 1.0,
                ..all_on()
            },
            &mut StdRng::seed_from_u64(11),
        );
        assert_eq!(image[..784], image[784..1568]);
        assert_eq!(image[..784], image[1568..]);
    }

    #[test]
    fn erasing_zeroes_one_rectangle_and_nothing_else() {
        let config = AugmentConfig {
            erase_probability: 1.0,
            ..AugmentConfig::default()
        };
        for seed in 0..200 {
            let mut image = vec![255u8; 784];
            augment_image(&mut image, SHAPE, &config, &mut StdRng::seed_from_u64(seed));
            let zeros: Vec<(usize, usize)> = (0..784)
                .filter(|&i| image[i] == 0)
                .map(|i| (i / 28, i % 28))
                .collect();
            assert!(!zeros.is_empty(), "seed {seed}: nothing erased");
            assert!(image.iter().all(|&p| p == 0 || p == 255));
            let top = zeros.iter().map(|p| p.0).min().unwrap();
            let bottom = zeros.iter().map(|p| p.0).max().unwrap();
            let left = zeros.iter().map(|p| p.1).min().unwrap();
            let right = zeros.iter().map(|p| p.1).max().unwrap();
            let (height, width) = (bottom - top + 1, right - left + 1);
            assert_eq!(zeros.len(), height * width, "seed {seed}: not a rectangle");
            // Area fraction in [0.02, 0.2] and aspect ratio in [0.3, 3.3], up to the
            // rounding of each side to whole pixels.
            let slack = 0.5 * (height + width) as f64 + 0.25;
            let area = zeros.len() as f64;
            assert!(area >= 0.02 * 784.0 - slack && area <= 0.2 * 784.0 + slack);
            let aspect = height as f64 / width as f64;
            let aspect_slack = |h: f64, w: f64| (h + 0.5) / (w - 0.5).max(0.5);
            assert!(
                aspect <= aspect_slack(3.3 * width as f64, width as f64)
                    && 1.0 / aspect <= aspect_slack(height as f64 / 0.3, height as f64),
                "seed {seed}: {height}x{width}"
            );
        }
    }

    #[test]
    fn erasing_probability_is_respected() {
        let config = AugmentConfig {
            erase_probability: 0.25,
            ..AugmentConfig::default()
        };
        let mut rng = StdRng::seed_from_u64(9);
        let erased = (0..2000)
            .filter(|_| {
                let mut image = vec![255u8; 784];
                augment_image(&mut image, SHAPE, &config, &mut rng);
                image.contains(&0)
            })
            .count();
        assert!((400..600).contains(&erased), "{erased} of 2000");
    }

    #[test]
    fn same_seed_same_bytes_different_seed_different_bytes() {
        let original = noise(4, 784);
        let run = |seed: u64| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .flat_map(|_| {
                    let mut image = original.clone();
                    augment_image(&mut image, SHAPE, &all_on(), &mut rng);
                    image
                })
                .collect::<Vec<u8>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn validate_names_the_field() {
        let cases = [
            (
                AugmentConfig {
                    translate: 9,
                    ..AugmentConfig::default()
                },
                "translate",
            ),
            (
                AugmentConfig {
                    rotate_degrees: 46.0,
                    ..AugmentConfig::default()
                },
                "rotate_degrees",
            ),
            (
                AugmentConfig {
                    rotate_degrees: -1.0,
                    ..AugmentConfig::default()
                },
                "rotate_degrees",
            ),
            (
                AugmentConfig {
                    rotate_degrees: f32::NAN,
                    ..AugmentConfig::default()
                },
                "rotate_degrees",
            ),
            (
                AugmentConfig {
                    erase_probability: 1.5,
                    ..AugmentConfig::default()
                },
                "erase_probability",
            ),
            (
                AugmentConfig {
                    erase_probability: -0.1,
                    ..AugmentConfig::default()
                },
                "erase_probability",
            ),
            (
                AugmentConfig {
                    erase_max_fraction: 0.0,
                    ..AugmentConfig::default()
                },
                "erase_max_fraction",
            ),
            (
                AugmentConfig {
                    erase_max_fraction: 1.01,
                    ..AugmentConfig::default()
                },
                "erase_max_fraction",
            ),
        ];
        for (config, field) in cases {
            let message = config.validate().unwrap_err();
            assert!(message.contains(field), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let edges = AugmentConfig {
            translate: 8,
            rotate_degrees: 45.0,
            erase_probability: 1.0,
            erase_max_fraction: 1.0,
        };
        assert_eq!(edges.validate(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_clamped_not_a_panic() {
        let wild = AugmentConfig {
            translate: 100,
            rotate_degrees: f32::INFINITY,
            erase_probability: f32::NAN,
            erase_max_fraction: 7.0,
        };
        let mut image = noise(5, 784);
        augment_image(&mut image, SHAPE, &wild, &mut StdRng::seed_from_u64(1));
        let tiny = AugmentConfig {
            erase_probability: 1.0,
            erase_max_fraction: 0.001,
            ..AugmentConfig::default()
        };
        let mut small = vec![9u8; 4];
        augment_image(&mut small, [1, 2, 2], &tiny, &mut StdRng::seed_from_u64(1));
        assert_eq!(
            small,
            vec![9; 4],
            "no rectangle fits a 2x2 image at that size"
        );
    }

    #[test]
    #[should_panic(expected = "augment_image: 10 pixels for a 1x28x28 image")]
    fn wrong_length_is_a_clear_panic() {
        augment_image(
            &mut [0u8; 10],
            SHAPE,
            &all_on(),
            &mut StdRng::seed_from_u64(0),
        );
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_fields() {
        let config: AugmentConfig = toml::from_str("translate = 2\nrotate_degrees = 10.0").unwrap();
        assert_eq!(
            config,
            AugmentConfig {
                translate: 2,
                rotate_degrees: 10.0,
                ..AugmentConfig::default()
            }
        );
        let empty: AugmentConfig = toml::from_str("").unwrap();
        assert_eq!(empty, AugmentConfig::default());
        let err = toml::from_str::<AugmentConfig>("rotate = 10.0").unwrap_err();
        assert!(err.to_string().contains("rotate"), "{err}");
        let round_trip: AugmentConfig =
            toml::from_str(&toml::to_string(&all_on()).unwrap()).unwrap();
        assert_eq!(round_trip, all_on());
    }

    #[test]
    fn a_thousand_augmentations_run() {
        let config = AugmentConfig {
            erase_probability: 0.5,
            ..all_on()
        };
        let mut rng = StdRng::seed_from_u64(0);
        let mut scratch = Vec::new();
        let source = noise(6, 784);
        let mut image = vec![0u8; 784];
        let mut checksum = 0u64;
        for _ in 0..1000 {
            image.copy_from_slice(&source);
            augment_image_with(&mut image, SHAPE, &config, &mut rng, &mut scratch);
            checksum += image.iter().map(|&p| p as u64).sum::<u64>();
        }
        assert!(checksum > 0);
    }

    /// A full epoch of MNIST-sized work per setting; prints the times (run it with
    /// `cargo test --release -p zoo-datasets -- --ignored --nocapture`).
    #[test]
    #[ignore = "timing only; run with --ignored --nocapture"]
    fn epoch_of_augmentation_timing() {
        let mini = crate::embedded_mini_mnist().unwrap();
        let settings = [
            (
                "translate 2",
                AugmentConfig {
                    translate: 2,
                    ..AugmentConfig::default()
                },
            ),
            (
                "rotate 15",
                AugmentConfig {
                    rotate_degrees: 15.0,
                    ..AugmentConfig::default()
                },
            ),
            (
                "erase 0.5",
                AugmentConfig {
                    erase_probability: 0.5,
                    ..AugmentConfig::default()
                },
            ),
            (
                "translate 2, rotate 15, erase 0.5",
                AugmentConfig {
                    erase_probability: 0.5,
                    ..all_on()
                },
            ),
        ];
        for (label, config) in settings {
            let mut rng = StdRng::seed_from_u64(0);
            let mut scratch = Vec::new();
            let mut image = vec![0u8; 784];
            let start = std::time::Instant::now();
            for i in 0..60_000 {
                image.copy_from_slice(mini.train.image(i % mini.train.len()));
                augment_image_with(&mut image, SHAPE, &config, &mut rng, &mut scratch);
            }
            eprintln!(
                "60,000 augmentations of 28x28 ({label}): {:?}",
                start.elapsed()
            );
        }
    }
}
