//! Max-norm regularization (Srivastava et al. 2014): after every optimizer step, each unit's
//! incoming weight vector is scaled back onto the ball of radius `max` if it left it.

use burn::optim::{LearningRate, Optimizer};
use burn::prelude::*;

/// Wraps an optimizer and projects weight matrices and kernels after each of its steps.
/// Rank-1 parameters (biases, batch-norm scales and shifts) are left alone.
#[derive(Clone)]
pub struct MaxNorm<O> {
    inner: O,
    max: f64,
}

impl<O> MaxNorm<O> {
    /// `inner`, with every unit's incoming weight norm kept at most `max`.
    pub fn new(inner: O, max: f64) -> Self {
        Self { inner, max }
    }
}

impl<O: Optimizer> Optimizer for MaxNorm<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (tensor, state) = self.inner.step(lr, tensor, grad, state);
        (project(tensor, self.max), state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

/// Scales each unit's incoming weights to norm `max` where they exceed it. A linear weight is
/// `[inputs, units]` (Burn's row layout); a convolution kernel is `[units, inputs, k, k]`.
pub fn project<const D: usize>(weights: Tensor<D>, max: f64) -> Tensor<D> {
    let dims = weights.dims();
    let units_by_fan_in: Tensor<2> = match D {
        2 => weights.reshape([dims[0], dims[1]]).transpose(), // [units, inputs]
        3.. => {
            let units = dims[0];
            weights.reshape([units, dims.iter().skip(1).product::<usize>()]) // [units, fan_in]
        }
        _ => return weights,
    };
    let norms = units_by_fan_in.clone().square().sum_dim(1).sqrt(); // [units, 1]
    let scale = norms
        .clamp_min(1e-12)
        .recip()
        .mul_scalar(max)
        .clamp_max(1.0); // [units, 1]
    let projected = units_by_fan_in * scale; // [units, fan_in]
    match D {
        2 => projected.transpose().reshape(dims), // back to [inputs, units]
        _ => projected.reshape(dims),
    }
}

/// The largest incoming-weight norm of any unit (see [`project`] for the layouts).
pub fn largest_unit_norm<const D: usize>(weights: Tensor<D>) -> f32 {
    let dims = weights.dims();
    let units_by_fan_in: Tensor<2> = match D {
        2 => weights.reshape([dims[0], dims[1]]).transpose(),
        _ => weights.reshape([dims[0], dims.iter().skip(1).product::<usize>()]),
    };
    units_by_fan_in
        .square()
        .sum_dim(1)
        .sqrt()
        .max()
        .into_scalar()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn projection_bounds_every_unit_and_keeps_small_ones() {
        let device = Device::flex();
        // Two units over three inputs: columns (3, 4, 0) with norm 5 and (0.1, 0, 0).
        let w = Tensor::<2>::from_data(
            TensorData::from([[3.0f32, 0.1], [4.0, 0.0], [0.0, 0.0]]),
            &device,
        );
        let p = project(w, 2.0);
        let values: Vec<f32> = p.into_data().try_to_vec::<f32>().unwrap();
        let expected = [1.2f32, 0.1, 1.6, 0.0, 0.0, 0.0];
        for (a, b) in values.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{values:?}");
        }
    }

    #[test]
    fn kernels_are_bounded_per_output_channel() {
        let device = Device::flex();
        let k = Tensor::<4>::random([8, 3, 3, 3], Distribution::Normal(0.0, 3.0), &device);
        assert!(largest_unit_norm(k.clone()) > 1.0);
        let p = project(k, 1.0);
        assert!(largest_unit_norm(p) <= 1.0 + 1e-5);
    }

    #[test]
    fn biases_are_untouched() {
        let device = Device::flex();
        let b = Tensor::<1>::from_floats([10.0, -20.0], &device);
        assert_eq!(project(b.clone(), 1.0).into_data(), b.into_data());
    }
}
