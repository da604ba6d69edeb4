//! What the benchmarks share: timing with the device synchronised, and per-iteration times
//! summarised by their mean and median.
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::Device;

/// Wait for the device's queued work (CUDA); nothing on the CPU.
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Mean seconds per call of `f` over `iters` calls after `warmup`, synchronising CUDA.
pub fn time(device: Device, warmup: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(device);
    t.elapsed().as_secs_f64() / iters as f64
}

/// Seconds per iteration of each phase of a step, summed over the roles.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Phases {
    /// Forward pass in train mode.
    pub forward_s: f64,
    /// The loss terms and reading their values back (one sync).
    pub loss_s: f64,
    /// zero_grad and backward.
    pub backward_s: f64,
    /// The optimiser step.
    pub optimizer_s: f64,
}

/// Steps on one pre-built batch, repeated: every role steps once per iteration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTime {
    pub iters: usize,
    /// Mean over the timed iterations.
    pub seconds_per_iter: f64,
    /// Frames of the batch per second of iterations (from the mean).
    pub frames_per_s: f64,
    /// The median iteration: what the step costs when other processes take the cores during
    /// some iterations (a shared machine).
    pub median_seconds_per_iter: f64,
    /// With `--breakdown`: the phases, from a second pass of `iters` iterations.
    pub phases: Option<Phases>,
}

/// Mean and median of per-iteration `times` over batches of `frames` frames.
pub fn step_time(mut times: Vec<f64>, frames: usize, phases: Option<Phases>) -> StepTime {
    let iters = times.len();
    let per_iter = times.iter().sum::<f64>() / iters.max(1) as f64;
    times.sort_by(f64::total_cmp);
    let k = iters / 2;
    let median = match iters {
        0 => f64::NAN,
        n if n % 2 == 1 => times[k],
        _ => (times[k - 1] + times[k]) / 2.0,
    };
    StepTime {
        iters,
        seconds_per_iter: per_iter,
        frames_per_s: frames as f64 / per_iter,
        median_seconds_per_iter: median,
        phases,
    }
}
