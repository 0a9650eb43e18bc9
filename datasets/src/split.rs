//! Seeded train/validation split.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::ImageSet;

/// Splits `set` into `(train, valid)`.
///
/// The indices `0..len` are shuffled with a generator seeded by `seed`; the last
/// `round(valid_fraction * len)` shuffled indices go to the validation set, the others to the
/// training set. Each part keeps the original relative order of its images, so
/// `valid_fraction == 0.0` returns the whole set (in order) and an empty validation set.
/// The same seed always gives the same split.
///
/// `valid_fraction` is meant to lie in `[0, 1)`; values below 0 (or NaN) are treated as 0 and
/// values above 1 as 1 (validate user input before calling).
///
/// ```
/// let set = zoo_datasets::embedded_mini_mnist().unwrap().train;
/// let (train, valid) = zoo_datasets::train_valid_split(&set, 0.1, 7);
/// assert_eq!((train.len(), valid.len()), (1800, 200));
/// ```
pub fn train_valid_split(set: &ImageSet, valid_fraction: f64, seed: u64) -> (ImageSet, ImageSet) {
    let (train, valid) = split_indices(set.len(), valid_fraction, seed);
    (set.select(&train), set.select(&valid))
}

fn split_indices(len: usize, valid_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let fraction = if valid_fraction.is_nan() {
        0.0
    } else {
        valid_fraction.clamp(0.0, 1.0)
    };
    let n_valid = ((fraction * len as f64).round() as usize).min(len);
    let mut indices: Vec<usize> = (0..len).collect();
    indices.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut valid = indices.split_off(len - n_valid);
    indices.sort_unstable();
    valid.sort_unstable();
    (indices, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn numbered(len: usize) -> ImageSet {
        // Image i holds the single pixel i % 256 and label i % 10.
        let pixels = (0..len).map(|i| (i % 256) as u8).collect();
        let labels = (0..len).map(|i| (i % 10) as u8).collect();
        ImageSet::new(1, 1, 1, pixels, labels, 10).unwrap()
    }

    #[test]
    fn sizes_follow_the_rounded_fraction() {
        assert_eq!(split_indices(1000, 0.1, 1).1.len(), 100);
        assert_eq!(split_indices(10, 0.25, 1).1.len(), 3); // 2.5 rounds away from zero
        assert_eq!(split_indices(10, 0.0, 1), ((0..10).collect(), vec![]));
        assert_eq!(split_indices(0, 0.5, 1), (vec![], vec![]));
        assert_eq!(split_indices(10, -1.0, 1).1.len(), 0);
        assert_eq!(split_indices(10, f64::NAN, 1).1.len(), 0);
        assert_eq!(split_indices(10, 2.0, 1).0.len(), 0);
    }

    #[test]
    fn parts_are_disjoint_and_cover_the_set() {
        let (train, valid) = split_indices(500, 0.2, 42);
        assert_eq!((train.len(), valid.len()), (400, 100));
        let train_set: HashSet<_> = train.iter().collect();
        assert!(valid.iter().all(|i| !train_set.contains(i)));
        let mut all: Vec<_> = train.iter().chain(&valid).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..500).collect::<Vec<_>>());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn same_seed_same_split_different_seed_different_split() {
        let set = numbered(300);
        let (t1, v1) = train_valid_split(&set, 0.2, 5);
        let (t2, v2) = train_valid_split(&set, 0.2, 5);
        assert_eq!(t1.pixels(), t2.pixels());
        assert_eq!(v1.pixels(), v2.pixels());
        assert_eq!(v1.labels(), v2.labels());
        let (_, v3) = train_valid_split(&set, 0.2, 6);
        assert_ne!(v1.pixels(), v3.pixels());
        assert_eq!(split_indices(300, 0.2, 5), split_indices(300, 0.2, 5));
        assert_ne!(split_indices(300, 0.2, 5).1, split_indices(300, 0.2, 6).1);
    }

    #[test]
    fn items_keep_their_labels() {
        let set = numbered(200);
        let (train, valid) = train_valid_split(&set, 0.3, 9);
        for part in [&train, &valid] {
            for i in 0..part.len() {
                // pixel = index % 256 = index (< 200), label = index % 10.
                assert_eq!(part.label(i), part.image(i)[0] % 10);
            }
        }
        assert_eq!(train.len() + valid.len(), 200);
    }
}
