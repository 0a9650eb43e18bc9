//! Random streams drawn per epoch, so that a resumed run computes what an uninterrupted one
//! would have.
//!
//! Every random draw of a training epoch comes from a stream seeded by the run's seed and the
//! epoch number: the order of the training examples ([`EpochShuffled`]), the augmentation of
//! each batch ([`EpochBatcher`]) and the device generator behind dropout
//! ([`EpochClock::seed_device`]). A run resumed at epoch `k + 1` from the checkpoint of epoch
//! `k` therefore draws exactly the numbers the uninterrupted run drew; with the model,
//! optimizer and schedule restored from the checkpoint, it ends with the same figures, bit for
//! bit (`tests/crash.rs` kills training at random instants to check it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Which random stream of an epoch a seed is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The order of the training examples.
    Shuffle,
    /// The random transforms of the training images.
    Augment,
    /// The device generator (dropout masks).
    Device,
}

/// The epoch training is in, shared by the end-of-epoch hook (which moves it on) and the data
/// pipeline (which reads it), with the run's seed.
#[derive(Clone, Debug)]
pub struct EpochClock {
    seed: u64,
    epoch: Arc<AtomicUsize>,
}

impl EpochClock {
    /// A clock at `epoch` (1-based) for a run seeded by `seed`.
    pub fn new(seed: u64, epoch: usize) -> Self {
        Self {
            seed,
            epoch: Arc::new(AtomicUsize::new(epoch)),
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> usize {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Moves to `epoch` (every clone sees it).
    pub fn set(&self, epoch: usize) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The seed of `stream` in the current epoch: a mix of the run's seed, the epoch and the
    /// stream (SplitMix64's finalizer, so neighbouring epochs get unrelated seeds).
    pub fn seed(&self, stream: Stream) -> u64 {
        let stream = match stream {
            Stream::Shuffle => 1u64,
            Stream::Augment => 2,
            Stream::Device => 3,
        };
        let mut z = self
            .seed
            .wrapping_add((self.epoch() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_add(stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Seeds `device`'s generator (dropout masks) for the current epoch.
    pub fn seed_device(&self, device: &Device) {
        device.seed(self.seed(Stream::Device));
    }
}

/// A dataset read in a new order every epoch, the order drawn from the clock's shuffle seed.
pub struct EpochShuffled<I, E = DatasetError> {
    inner: Arc<dyn Dataset<I, E>>,
    clock: EpochClock,
    order: Mutex<(usize, Vec<usize>)>,
}

impl<I, E> EpochShuffled<I, E> {
    /// `inner`, shuffled per epoch of `clock`.
    pub fn new(inner: Arc<dyn Dataset<I, E>>, clock: EpochClock) -> Self {
        Self {
            inner,
            clock,
            order: Mutex::new((0, Vec::new())),
        }
    }
}

impl<I: Send + Sync, E: std::error::Error + Send + Sync + 'static> Dataset<I, E>
    for EpochShuffled<I, E>
{
    fn get(&self, index: usize) -> Result<I, E> {
        if index >= self.inner.len() {
            return self.inner.get(index); // the inner dataset's out-of-range error
        }
        let epoch = self.clock.epoch();
        let mut order = self.order.lock().expect("order lock");
        if order.0 != epoch || order.1.len() != self.inner.len() {
            let mut indices: Vec<usize> = (0..self.inner.len()).collect();
            indices.shuffle(&mut StdRng::seed_from_u64(self.clock.seed(Stream::Shuffle)));
            *order = (epoch, indices);
        }
        let i = order.1[index];
        drop(order);
        self.inner.get(i)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// A batcher rebuilt from the clock's augmentation seed whenever the epoch changes, so its own
/// random stream (augmentation) restarts from a seed of the epoch.
pub struct EpochBatcher<B> {
    clock: EpochClock,
    make: Box<dyn Fn(u64) -> B + Send + Sync>,
    current: Mutex<(usize, Arc<B>)>,
}

impl<B> EpochBatcher<B> {
    /// A batcher made by `make(seed)` for each epoch of `clock`.
    pub fn new(clock: EpochClock, make: impl Fn(u64) -> B + Send + Sync + 'static) -> Self {
        let first = make(clock.seed(Stream::Augment));
        let epoch = clock.epoch();
        Self {
            clock,
            make: Box::new(make),
            current: Mutex::new((epoch, Arc::new(first))),
        }
    }
}

impl<I, O, B: Batcher<I, O>> Batcher<I, O> for EpochBatcher<B> {
    fn batch(&self, items: Vec<I>, device: &Device) -> O {
        let batcher = {
            let mut current = self.current.lock().expect("batcher lock");
            let epoch = self.clock.epoch();
            if current.0 != epoch {
                *current = (
                    epoch,
                    Arc::new((self.make)(self.clock.seed(Stream::Augment))),
                );
            }
            current.1.clone()
        };
        batcher.batch(items, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::InMemDataset;

    fn dataset(n: usize) -> Arc<dyn Dataset<usize>> {
        Arc::new(InMemDataset::new((0..n).collect()))
    }

    fn epoch_order(data: &EpochShuffled<usize>) -> Vec<usize> {
        (0..data.len()).map(|i| data.get(i).unwrap()).collect()
    }

    #[test]
    fn each_epoch_has_its_own_order_and_it_depends_only_on_seed_and_epoch() {
        let clock = EpochClock::new(42, 1);
        let data = EpochShuffled::new(dataset(50), clock.clone());
        let first = epoch_order(&data);
        clock.set(2);
        let second = epoch_order(&data);
        assert_ne!(first, second);
        let mut sorted = second.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "a permutation");
        // A fresh pipeline at epoch 2 (a resumed run) reads the same order.
        let resumed = EpochShuffled::new(dataset(50), EpochClock::new(42, 2));
        assert_eq!(epoch_order(&resumed), second);
        assert_ne!(
            epoch_order(&EpochShuffled::new(dataset(50), EpochClock::new(43, 2))),
            second,
            "another seed"
        );
    }

    #[test]
    fn seeds_differ_by_stream_and_epoch() {
        let clock = EpochClock::new(7, 1);
        let a = clock.seed(Stream::Shuffle);
        assert_ne!(a, clock.seed(Stream::Augment));
        clock.set(2);
        assert_ne!(a, clock.seed(Stream::Shuffle));
        assert_eq!(
            EpochClock::new(7, 2).seed(Stream::Shuffle),
            clock.seed(Stream::Shuffle)
        );
    }

    #[test]
    fn the_batcher_is_rebuilt_with_the_epochs_seed() {
        struct Seeded(u64);
        impl Batcher<u8, u64> for Seeded {
            fn batch(&self, _items: Vec<u8>, _device: &Device) -> u64 {
                self.0
            }
        }
        let clock = EpochClock::new(1, 1);
        let batcher = EpochBatcher::new(clock.clone(), Seeded);
        let device = Device::flex();
        let first = batcher.batch(vec![0], &device);
        assert_eq!(first, clock.seed(Stream::Augment));
        clock.set(2);
        assert_eq!(batcher.batch(vec![0], &device), clock.seed(Stream::Augment));
        assert_ne!(batcher.batch(vec![0], &device), first);
    }
}
