//! The one place where a `--backend` name becomes a Burn [`Device`].

use anyhow::{bail, Result};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The wgpu device of this process, or why there is none.
static WGPU_DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();

/// A compute backend the zoo can train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (the fast CPU path).
    #[default]
    Flex,
    /// The ndarray CPU backend (deprecated in Burn 0.22, slower; kept for comparison).
    Ndarray,
    /// Burn's CubeCL CPU backend: the GPU kernels compiled for this CPU by LLVM (needs the `cpu`
    /// cargo feature).
    Cpu,
    /// GPU through wgpu (Vulkan, Metal or DX12).
    Wgpu,
    /// NVIDIA GPU through CUDA (needs the `cuda` cargo feature).
    Cuda,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 5] = [
        Backend::Flex,
        Backend::Ndarray,
        Backend::Cpu,
        Backend::Wgpu,
        Backend::Cuda,
    ];

    /// The name used on the command line and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Parses a backend name, with an error listing the known names.
    pub fn from_name(name: &str) -> Result<Self> {
        match Self::ALL.into_iter().find(|b| b.name() == name) {
            Some(backend) => Ok(backend),
            None => bail!("unknown backend '{name}' (known: {})", names(&Self::ALL)),
        }
    }

    /// Whether this binary was built with the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex | Backend::Ndarray | Backend::Wgpu => true,
            Backend::Cpu => cfg!(feature = "cpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The inference device of this backend (call `.autodiff()` on it to train), checked to work:
    /// a backend that is not compiled in, or a GPU backend with no usable adapter, is an error
    /// that lists the backends compiled into this binary.
    ///
    /// It also sets the process's allocator to reuse freed tensor buffers
    /// ([`keep_freed_memory`](crate::allocator::keep_freed_memory)), so that every run, bench and
    /// search, from the CLI or from a library user's code, trains at the same speed.
    pub fn device(self) -> Result<Device> {
        crate::allocator::keep_freed_memory();
        if !self.is_compiled() {
            bail!(
                "backend '{}' is not compiled into this binary (rebuild with `--features {}`; offline, run scripts/offline-llvm.sh first); available: {}",
                self.name(),
                self.name(),
                names(&compiled())
            );
        }
        let device = match self {
            Backend::Flex => Device::flex(),
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray(),
            // The wgpu runtime registers once per process: later calls (a GAN run training its
            // quality classifier, a search's trials) reuse the first device.
            Backend::Wgpu => match WGPU_DEVICE
                .get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
            {
                Ok(device) => device.clone(),
                Err(err) => bail!(
                    "backend 'wgpu' has no usable GPU adapter ({err}); on Linux install a Vulkan driver (e.g. mesa-vulkan-drivers); available CPU backends: flex, ndarray"
                ),
            },
            Backend::Cpu => cpu_device()?,
            Backend::Cuda => cuda_device()?,
        };
        Ok(device)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A one-line explanation of a panic message that a GPU runtime is known to raise for this
/// build, or `None` for any other panic (a bug, to report with its trace).
///
/// Without the `autotune` feature CubeCL 0.11 launches one fixed matrix-product tiling, which
/// asks the `cpu` runtime for 66,560 bytes of shared memory against its 49,152 (the forecaster's
/// and the GANs' products); autotune picks a tiling that fits.
///
/// ```
/// use zoo_train::backend::explain_runtime_panic;
///
/// let line = explain_runtime_panic("Shared memory budget exceeded: 66560 > 49152").unwrap();
/// assert!(line.contains("--features cpu,autotune"));
/// assert_eq!(explain_runtime_panic("index out of bounds"), None);
/// ```
pub fn explain_runtime_panic(message: &str) -> Option<String> {
    message.contains("Shared memory budget exceeded").then(|| {
        format!(
            "this network's matrix products need CubeCL's autotune on this backend (without it CubeCL's fixed tiling wants more shared memory than the device has: {}); rebuild with `--features cpu,autotune` (or `--features autotune` for wgpu), or train on flex",
            message
                .lines()
                .next()
                .unwrap_or(message)
                .trim_start_matches("called `Result::unwrap()` on an `Err` value: ")
                .trim()
        )
    })
}

fn compiled() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| b.is_compiled())
        .collect()
}

fn names(backends: &[Backend]) -> String {
    backends
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes a device with `make` and runs one tiny computation on it, quietly: CubeCL runtimes
/// panic when they cannot start (no driver, no GPU), which becomes this error.
#[cfg(any(feature = "cpu", feature = "cuda"))]
fn probe(backend: Backend, why: &str, make: fn() -> Device) -> Result<Device> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let device = make();
        let _ = Tensor::<1>::zeros([1], &device).into_data();
        device
    });
    std::panic::set_hook(hook);
    match probe {
        Ok(device) => Ok(device),
        Err(_) => bail!(
            "backend '{backend}' {why}; available: {}",
            names(&compiled())
        ),
    }
}

#[cfg(feature = "cpu")]
fn cpu_device() -> Result<Device> {
    probe(
        Backend::Cpu,
        "could not start its CubeCL CPU runtime",
        Device::cpu,
    )
}

#[cfg(not(feature = "cpu"))]
fn cpu_device() -> Result<Device> {
    unreachable!("is_compiled() is false without the cpu feature")
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    probe(
        Backend::Cuda,
        "found no usable NVIDIA GPU or driver",
        || Device::cuda(0),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    unreachable!("is_compiled() is false without the cuda feature")
}

/// Runs one tiny computation on `device`, so a broken backend fails early with a clear message.
pub fn smoke_test(device: &Device) -> Result<()> {
    let sum: f32 = Tensor::<1>::ones([4], device).sum().into_scalar();
    if sum != 4.0 {
        bail!("backend self-test failed: 1+1+1+1 gave {sum}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(Backend::from_name(backend.name()).unwrap(), backend);
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = Backend::from_name("tpu").unwrap_err().to_string();
        assert!(
            err.contains("tpu") && err.contains("flex") && err.contains("wgpu"),
            "{err}"
        );
    }

    #[test]
    fn cpu_backends_work() {
        for backend in [Backend::Flex, Backend::Ndarray] {
            smoke_test(&backend.device().unwrap()).unwrap();
        }
    }

    #[cfg(feature = "cpu")]
    #[test]
    fn cubecl_cpu_backend_works() {
        smoke_test(&Backend::Cpu.device().unwrap()).unwrap();
    }

    #[cfg(not(feature = "cpu"))]
    #[test]
    fn cpu_without_feature_says_how_to_get_it() {
        let err = Backend::Cpu.device().unwrap_err().to_string();
        assert!(
            err.contains("--features cpu")
                && err.contains("offline-llvm.sh")
                && err.contains("flex"),
            "{err}"
        );
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_get_it() {
        let err = Backend::Cuda.device().unwrap_err().to_string();
        assert!(
            err.contains("--features cuda") && err.contains("flex"),
            "{err}"
        );
    }
}
