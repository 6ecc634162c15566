//! The RPC authentication cookie: a random secret written to `<datadir>/.cookie` for local
//! clients (`bitcoin-cli`, RPC libraries) to read, as Bitcoin Core's `GenerateAuthCookie` and
//! `DeleteAuthCookie` (src/rpc/request.cpp) do.
//!
//! This module owns the file: its secret, its content, its permissions, its atomic appearance
//! and its removal. Checking a login against the secret belongs to [`crate::auth`]
//! ([`Credentials::allow_cookie`](crate::auth::Credentials::allow_cookie)).
//!
//! The secret is never logged, and the [`AuthCookie`]'s `Debug` form leaves it out.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bitcoin::hex::DisplayHex;

/// The user name of a cookie login: Core's `COOKIEAUTH_USER` (rpc/request.cpp), "arbitrary,
/// only for recognizability in debugging/logging purposes".
pub const COOKIE_USER: &str = "__cookie__";

/// The cookie file's name in the data directory: Core's `COOKIEAUTH_FILE` (rpc/request.cpp).
pub const COOKIE_FILE: &str = ".cookie";

/// The file the cookie is written to before it is renamed over [`COOKIE_FILE`]: Core's
/// `GetAuthCookieFile(temp=true)`, the cookie's name plus `.tmp` (rpc/request.cpp).
pub const COOKIE_TEMP_FILE: &str = ".cookie.tmp";

/// Random bytes in a cookie secret: `COOKIE_SIZE` in Core's `GenerateAuthCookie`
/// (rpc/request.cpp); the secret is their lowercase hex, 64 characters.
const COOKIE_SIZE: usize = 32;

/// The cookie file's permissions: read and write for its owner only. Core gets the same from
/// its process umask of 0077 ("set to 0077 in common/system.cpp", says `GenerateAuthCookie`),
/// and `-rpccookieperms=owner` is its default (0600 in test/functional/rpc_users.py); we set
/// the mode on the file itself, from the moment it is created, whatever the umask.
#[cfg(unix)]
const COOKIE_MODE: u32 = 0o600;

/// A cookie file that this process wrote, and removes again when dropped.
///
/// [`create`](AuthCookie::create) mirrors Core's `GenerateAuthCookie` (rpc/request.cpp): 32
/// bytes from the operating system's generator, hex-encoded, written as
/// `__cookie__:<64 hex digits>` with no newline, first to `.cookie.tmp` (mode 0600 from its
/// creation), then renamed over `.cookie`, so that a reader sees either no cookie, the previous
/// one, or all of this one.
///
/// Dropping it mirrors Core's `DeleteAuthCookie` (rpc/request.cpp), which removes the file only
/// if this process generated it; we go one step further and leave the file alone if it no
/// longer holds our cookie (another node started on the same directory since has replaced it).
pub struct AuthCookie {
    path: PathBuf,
    secret: String,
}

impl AuthCookie {
    /// Writes a new cookie to `dir/.cookie`, replacing any cookie there.
    ///
    /// Fails if the operating system has no random bytes to give, or if the directory is
    /// missing or not writable, or `.cookie.tmp` cannot be replaced (Core's `rpc_users.py`
    /// makes it a directory to check that the node then refuses to start). A stale
    /// `.cookie.tmp` from an earlier crash is removed first, so the file this writes is always
    /// a new one with its own permissions.
    pub fn create(dir: &Path) -> io::Result<AuthCookie> {
        let mut random = [0u8; COOKIE_SIZE];
        getrandom::fill(&mut random).map_err(|error| {
            io::Error::other(format!(
                "no random bytes from the operating system for the RPC cookie: {error}"
            ))
        })?;
        let secret = random.to_lower_hex_string();
        let content = cookie_content(&secret);

        let temp_path = dir.join(COOKIE_TEMP_FILE);
        let path = dir.join(COOKIE_FILE);
        match fs::remove_file(&temp_path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(with_path(error, "cannot replace", &temp_path)),
        }
        let written = write_new(&temp_path, content.as_bytes())
            .map_err(|error| with_path(error, "cannot write", &temp_path))
            .and_then(|()| {
                fs::rename(&temp_path, &path)
                    .map_err(|error| with_path(error, "cannot rename it over", &path))
            });
        if let Err(error) = written {
            // Best effort: an unwritten or unrenamed temporary file is no use to anyone.
            let _ = fs::remove_file(&temp_path);
            return Err(error);
        }
        tracing::info!(path = %path.display(), "generated the RPC authentication cookie");
        Ok(AuthCookie { path, secret })
    }

    /// The secret: the password of the [`COOKIE_USER`] login, 64 lowercase hex digits.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Where the cookie file is: `dir/.cookie`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AuthCookie {
    fn drop(&mut self) {
        match fs::read(&self.path) {
            Ok(content) if content == cookie_content(&self.secret).as_bytes() => {
                match fs::remove_file(&self.path) {
                    Ok(()) => {
                        tracing::debug!(path = %self.path.display(), "removed the RPC authentication cookie");
                    }
                    Err(error) => {
                        tracing::warn!(path = %self.path.display(), %error, "cannot remove the RPC authentication cookie");
                    }
                }
            }
            Ok(_) => {
                tracing::debug!(path = %self.path.display(), "the RPC authentication cookie was replaced by another; leaving it");
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot read the RPC authentication cookie to remove it");
            }
        }
    }
}

