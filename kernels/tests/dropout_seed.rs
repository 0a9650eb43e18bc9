//! `Device::seed` repeats a dropout's masks. Alone in its test binary: the flex generator is
//! shared by the whole process, so a test drawing from it in parallel would change the draws.

use burn::nn::DropoutConfig;
use burn::tensor::{Device, Tensor};

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32")
}

#[test]
fn the_device_seed_repeats_the_masks_and_each_call_draws_a_new_one() {
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.5).init();
    let x = Tensor::<2>::ones([16, 16], &device);
    let draw = |seed: u64| {
        device.seed(seed);
        let first = values(zoo_kernels::dropout(&layer, x.clone()));
        (first, values(zoo_kernels::dropout(&layer, x.clone())))
    };
    let (a, b) = (draw(7), draw(7));
    assert_eq!(a, b);
    assert_ne!(a.0, a.1);
    assert_ne!(draw(8).0, a.0);
}
