//! `tsal doctor`: what this machine offers tsal.
use anyhow::{bail, Context, Result};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print the facts as JSON.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 1) unless CUDA is available: for GPU machines.
    #[arg(long = "require_cuda", visible_alias = "require-cuda")]
    pub require_cuda: bool,
}

pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let f = crate::device::facts();
    // A tensor op proves libtorch's kernels work, beyond the library having loaded.
    let probe = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]).sum(tch::Kind::Float);
    let sum = f64::try_from(&probe).context("libtorch loaded but a tensor operation failed")?;
    anyhow::ensure!((sum - 6.0).abs() < 1e-6, "libtorch computed 1+2+3 = {sum}");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!("tsal        {}", f.tsal_version);
        println!("libtorch    {} (tch 0.24)", f.libtorch_version);
        println!("CUDA        {}", yes(f.cuda_available));
        println!("devices     {}", f.cuda_device_count);
        for (i, n) in f.cuda_device_names.iter().enumerate() {
            println!("  cuda:{i}    {n}");
        }
        println!("cuDNN       {}", yes(f.cudnn_available));
        println!("CPU threads {} (libtorch intra-op), {} cores", f.cpu_threads, f.cpu_cores);
        match &f.cpu_bf16 {
            Some(flag) => println!("CPU bf16    native ({flag}): --precision bf16 available"),
            None => println!("CPU bf16    not native: --precision bf16 only on CUDA"),
        }
        let on = if f.cuda_available { "cuda:0" } else { "the CPU" };
        println!("precision   --precision auto trains in {} on {on}", f.auto_precision.name());
    }
    if args.require_cuda && !f.cuda_available {
        bail!(
            "CUDA is not available (is libtorch_cuda linked, a GPU present, LD_LIBRARY_PATH set?)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
