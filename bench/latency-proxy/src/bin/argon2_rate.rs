//! `argon2-rate`: the bare Argon2id verification rate on this machine, the
//! ceiling for login throughput. Same crate (argon2 0.5), same parameters
//! (m = 19456 KiB, t = 2, p = 1) and same call (`verify_password` on a PHC
//! string) as adapters/crypto, on `--threads` OS threads (default: all
//! cores) for `--seconds`. Prints one line: `verifications_per_sec=<f64>`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Bare Argon2id (m=19456,t=2,p=1) verifications per second")]
struct Cli {
    /// Worker threads; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let threads = match cli.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"bench-salt-16byt").map_err(|e| e.to_string())?;
    let phc = argon2
        .hash_password(b"correct horse battery", &salt)
        .map_err(|e| e.to_string())?
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon2, phc, stop, done) = (
                argon2.clone(),
                phc.clone(),
                Arc::clone(&stop),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                let parsed = PasswordHash::new(&phc).expect("own PHC string parses");
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .verify_password(b"correct horse battery", &parsed)
                        .expect("own password verifies");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(cli.seconds));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| "worker panicked")?;
    }
    // Hashes finishing after the stop flag count, so time them too.
    let elapsed = started.elapsed().as_secs_f64();
    let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
    let cpu_ms = process_cpu_ms();
    let per_hash = cpu_ms.map_or(String::from("unknown"), |ms| {
        format!("{:.2}", ms / done.load(Ordering::Relaxed).max(1) as f64)
    });
    println!("cpu_ms_per_hash={per_hash}");
    println!(
        "threads={threads} verifications={} seconds={elapsed:.2} verifications_per_sec={rate:.1}",
        done.load(Ordering::Relaxed)
    );
    Ok(())
}

/// CPU time this process used so far (Linux `/proc/self/stat`, 100 ticks/s),
/// so the rate can be judged apart from what else ran on the machine.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}
