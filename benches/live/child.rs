//! Runs one child process to its end and measures it: wall time and peak RSS from wait4's
//! rusage (the child's own high-water mark, not an estimate from polling).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Measured {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub exit_code: i32,
    /// What the child wrote to stderr (its logs).
    pub stderr: String,
}

/// Runs `command` with stdout and stderr in `log` + ".out" / ".err".
// The child is reaped by wait4 (for its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run(command: &mut Command, log: &Path) -> Measured {
    let out = std::fs::File::create(log.with_extension("out")).expect("stdout file");
    let err_path = log.with_extension("err");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start child");
    let (status, rusage) = wait4(child.id() as libc::pid_t);
    let wall = start.elapsed();
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Measured {
        wall,
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: rusage.ru_maxrss as u64,
        exit_code,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

fn wait4(pid: libc::pid_t) -> (libc::c_int, libc::rusage) {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is a child of this process.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return (status, rusage);
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
}

/// The peak RSS (VmHWM, KiB) of a running process, for one we stop ourselves (Zalando's).
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
