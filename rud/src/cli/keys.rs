//! `rud keygen`, `rud pubkey`, and reading keys for the other commands.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CliError;
use rud::crypto::default_provider;
use rud::crypto::keyfile::{
    KeyId, parse_private_key, parse_public_key, private_key_to_pem, public_key_to_hex,
    public_key_to_pem,
};
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::handshake::{Entropy, OsEntropy};

fn read_text(path: &Path, what: &str) -> Result<zeroize::Zeroizing<String>, CliError> {
    std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| CliError::Setup(format!("{what} {}: {e}", path.display())))
}

/// A private key file (PEM PKCS#8 or 112 hex digits).
pub fn read_private(path: &Path) -> Result<X448Secret, CliError> {
    let text = read_text(path, "key")?;
    parse_private_key(&*default_provider(), &text)
        .map_err(|e| CliError::Setup(format!("key {}: {e}", path.display())))
}

/// `--responder-key HEX|FILE`: 112 hex digits, or a file with a public key (PEM or hex).
pub fn read_public_arg(arg: &str) -> Result<X448PublicKey, CliError> {
    let hexish = arg.len() == 112 && arg.bytes().all(|b| b.is_ascii_hexdigit());
    if hexish {
        return parse_public_key(arg).map_err(|e| CliError::Usage(format!("--responder-key: {e}")));
    }
    let text = read_text(Path::new(arg), "--responder-key")?;
    parse_public_key(&text).map_err(|e| CliError::Setup(format!("--responder-key {arg}: {e}")))
}

pub fn key_id(public: &X448PublicKey) -> String {
    hex::encode(KeyId::of(&*default_provider(), public).0)
}

fn public_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn create(path: &Path, mode: u32) -> Result<std::fs::File, CliError> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Setup(format!("{} exists; refusing to overwrite", path.display()))
        } else {
            CliError::Setup(format!("{}: {e}", path.display()))
        }
    })
}

/// `rud keygen --out FILE`.
pub fn keygen(out: &Path) -> Result<ExitCode, CliError> {
    let public_file = public_path(out);
    if public_file.exists() {
        return Err(CliError::Setup(format!(
            "{} exists; refusing to overwrite",
            public_file.display()
        )));
    }
    let secret = X448Secret::generate(|b| OsEntropy.fill(b));
    let public = secret.public_key(&*default_provider());
    let mut f = create(out, 0o600)?;
    f.write_all(private_key_to_pem(&secret).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::Setup(format!("{}: {e}", out.display())))?;
    let mut p = create(&public_file, 0o644)?;
    p.write_all(public_key_to_pem(&public).as_bytes())
        .map_err(|e| CliError::Setup(format!("{}: {e}", public_file.display())))?;
    println!("private key: {} (mode 0600)", out.display());
    println!("public key:  {}", public_file.display());
    print!("{}", public_key_to_hex(&public));
    println!("key id:      {}", key_id(&public));
    Ok(ExitCode::SUCCESS)
}

/// `rud pubkey FILE`.
pub fn pubkey(file: &Path, private: bool) -> Result<ExitCode, CliError> {
    let text = read_text(file, "key")?;
    let public = if text.contains("PRIVATE KEY") || private {
        parse_private_key(&*default_provider(), &text).map(|s| s.public_key(&*default_provider()))
    } else {
        parse_public_key(&text)
    }
    .map_err(|e| CliError::Setup(format!("key {}: {e}", file.display())))?;
    print!("public key: {}", public_key_to_hex(&public));
    println!("key id:     {}", key_id(&public));
    Ok(ExitCode::SUCCESS)
}
