//! Dovecot from Debian's packages on 127.0.0.1, one instance per test, in a fresh folder:
//! one user (`dmarc@example.test`, password `secret`), Maildir storage; IMAP without TLS,
//! or, given a certificate, IMAP with STARTTLS and IMAPS. Mail is delivered as an MTA's
//! delivery agent does, by a file in the Maildir. `scripts/mailbox.sh` installs it
//! (`dovecot-imapd`); as root its processes run as `nobody`. Only std, so `cli/tests`
//! includes it too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const USER: &str = "dmarc@example.test";
pub const PASSWORD: &str = "secret";

pub struct Dovecot {
    /// IMAP: plain, or STARTTLS with a certificate.
    pub port: u16,
    /// IMAPS, with a certificate.
    pub tls_port: Option<u16>,
    pub dir: PathBuf,
    child: Child,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `LOGIN` succeeds on the plain port (plain logins are allowed on 127.0.0.1).
fn logs_in(port: u16) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || !line.starts_with("* OK") {
        return false;
    }
    if write!(stream, "a LOGIN {USER} {PASSWORD}\r\n").is_err() {
        return false;
    }
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.starts_with("a ") => {
                let _ = write!(stream, "b LOGOUT\r\n");
                return line.starts_with("a OK");
            }
            Ok(_) => {}
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with(None)
    }

    /// With TLS: `cert` and `key` are PEM files (read by Dovecot's root process).
    ///
    /// Its folder is made under the system's temporary folder: its processes run as
    /// `nobody`, who cannot reach into a checkout private to root (a CI clone made by
    /// `mktemp -d` is mode 700).
    pub fn start_with(tls: Option<(&Path, &Path)>) -> Dovecot {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rampart-dovecot-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let dir = dir.as_path();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join("mail").join(USER).join(sub)).unwrap();
        }
        let port = free_port();
        let tls_port = tls.map(|_| free_port());
        let ssl = match tls {
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}",
                cert.display(),
                key.display()
            ),
            None => "ssl = no".to_owned(),
        };
        let imaps = match tls_port {
            Some(p) => format!("address = 127.0.0.1\n    port = {p}"),
            None => "port = 0".to_owned(),
        };
        let config = include_str!("dovecot.conf")
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@SSL@", &ssl)
            .replace("@IMAPS@", &imaps);
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        std::fs::write(dir.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        // Its processes run as nobody: they must be able to write the folder.
        let chown = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(chown.success());
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("dovecot: {e} (scripts/test installs dovecot-imapd from apt)")
            });
        // Listening comes before its authentication process is up ("[UNAVAILABLE] Temporary
        // authentication failure"): ready once a login succeeds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !logs_in(port) {
            if std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                panic!(
                    "Dovecot took no login in 30 s; its log ends:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot {
            port,
            tls_port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// Delivers a mail to the user's INBOX as a delivery agent does: written in `tmp/`,
    /// then renamed into `new/`.
    pub fn deliver(&self, raw: &[u8]) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let maildir = self.dir.join("mail").join(USER);
        let name = format!(
            "{}.{}_{}.rampart-test",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::write(maildir.join("tmp").join(&name), raw).unwrap();
        std::fs::rename(
            maildir.join("tmp").join(&name),
            maildir.join("new").join(&name),
        )
        .unwrap();
    }
}
