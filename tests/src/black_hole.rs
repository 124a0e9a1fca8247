//! A black hole for one TCP connection: an nftables table of its own that
//! drops the connection's packets in both directions on arrival, so neither
//! end hears from the other while the kernel on each side keeps
//! retransmitting, as on a path that silently lost its route or NAT entry.
//! A user-space proxy cannot do this: the kernel under it would still
//! acknowledge data and answer keepalive probes.
//!
//! Also here: the TCP connections a process holds to a given port, read
//! from `/proc` (Linux), to find the connection to cut and to see it
//! replaced. Needs root and the `nft` tool (Debian's `nftables`).

use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Command, Stdio};

use crate::process_stats::is_alive;

/// How to get `nft` when it is missing.
const INSTALL_HINT: &str = "the dead-path tests need the `nft` tool and root: \
                            `apt-get install -y nftables` (Debian's package), then run as root";
/// The name of every black hole's table starts with this.
const TABLE_PREFIX: &str = "todo_blackhole_";
/// `/proc/net/tcp`'s code for an established connection.
const ESTABLISHED: &str = "01";

/// One TCP connection as its client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpConnection {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The established TCP connections process `pid` holds to `remote_port`
/// (IPv4 and IPv6).
///
/// # Panics
/// When `/proc` of `pid` cannot be read.
pub fn connections_to(pid: u32, remote_port: u16) -> Vec<TcpConnection> {
    let inodes = socket_inodes(pid);
    ["tcp", "tcp6"]
        .iter()
        .flat_map(|table| {
            let path = format!("/proc/{pid}/net/{table}");
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            text.lines()
                .skip(1)
                .filter_map(parse_tcp_line)
                .filter(|(_, inode)| inodes.contains(inode))
                .map(|(connection, _)| connection)
                .filter(|c| c.remote.port() == remote_port)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The inodes of the sockets among `pid`'s open files.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {dir}: {e}"));
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// An established connection and its socket inode from a line of
/// `/proc/<pid>/net/tcp{,6}`; `None` for any other state.
fn parse_tcp_line(line: &str) -> Option<(TcpConnection, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(3) != Some(&ESTABLISHED) {
        return None;
    }
    let connection = TcpConnection {
        local: parse_address(fields.get(1)?)?,
        remote: parse_address(fields.get(2)?)?,
    };
    Some((connection, fields.get(9)?.parse().ok()?))
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the address
/// as 32-bit words in the kernel's byte order, the port as a number.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<[u8; 4]>> = (0..address.len() / 8)
        .map(|i| {
            let word = address.get(i * 8..i * 8 + 8)?;
            Some(u32::from_str_radix(word, 16).ok()?.to_ne_bytes())
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// A dropped connection: while this lives, every packet of its 4-tuple,
/// either way, is dropped on arrival. Dropping it removes the table, also
/// when the test fails.
pub struct BlackHole {
    table: String,
}

impl BlackHole {
    /// Starts dropping the packets of `connection`, in a table named for
    /// its local port and this test process
    /// (`inet todo_blackhole_<port>_<pid>`). Tables left behind by a test
    /// process that was killed before its guards ran are removed first:
    /// their port may belong to another connection by now.
    ///
    /// # Panics
    /// When `nft` is missing (saying how to install it) or refuses the
    /// rules (not root, say).
    pub fn cut(connection: &TcpConnection) -> BlackHole {
        remove_orphans();
        let table = format!(
            "{TABLE_PREFIX}{}_{}",
            connection.local.port(),
            std::process::id()
        );
        let family = match connection.local.ip() {
            IpAddr::V4(_) => "ip",
            IpAddr::V6(_) => "ip6",
        };
        let rule = |from: SocketAddr, to: SocketAddr| {
            format!(
                "{family} saddr {} {family} daddr {} tcp sport {} tcp dport {} drop",
                from.ip(),
                to.ip(),
                from.port(),
                to.port()
            )
        };
        // Input sees every packet that arrives, loopback ones included:
        // the service's to the database and the database's answers.
        let script = format!(
            "table inet {table} {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\t{}\n\
             \t\t{}\n\
             \t}}\n\
             }}\n",
            rule(connection.local, connection.remote),
            rule(connection.remote, connection.local),
        );
        nft(&["-f", "-"], Some(&script));
        BlackHole { table }
    }

    /// Whether the table is still in place.
    pub fn is_in_place(&self) -> bool {
        nft_status(&["list", "table", "inet", &self.table], None)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        if !nft_status(&["delete", "table", "inet", &self.table], None) {
            eprintln!(
                "warning: could not remove nftables table inet {}; remove it with \
                 `nft delete table inet {}`",
                self.table, self.table
            );
        }
    }
}

/// Deletes the black-hole tables of test processes that no longer exist.
fn remove_orphans() {
    let listing = run_nft(&["list", "tables", "inet"], None);
    let listing = String::from_utf8_lossy(&listing.stdout);
    for table in listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("table inet "))
    {
        let owner = table
            .strip_prefix(TABLE_PREFIX)
            .and_then(|rest| rest.rsplit_once('_'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if owner.is_some_and(|pid| !is_alive(pid)) {
            nft_status(&["delete", "table", "inet", table], None);
        }
    }
}

/// Runs `nft` (with `stdin`), failing the test when it does not succeed.
///
/// # Panics
/// With [`INSTALL_HINT`] when `nft` is missing, or with what it printed.
fn nft(args: &[&str], stdin: Option<&str>) {
    let output = run_nft(args, stdin);
    assert!(
        output.status.success(),
        "nft {} failed ({}): {}\n({INSTALL_HINT})",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Runs `nft` (with `stdin`) and says whether it succeeded.
fn nft_status(args: &[&str], stdin: Option<&str>) -> bool {
    run_nft(args, stdin).status.success()
}

fn run_nft(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("`nft` is not installed: {INSTALL_HINT}")
        }
        Err(e) => panic!("cannot run `nft`: {e} ({INSTALL_HINT})"),
    };
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("cannot write nft's input: {e}"));
        }
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `nft`: {e}"))
}

/// Fails the test unless `nft` can be run: before anything is set up, so
/// a machine without it learns at once how to get it.
///
/// # Panics
/// With [`INSTALL_HINT`].
pub fn require_nft() {
    nft(&["--version"], None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_are_read() {
        let v4 = "   3: 0100007F:D431 0100007F:DFB0 01 00000000:00000000 02:000A2F7C 00000000     0        0 123456 2 0000000000000000 20 4 30 10 -1";
        let (connection, inode) = parse_tcp_line(v4).unwrap();
        assert_eq!(connection.local, "127.0.0.1:54321".parse().unwrap());
        assert_eq!(connection.remote, "127.0.0.1:57264".parse().unwrap());
        assert_eq!(inode, 123_456);
        let listening = v4.replacen(" 01 ", " 0A ", 1);
        assert_eq!(parse_tcp_line(&listening), None);
        let v6 = "   0: 00000000000000000000000001000000:D431 00000000000000000000000001000000:1538 01 00000000:00000000 00:00000000 00000000     0        0 42 1";
        let (connection, _) = parse_tcp_line(v6).unwrap();
        assert_eq!(connection.local, "[::1]:54321".parse().unwrap());
        assert_eq!(connection.remote.port(), 5432);
    }
}
