//! One LSTM layer over row-wise MNIST (64 images, 28 steps of 28 pixels, hidden 128), forward
//! and backward on flex: Burn's `Lstm` against `zoo_kernels::lstm_forward`.
//!
//! `cargo bench -p zoo-kernels --bench lstm`

use burn::nn::{Lstm, LstmConfig};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};

fn step(lstm: &Lstm, x: &Tensor<3>, fused: bool) {
    let (hidden, _) = if fused {
        zoo_kernels::lstm_forward(lstm, x.clone(), None)
    } else {
        lstm.forward(x.clone(), None)
    }; // [64, 28, 128]
    let _ = hidden.sum().backward();
}

fn lstm(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let lstm = LstmConfig::new(28, 128, true).init(&device);
    let x = Tensor::<3>::random([64, 28, 28], Distribution::Default, &device);
    let mut group = c.benchmark_group("lstm 64x28x28 -> 128, forward + backward");
    group.sample_size(20);
    group.bench_function("burn Lstm", |b| b.iter(|| step(&lstm, &x, false)));
    group.bench_function("zoo_kernels::lstm_forward", |b| {
        b.iter(|| step(&lstm, &x, true))
    });
    group.finish();
}

criterion_group!(benches, lstm);
criterion_main!(benches);
