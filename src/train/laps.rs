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
        let s = self.last.elapsed().as_secs_f64();
        match self.phases.iter_mut().find(|(p, _)| p == phase) {
            Some((_, t)) => *t += s,
            None => self.phases.push((phase.to_string(), s)),
        }
        self.last = Instant::now();
    }

    /// Laps for work on another thread, recording when these do, from now.
    pub fn child(&self) -> Self {
        Self { device: self.device, last: Instant::now(), phases: Vec::new(), within: Vec::new() }
    }

    /// Keep the phases of `child` (work of thread `thread`) beside this thread's own.
    pub fn absorb(&mut self, thread: &str, child: Laps) {
        for (phase, s) in child.phases {
            let name = format!("{thread}: {phase}");
            match self.within.iter_mut().find(|(p, _)| *p == name) {
                Some((_, t)) => *t += s,
                None => self.within.push((name, s)),
            }
        }
    }

    /// Start timing from now (what came before belongs to no phase).
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }
}
