//! Writing a caller's message to disk as it is recorded: an 8 kHz mono
//! 16-bit WAV, readable by the service's user only (file 0600 in a folder
//! 0700). The audio is appended to a hidden partial file
//! `.<call id>.wav.part` a second at a time, each append flushed to disk
//! (fsync), so a crash or a power loss loses at most about a second. At the
//! end the file is cut to the message's length, its header written, and it
//! is renamed to `<call id>.wav`. At start, [`recover_partials`] completes
//! the partial files a crash left the same way. It blocks: the call's task
//! runs it on tokio's blocking pool.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
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

/// The size of the WAV header written (RIFF, `fmt ` for PCM, `data`).
pub const HEADER_LEN: u64 = 44;

/// The 44-byte header of an 8 kHz mono 16-bit PCM WAV with `data_bytes` of audio.
pub fn wav_header(data_bytes: u32) -> [u8; 44] {
    let spec = wav_spec();
    let block_align = spec.channels * (spec.bits_per_sample / 8);
    let byte_rate = spec.sample_rate * u32::from(block_align);
    let mut h = [0u8; 44];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(b"RIFF");
    put(&data_bytes.saturating_add(36).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&16u32.to_le_bytes());
    put(&1u16.to_le_bytes()); // PCM
    put(&spec.channels.to_le_bytes());
    put(&spec.sample_rate.to_le_bytes());
    put(&byte_rate.to_le_bytes());
    put(&block_align.to_le_bytes());
    put(&spec.bits_per_sample.to_le_bytes());
    put(b"data");
    put(&data_bytes.to_le_bytes());
    h
}

fn part_name(name: &str) -> String {
    format!(".{name}.part")
}

/// A message being recorded: its partial file, appended to as it comes.
#[derive(Debug)]
pub struct PartialMessage {
    dir: PathBuf,
    name: String,
    part: PathBuf,
    file: File,
    /// Audio bytes written after the header.
    data: u64,
}

impl PartialMessage {
    /// Create `<dir>/.<call id>.wav.part` (mode 0600) with a header for no
    /// audio yet. An existing message of the call is never replaced; a
    /// partial file of the call left over (a discarded message) is.
    pub fn create(dir: &Path, call_id: &str) -> Result<PartialMessage, VoicemailError> {
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
        if path.exists() {
            return Err(VoicemailError::File {
                path,
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        let part = dir.join(part_name(&name));
        let io = |source| VoicemailError::File {
            path: part.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&part)
            .map_err(io)?;
        file.write_all(&wav_header(0)).map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_dir(dir);
        Ok(PartialMessage {
            dir: dir.to_path_buf(),
            name,
            part,
            file,
            data: 0,
        })
    }

    /// Append audio and flush it to disk.
    pub fn append(&mut self, samples: &[i16]) -> Result<(), VoicemailError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(samples.len() * 2);
        for s in samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        let io = |source| VoicemailError::File {
            path: self.part.clone(),
            source,
        };
        self.file
            .seek(SeekFrom::Start(HEADER_LEN + self.data))
            .map_err(io)?;
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.data += bytes.len() as u64;
        Ok(())
    }

    /// Append `rest`, cut the audio to `length` samples, write the header,
    /// and rename the file to `<call id>.wav`. Returns its path.
    pub fn complete(mut self, rest: &[i16], length: usize) -> Result<PathBuf, VoicemailError> {
        let result = self.append(rest).and_then(|()| {
            let data = self.data.min(length as u64 * 2);
            finish_file(&mut self.file, &self.part, data)?;
            let path = self.dir.join(&self.name);
            if path.exists() {
                return Err(VoicemailError::File {
                    path,
                    source: std::io::ErrorKind::AlreadyExists.into(),
                });
            }
            std::fs::rename(&self.part, &path).map_err(|source| VoicemailError::File {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&self.part);
        }
        sync_dir(&self.dir);
        result
    }

    /// The message is not kept: remove the partial file.
    pub fn discard(self) {
        if let Err(e) = std::fs::remove_file(&self.part) {
            tracing::warn!(error = %e, "voicemail: a discarded message's partial file could not be removed");
        }
        sync_dir(&self.dir);
    }
}

/// Cut `file` to the header and `data` bytes of audio (whole samples), write
/// the header for it, and flush.
fn finish_file(file: &mut File, path: &Path, data: u64) -> Result<(), VoicemailError> {
    let io = |source| VoicemailError::File {
        path: path.to_path_buf(),
        source,
    };
    let data = (data & !1).min(u64::from(u32::MAX - 36) & !1);
    file.set_len(HEADER_LEN + data).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&wav_header(u32::try_from(data).unwrap_or(u32::MAX - 37)))
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// Make a rename or a removal in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write a whole message at once as `<dir>/<call id>.wav` (mode 0600),
/// through the partial file. Blocks. Returns the file's path.
pub fn write_wav(dir: &Path, call_id: &str, samples: &[i16]) -> Result<PathBuf, VoicemailError> {
    PartialMessage::create(dir, call_id)?.complete(samples, samples.len())
}

/// A message a crash had cut short, completed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub call_id: String,
    /// The completed `<call id>.wav`.
    pub path: PathBuf,
    pub duration_ms: i64,
    /// When its last audio was written (the partial file's time), epoch ms.
    pub at: i64,
}

/// Complete the partial files a crash left in `dir`: each `.<call id>.wav.part`
/// with audio gets the header for the audio present and becomes
/// `<call id>.wav`. `record` is called for each before its rename (the call
/// record's row): when it fails, the partial file stays, its header fixed,
/// for the next start. A partial file without audio, or of a call whose
/// message is already in place, is removed. Blocks.
pub fn recover_partials(
    dir: &Path,
    mut record: impl FnMut(&Recovered) -> bool,
) -> Result<Vec<Recovered>, VoicemailError> {
    let dir_err = |source| VoicemailError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let mut done = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let entry = entry.map_err(dir_err)?;
        let entry_name = entry.file_name();
        let Some(call_id) = entry_name
            .to_str()
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(".wav.part"))
        else {
            continue;
        };
        let Ok(name) = file_name(call_id) else {
            continue;
        };
        let part = entry.path();
        let path = dir.join(&name);
        match recover_one(&part, &path, call_id) {
            Ok(Some(r)) => {
                if record(&r) {
                    std::fs::rename(&part, &path).map_err(|source| VoicemailError::File {
                        path: path.clone(),
                        source,
                    })?;
                    done.push(r);
                }
            }
            Ok(None) => {
                let _ = std::fs::remove_file(&part);
            }
            Err(e) => {
                tracing::error!(error = %e, "voicemail: a partial message could not be completed")
            }
        }
    }
    sync_dir(dir);
    Ok(done)
}

/// Fix one partial file's header; `None` when there is nothing to keep.
fn recover_one(
    part: &Path,
    path: &Path,
    call_id: &str,
) -> Result<Option<Recovered>, VoicemailError> {
    let io = |source| VoicemailError::File {
        path: part.to_path_buf(),
        source,
    };
    if path.exists() {
        return Ok(None);
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(part)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let data = meta.len().saturating_sub(HEADER_LEN) & !1;
    if data == 0 {
        return Ok(None);
    }
    finish_file(&mut file, part, data)?;
    std::fs::set_permissions(part, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let at = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let samples = data / 2;
    Ok(Some(Recovered {
        call_id: call_id.to_string(),
        path: path.to_path_buf(),
        duration_ms: i64::try_from(samples * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(i64::MAX),
        at,
    }))
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

    const ID: &str = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_message_is_on_disk_as_it_is_recorded_and_cut_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = prepare_dir(&tmp.path().join("vm")).unwrap();
        let mut m = PartialMessage::create(&dir, ID).unwrap();
        let part = dir.join(format!(".{ID}.wav.part"));
        let mode = std::fs::metadata(&part).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second: Vec<i16> = (0..8000).map(|i| (i % 100) as i16).collect();
        m.append(&second).unwrap();
        m.append(&second).unwrap();
        // Two seconds are on disk before the message ends.
        assert_eq!(std::fs::metadata(&part).unwrap().len(), HEADER_LEN + 32_000);
        let path = m.complete(&second[..4000], 19_000).unwrap();
        assert_eq!(names(&dir), [format!("{ID}.wav")]);
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), wav_spec());
        assert_eq!(r.len(), 19_000);
        let back: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(&back[..8000], &second[..]);
    }

    #[test]
    fn a_discarded_message_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = prepare_dir(&tmp.path().join("vm")).unwrap();
        let mut m = PartialMessage::create(&dir, ID).unwrap();
        m.append(&[1, 2, 3]).unwrap();
        m.discard();
        assert!(names(&dir).is_empty());
    }

