//! Where the time of a training step goes: [`Laps`] adds the time since its last lap to a
//! named phase, synchronising the device first so the time is the phase's own. Off (the
//! default in training), a lap does nothing at all, so timing never changes what is computed
//! or costs a synchronisation. `tsal bench train --breakdown` turns it on.
use std::time::Instant;
use tch::Device;

pub struct Laps {
    device: Option<Device>,
    last: Instant,
    /// Seconds per phase, in the order the phases first ran.
    pub phases: Vec<(String, f64)>,
    /// Phases of work that ran on other threads meanwhile ([`Self::absorb`]), named
    /// `thread: phase`: each thread's own time, overlapping `phases` and one another.
    pub within: Vec<(String, f64)>,
}

impl Laps {
    /// Laps that record nothing.
    pub fn off() -> Self {
        Self { device: None, last: Instant::now(), phases: Vec::new(), within: Vec::new() }
    }

    /// Laps that record, synchronising `device` at each.
    pub fn on(device: Device) -> Self {
        Self { device: Some(device), last: Instant::now(), phases: Vec::new(), within: Vec::new() }
    }

    /// The time since the last lap belongs to `phase`.
    pub fn lap(&mut self, phase: &str) {
        let Some(device) = self.device else { return };
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        add(&mut self.phases, phase, self.last.elapsed().as_secs_f64());
        self.last = Instant::now();
    }

    /// Laps for work on another thread, recording when these do, from now.
    pub fn child(&self) -> Self {
        Self { device: self.device, ..Self::off() }
    }

    /// Keep the phases of `child` (work of thread `thread`) beside this thread's own.
    pub fn absorb(&mut self, thread: &str, child: Laps) {
        for (phase, s) in child.phases {
            add(&mut self.within, &format!("{thread}: {phase}"), s);
        }
    }

    /// Start timing from now (what came before belongs to no phase).
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }
}

/// `s` more seconds for `phase` in `phases`, a new entry the first time.
fn add(phases: &mut Vec<(String, f64)>, phase: &str, s: f64) {
    match phases.iter_mut().find(|(p, _)| p == phase) {
        Some((_, t)) => *t += s,
        None => phases.push((phase.to_string(), s)),
    }
}
