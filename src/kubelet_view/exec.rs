//! Running one provider the way kubelet's `execPlugin` does: `bin-dir/name args...`, kubelet's
//! environment with the provider's `env` entries appended (Go keeps the last of duplicate
//! names, so a config entry wins over the node's value), the request on stdin, stdout and
//! stderr captured, and a hard timeout (protocol doc §4.2).
//!
//! Two differences from kubelet, both so that a diagnosis cannot hang or exhaust the node:
//! the plugin runs in a process group of its own and the whole group is killed at the timeout
//! (kubelet kills only the plugin, then waits for as long as anything it started keeps stdout
//! open), and the output kept is capped (kubelet keeps all of it). All three pipes are served
//! by their own threads, so a plugin that writes megabytes before reading its stdin, or never
//! reads it, cannot deadlock the run.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Kubelet's plugin timeout: hard-coded, not configurable (`ExecPlugin`, one minute).
pub const KUBELET_TIMEOUT: Duration = Duration::from_secs(60);

/// stdout kept for decoding. A response is a few hundred bytes; anything near this size is
/// not a credential provider answer, and keeping more would let a runaway plugin fill memory.
pub const MAX_STDOUT: usize = 16 << 20;

/// stderr kept for the report (the rest is counted and dropped).
pub const MAX_STDERR: usize = 1 << 20;

/// How long, after the kill at the timeout, the pipes may take to close before the run stops
/// waiting for them (something outside the process group may still hold them).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What to run.
pub struct Launch<'a> {
    /// `bin-dir/name`, also argv\[0\] (kubelet passes the joined path).
    pub program: &'a Path,
    /// The provider's `args`.
    pub args: &'a [String],
    /// The provider's `env`, in config order, set over the inherited environment.
    pub env: &'a [(String, String)],
    /// The encoded request.
    pub stdin: &'a [u8],
    /// When to kill it.
    pub timeout: Duration,
}

/// The bytes a plugin wrote to one stream, up to a cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// What was kept.
    pub bytes: Vec<u8>,
    /// Everything written, kept or not.
    pub total: u64,
}

impl Captured {
    /// True when more was written than kept.
    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The plugin exited and its output pipes closed before the timeout.
    Exited(ExitStatus),
    /// The timeout came first: the process group was killed. `plugin_exited` is true when the
    /// plugin itself had exited but something it started still held stdout or stderr open;
    /// kubelet waits for those pipes too and then fails the run with its deadline error.
    TimedOut {
        /// The plugin had exited before the timeout.
        plugin_exited: bool,
    },
    /// The plugin could not be started; Go's wording (`fork/exec PATH: permission denied`).
    SpawnFailed(String),
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it ended.
    pub ending: Ending,
    /// stdout, capped at [`MAX_STDOUT`].
    pub stdout: Captured,
    /// stderr, capped at [`MAX_STDERR`].
    pub stderr: Captured,
    /// From spawn to the end of the run.
    pub elapsed: Duration,
}

enum Event {
    Exited(io::Result<ExitStatus>),
    Stdout(Captured),
    Stderr(Captured),
}

