//! Dependencies between the modules of src/ run one way (ARCHITECTURE.md, "Layers"):
//! `scripts/check-layers` must find no module using a higher layer and no two modules, or two
//! files of one module, using each other.

use crate::support::repo;

#[test]
fn dependencies_run_one_way() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/check-layers"))
        .output()
        .expect("python3 runs scripts/check-layers");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}{stdout}");
    assert!(stdout.contains("all one way"), "{stdout}");
}
