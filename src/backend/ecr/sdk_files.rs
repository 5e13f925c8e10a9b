//! The files the AWS SDK reads for itself, screened before it runs.
//!
//! The SDK reads its shared config and credentials files and the web identity token file (the
//! pod's projected service-account token with IRSA) with plain blocking reads on the run's
//! only thread: a FIFO there kept a `--timeout 3s` run blocked until it was killed 20 s later,
//! and `/dev/zero` grows memory for as long as the run lasts. The paths come from environment
//! variables an operator or a webhook set, so they get the judgement of
//! [`crate::local_file`] first: a path that exists must be a regular file within
//! [`MAX_FILE_BYTES`](crate::local_file::MAX_FILE_BYTES). A missing file, or one the SDK cannot
//! open, stays the SDK's business (it skips a missing profile file and reports the rest).
//!
//! This looks at each path a moment before the SDK opens it; what changes in between, and
//! files a profile names (`web_identity_token_file`, SSO caches), are left to the watchdog
//! ([`crate::watchdog`]), which ends the run at its deadline whatever blocks it.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::local_file::{self, FileError};

/// The files the SDK's default chain reads, with the name that says which one it is.
fn sdk_files(var: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, PathBuf)> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    let home = set("HOME").map(PathBuf::from);
    // The SDK expands a leading `~` of the profile file paths, as the AWS CLI does.
    let profile_file = |name: &str, default: &str| {
        let path = set(name)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))?;
        match path.strip_prefix("~") {
            Ok(rest) => home.as_ref().map(|h| h.join(rest)),
            Err(_) => Some(path),
        }
    };
    let mut files = Vec::new();
    if let Some(path) = profile_file("AWS_CONFIG_FILE", "config") {
        files.push(("AWS config file", path));
    }
    if let Some(path) = profile_file("AWS_SHARED_CREDENTIALS_FILE", "credentials") {
        files.push(("AWS credentials file", path));
    }
    if let Some(path) = set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        files.push(("AWS web identity token file", PathBuf::from(path)));
    }
    files
}

/// `Err` (one sentence, no contents) when a file the SDK would read is not a regular file or
/// is over the size cap.
pub fn screen() -> Result<(), String> {
    screen_with(|name| std::env::var_os(name))
}

fn screen_with(var: impl Fn(&str) -> Option<OsString>) -> Result<(), String> {
    for (what, path) in sdk_files(var) {
        match local_file::check(&path) {
            Ok(()) => {}
            Err(e @ (FileError::NotRegular(_) | FileError::TooLarge { .. })) => {
                return Err(format!("cannot read {what} {}: {e}", path.display()));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_sdks_files_and_their_defaults() {
        let files = sdk_files(env(&[("HOME", "/home/n")]));
        assert_eq!(
            files,
            vec![
                ("AWS config file", PathBuf::from("/home/n/.aws/config")),
                (
                    "AWS credentials file",
                    PathBuf::from("/home/n/.aws/credentials")
                ),
            ]
        );
        let files = sdk_files(env(&[
            ("HOME", "/home/n"),
            ("AWS_CONFIG_FILE", "~/c"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws/creds"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
        ]));
        assert_eq!(
            files,
            vec![
                ("AWS config file", PathBuf::from("/home/n/c")),
                ("AWS credentials file", PathBuf::from("/etc/aws/creds")),
                (
                    "AWS web identity token file",
                    PathBuf::from("/var/run/token")
                ),
            ]
        );
        // No HOME, empty variables: nothing to look at.
        assert!(sdk_files(env(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "")])).is_empty());
    }

    #[test]
    fn files_that_are_not_regular_are_refused_and_missing_ones_are_not() {
        let dir = TempDir::new("aws-files");
        let home = dir.0.to_str().unwrap();
        screen_with(env(&[("HOME", home)])).unwrap();
        assert_eq!(
            screen_with(env(&[
                ("HOME", home),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/dev/zero")
            ]))
            .unwrap_err(),
            "cannot read AWS web identity token file /dev/zero: it is a character device, \
             not a regular file"
        );
        assert_eq!(
            screen_with(env(&[("HOME", home), ("AWS_CONFIG_FILE", home)])).unwrap_err(),
            format!("cannot read AWS config file {home}: it is a directory, not a regular file")
        );
        dir.write("credentials", "[default]\n");
        screen_with(env(&[
            ("HOME", home),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                &format!("{home}/credentials"),
            ),
        ]))
        .unwrap();
    }
}
