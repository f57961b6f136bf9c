//! The systemd unit in `dist/systemd/` passes `systemd-analyze verify`
//! without a warning, its commands pointed at the binary under test.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("dist/systemd/senim.service")).expect("the unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/senim serve"));
    assert!(unit.contains("ExecReload=/usr/local/bin/senim reload"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("senim.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/senim", env!("CARGO_BIN_EXE_senim")),
    )
    .expect("write the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed for this test");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // A bad option is only a warning for systemd: none is allowed here.
    let unit_name = path.display().to_string();
    let warnings: Vec<&str> = said.lines().filter(|l| l.contains(&unit_name)).collect();
    assert!(warnings.is_empty(), "{said}");
}
