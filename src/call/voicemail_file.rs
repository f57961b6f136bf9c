//! Writing a caller's message to disk: an 8 kHz mono 16-bit WAV with hound,
//! readable by the service's user only (file 0600 in a folder 0700). It
//! blocks: the call's task runs it on tokio's blocking pool.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use senim_call::voicemail::SAMPLE_RATE;

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum VoicemailError {
    /// The voicemail folder could not be created or read.
    #[error("voicemail folder {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The call id is not one Senim makes (a UUID), so no file name is made from it.
    #[error("call id {0:?} is not a UUID")]
    Name(String),
    /// The file could not be created, written, flushed or moved into place.
    #[error("voicemail file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// hound could not write the WAV.
    #[error("voicemail file {path}: {source}")]
    Wav { path: PathBuf, source: hound::Error },
}

/// The WAV format of messages: 8 kHz, mono, 16-bit PCM.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Create the voicemail folder (mode 0700) when missing; an existing one that
/// others can read is made private (with a warning). Returns its absolute path.
pub fn prepare_dir(dir: &Path) -> Result<PathBuf, VoicemailError> {
    let err = |source| VoicemailError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let mode = std::fs::metadata(dir).map_err(err)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "voicemail folder was readable by others; setting mode 0700"
        );
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    std::path::absolute(dir).map_err(err)
}

/// The file name of a call's message: `<call id>.wav`. Only a UUID is
/// accepted, so nothing about the caller can reach a file name.
pub fn file_name(call_id: &str) -> Result<String, VoicemailError> {
    let ok = call_id.len() == 36 && call_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(format!("{call_id}.wav"))
    } else {
        Err(VoicemailError::Name(call_id.to_string()))
    }
}

/// Write a message as `<dir>/<call id>.wav` (mode 0600): written to a hidden
/// temporary name, flushed to disk, then renamed, so a reader never sees half
/// a file. An existing file is never replaced. Blocks. Returns the file's path.
pub fn write_wav(dir: &Path, call_id: &str, samples: &[i16]) -> Result<PathBuf, VoicemailError> {
    let name = file_name(call_id)?;
    // The folder is made at start; made again here if it was removed since.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| VoicemailError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    let path = dir.join(&name);
    let part = dir.join(format!(".{name}.part"));
    if path.exists() {
        return Err(VoicemailError::File {
            path,
            source: std::io::ErrorKind::AlreadyExists.into(),
        });
    }
    let result = write_part(&part, samples).and_then(|()| {
        std::fs::rename(&part, &path).map_err(|source| VoicemailError::File {
            path: path.clone(),
            source,
        })
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    // Make the rename itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

fn write_part(part: &Path, samples: &[i16]) -> Result<(), VoicemailError> {
    let io_err = |source| VoicemailError::File {
        path: part.to_path_buf(),
        source,
    };
    let wav_err = |source| VoicemailError::Wav {
        path: part.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(part)
        .map_err(io_err)?;
    let sync = file.try_clone().map_err(io_err)?;
    let mut wav = hound::WavWriter::new(BufWriter::new(file), wav_spec()).map_err(wav_err)?;
    {
        let mut w = wav.get_i16_writer(u32::try_from(samples.len()).unwrap_or(u32::MAX));
        for &s in samples {
            w.write_sample(s);
        }
        w.flush().map_err(wav_err)?;
    }
    wav.finalize().map_err(wav_err)?;
    sync.sync_all().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn file_names_are_call_uuids_only() {
        let id = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
        assert_eq!(file_name(id).unwrap(), format!("{id}.wav"));
        for bad in ["+77011234567", "../../etc/passwd", "", "x.wav"] {
            assert!(
                matches!(file_name(bad), Err(VoicemailError::Name(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn writes_a_private_wav() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("voicemail");
        let abs = prepare_dir(&dir).unwrap();
        assert!(abs.is_absolute());
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let id = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
        let samples: Vec<i16> = (0..12_000).map(|i| (i % 200) as i16 - 100).collect();
        let path = write_wav(&abs, id, &samples).unwrap();
        assert_eq!(path, abs.join(format!("{id}.wav")));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), wav_spec());
        let back: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(back, samples);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&abs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        // A second message of the same call does not overwrite the first.
        assert!(matches!(
            write_wav(&abs, id, &[0; 160]),
            Err(VoicemailError::File { .. })
        ));
        assert_eq!(hound::WavReader::open(&path).unwrap().len(), 12_000);
        assert_eq!(std::fs::read_dir(&abs).unwrap().count(), 1);
    }

    #[test]
    fn an_open_folder_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vm");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_write_error_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        let dir = tmp.path().join("not-a-folder");
        std::fs::write(&dir, b"x").unwrap();
        let id = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
        assert!(matches!(
            write_wav(&dir, id, &[0; 160]),
            Err(VoicemailError::Dir { .. })
        ));
    }
}
