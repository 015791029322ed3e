//! `--keylog`, `--pcap` and `--qlog`, shared by every command that runs an endpoint.
use std::sync::Arc;

use super::{CliError, Records};
use rud::capture::{CaptureFile, Overwrite};
use rud::crypto::keylog::{FileKeyLog, KeyLog, keylog_path_from_env};
use rud::udp::UdpConfig;

/// Opens what `records` asks for (the key log from RUDKEYLOGFILE when `--keylog` is absent)
/// into `config`.
pub fn apply(records: &Records, config: &mut UdpConfig) -> Result<(), CliError> {
    if let Some(path) = records.keylog.clone().or_else(keylog_path_from_env) {
        let log = FileKeyLog::open(&path).map_err(|e| CliError::Setup(e.to_string()))?;
        config.keylog = Some(Arc::new(log) as Arc<dyn KeyLog>);
    }
    if let Some(path) = &records.pcap {
        let file = CaptureFile::create(path, Overwrite::Refuse)
            .map_err(|e| CliError::Setup(e.to_string()))?;
        config.pcap = Some(file);
    }
    config.qlog_dir = records.qlog.clone();
    Ok(())
}

/// Records a second endpoint of the same command (`serve --udp --http`) into the same key log
/// and capture file; the qlog directory stays with the first (file names could collide).
pub fn share(from: &UdpConfig, to: &mut UdpConfig) {
    to.keylog.clone_from(&from.keylog);
    to.pcap = from.pcap.as_ref().map(CaptureFile::share);
}