/// Runs the plugin to completion or to the timeout.
pub fn run(launch: &Launch) -> Finished {
    let started = Instant::now();
    let mut command = Command::new(launch.program);
    command
        .args(launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Finished {
                ending: Ending::SpawnFailed(format!(
                    "fork/exec {}: {}",
                    launch.program.display(),
                    go_errno_text(&e)
                )),
                stdout: Captured::default(),
                stderr: Captured::default(),
                elapsed: started.elapsed(),
            }
        }
    };
    // The child leads its own group (process_group(0)), so its pid is the group id.
    let group = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    start_io(&mut child, launch.stdin, &tx);
    thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait()));
    });

    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut stdout = None;
    let mut stderr = None;
    let mut killed: Option<bool> = None; // Some(plugin had exited) once the group is killed
    let mut limit = started + launch.timeout;
    while status.is_none() || stdout.is_none() || stderr.is_none() {
        let now = Instant::now();
        if now >= limit {
            if killed.is_some() {
                break; // the pipes outlived the grace: stop waiting for them
            }
            killed = Some(status.is_some());
            kill_group(group);
            limit = now + KILL_GRACE;
            continue;
        }
        match rx.recv_timeout(limit - now) {
            Ok(Event::Exited(s)) => status = Some(s),
            Ok(Event::Stdout(c)) => stdout = Some(c),
            Ok(Event::Stderr(c)) => stderr = Some(c),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let ending = match (killed, status) {
        (Some(plugin_exited), _) => Ending::TimedOut { plugin_exited },
        (None, Some(Ok(status))) => Ending::Exited(status),
        (None, Some(Err(e))) => Ending::SpawnFailed(format!("wait: {}", go_errno_text(&e))),
        (None, None) => Ending::TimedOut {
            plugin_exited: false,
        },
    };
    Finished {
        ending,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// One thread per pipe: the request is written while both outputs are drained, so no pipe
/// buffer filling up can block the plugin or this process.
fn start_io(child: &mut Child, request: &[u8], tx: &mpsc::Sender<Event>) {
    if let Some(mut stdin) = child.stdin.take() {
        let request = request.to_vec();
        // A plugin that exits without reading gives EPIPE here, which Go's exec ignores too;
        // dropping the handle is stdin's EOF.
        thread::spawn(move || drop(stdin.write_all(&request)));
    }
    let out: Option<ChildStdout> = child.stdout.take();
    let err: Option<ChildStderr> = child.stderr.take();
    let out_tx = tx.clone();
    thread::spawn(move || {
        let _ = out_tx.send(Event::Stdout(drain(out, MAX_STDOUT)));
    });
    let err_tx = tx.clone();
    thread::spawn(move || {
        let _ = err_tx.send(Event::Stderr(drain(err, MAX_STDERR)));
    });
}

/// Reads `stream` to EOF, keeping at most `cap` bytes and counting the rest.
fn drain(stream: Option<impl Read>, cap: usize) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                captured.total += n as u64;
                let room = cap.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    captured
}

/// SIGKILL to the plugin's process group: the plugin and whatever it started and did not move
/// to a group of its own.
fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) takes plain integers and touches no memory; a negative pid names the
    // group this function's caller created for the plugin (process_group(0)).
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// An OS error as Go's `syscall.Errno` prints it (`permission denied`, `exec format error`):
/// Rust's text without the `(os error N)` suffix, lower-cased first letter.
fn go_errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's `ProcessState.String()` for a finished plugin, as kubelet's error shows it:
/// `exit status 1`, `signal: killed`.
pub fn go_exit_text(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else {
        return "exit status unknown".to_string();
    };
    let name = match signal {
        libc::SIGHUP => "hangup".to_string(),
        libc::SIGINT => "interrupt".to_string(),
        libc::SIGQUIT => "quit".to_string(),
        libc::SIGILL => "illegal instruction".to_string(),
        libc::SIGABRT => "aborted".to_string(),
        libc::SIGBUS => "bus error".to_string(),
        libc::SIGFPE => "floating point exception".to_string(),
        libc::SIGKILL => "killed".to_string(),
        libc::SIGSEGV => "segmentation fault".to_string(),
        libc::SIGPIPE => "broken pipe".to_string(),
        libc::SIGALRM => "alarm clock".to_string(),
        libc::SIGTERM => "terminated".to_string(),
        other => format!("signal {other}"),
    };
    let core = if status.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {name}{core}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sh(script: &str, stdin: &[u8], timeout: Duration) -> Finished {
        let args = ["-c".to_string(), script.to_string()];
        run(&Launch {
            program: &PathBuf::from("/bin/sh"),
            args: &args,
            env: &[("CCP_EXEC_TEST".into(), "from-config".into())],
            stdin,
            timeout,
        })
    }

    #[test]
    fn request_reaches_stdin_and_output_is_captured() {
        let done = sh(
            "cat; echo \" $CCP_EXEC_TEST\" >&2; exit 3",
            b"{\"x\":1}",
            KUBELET_TIMEOUT,
        );
        assert_eq!(done.stdout.bytes, b"{\"x\":1}");
        assert_eq!(done.stderr.bytes, b" from-config\n");
        match done.ending {
            Ending::Exited(status) => assert_eq!(go_exit_text(&status), "exit status 3"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn megabytes_on_both_streams_before_reading_stdin_do_not_deadlock() {
        // 4 MiB to stdout and stderr each, then read a 1 MiB request: every pipe buffer
        // (64 KiB) is far too small for a one-pipe-at-a-time reader.
        let request = vec![b'r'; 1 << 20];
        let done = sh(
            "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2; wc -c >&2",
            &request,
            Duration::from_secs(30),
        );
        assert!(
            matches!(done.ending, Ending::Exited(s) if s.success()),
            "{:?}",
            done.ending
        );
        assert_eq!(done.stdout.total, 4 << 20);
        assert_eq!(done.stderr.total, (4 << 20) + 8);
        assert!(done.stderr.truncated(), "stderr is capped");
        assert_eq!(done.stderr.bytes.len(), MAX_STDERR);
    }

    #[test]
    fn the_timeout_kills_the_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("ccp-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let started = Instant::now();
        let done = sh(&script, b"", Duration::from_millis(300));
        assert_eq!(
            done.ending,
            Ending::TimedOut {
                plugin_exited: false
            }
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed: gone, or a zombie nobody has reaped yet.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = state.rsplit(") ").next().unwrap_or("").chars().next();
        assert!(
            matches!(state, None | Some('Z')),
            "grandchild state {state:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_child_holding_stdout_after_the_plugin_exits_is_a_timeout() {
        let done = sh("sleep 30 & exit 0", b"", Duration::from_millis(300));
        assert_eq!(
            done.ending,
            Ending::TimedOut {
                plugin_exited: true
            }
        );
    }

    #[test]
    fn spawn_errors_read_like_go() {
        let dir = std::env::temp_dir();
        let done = run(&Launch {
            program: &dir.join("ccp-no-such-plugin"),
            args: &[],
            env: &[],
            stdin: b"",
            timeout: KUBELET_TIMEOUT,
        });
        match done.ending {
            Ending::SpawnFailed(text) => {
                assert!(
                    text.ends_with("ccp-no-such-plugin: no such file or directory"),
                    "{text}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signals_read_like_go() {
        let done = sh("kill -9 $$", b"", KUBELET_TIMEOUT);
        match done.ending {
            Ending::Exited(status) => assert_eq!(go_exit_text(&status), "signal: killed"),
            other => panic!("{other:?}"),
        }
    }
}
