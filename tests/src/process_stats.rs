//! Figures about processes from `/proc` (Linux): which children of this test
//! process run the server, whether one is still alive, its peak resident
//! memory, and this process's open-file limit (overload needs a socket per
//! client on each side).

use std::fs;

/// The server's command name as the kernel records it.
const SERVER_COMM: &str = "todo-server";

/// Pids of the `todo-server` processes this test process started.
pub fn server_children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|(comm, _, ppid)| comm == SERVER_COMM && ppid == me)
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(_, state, _)| state != 'Z' && state != 'X')
}

/// `VmHWM` (peak resident set size) of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resets `VmHWM` of `pid` to its current RSS (writing 5 to `clear_refs`),
/// so a later reading is the peak of what came after. False when the
/// kernel refuses.
pub fn reset_peak_rss(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// `VmRSS` (resident set size now) of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The soft limit on open files of this process (its children inherit it).
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `(comm, state, ppid)` from `/proc/<pid>/stat`; comm may hold spaces and
/// parentheses, so the fields after it are found from the last `)`.
fn stat_fields(pid: u32) -> Option<(String, char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_figures() {
        let me = std::process::id();
        assert!(is_alive(me));
        assert!(peak_rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(open_files_limit().is_some_and(|n| n > 0));
        assert!(!is_alive(u32::MAX));
        assert!(reset_peak_rss(me));
    }
}