impl fmt::Debug for AuthCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCookie")
            .field("path", &self.path)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The cookie file's content: `__cookie__:<secret>`, no newline (Core writes
/// `COOKIEAUTH_USER << ":" << rand_pwd_hex` and nothing else).
fn cookie_content(secret: &str) -> String {
    format!("{COOKIE_USER}:{secret}")
}

/// Creates `path` (it must not exist) owner-only and writes `content` to disk.
fn write_new(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(COOKIE_MODE);
    }
    let mut file: File = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// `error` with what we were doing to which file, for the operator.
fn with_path(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!(
            "RPC authentication cookie: {doing} {}: {error}",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn is_lower_hex(text: &str) -> bool {
        text.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn content_is_user_colon_64_hex_without_newline() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cookie = AuthCookie::create(dir.path()).expect("a cookie");
        assert_eq!(cookie.path(), dir.path().join(".cookie"));
        let content = fs::read_to_string(cookie.path()).expect("the cookie reads");
        assert_eq!(content, format!("__cookie__:{}", cookie.secret()));
        assert_eq!(cookie.secret().len(), 2 * COOKIE_SIZE);
        assert!(is_lower_hex(cookie.secret()), "{}", cookie.secret());
        assert!(!content.ends_with('\n'));
        // The temporary file is gone: renamed, not copied.
        assert!(!dir.path().join(".cookie.tmp").exists());
    }

    #[cfg(unix)]
    #[test]
    fn mode_is_owner_read_write_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cookie = AuthCookie::create(dir.path()).expect("a cookie");
        let mode = fs::metadata(cookie.path())
            .expect("the cookie's metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_temporary_file_does_not_lend_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stale = dir.path().join(".cookie.tmp");
        fs::write(&stale, "left over").expect("a stale file");
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).expect("chmod");
        let cookie = AuthCookie::create(dir.path()).expect("a cookie");
        let mode = fs::metadata(cookie.path())
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        assert_eq!(
            fs::read_to_string(cookie.path()).expect("reads"),
            format!("__cookie__:{}", cookie.secret())
        );
    }

    #[test]
    fn two_cookies_differ() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let first = AuthCookie::create(dir.path()).expect("a cookie");
        let first_secret = first.secret().to_owned();
        drop(first);
        let second = AuthCookie::create(dir.path()).expect("a cookie");
        assert_ne!(first_secret, second.secret());
    }

    #[test]
    fn removed_on_drop() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cookie = AuthCookie::create(dir.path()).expect("a cookie");
        let path = cookie.path().to_owned();
        assert!(path.exists());
        drop(cookie);
        assert!(!path.exists());
    }

    #[test]
    fn drop_leaves_a_cookie_that_is_not_ours() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let older = AuthCookie::create(dir.path()).expect("a cookie");
        // A second node on the same directory replaces the file.
        let newer = AuthCookie::create(dir.path()).expect("a cookie");
        drop(older);
        assert_eq!(
            fs::read_to_string(newer.path()).expect("the newer cookie is still there"),
            format!("__cookie__:{}", newer.secret())
        );
        // Someone removed it by hand: dropping is quiet.
        fs::remove_file(newer.path()).expect("removed");
        drop(newer);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("no-such-dir");
        let error = AuthCookie::create(&missing).expect_err("no directory, no cookie");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains(".cookie.tmp"), "{error}");
    }

    #[test]
    fn an_unreplaceable_temporary_file_is_an_error_and_leaves_no_cookie() {
        // Core's rpc_users.py: ".cookie.tmp" is a directory, so the node must not start.
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(dir.path().join(".cookie.tmp")).expect("a directory in the way");
        let error = AuthCookie::create(dir.path()).expect_err("cannot write the cookie");
        assert!(error.to_string().contains(".cookie.tmp"), "{error}");
        assert!(!dir.path().join(".cookie").exists());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cookie = AuthCookie::create(dir.path()).expect("a cookie");
        let debug = format!("{cookie:?}");
        assert!(!debug.contains(cookie.secret()), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
        assert!(debug.contains(".cookie"), "{debug}");
    }

    #[test]
    fn a_reader_never_sees_half_a_cookie() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(".cookie");
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let done = Arc::clone(&done);
            let path = path.clone();
            std::thread::spawn(move || {
                let mut full = 0u32;
                while !done.load(Ordering::Relaxed) {
                    match fs::read_to_string(&path) {
                        Ok(content) => {
                            let secret = content
                                .strip_prefix("__cookie__:")
                                .unwrap_or_else(|| panic!("a partial cookie: {content:?}"));
                            assert_eq!(secret.len(), 2 * COOKIE_SIZE, "{content:?}");
                            assert!(is_lower_hex(secret), "{content:?}");
                            full += 1;
                        }
                        Err(error) => assert_eq!(error.kind(), io::ErrorKind::NotFound),
                    }
                }
                full
            })
        };
        // Replace the cookie while the reader reads, and remove it now and then.
        let mut held = Vec::new();
        for round in 0..200 {
            held.push(AuthCookie::create(dir.path()).expect("a cookie"));
            if round % 10 == 9 {
                held.clear();
            }
        }
        // Keep the last one while the reader takes a final look.
        held.drain(..held.len().saturating_sub(1));
        let reader_saw = {
            std::thread::sleep(std::time::Duration::from_millis(20));
            done.store(true, Ordering::Relaxed);
            reader.join().expect("the reader saw only whole cookies")
        };
        assert!(reader_saw > 0, "the reader never saw a cookie");
    }
}
