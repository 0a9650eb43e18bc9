//! The classic CNN's second convolution (64 images, 32 -> 64 channels, 26x26 -> 24x24),
//! and its ReLU, forward and backward on flex: Burn's `Conv2d` and `relu` against
//! `zoo_kernels::conv2d`.
//!
//! `cargo bench -p zoo-kernels --bench conv`

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use zoo_kernels::activation::Pointwise;

fn step(conv: &Conv2d, x: &Tensor<4>, fused: bool) {
    let y = if fused {
        zoo_kernels::conv2d(conv, x.clone(), Some(Pointwise::Relu))
    } else {
        burn::tensor::activation::relu(conv.forward(x.clone()))
    }; // [64, 64, 24, 24]
    let _ = y.sum().backward();
}

fn conv(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([32, 64], [3, 3]).init(&device);
    let x = Tensor::<4>::random([64, 32, 26, 26], Distribution::Default, &device).require_grad();
    let mut group = c.benchmark_group("conv2d 64x32x26x26 -> 64 and ReLU, forward + backward");
    group.sample_size(20);
    group.bench_function("burn Conv2d", |b| b.iter(|| step(&conv, &x, false)));
    group.bench_function("zoo_kernels::conv2d", |b| b.iter(|| step(&conv, &x, true)));
    group.finish();
}

criterion_group!(benches, conv);
criterion_main!(benches);
