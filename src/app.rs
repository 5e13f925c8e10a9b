//! The process: runs a parsed command line, owns stdin, stdout and exit codes.
//!
//! Every failure ends as one `error:` line on stderr, nothing on stdout and exit code 1.
//! Apart from [`crate::cli`] so the parser depends on no mode it selects (`validate-config`
//! uses the parser to judge kubelet's provider args).

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use crate::cache_command;
use crate::check;
use crate::cli::{help_text, parse_args, Command};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::log;
use crate::protocol::{EXAMPLE_REQUEST, MAX_REQUEST_BYTES};
use crate::{serve, validate, watchdog};

/// Entry point: runs the command line of this process and returns the exit code.
pub fn main() -> i32 {
    // A panic must not dump a message that could hold request data; say where, not what.
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        log::error(&format!("internal error{place}; please report it"));
    }));
    let mut argv = std::env::args_os();
    let program = argv
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let args: Vec<String> = match argv
        .map(|a| a.into_string())
        .collect::<std::result::Result<Vec<_>, _>>()
    {
        Ok(args) => args,
        Err(_) => {
            log::error("an argument is not valid UTF-8");
            return 1;
        }
    };
    match run(&program, &args) {
        Ok(code) => code,
        Err(e) => {
            watchdog::finish();
            log::error(&e.to_string().replace('\n', " "));
            1
        }
    }
}

fn run(program: &str, args: &[String]) -> Result<i32> {
    let invocation = parse_args(program, args)?;
    log::set_verbosity(invocation.verbosity);
    let deadline = Deadline::after(invocation.timeout);
    match invocation.command {
        Command::Help => {
            let node_commands = [
                crate::kubelet_view::HELP,
                crate::install::HELP,
                crate::sync_docker_config::HELP,
                crate::kubelet_status::HELP,
            ]
            .concat();
            write_stdout(&help_text(&node_commands)).map(|_| 0)
        }
        Command::Version => write_stdout(&crate::build_info::version_text()).map(|_| 0),
        Command::Serve => {
            watchdog::arm(deadline, invocation.timeout);
            let input = read_stdin()?;
            let output = serve::serve(&input, &invocation.settings, deadline)?;
            write_stdout(&output).map(|_| 0)
        }
        Command::Check(options) => {
            watchdog::arm(deadline, invocation.timeout);
            let outcome = check::run(&options, &invocation.settings, deadline)?;
            write_stdout(&outcome.report)?;
            match outcome.error {
                Some(e) => {
                    log::error(&e.to_string());
                    Ok(1)
                }
                None => Ok(0),
            }
        }
        Command::Install(args) => {
            let options = crate::install::parse_args(&args)?;
            write_stdout(&crate::install::run(&options)?).map(|_| 0)
        }
        Command::SyncDockerConfig(args) => {
            crate::sync_docker_config::run(&crate::sync_docker_config::parse_args(&args)?)
        }
        Command::KubeletStatus(args) => {
            let options = crate::kubelet_status::parse_args(&args)?;
            if options.interval.is_some() {
                return crate::kubelet_status::watch(&options);
            }
            let (report, code) = crate::kubelet_status::check_once(&options)?;
            write_stdout(&report).map(|_| code)
        }
        Command::KubeletView(args) => {
            let (report, code) =
                crate::kubelet_view::run(&crate::kubelet_view::parse_args(&args)?)?;
            write_stdout(&report).map(|_| code)
        }
        Command::Cache(options) => {
            let dir = invocation
                .settings
                .cache_dir
                .unwrap_or_else(|| PathBuf::from(crate::token_cache::DEFAULT_DIR));
            write_stdout(&cache_command::run(&options, &dir)?).map(|_| 0)
        }
        Command::ValidateConfig { path, images, json } => {
            let report = validate::validate_path(&path, &images)?;
            let text = if json {
                report.render_json()
            } else {
                report.render_text()
            };
            write_stdout(&text)?;
            Ok(if report.is_ok() { 0 } else { 1 })
        }
    }
}

/// Reads the request, refusing to wait on a terminal (someone ran the binary by hand).
fn read_stdin() -> Result<Vec<u8>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::Request(format!(
            "stdin is a terminal; pipe a request, e.g. echo '{EXAMPLE_REQUEST}' | cloud-credential-provider"
        )));
    }
    let mut input = Vec::with_capacity(4096);
    stdin
        .lock()
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|e| Error::Io(format!("cannot read the request from stdin: {e}")))?;
    Ok(input)
}

fn write_stdout(text: &str) -> Result<()> {
    watchdog::finish();
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::Io(format!("cannot write to stdout: {e}")))
}
