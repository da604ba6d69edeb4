//! Benchmarks, each taking plain settings and returning a report that prints itself or
//! serialises to JSON (`cli/bench` parses the flags): `bench model` ([`model`]: detector,
//! tracker and correlation speed), `bench data` ([`data`]: the training loader), `bench train`
//! ([`train`]: training steps and the TSAL round through the real loader, with the same step
//! in PyTorch eager by [`peer`]); [`timing`] holds what they share.
pub mod data;
pub mod model;
pub mod peer;
pub mod timing;
pub mod train;