    /// What a SIGKILL 10.3 s into a message leaves: the header written at
    /// the start (no audio) and the seconds appended since.
    fn crash_leftover(dir: &Path, id: &str, samples: usize) -> PathBuf {
        let mut m = PartialMessage::create(dir, id).unwrap();
        let audio: Vec<i16> = (0..samples).map(|i| ((i % 50) as i16 - 25) * 100).collect();
        m.append(&audio).unwrap();
        std::mem::forget(m);
        dir.join(format!(".{id}.wav.part"))
    }

    #[test]
    fn a_partial_file_left_by_a_crash_is_completed_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = prepare_dir(&tmp.path().join("vm")).unwrap();
        let part = crash_leftover(&dir, ID, 80_000);
        // A torn last sample (power loss mid-write).
        let mut f = OpenOptions::new().append(true).open(&part).unwrap();
        f.write_all(&[7]).unwrap();
        drop(f);
        // The record could not be written yet: the file waits, header fixed.
        let none = recover_partials(&dir, |_| false).unwrap();
        assert!(none.is_empty());
        assert_eq!(hound::WavReader::open(&part).unwrap().len(), 80_000);
        let mut seen = Vec::new();
        let done = recover_partials(&dir, |r| {
            seen.push(r.clone());
            true
        })
        .unwrap();
        assert_eq!(done, seen);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].call_id, ID);
        assert_eq!(done[0].duration_ms, 10_000);
        assert!(done[0].at > 0);
        assert_eq!(names(&dir), [format!("{ID}.wav")]);
        let mut r = hound::WavReader::open(&done[0].path).unwrap();
        assert_eq!(r.len(), 80_000);
        assert_eq!(r.samples::<i16>().count(), 80_000);
        let mode = std::fs::metadata(&done[0].path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn empty_or_superseded_partial_files_are_removed_and_others_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = prepare_dir(&tmp.path().join("vm")).unwrap();
        // No audio before the crash.
        crash_leftover(&dir, ID, 0);
        // A message in place already, and a partial file of the same call.
        let other = "1b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
        write_wav(&dir, other, &[5; 800]).unwrap();
        std::fs::write(dir.join(format!(".{other}.wav.part")), [0u8; 100]).unwrap();
        // Not Senim's.
        std::fs::write(dir.join(".notes.wav.part"), b"x").unwrap();
        let done = recover_partials(&dir, |_| true).unwrap();
        assert!(done.is_empty());
        assert_eq!(
            names(&dir),
            [".notes.wav.part".to_string(), format!("{other}.wav")]
        );
        assert_eq!(
            hound::WavReader::open(dir.join(format!("{other}.wav")))
                .unwrap()
                .len(),
            800
        );
    }
}
